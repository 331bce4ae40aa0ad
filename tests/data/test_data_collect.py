"""Collection from the real env: what is written, reproducibility, and that failures leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import minari
import numpy as np
import pytest

from dreamgym.data import collect, dataset_id_for, load_episodes
from dreamgym.errors import CheckpointError, DatasetError, InvalidActionError
from dreamgym.tasks.registry import get_task

PENDULUM = get_task("InvertedPendulum")
STEPS = 300  # what the `pendulum_dataset` fixture collects


def test_collect_writes_a_minari_data_set_with_exactly_the_requested_steps(pendulum_dataset: Path) -> None:
    dataset = minari.MinariDataset(pendulum_dataset / "data")
    assert dataset.total_steps == STEPS
    assert dataset.spec.dataset_id == "dreamgym/InvertedPendulum/random-v0"
    episodes = list(dataset.iterate_episodes())
    assert all(len(ep.observations) == len(ep.actions) + 1 for ep in episodes)
    assert episodes[-1].truncations[-1]  # the step budget cut the last episode
    assert all(ep.terminations[-1] for ep in episodes[:-1])  # a random pendulum falls long before 1000 steps

    metadata = json.loads((pendulum_dataset / "data" / "metadata.json").read_text())["dreamgym"]
    assert metadata["task"] == "InvertedPendulum"
    assert metadata["policy"] == "uniform random actions"
    assert (metadata["seed"], metadata["steps"], metadata["episodes"]) == (0, STEPS, len(episodes))


def test_loaded_rows_follow_the_dreamer_layout(pendulum_dataset: Path) -> None:
    data = load_episodes(pendulum_dataset, task=PENDULUM)
    episodes = data.num_episodes
    assert len(data) == STEPS + episodes  # N steps give N + 1 rows per episode
    assert data.obs.shape == (len(data), 5) and data.prev_action.shape == (len(data), 1)
    assert data.obs.dtype == data.reward.dtype == np.float32
    assert np.array_equal(np.flatnonzero(data.is_first), np.searchsorted(data.episode_index, np.arange(episodes)))
    assert not np.any(data.prev_action[data.is_first]) and not np.any(data.reward[data.is_first])
    last_rows = np.append(np.flatnonzero(data.is_first)[1:] - 1, len(data) - 1)
    assert np.array_equal(np.flatnonzero(data.is_terminal), last_rows[:-1])
    assert np.array_equal(data.prev_action[1:][~data.is_first[1:]], data.action[:-1][~data.is_first[1:]])
    assert all(np.isfinite(getattr(data, name)).all() for name in ("obs", "prev_action", "reward"))
    assert data.metadata["task"] == "InvertedPendulum"


def test_same_seed_gives_identical_data_and_another_seed_does_not(tmp_path: Path) -> None:
    a = load_episodes(collect(PENDULUM, 100, tmp_path / "a", seed=3, progress=False))
    b = load_episodes(collect(PENDULUM, 100, tmp_path / "b", seed=3, progress=False))
    c = load_episodes(collect(PENDULUM, 100, tmp_path / "c", seed=4, progress=False))
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_a_failing_collection_leaves_no_data_set_and_no_temporary_directory(tmp_path: Path) -> None:
    calls = 0

    def flaky_policy(observation: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls > 50:
            raise RuntimeError("policy crashed")
        return np.zeros(1, np.float32)

    with pytest.raises(RuntimeError, match="policy crashed"):
        collect(PENDULUM, 100, tmp_path / "out", policy=flaky_policy, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_no_data_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from minari.dataset._storages.hdf5_storage import HDF5Storage

    def broken_write(self: object, episodes: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(HDF5Storage, "update_episodes", broken_write)
    with pytest.raises(OSError, match="disk full"):
        collect(PENDULUM, 20, tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = collect(PENDULUM, 20, tmp_path / "out", seed=0, progress=False)
    before = load_episodes(out).fingerprint()
    with pytest.raises(DatasetError, match=r"already exists; pass overwrite=True"):
        collect(PENDULUM, 20, out, seed=1, progress=False)
    assert load_episodes(out).fingerprint() == before

    collect(PENDULUM, 20, out, seed=1, progress=False, overwrite=True)
    assert load_episodes(out).fingerprint() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_policy_returning_the_wrong_action_shape_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidActionError, match=r"action of shape \(1,\), got shape \(2,\)"):
        collect(PENDULUM, 10, tmp_path / "out", policy=lambda obs: np.zeros(2), progress=False)
    assert not (tmp_path / "out").exists()


def test_steps_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"Expected `steps` >= 1, got 0"):
        collect(PENDULUM, 0, tmp_path / "out", progress=False)


def test_a_data_set_under_the_minari_root_loads_by_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    dataset_id = dataset_id_for(PENDULUM, "random")
    collect(PENDULUM, 30, tmp_path / dataset_id, progress=False, extra_metadata={"round": 2})
    data = load_episodes(dataset_id, task=PENDULUM)
    assert len(data) == 30 + data.num_episodes
    assert data.metadata["round"] == 2 and data.metadata["dataset_id"] == dataset_id


@pytest.mark.parametrize("algorithm", ["PPO", "SAC"])
def test_an_sb3_checkpoint_is_recognised_and_drives_collection(tmp_path: Path, algorithm: str) -> None:
    import stable_baselines3 as sb3

    env = PENDULUM.make_env()
    kwargs = {"n_steps": 64} if algorithm == "PPO" else {"buffer_size": 100}
    getattr(sb3, algorithm)("MlpPolicy", env, device="cpu", **kwargs).save(tmp_path / "agent.zip")
    env.close()

    out = collect(PENDULUM, 40, tmp_path / "out", policy=str(tmp_path / "agent.zip"), progress=False)
    data = load_episodes(out, task=PENDULUM)
    assert data.metadata["policy"] == "SB3 checkpoint agent.zip (deterministic=False)"
    assert np.abs(data.action).max() <= 1.0

    greedy = collect(
        PENDULUM, 40, tmp_path / "greedy", policy=str(tmp_path / "agent.zip"), deterministic=True, progress=False
    )
    data = load_episodes(greedy, task=PENDULUM)
    acted = np.append(~data.is_first[1:], False)  # every row but an episode's last took an action
    agent = getattr(sb3, algorithm).load(tmp_path / "agent.zip", device="cpu")
    expected, _ = agent.predict(data.obs[acted], deterministic=True)
    np.testing.assert_allclose(data.action[acted], expected, atol=1e-6)  # the agent's own actions were recorded


def test_a_sampling_policy_gives_the_same_data_for_the_same_seed(tmp_path: Path) -> None:
    """SB3 samples from torch's global RNG, which collect seeds (and restores) and loading must not reseed."""
    import stable_baselines3 as sb3
    import torch

    sb3.PPO("MlpPolicy", PENDULUM.make_env(), n_steps=64, device="cpu", seed=7).save(tmp_path / "agent.zip")
    caller_state = torch.get_rng_state()
    runs = {
        name: load_episodes(
            collect(PENDULUM, 60, tmp_path / name, policy=str(tmp_path / "agent.zip"), seed=seed, progress=False)
        )
        for name, seed in (("a", 1), ("b", 1), ("c", 2))
    }
    assert runs["a"].fingerprint() == runs["b"].fingerprint()
    assert not np.array_equal(runs["a"].action[1:4], runs["c"].action[1:4])  # the noise follows collect's seed
    assert torch.equal(torch.get_rng_state(), caller_state)  # the caller's torch RNG is left as it was

    def noisy(observation: np.ndarray) -> np.ndarray:  # a callable policy that samples from torch
        return torch.rand(1).numpy() * 2 - 1

    a = load_episodes(collect(PENDULUM, 30, tmp_path / "d", policy=noisy, seed=5, progress=False))
    b = load_episodes(collect(PENDULUM, 30, tmp_path / "e", policy=noisy, seed=5, progress=False))
    assert a.fingerprint() == b.fingerprint()


def test_a_file_that_is_not_an_sb3_checkpoint_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "bogus.zip").write_text("not a zip")
    with pytest.raises(CheckpointError, match=r"Cannot read SB3 checkpoint .*bogus.zip"):
        collect(PENDULUM, 10, tmp_path / "out", policy=str(tmp_path / "bogus.zip"), progress=False)
    with pytest.raises(CheckpointError, match=r"does not exist"):
        collect(PENDULUM, 10, tmp_path / "out", policy=str(tmp_path / "missing.zip"), progress=False)
    assert not (tmp_path / "out").exists()
