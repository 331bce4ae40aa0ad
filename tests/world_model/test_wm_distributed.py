"""Data-parallel world-model training: 2 DDP processes on CPU (gloo) compute what one process does.

Tolerance: the ranks' update is the serial update with the floating-point sums in another order (a mean over 2
sequences per rank, then an all-reduce of gradients, against one mean over 4), so after 20 Adam updates the
parameters agree to rounding: measured 8e-8 at most on parameters of magnitude up to 1; the test allows 1e-5.
A run that drew its own batches or posterior noise per rank differs by orders of magnitude more (last test).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dreamgym
from dreamgym.data import SequenceData, SequenceSampler
from dreamgym.tasks import TaskSpec
from dreamgym.world_model import load_checkpoint, make_config, read_config
from dreamgym.world_model.distributed import DistributedRun
from dreamgym.world_model.trainer import train_world_model

TOLERANCE = 1e-5
ENSEMBLE = 2  # ensemble heads train under DDP like the rest of the model


def _serial(data: SequenceData, task: TaskSpec, out: Path, steps: int, seed: int = 0):
    model_cfg, train_cfg = make_config("debug", 5, 1, steps=steps, ensemble=ENSEMBLE, seed=seed)
    return train_world_model(data, out, task, model_cfg, train_cfg, logdir=out.parent / "tb", progress=False)


def _train_ddp(dataset: Path, out: Path, steps: int) -> None:
    """``dreamgym train --nproc 2`` as a user runs it, in a child process with a time limit."""
    root = str(Path(dreamgym.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "dreamgym.cli", "train", "--dataset", str(dataset), "--out", str(out)]
    command += ["--preset", "debug", "--steps", str(steps), "--ensemble", str(ENSEMBLE), "--nproc", "2"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"trained {steps} updates" in done.stdout
    assert done.stdout.count("trained") == 1  # rank 0 alone reports


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_two_ddp_processes_match_one_and_resume_under_another_count(
    wm_dataset_path: Path, wm_sequences: SequenceData, pendulum_task: TaskSpec, tmp_path: Path
) -> None:
    serial = _serial(wm_sequences, pendulum_task, tmp_path / "serial" / "ckpt", 20)

    _train_ddp(wm_dataset_path, tmp_path / "ddp" / "ckpt", 20)
    ddp = load_checkpoint(tmp_path / "ddp" / "ckpt")
    assert ddp.config["step"] == 20
    assert _max_difference(serial.model.state_dict(), ddp.model.state_dict()) < TOLERANCE
    assert not list((tmp_path / "ddp" / "ckpt").glob("*.tmp"))  # rank 0's atomic write finished alone
    serial_config = read_config(serial.path)
    # the same data, the same start windows, and an ensemble calibration computed once, on the final model
    assert ddp.config["dataset"]["fingerprint"] == serial_config["dataset"]["fingerprint"]
    assert ddp.config["files"]["starts.safetensors"] == serial_config["files"]["starts.safetensors"]
    calibrations = ddp.config["uncertainty_calibration"], serial_config["uncertainty_calibration"]
    assert calibrations[0]["max"] == pytest.approx(calibrations[1]["max"], rel=1e-3)

    # 10 updates in one process, the last 10 in two: the streams are global, so the run continues as one
    _serial(wm_sequences, pendulum_task, tmp_path / "resumed" / "ckpt", 10)
    _train_ddp(wm_dataset_path, tmp_path / "resumed" / "ckpt", 20)
    resumed = load_checkpoint(tmp_path / "resumed" / "ckpt")
    assert resumed.config["step"] == 20
    assert _max_difference(serial.model.state_dict(), resumed.model.state_dict()) < TOLERANCE

    # the check can fail: another seed's run (other batches, other noise) is far outside the tolerance
    other = _serial(wm_sequences, pendulum_task, tmp_path / "other" / "ckpt", 20, seed=1)
    assert _max_difference(other.model.state_dict(), ddp.model.state_dict()) > 1000 * TOLERANCE


def test_ranks_share_one_global_batch(wm_sequences: SequenceData) -> None:
    whole = SequenceSampler(wm_sequences, seq_len=8, seed=3).sample(6)
    shards = [SequenceSampler(wm_sequences, seq_len=8, seed=3).sample(6, _run(rank, 3).rows(6)) for rank in range(3)]
    for key, value in whole.items():
        np.testing.assert_array_equal(np.concatenate([shard[key] for shard in shards]), value, err_msg=key)


def test_a_batch_that_does_not_split_evenly_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Expected a `batch_size` divisible by the 2 training processes, got 5"):
        _run(0, 2).rows(5)


def test_sharded_posterior_noise_is_the_global_batch_rows(wm_sequences: SequenceData) -> None:
    from dreamgym.world_model import WorldModel

    model_cfg, _ = make_config("debug", 5, 1)
    model = WorldModel(model_cfg)
    batch = {k: torch.as_tensor(v) for k, v in SequenceSampler(wm_sequences, seq_len=8, seed=0).sample(4).items()}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        whole = model.observe(batch["obs"], batch["prev_action"], batch["is_first"])
    halves = []
    for rank in range(2):
        rows = _run(rank, 2).rows(4)
        model.rssm.batch_shard = (rows, 4)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            halves.append(model.observe(batch["obs"][rows], batch["prev_action"][rows], batch["is_first"][rows]))
    model.rssm.batch_shard = None
    # the same classes drawn for every latent of every row (the straight-through values differ by rounding)
    assert torch.equal(torch.cat([h.stoch for h in halves]).argmax(-1), whole.stoch.argmax(-1))
    torch.testing.assert_close(torch.cat([h.deter for h in halves]), whole.deter)


def _run(rank: int, world_size: int) -> DistributedRun:
    return DistributedRun(rank, world_size, rank, torch.device("cpu"))
