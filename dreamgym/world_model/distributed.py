"""World-model training over several processes with ``torch.distributed`` DDP: one global batch split over ranks.

:func:`~dreamgym.world_model.trainer.train_world_model` trains data-parallel whenever a process group of more
than one rank is initialised; this module sets that group up and launches the processes. One machine:
``dreamgym train --nproc 4 ...`` (:func:`launch_local`). Several: start the same command under ``torchrun`` on
every machine (``docs/scaling.md``); :func:`init_from_environment` reads the rank and rendezvous from torchrun's
environment variables. gloo carries the gradients on CPU, nccl where GPUs exist.

Why N ranks compute what one process does: every rank draws the same global batch of windows from the same
sampler stream (start indices only, which costs nothing) and gathers only its own rows; every rank draws the
posterior noise of the whole global batch from the same torch stream and keeps its own rows
(:attr:`RSSM.batch_shard <dreamgym.world_model.rssm.RSSM.batch_shard>`); and DDP averages the per-rank mean-loss
gradients, which for equal shards is the gradient of the global mean. Every rank then takes the same optimiser
step. Only the order of floating-point sums differs (a mean over B/N rows per rank, then an all-reduce, against
one mean over B rows), so parameters agree to rounding, not bit for bit. Because the sampler and torch streams
are global, never per rank, a checkpoint written by N processes resumes on any other number of processes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dreamgym.errors import DreamGymError

__all__ = [
    "DistributedRun",
    "TrainingLaunchError",
    "current_run",
    "init_from_environment",
    "launch_local",
    "shutdown",
    "under_torchrun",
]


class TrainingLaunchError(DreamGymError):
    """A training process of a multi-process run failed; its own message is above, in the same terminal."""


@dataclass(frozen=True)
class DistributedRun:
    """This process's place in an initialised process group of more than one rank.

    Attributes:
        rank: global rank, 0 .. world_size - 1; rank 0 alone writes checkpoints, logs and shows progress.
        world_size: number of training processes.
        local_rank: rank on this machine, which picks the GPU under nccl.
        device: where this rank's model and batch live (``cpu`` under gloo, ``cuda:<local_rank>`` under nccl).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, batch_size: int) -> slice:
        """This rank's rows of a global batch of ``batch_size`` sequences.

        Raises:
            ValueError: the batch does not split into equal shards; unequal shards would weight the ranks'
                mean losses wrongly, so the result would not be the single-process update.
        """
        if batch_size % self.world_size:
            raise ValueError(
                f"Expected a `batch_size` divisible by the {self.world_size} training processes, got {batch_size}; "
                f"pass a batch size that is a multiple of {self.world_size}, or another number of processes."
            )
        size = batch_size // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)

    def barrier(self) -> None:
        torch.distributed.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Runs the body on rank 0 first and on the other ranks after it, even if rank 0's body raised."""
        if not self.is_main:
            self.barrier()
        try:
            yield
        finally:
            if self.is_main:
                self.barrier()

    def average(self, parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mean of each scalar over ranks, one all-reduce for all of them: what one process would log."""
        keys = sorted(parts)
        stacked = torch.stack([parts[k].detach().float().reshape(()) for k in keys]).to(self.device)
        torch.distributed.all_reduce(stacked)
        return {k: v for k, v in zip(keys, (stacked / self.world_size).cpu(), strict=True)}

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model``'s loss as a DDP module: calling it with a batch returns ``loss_and_posts(batch)``, and the
        backward pass all-reduces the gradients (averaged over ranks) in buckets while it runs.

        The model itself stays unwrapped, so its state dict, checkpoints and callers see the plain module.
        """
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # No buffers to keep in sync (the reward bins are constants), so no broadcast per call; gradients written
        # straight into the all-reduce buckets save a copy per update.
        return DistributedDataParallel(
            _LossOf(model), device_ids=device_ids, forward_sync_buffers=False, gradient_as_bucket_view=True
        )


class _LossOf(nn.Module):
    """Makes the world model's loss the ``forward`` DDP hooks into."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> Any:
        return self.model.loss_and_posts(batch)


def current_run() -> DistributedRun | None:
    """The distributed run this process belongs to, or ``None`` when it trains alone.

    A process group of one rank counts as alone: its training is the serial computation.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return None
    world_size = torch.distributed.get_world_size()
    if world_size == 1:
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    nccl = torch.distributed.get_backend() == "nccl"
    device = torch.device("cuda", local_rank) if nccl else torch.device("cpu")
    return DistributedRun(torch.distributed.get_rank(), world_size, local_rank, device)


def under_torchrun() -> bool:
    """Whether this process is one of a torchrun launch (which sets ``WORLD_SIZE`` and the rendezvous)."""
    return "WORLD_SIZE" in os.environ


def init_from_environment(backend: str | None = None) -> DistributedRun | None:
    """Joins the process group that ``torchrun`` (or ``dreamgym train --nproc``) describes in the environment.

    Outside torchrun (no ``WORLD_SIZE`` variable) nothing happens and ``None`` comes back, so the same program
    runs serially by itself.

    Args:
        backend: ``"gloo"`` or ``"nccl"``; by default nccl where CUDA is available, gloo otherwise.
    """
    if not under_torchrun():
        return None
    if not torch.distributed.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        torch.distributed.init_process_group(backend)
    return current_run()


def shutdown() -> None:
    """Leaves the process group, if this process is in one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def launch_local(nproc: int, module: str, argv: Sequence[str]) -> None:
    """Runs ``python -m module *argv`` in ``nproc`` processes on this machine, as ``torchrun --standalone`` would.

    The processes find each other through a rendezvous on a free local port; each gets ``RANK``,
    ``LOCAL_RANK`` and ``WORLD_SIZE`` and calls :func:`init_from_environment`. Their output goes to this
    terminal.

    Raises:
        ValueError: ``nproc`` is below 1.
        TrainingLaunchError: a process failed (its traceback is printed above by the process itself).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    if nproc < 1:
        raise ValueError(f"Expected `nproc` >= 1 training processes, got {nproc}.")
    args = get_args_parser().parse_args(["--standalone", f"--nproc-per-node={nproc}", "--max-restarts=0", "-m", module])
    # Set after parsing: argparse would read the command's own options (``--nproc``) as abbreviations of torchrun's.
    args.training_script_args = list(argv)
    # torchrun raises the threads of each worker to its default only when OMP_NUM_THREADS is unset; say so here
    # rather than have N processes each take every core.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    try:
        run(args)
    except ChildFailedError as err:
        failures = err.failures
        first = min(failures)
        raise TrainingLaunchError(
            f"{len(failures)} of {nproc} training processes failed (first: rank {first}, exit code "
            f"{failures[first].exitcode}); their messages are above."
        ) from None
    finally:
        sys.stdout.flush()
