"""Training loop for the world model: TensorBoard scalars, a progress bar, periodic atomic checkpoints, resume."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from dreamgym.data import SequenceData, SequenceSampler
from dreamgym.errors import CheckpointError
from dreamgym.tasks import TaskSpec
from dreamgym.world_model.checkpoint import (
    CONFIG_FILE,
    load_checkpoint,
    load_tensor_file,
    numpy_rng_state,
    read_verified,
    restore_numpy_rng,
    save_checkpoint,
)
from dreamgym.world_model.config import TrainConfig, WorldModelConfig
from dreamgym.world_model.distributed import current_run
from dreamgym.world_model.image_nets import static_background
from dreamgym.world_model.model import WorldModel
from dreamgym.world_model.rssm import RSSMState
from dreamgym.world_model.starts import sample_context_windows
from dreamgym.world_model.uncertainty import CALIBRATION_KEY, calibrate_disagreement

__all__ = ["TrainResult", "optimizer_tensors", "restore_optimizer", "train_world_model", "world_model_update"]

START_WINDOWS = 2048
START_CONTEXT = 16
IMAGE_START_WINDOWS = 32
"""Start windows stored with a camera model: each holds 16 frames of 12 KiB, so 32 windows are 6 MiB on disk."""


@dataclass
class TrainResult:
    """What a training run produced, for callers that go on to dream with the model."""

    model: WorldModel
    path: Path
    step: int
    metrics: dict[str, float]
    seconds: float


def optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str = "optim") -> tuple[dict[str, torch.Tensor], dict]:
    """Splits an optimiser state dict into safetensors-friendly tensors and JSON-friendly groups.

    ``prefix`` names the tensors (``prefix.<param>.<key>``), so several optimisers can share one file.
    """
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for index, param_state in state["state"].items():
        for key, value in param_state.items():
            tensors[f"{prefix}.{index}.{key}"] = torch.as_tensor(value).clone()
    return tensors, {"param_groups": state["param_groups"]}


def restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: dict, prefix: str = "optim"
) -> None:
    """Inverse of :func:`optimizer_tensors`: loads the tensors named ``prefix.*`` and the groups into ``optimizer``."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups["param_groups"]})


def world_model_update(
    model: WorldModel,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    train_cfg: TrainConfig,
    loss_fn: Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, torch.Tensor], RSSMState]] | None = None,
) -> tuple[dict[str, torch.Tensor], RSSMState]:
    """One gradient update of the DreamerV3 loss; returns the loss's detached parts with the gradient norm, and
    the posterior states of the batch.

    Shared by offline training here and the online Dreamer loop (``agents/dreamer``), so both clip and refuse
    divergence alike. ``loss_fn`` replaces ``model.loss_and_posts``: data-parallel training passes the DDP-wrapped
    loss, whose backward pass averages the gradients over ranks before they are clipped.

    Raises:
        FloatingPointError: the gradient is not finite; raised before the step, so the weights stay as they were.
    """
    loss, parts, posts = (loss_fn or model.loss_and_posts)(batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
    if not torch.isfinite(grad_norm):  # before the step: NaN weights must never reach a checkpoint
        raise FloatingPointError(f"loss {loss.item():.4g}, gradient norm {float(grad_norm):.4g}")
    optimizer.step()
    return parts | {"stats/grad_norm": grad_norm}, posts


def _to_torch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v) for k, v in batch.items()}


def train_world_model(
    data: SequenceData,
    out: str | Path,
    task: TaskSpec,
    model_cfg: WorldModelConfig,
    train_cfg: TrainConfig,
    *,
    logdir: str | Path | None = None,
    progress: bool = True,
    resume: bool = True,
) -> TrainResult:
    """Trains (or resumes training of) a world model on ``data`` until ``train_cfg.steps`` updates.

    With ``resume`` and a checkpoint in ``out`` that still holds trainer state, training continues from
    its step with its optimiser moments and RNG streams, so a killed run ends where an unkilled one would.
    Raising ``train_cfg.steps`` and resuming on more data is how Dyna rounds refine a model.

    Inside an initialised process group of N > 1 ranks (``dreamgym train --nproc N`` or ``torchrun``; see
    :mod:`~dreamgym.world_model.distributed`) every rank calls this with the same arguments: each computes the
    loss on its 1/N of every global batch of ``train_cfg.batch_size`` sequences, DDP averages the gradients, and
    rank 0 alone logs, shows progress and writes the checkpoints (atomically, as always). ``out`` must then be
    a directory every rank can read. The result is the single-process run's up to floating-point rounding, and
    its checkpoints resume under any number of processes.

    Args:
        data: sequences in the convention of :mod:`dreamgym.data`.
        out: checkpoint directory.
        task: the task the data comes from; its spaces are recorded and checked on load.
        model_cfg: architecture (ignored in favour of the stored one when resuming); a structured decoder's
            layout is filled in from ``task``'s observation layout, ``data`` and its kinematic chain
            (:meth:`WorldModelConfig.with_task_layout`).
        train_cfg: optimisation settings.
        logdir: TensorBoard directory; ``out/tensorboard`` by default.
        progress: show a progress bar.
        resume: continue from the checkpoint in ``out`` if there is one.
    """
    from torch.utils.tensorboard import SummaryWriter

    out = Path(out)
    run = current_run()  # None: this process trains alone, the serial path
    rows = run.rows(train_cfg.batch_size) if run else None
    main = run is None or run.is_main
    torch.manual_seed(train_cfg.seed)
    sampler_rng = np.random.default_rng(train_cfg.seed)
    step = 0
    if model_cfg.decoder == "structured" and model_cfg.obs_layout is None:
        model_cfg = model_cfg.with_task_layout(task.layout, data.obs, task.kinematic_chain(), task.decoder_table())
    if task.image_shape is not None and model_cfg.image_shape is None:
        model_cfg = dataclasses.replace(model_cfg, image_shape=task.image_shape)
    if (data.image is None) != (model_cfg.image_shape is None):
        raise ValueError(
            f"The world model {'sees' if model_cfg.image_shape else 'has no'} camera images and the data set "
            f"{'has none' if data.image is None else 'has them'}; train a pixel task on its pixel data."
        )
    model = WorldModel(model_cfg).to(run.device if run else "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, eps=train_cfg.eps)
    # Rank 0 reads first, so a write killed half-way is finished or discarded once, not by every rank at once.
    with run.main_first() if run else contextlib.nullcontext():
        resuming = resume and (out / CONFIG_FILE).exists()
        ckpt = load_checkpoint(out, spec=task) if resuming else None
    if ckpt is not None:
        model = ckpt.model.train().to(run.device if run else "cpu")
        optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, eps=train_cfg.eps)
        if "trainer.json" in ckpt.config["files"]:
            trainer_state = json.loads(read_verified(out, "trainer.json", ckpt.config))
            tensors = load_tensor_file(out, "trainer.safetensors", ckpt.config)
            restore_optimizer(optimizer, tensors, trainer_state["optimizer"])
            for group in optimizer.param_groups:
                group["lr"] = train_cfg.lr
            torch.set_rng_state(tensors["rng.torch"])
            sampler_rng = restore_numpy_rng(trainer_state["sampler_rng"])
            step = int(trainer_state["step"])
        else:
            raise CheckpointError(
                f"Checkpoint {str(out)!r} holds no trainer state (it was exported for inference only); "
                "pass resume=False or a new --out to train from scratch."
            )
        if step >= train_cfg.steps and (CALIBRATION_KEY in ckpt.config or model.cfg.ensemble < 2):
            # Already finished: writing it again could only change what callers read back (a calibration
            # recomputed under another seed, say), never improve it.
            return TrainResult(model=model.eval(), path=out, step=step, metrics={}, seconds=0.0)
    elif model_cfg.image_foreground_weight and data.image is not None:  # a vector model has no pixel to weigh
        model.set_image_background(static_background(data.image))
    model.train()
    sampler = SequenceSampler(data, seq_len=train_cfg.seq_len, rng=sampler_rng)
    writer = SummaryWriter(str(logdir or out / "tensorboard")) if main else None
    fingerprint = data.fingerprint()

    # The data does not change during a run, so the start windows stored with every checkpoint are cut once.
    windows = START_WINDOWS if data.image is None else IMAGE_START_WINDOWS
    starts = sample_context_windows(data, windows, START_CONTEXT, np.random.default_rng(train_cfg.seed))

    def checkpoint(calibration: dict | None = None) -> None:
        if not main:  # one writer: the ranks' models are identical, and concurrent writes would race
            return
        tensors, groups = optimizer_tensors(optimizer)
        tensors = {name: value.cpu() for name, value in tensors.items()}  # a GPU rank's moments, to the file
        tensors["rng.torch"] = torch.get_rng_state()
        save_checkpoint(
            out,
            model,
            task=task.name,
            observation_shape=task.obs_shape,
            action_shape=(task.action_dim,),
            starts=starts,
            spec=task,
            extra={
                "train": train_cfg.to_dict(),
                "step": step,
                "dataset": {
                    "fingerprint": fingerprint,
                    "steps": len(data),
                    "episodes": data.num_episodes,
                    **data.metadata,
                },
                **({CALIBRATION_KEY: calibration} if calibration else {}),
            },
            trainer_tensors=tensors,
            trainer_state={
                "step": step,
                "optimizer": groups,
                "sampler_rng": numpy_rng_state(sampler.rng),
            },
        )

    metrics: dict[str, float] = {}
    started = time.perf_counter()
    bar = tqdm(total=train_cfg.steps, initial=step, desc="world model", unit="upd", disable=not (progress and main))
    loss_fn = None
    if run is not None:
        model.rssm.batch_shard = (rows, train_cfg.batch_size)
        loss_fn = run.wrap(model)
    try:  # the bar and the event file close however training ends (divergence, Ctrl-C, a failing sampler)
        while step < train_cfg.steps:
            batch = _to_torch(sampler.sample(train_cfg.batch_size, rows))
            if run is not None:
                batch = {key: value.to(run.device) for key, value in batch.items()}
            try:
                parts, _ = world_model_update(model, optimizer, batch, train_cfg, loss_fn)
            except FloatingPointError as err:
                raise FloatingPointError(
                    f"World-model training diverged at update {step + 1}: {err}. The checkpoint in {str(out)!r} "
                    "still holds the last good update; resume with a lower learning rate (TrainConfig.lr) or check "
                    "the data."
                ) from None
            step += 1
            if step % train_cfg.log_every == 0 or step == train_cfg.steps:
                metrics = {k: float(v) for k, v in (run.average(parts) if run else parts).items()}
                for key, value in metrics.items() if writer else ():
                    writer.add_scalar(key, value, step)
                bar.set_postfix(loss=f"{metrics['loss/total']:.3f}", recon=f"{metrics['loss/recon']:.3f}")
            if step % train_cfg.checkpoint_every == 0 and step < train_cfg.steps:
                checkpoint()
            bar.update(1)
        # HALT thresholds are set relative to the disagreement the finished model shows on its own training data;
        # only the final checkpoint carries it, since an intermediate model's disagreement is not the final one's.
        if run is not None:
            model.rssm.batch_shard = None
            model.cpu()  # what a serial run returns; the calibration below reads CPU arrays
        if main:
            checkpoint(calibrate_disagreement(model, data, seed=train_cfg.seed) if model.cfg.ensemble > 1 else None)
        if run is not None:
            run.barrier()  # every rank returns once the final checkpoint is on disk
    finally:
        bar.close()
        if writer is not None:
            writer.close()
        if run is not None:
            model.rssm.batch_shard = None  # the returned model filters batches of any size again
    model.eval()
    return TrainResult(model=model, path=out, step=step, metrics=metrics, seconds=time.perf_counter() - started)
