"""Collection on Ray workers: the serial episodes, whatever the number of workers, and none lost to a dead worker."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import h5py
import numpy as np
import pytest

from dreamgym.data import SequenceData, dataset_metadata, load_episodes
from dreamgym.data.parallel_collect import collect_episodes, episode_seed

TASK, STEPS, SEED = "Hopper", 240, 3  # Hopper: its first episode in a fresh env differs, which the runner handles


def _same_rows(a: SequenceData, b: SequenceData) -> None:
    assert (len(a), a.num_episodes) == (len(b), b.num_episodes)
    for name in ("obs", "prev_action", "reward", "is_first", "is_terminal", "episode_index"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _episode_ids_and_seeds(path: Path) -> list[tuple[int, int]]:
    with h5py.File(path / "data" / "main_data.hdf5", "r") as file:
        return sorted((int(group.attrs["id"]), int(group.attrs["seed"])) for group in file.values())


@pytest.fixture(scope="module")
def serial_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The episodes of seed 3, collected in this process without Ray."""
    return collect_episodes(TASK, STEPS, tmp_path_factory.mktemp("serial") / "data", seed=SEED, progress=False)


def test_serial_collection_takes_exactly_the_budget_in_seeded_episodes(serial_path: Path) -> None:
    data = load_episodes(serial_path)
    assert len(data) - data.num_episodes == STEPS  # rows are steps plus one first row per episode
    ids_and_seeds = _episode_ids_and_seeds(serial_path)
    assert ids_and_seeds == [(i, episode_seed(SEED, i)) for i in range(data.num_episodes)]
    meta = dataset_metadata(serial_path)
    assert (meta["steps"], meta["episodes"], meta["workers"]) == (STEPS, data.num_episodes, None)


def test_two_ray_workers_collect_the_serial_episodes(ray_cluster, serial_path: Path, tmp_path: Path) -> None:
    parallel = collect_episodes(TASK, STEPS, tmp_path / "parallel", seed=SEED, workers=2, progress=False)
    _same_rows(load_episodes(serial_path), load_episodes(parallel))
    assert _episode_ids_and_seeds(parallel) == _episode_ids_and_seeds(serial_path)
    assert dataset_metadata(parallel)["workers"] == 2
    # and the comparison can fail: another run seed gives other episodes
    other = load_episodes(collect_episodes(TASK, STEPS, tmp_path / "other", seed=SEED + 1, progress=False))
    assert not np.array_equal(other.obs[:50], load_episodes(parallel).obs[:50])


class _DiesOnce(gym.Wrapper):
    """Kills its worker process outright in the middle of the episode reset with ``seed``, the first time only."""

    def __init__(self, env: gym.Env, seed: int, marker: Path) -> None:
        super().__init__(env)
        self.deadly_seed, self.marker, self.armed, self.steps = seed, marker, False, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.armed, self.steps = seed == self.deadly_seed and not self.marker.exists(), 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        self.steps += 1
        if self.armed and self.steps == 3:
            self.marker.touch()
            os._exit(1)  # no exception, no cleanup: the process is gone, as when a node is lost
        return self.env.step(action)


def test_a_worker_killed_mid_collection_loses_and_duplicates_nothing(
    ray_cluster, serial_path: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "died"
    deadly = episode_seed(SEED, 4)  # episodes 0-3 are done or under way on the other worker when it dies

    def wrap(env: gym.Env) -> gym.Env:
        return _DiesOnce(env, deadly, marker)

    gap = {"test": "kills its worker once"}
    out = tmp_path / "killed"
    collect_episodes(TASK, STEPS, out, seed=SEED, workers=2, progress=False, wrap_env=wrap, gap=gap)
    assert marker.exists()  # a worker did die
    assert dataset_metadata(out)["worker_failures"] == 1
    _same_rows(load_episodes(serial_path), load_episodes(out))
    assert _episode_ids_and_seeds(out) == _episode_ids_and_seeds(serial_path)


def test_too_many_dead_workers_fail_the_collection_and_leave_no_data_set(ray_cluster, tmp_path: Path) -> None:
    from dreamgym.workers import WorkerError

    marker = tmp_path / "died"

    def wrap(env: gym.Env) -> gym.Env:
        return _DiesOnce(env, episode_seed(SEED, 0), marker)

    with pytest.raises(WorkerError, match=r"1 workers died \(at most 0 tolerated\)"):
        collect_episodes(
            TASK,
            STEPS,
            tmp_path / "failed",
            seed=SEED,
            workers=1,
            progress=False,
            wrap_env=wrap,
            gap={"test": "kills its worker once"},
            max_worker_failures=0,
        )
    assert not (tmp_path / "failed").exists()
    assert not list(tmp_path.glob(".failed*"))  # nor a staging directory


def test_the_cli_collects_on_workers(ray_cluster, serial_path: Path, tmp_path: Path) -> None:
    from dreamgym.cli import main

    out = tmp_path / "cli"
    argv = ["collect", "--task", TASK, "--steps", str(STEPS), "--seed", str(SEED), "--out", str(out)]
    assert main([*argv, "--workers", "2", "--no-progress"]) == 0
    _same_rows(load_episodes(serial_path), load_episodes(out))
