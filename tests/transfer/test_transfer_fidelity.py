"""Open-loop fidelity of the tiny test model against real InvertedPendulum episodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.evaluation import random_policy
from dreamgym.errors import CheckpointError
from dreamgym.transfer.fidelity import FidelityResult, measure_fidelity, open_loop_errors
from dreamgym.transfer.recording import episode_slices, record_pybullet
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


def test_fidelity_refuses_bad_arguments(trained_checkpoint: Path, wm_sequences):
    policy = random_policy(1, 0)
    with pytest.raises(ValueError, match="Expected a positive integer `horizon`"):
        measure_fidelity(trained_checkpoint, "InvertedPendulum", policy, horizon=0)
    with pytest.raises(CheckpointError, match="trained on task 'InvertedPendulum'"):
        measure_fidelity(trained_checkpoint, "Hopper", policy, horizon=5)
    with pytest.raises(ValueError, match="No episode is long enough"):
        open_loop_errors(load_checkpoint(trained_checkpoint), wm_sequences, horizon=2, context=10_000)
