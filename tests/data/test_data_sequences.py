"""Window sampling for world-model training."""

from __future__ import annotations

import numpy as np
import pytest

from dreamgym.data import SequenceData, SequenceSampler


@pytest.fixture
def data() -> SequenceData:
    """Three episodes of 4, 2 and 5 steps; obs[:, 0] is the row number so windows can be located."""
    parts = [
        SequenceData.from_episode(np.zeros((n + 1, 3)), np.ones((n, 2)), np.ones(n), np.arange(n) == n - 1)
        for n in (4, 2, 5)
    ]
    merged = SequenceData.concatenate(parts)
    obs = np.array(merged.obs)
    obs[:, 0] = np.arange(len(merged))
    return SequenceData(**{**vars(merged), "obs": obs})


def test_batches_have_batch_by_time_shapes(data: SequenceData) -> None:
    batch = SequenceSampler(data, seq_len=4, seed=0).sample(8)
    assert set(batch) == {"obs", "prev_action", "reward", "is_first", "is_terminal"}
    assert batch["obs"].shape == (8, 4, 3) and batch["prev_action"].shape == (8, 4, 2)
    assert batch["reward"].shape == batch["is_first"].shape == batch["is_terminal"].shape == (8, 4)
    assert batch["obs"].dtype == np.float32 and batch["is_first"].dtype == bool


def test_windows_are_contiguous_rows_and_start_with_is_first(data: SequenceData) -> None:
    batch = SequenceSampler(data, seq_len=5, seed=1).sample(64)
    starts = batch["obs"][:, 0, 0].astype(int)
    rows = starts[:, None] + np.arange(5)
    assert np.array_equal(batch["obs"][..., 0], rows)
    assert batch["is_first"][:, 0].all()
    assert np.array_equal(batch["is_first"][:, 1:], data.is_first[rows[:, 1:]])  # boundaries inside are kept
    assert np.array_equal(batch["is_terminal"], data.is_terminal[rows])
    assert set(starts) == set(range(len(data) - 5 + 1))  # every start position is drawn, including the last


def test_same_seed_gives_same_batches(data: SequenceData) -> None:
    first = [SequenceSampler(data, 3, seed=7).sample(4) for _ in range(2)]
    assert all(np.array_equal(first[0][k], first[1][k]) for k in first[0])
    other = SequenceSampler(data, 3, seed=8).sample(4)
    assert not np.array_equal(first[0]["obs"], other["obs"])


def test_a_batch_is_a_copy_the_caller_may_change(data: SequenceData) -> None:
    before = data.fingerprint()
    batch = SequenceSampler(data, 4, seed=0).sample(16)
    for array in batch.values():
        array[...] = 0  # a view of the (read-only) data would refuse this, or change the data
    assert data.fingerprint() == before


def test_data_shorter_than_a_window_is_rejected(data: SequenceData) -> None:
    with pytest.raises(ValueError, match=rf"Data has {len(data)} rows, fewer than `seq_len`=100"):
        SequenceSampler(data, seq_len=100, seed=0)
    with pytest.raises(ValueError, match=r"Expected `batch_size` >= 1, got 0"):
        SequenceSampler(data, seq_len=2, seed=0).sample(0)


def test_mirrored_flips_signs_and_keeps_structure(pendulum_dataset) -> None:
    from dreamgym.data import load_episodes
    from dreamgym.tasks import get_task

    pendulum_rows = load_episodes(pendulum_dataset)
    obs_sign, action_sign = get_task("InvertedPendulum").mirror
    mirrored = pendulum_rows.mirrored(obs_sign, action_sign)
    np.testing.assert_array_equal(mirrored.obs, pendulum_rows.obs * np.array(obs_sign, dtype=np.float32))
    np.testing.assert_array_equal(mirrored.prev_action, -pendulum_rows.prev_action)
    np.testing.assert_array_equal(mirrored.is_first, pendulum_rows.is_first)
    np.testing.assert_array_equal(mirrored.reward, pendulum_rows.reward)
    assert mirrored.metadata["mirrored"] is True
    assert mirrored.fingerprint() != pendulum_rows.fingerprint()


def test_transitions_pair_each_observation_with_the_action_taken_there_and_what_followed(data: SequenceData) -> None:
    steps = data.transitions()
    assert len(steps["observation"]) == 4 + 2 + 5  # one per step, none across an episode boundary
    row = steps["observation"][:, 0].astype(int)  # obs[:, 0] is the row number
    assert np.array_equal(steps["next_observation"][:, 0].astype(int), row + 1)
    assert np.array_equal(steps["action"], data.action[row])  # the action taken at the observation
    assert np.array_equal(steps["reward"], data.reward[row + 1])
    assert steps["terminated"].sum() == 3 and not data.is_first[row + 1].any()
