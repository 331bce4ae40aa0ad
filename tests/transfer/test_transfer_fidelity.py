"""Open-loop fidelity of the tiny test model against real InvertedPendulum episodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.evaluation import random_policy
from dreamgym.data import SequenceData
from dreamgym.errors import CheckpointError
from dreamgym.transfer.fidelity import (
    FidelityResult,
    dream_vs_real_returns,
    filter_episodes,
    measure_fidelity,
    open_loop_errors,
)
from dreamgym.transfer.recording import episode_slices, record_pybullet
from dreamgym.world_model import RSSMState
from dreamgym.world_model.checkpoint import load_checkpoint


def test_open_loop_errors_count_every_start_and_repeat_with_the_seed(trained_checkpoint: Path, wm_sequences):
    checkpoint = load_checkpoint(trained_checkpoint)
    horizon, context, stride = 4, 2, 3
    first = open_loop_errors(checkpoint, wm_sequences, horizon, context, seed=1, start_stride=stride)
    again = open_loop_errors(checkpoint, wm_sequences, horizon, context, seed=1, start_stride=stride)
    lengths = [s.stop - s.start for s in episode_slices(wm_sequences)]
    # a start t0 reaches k steps ahead where the episode has row t0 + k
    expected = [sum(t0 + k < n for n in lengths for t0 in range(context - 1, n - 1, stride)) for k in range(1, 5)]
    assert first["pairs"].tolist() == expected
    assert first["obs_error"].shape == (horizon, 5) and first["total_error"].shape == (horizon,)
    assert np.isfinite(first["obs_error"]).all() and (first["obs_error"] > 0).all()
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    chunked = open_loop_errors(checkpoint, wm_sequences, horizon, context, seed=1, start_stride=stride, max_batch=7)
    for key in first:  # each start keeps its dream's seed however the starts are batched
        np.testing.assert_allclose(first[key], chunked[key], rtol=1e-6)


def test_measure_fidelity_compares_returns_from_the_same_start(trained_checkpoint: Path, tmp_path: Path):
    result = measure_fidelity(
        trained_checkpoint,
        "InvertedPendulum",
        random_policy(1, 0),
        episodes=2,
        seed=7,
        horizon=3,
        context=2,
        max_steps=20,
    )
    assert isinstance(result, FidelityResult)
    replay = measure_fidelity(
        trained_checkpoint,
        "InvertedPendulum",
        random_policy(1, 0),
        episodes=2,
        seed=7,
        horizon=3,
        context=2,
        max_steps=20,
    )
    assert json.dumps(result.to_dict()) == json.dumps(replay.to_dict())
    # InvertedPendulum pays 1 per step: the real return from step context - 1 = 1 is the steps left after it
    real = record_pybullet("InvertedPendulum", random_policy(1, 0), episodes=2, seed=7, max_steps=20)
    steps_after_start = [s.stop - s.start - 2 for s in episode_slices(real)]
    assert result.real_returns.tolist() == steps_after_start
    assert result.dream_returns.shape == (2,) and np.isfinite(result.dream_returns).all()
    assert result.error_at(1) == result.total_error[0]
    assert result.plot(tmp_path / "fidelity.png").stat().st_size > 0
    section = result.report_section(tmp_path)
    assert section.figures[0].exists() and section.table[0]["steps ahead"] == 1
    assert json.loads(result.write_json(tmp_path / "fidelity.json").read_text())["pairs"] == result.pairs.tolist()


def test_dream_returns_average_several_dreams_per_start(trained_checkpoint: Path):
    checkpoint = load_checkpoint(trained_checkpoint)
    real = record_pybullet("InvertedPendulum", random_policy(1, 0), episodes=3, seed=3, max_steps=30)
    posts, _ = filter_episodes(checkpoint.model, real, seed=3)
    episodes = len(episode_slices(real))

    def push(obs: np.ndarray) -> np.ndarray:  # stateless: one dream's actions do not depend on the batch
        return np.full((len(obs), 1), 0.3, np.float32)

    averaged, real_returns = dream_vs_real_returns(checkpoint, real, push, 2, 3, 30, posts, "model", samples=4)
    # The same starts listed four times, one dream each, take the same seeds: dream k * episodes + e.
    repeated = SequenceData.concatenate([real] * 4)
    repeated_posts = RSSMState(posts.deter.repeat(4, 1, 1), posts.stoch.repeat(4, 1, 1, 1))
    single, _ = dream_vs_real_returns(checkpoint, repeated, push, 2, 3, 30, repeated_posts, "model")
    assert averaged.shape == real_returns.shape == (episodes,)
    np.testing.assert_allclose(averaged, single.reshape(4, episodes).mean(0), rtol=1e-6)
    assert not np.allclose(single.reshape(4, episodes), single[:episodes])  # the four dreams differ
    first, _ = dream_vs_real_returns(checkpoint, real, push, 2, 3, 30, posts, "model")
    # Sample 0 is the one-dream result, up to rounding: BLAS picks its kernels by batch size (3 dreams here, 12
    # above), which moved these returns by 3e-6 relative on an AMD EPYC.
    np.testing.assert_allclose(first, single[:episodes], rtol=1e-5)
    with pytest.raises(ValueError, match="samples"):
        dream_vs_real_returns(checkpoint, real, push, 2, 3, 30, posts, "model", samples=0)


def test_fidelity_refuses_bad_arguments(trained_checkpoint: Path, wm_sequences):
    policy = random_policy(1, 0)
    with pytest.raises(ValueError, match="Expected a positive integer `horizon`"):
        measure_fidelity(trained_checkpoint, "InvertedPendulum", policy, horizon=0)
    with pytest.raises(CheckpointError, match="trained on task 'InvertedPendulum'"):
        measure_fidelity(trained_checkpoint, "Hopper", policy, horizon=5)
    with pytest.raises(ValueError, match="No episode is long enough"):
        open_loop_errors(load_checkpoint(trained_checkpoint), wm_sequences, horizon=2, context=10_000)
