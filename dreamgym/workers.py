"""Jobs fanned out over Ray workers: the same results for any number of workers, and none lost to a crash.

Collection (:mod:`dreamgym.data.parallel_collect`), the evaluation ladder (:mod:`dreamgym.transfer.parallel`) and
benchmark seeds (:func:`map_seeds`) have the same shape of work: each job depends on its item alone (an episode
index, a rung and a seed; the seeds derive from the run's seed and the item), so which worker runs it does not
matter. :class:`WorkerPool` keeps one job in flight per worker, yields results as they finish, and when a worker
process dies (killed, out of memory, its node lost) starts a new worker and runs that worker's job again. Every
item is handed out once and run again only when its worker died before answering, so nothing is lost or counted
twice, and since a job depends only on its item, the rerun gives what the first run would have.

Ray is imported only here, when a pool starts, so ``import dreamgym`` stays cheap. Without a running cluster a
local one starts (``ray.init``); on a cluster started with ``ray start`` or the cluster launcher, set
``RAY_ADDRESS`` (or call ``ray.init(address=...)`` first) and the same code runs there (``docs/scaling.md``).

Example:
    >>> from dreamgym.workers import WorkerPool
    >>> with WorkerPool(lambda: 10, lambda offset, i: offset + i * i, workers=2) as pool:  # doctest: +SKIP
    ...     pool.run_all(range(5))
    [10, 11, 14, 19, 26]
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from dreamgym.errors import DreamGymError

__all__ = ["WorkerError", "WorkerPool", "map_seeds"]

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


class WorkerError(DreamGymError):
    """Workers kept dying: more worker failures than the pool's ``max_failures``."""


class _Worker:
    """One Ray actor: builds its state (envs, a policy) once, then runs jobs on it."""

    def __init__(self, setup: Callable[[], Any], job: Callable[[Any, Any], Any]) -> None:
        self.state = setup()
        self.job = job

    def run(self, item: Any) -> Any:
        return self.job(self.state, item)

    def pid(self) -> int:
        return os.getpid()


class WorkerPool(Generic[S, T, R]):
    """``workers`` Ray actors, each holding the state ``setup()`` builds, running ``job(state, item)``.

    An item is an episode index, a (rung, seed) pair, a benchmark seed: whatever names one job.

    Args:
        setup: builds a worker's state, once per worker (and again for a worker that replaces a dead one).
            Runs in the worker, so heavy objects (PyBullet envs, loaded policies) never cross the network.
        job: the work of one item, run in a worker on its state. Must depend on the item alone, not on what
            the worker ran before, or results would depend on the number of workers.
        workers: number of Ray actors (each reserves ``cpus_per_worker`` of the cluster's CPUs).
        max_failures: worker deaths tolerated in one pool before :class:`WorkerError`; a job that raises an
            ordinary exception is not retried (it would raise again) and its error reaches the caller.
        cpus_per_worker: CPUs Ray reserves for each worker.

    Raises:
        ValueError: ``workers`` is below 1 or ``max_failures`` below 0.
        ImportError: Ray is not installed (``pip install 'ray==2.60.0'``, in the ``test`` extra).
    """

    def __init__(
        self,
        setup: Callable[[], S],
        job: Callable[[S, T], R],
        workers: int,
        *,
        max_failures: int = 3,
        cpus_per_worker: float = 1.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"Expected `workers` >= 1, got {workers}.")
        if max_failures < 0:
            raise ValueError(f"Expected `max_failures` >= 0, got {max_failures}.")
        ray = _ray()
        self._ray = ray
        # max_restarts=0: the pool replaces a dead worker itself, so it knows which job died with it.
        self._actor_class = ray.remote(num_cpus=cpus_per_worker, max_restarts=0)(_Worker)
        self._setup, self._job = setup, job
        self.max_failures = max_failures
        self.failures = 0
        """Worker deaths so far; each one's job was run again on a new worker."""
        self._actors = [self._start() for _ in range(workers)]

    def _start(self) -> Any:
        return self._actor_class.remote(self._setup, self._job)

    @property
    def workers(self) -> list[Any]:
        """The live Ray actor handles (a test kills one with ``ray.kill`` to check recovery)."""
        return list(self._actors)

    def map(self, items: Iterable[T]) -> Iterator[tuple[T, R]]:
        """``(item, result)`` for every item, in the order the jobs finish.

        ``items`` may be endless (``itertools.count()``): jobs are handed out one per worker as workers free up,
        and leaving the loop early stops handing out more; jobs still in flight run to their end on their
        workers and their results are dropped (:meth:`close` stops the workers).

        Raises:
            WorkerError: more than ``max_failures`` workers died.
            Exception: a job's own error, as the job raised it.
        """
        for _, item, result in self._run(items):
            yield item, result

    def run_all(self, items: Iterable[T]) -> list[R]:
        """The results of a finite collection of items, in the order of ``items``."""
        items = list(items)
        results: list[Any] = [None] * len(items)
        for position, _, result in self._run(items):
            results[position] = result
        return results

    def _run(self, items: Iterable[T]) -> Iterator[tuple[int, T, R]]:
        """``(position, item, result)`` as jobs finish; ``position`` counts the items from 0."""
        ray = self._ray
        pending: deque[tuple[int, T]] = deque()  # jobs whose worker died before answering: they go out first
        source = enumerate(items)
        in_flight: dict[Any, tuple[int, T, int]] = {}  # object ref -> (position, item, slot of its worker)

        def hand_out(slot: int) -> None:
            job = pending.popleft() if pending else next(source, None)
            if job is not None:
                in_flight[self._actors[slot].run.remote(job[1])] = (*job, slot)

        for slot in range(len(self._actors)):
            hand_out(slot)
        while in_flight:
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            position, item, slot = in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as err:  # the process died: its job never finished
                self.failures += 1
                if self.failures > self.max_failures:
                    raise WorkerError(
                        f"{self.failures} workers died (at most {self.max_failures} tolerated); the last while "
                        f"running job {item!r}: {err}"
                    ) from err
                self._actors[slot] = self._start()
                pending.appendleft((position, item))
                hand_out(slot)
                continue
            except ray.exceptions.RayTaskError as err:
                raise err.as_instanceof_cause() from None
            hand_out(slot)
            yield position, item, result

    def close(self) -> None:
        """Stops the workers (the Ray cluster itself stays up for the next pool)."""
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []

    def __enter__(self) -> WorkerPool[S, T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def map_seeds(function: Callable[[int], R], seeds: Iterable[int], workers: int, **pool_kwargs: Any) -> list[R]:
    """``[function(seed) for seed in seeds]`` with the seeds spread over ``workers`` Ray workers.

    How a benchmark runs its seeds side by side: each seed's run is independent, so the results are those of the
    serial loop, in its order.
    """
    with WorkerPool(lambda: None, lambda _state, seed: function(seed), workers, **pool_kwargs) as pool:
        return pool.run_all(seeds)


def _ray() -> Any:
    """Ray, connected: to ``RAY_ADDRESS``'s cluster or an already connected one, else to a new local one."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            "Running on workers needs Ray: pip install 'ray==2.60.0' (it is in dreamgym's `test` extra)."
        ) from err
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    return ray
