"""The transfer benchmark's own tables: one factor of a gap at a time, and the summary across tasks."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from dreamgym.transfer.gaps import GAP_PRESETS, GapConfig
from dreamgym.transfer.ladder import LadderResult, PyBulletRung, RungResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import transfer  # benchmarks/ is not a package


def test_each_factor_of_a_preset_is_tried_alone() -> None:
    factors = transfer.one_factor_gaps("harsh")
    nominal, harsh = GapConfig(), GAP_PRESETS["harsh"]
    changed = {f.name for f in dataclasses.fields(GapConfig) if getattr(harsh, f.name) != getattr(nominal, f.name)}
    assert set(factors) == changed and len(changed) > 1
    for name, gap in factors.items():  # exactly one field away from nominal, set as the preset sets it
        differs = [f.name for f in dataclasses.fields(GapConfig) if getattr(gap, f.name) != getattr(nominal, f.name)]
        assert differs == [name] and getattr(gap, name) == getattr(harsh, name)


def test_factor_rows_use_the_ladders_ratio_to_nominal() -> None:
    nominal = RungResult("PyBullet nominal", "pybullet", returns=(80.0, 120.0))
    ladder = LadderResult("InvertedPendulum", 2, 0, (RungResult("dream", "dream", returns=(50.0, 50.0)), nominal))
    factors = {name: PyBulletRung(gap, f"{name} only") for name, gap in transfer.one_factor_gaps("mild").items()}
    results = {name: RungResult(f"{name} only", "pybullet", returns=(40.0, 60.0)) for name in factors}
    rows = transfer.factor_rows(ladder, factors, results)
    assert [r["factor"] for r in rows] == list(factors)
    assert all(r["ratio to nominal"] == pytest.approx(0.5) and r["return (mean ± std)"] == "50.0 ± 10.0" for r in rows)
    broken = LadderResult("InvertedPendulum", 2, 0, (RungResult("PyBullet nominal", "pybullet", status="error"),))
    assert {r["ratio to nominal"] for r in transfer.factor_rows(broken, factors, results)} == {None}  # no reference
