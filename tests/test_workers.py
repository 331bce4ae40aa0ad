"""The Ray worker pool: results in item order, a job's own error reaches the caller, Ray loads only on use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dreamgym.workers import WorkerPool, map_seeds


def _seed_square(seed: int) -> int:
    return seed * seed


def _fails_on_three(offset: int, item: int) -> int:
    if item == 3:
        raise KeyError(f"no job {item}")
    return offset + item


def test_map_seeds_returns_the_serial_loop_in_order(ray_cluster) -> None:
    seeds = [5, 0, 3, 9, 1]
    assert map_seeds(_seed_square, seeds, workers=2) == [_seed_square(s) for s in seeds]


def test_a_failing_job_raises_its_own_error_and_is_not_retried(ray_cluster) -> None:
    with WorkerPool(lambda: 10, _fails_on_three, workers=1) as pool:
        assert pool.run_all([1, 2]) == [11, 12]
        with pytest.raises(KeyError, match="no job 3"):
            pool.run_all([2, 3, 4])
        assert pool.failures == 0


def test_bad_pool_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Expected `workers` >= 1, got 0"):
        WorkerPool(lambda: None, _fails_on_three, workers=0)
    with pytest.raises(ValueError, match=r"Expected `max_failures` >= 0, got -1"):
        WorkerPool(lambda: None, _fails_on_three, workers=1, max_failures=-1)


def test_importing_dreamgym_does_not_import_ray_or_the_distributed_trainer() -> None:
    code = "import sys, dreamgym, dreamgym.workers, dreamgym.data; print('ray' in sys.modules, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "False"]
