"""`collect` with a relative output path, as the CLI passes it (`dreamgym collect --out data/pend`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dreamgym.data import collect, load_episodes
from dreamgym.tasks import get_task


def test_collect_to_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = collect(get_task("InvertedPendulum"), 20, Path("data") / "pend", seed=0, progress=False)
    assert (tmp_path / "data" / "pend" / "data" / "main_data.hdf5").is_file()
    assert out.resolve() == (tmp_path / "data" / "pend").resolve()
    data = load_episodes(out, get_task("InvertedPendulum"))
    assert len(data) == 20 + data.num_episodes  # every step, and each episode's first observation
