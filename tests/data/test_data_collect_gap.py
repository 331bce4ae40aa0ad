"""``dreamgym collect --gap``: data collected behind a reality gap says so, and differs from nominal data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dreamgym.cli import main
from dreamgym.data import load_episodes
from dreamgym.transfer.gaps import GAP_PRESETS


def _collect(out: Path, *extra: str) -> np.ndarray:
    args = ["collect", "--task", "InvertedPendulum", "--steps", "40", "--seed", "5", "--out", str(out), *extra]
    assert main(args) == 0
    return load_episodes(out).obs


@pytest.mark.filterwarnings("ignore:InvertedPendulumBulletEnv has no ground")  # the presets change friction too
def test_collect_under_a_gap_records_it_and_changes_the_data(tmp_path: Path) -> None:
    nominal = _collect(tmp_path / "nominal")
    harsh = _collect(tmp_path / "harsh", "--gap", "harsh")
    randomised = _collect(tmp_path / "random", "--gap", "random:mild")

    def gap_of(name: str) -> dict | None:
        return json.loads((tmp_path / name / "data" / "metadata.json").read_text())["dreamgym"]["gap"]

    assert gap_of("nominal") is None
    assert gap_of("harsh") == GAP_PRESETS["harsh"].to_dict()
    assert gap_of("random") == {"random": True, "bound": GAP_PRESETS["mild"].to_dict()}
    assert load_episodes(tmp_path / "harsh").metadata["gap"] == GAP_PRESETS["harsh"].to_dict()
    for gapped in (harsh, randomised):
        assert gapped.shape[1:] == nominal.shape[1:] and not np.allclose(gapped[: len(nominal)], nominal[: len(gapped)])
    assert np.array_equal(harsh, _collect(tmp_path / "again", "--gap", "harsh"))  # the same seed, the same data


def test_collect_refuses_an_unknown_gap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["collect", "--steps", "10", "--out", str(tmp_path / "x"), "--gap", "harhs"]
    assert main(args) == 2
    assert "Unknown reality gap 'harhs'" in capsys.readouterr().err and not (tmp_path / "x").exists()
