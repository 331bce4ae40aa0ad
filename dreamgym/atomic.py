"""Writes that land whole or not at all: a killed run never leaves a half-written file or directory behind.

Data sets, transfer reports and the benchmarks' result stores all resume by reading back what an earlier run
wrote, so what they read must never be half of it. (Checkpoints have their own multi-file protocol with a
manifest, in :mod:`dreamgym.world_model.checkpoint`.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_directory", "write_bytes_atomic", "write_json_atomic"]


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a sibling temporary file renamed into place."""
    path = Path(path)
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    staging.write_bytes(data)
    os.replace(staging, path)


def write_json_atomic(path: str | Path, payload: Any, indent: int = 2) -> None:
    """Writes ``payload`` as JSON to ``path`` through a sibling temporary file renamed into place."""
    write_bytes_atomic(path, json.dumps(payload, indent=indent).encode())


@contextlib.contextmanager
def atomic_directory(out: str | Path, overwrite: bool) -> Iterator[Path]:
    """Yields a staging directory that replaces ``out`` only if the block finishes without an exception.

    The staging directory is a sibling of ``out`` so the final ``os.replace`` stays on one filesystem and is a
    single rename. A process killed outright can leave the hidden staging directory behind, never ``out``.

    Raises:
        FileExistsError: ``out`` appeared while the block ran and ``overwrite`` is false.
    """
    out = Path(os.path.abspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)  # left by an earlier killed run that had our pid
    staging.mkdir()
    try:
        yield staging
        if out.exists():
            if not overwrite:
                raise FileExistsError(f"{str(out)!r} appeared while it was being written; not replaced.")
            retired = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, retired)  # two renames: POSIX cannot atomically swap a non-empty directory
            try:
                os.replace(staging, out)
            except BaseException:
                os.replace(retired, out)  # put the old one back rather than leave nothing
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
