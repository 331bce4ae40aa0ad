"""Whole-or-nothing writes: a failed write leaves the earlier file or directory exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamgym.atomic import atomic_directory, write_json_atomic


def test_a_json_write_replaces_whole_or_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    write_json_atomic(path, [1, 2])
    write_json_atomic(path, {"runs": [3]})
    assert json.loads(path.read_text()) == {"runs": [3]}
    with pytest.raises(TypeError):
        write_json_atomic(path, {"runs": object()})  # not JSON: fails before anything is written
    assert json.loads(path.read_text()) == {"runs": [3]} and sorted(p.name for p in tmp_path.iterdir()) == ["runs.json"]


def test_a_directory_is_swapped_in_only_when_its_block_finishes(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with atomic_directory(out, overwrite=False) as staging:
        (staging / "a.txt").write_text("first")
    with pytest.raises(RuntimeError, match="killed"), atomic_directory(out, overwrite=True) as staging:
        (staging / "b.txt").write_text("half")
        raise RuntimeError("killed mid-write")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]  # the earlier one, untouched
    with atomic_directory(out, overwrite=True) as staging:
        (staging / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]  # replaced whole, nothing of the old one left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging or retired directory behind
    with pytest.raises(FileExistsError, match="appeared while it was being written"), atomic_directory(out, False):
        pass  # `out` exists: without overwrite it is never replaced
