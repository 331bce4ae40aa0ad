"""The evaluation ladder's PyBullet episodes spread over Ray workers, with the serial ladder's numbers.

A PyBullet rung runs episode ``i`` from reset seed ``seed + i`` (its gap's streams restart from that seed too), so
the episodes of a rung, and of every rung, are independent jobs: :class:`EpisodeFanOut` sends each to a worker
(:class:`~dreamgym.workers.WorkerPool`) and puts the rung's result together in episode order.

One detail makes the numbers equal to the serial ladder's, not just alike: the serial rung plays its episodes one
after the other in one env, and a pybullet_envs_gymnasium env differs on its first episode (it starts from the
freshly loaded robot; every later reset restores a saved state), so a worker resets its fresh env once with the
previous episode's seed before playing episode ``i > 0``, which puts the env where the serial rung's was. Envs
that carry more than that across resets (panda-gym's carry simulator state, measured in
:mod:`dreamgym.data.parallel_collect`) give episodes within that carried state's effect of the serial ones.

Example:
    >>> from dreamgym.transfer.ladder import default_rungs, run_ladder
    >>> result = run_ladder(policy, "Hopper", default_rungs(), episodes=100, workers=8)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from dreamgym.tasks import TaskSpec
from dreamgym.transfer.ladder import Episodes, Policy, PyBulletRung, RungResult, run_episodes

__all__ = ["EpisodeFanOut"]


def _play(policy: Policy, job: tuple[PyBulletRung, TaskSpec, int, int]) -> Episodes:
    """One episode of a rung in a fresh env: episode ``index`` of a rung whose first episode has seed ``first``."""
    rung, spec, first, index = job
    env = rung.make_env(spec)
    try:
        if index > 0:  # where the serial rung's env is after its previous episode (module docstring)
            env.reset(seed=first + index - 1)
        return run_episodes(policy, env, 1, first + index, rung.limit(spec))
    finally:
        env.close()


def _keep(policy: Policy) -> Policy:
    return policy


class EpisodeFanOut:
    """Ray workers, each holding a copy of ``policy``, that play PyBullet rungs' episodes.

    Args:
        policy: the batched policy of the ladder; sent to each worker once (it must pickle).
        workers: number of Ray workers.
        max_failures: worker deaths tolerated (each dead worker's episode is played again).
    """

    def __init__(self, policy: Policy, workers: int, max_failures: int = 3) -> None:
        from functools import partial

        from dreamgym.workers import WorkerPool

        self.pool: Any = WorkerPool(partial(_keep, policy), _play, workers, max_failures=max_failures)

    def run(self, rung: PyBulletRung, spec: TaskSpec, episodes: int, seed: int) -> RungResult:
        """``rung.run(policy, spec, episodes, seed, ...)`` with its episodes spread over the workers."""
        outcomes: list[Episodes] = self.pool.run_all((rung, spec, seed, i) for i in range(episodes))
        successes = [o.successes[0] if o.successes else None for o in outcomes]
        merged = Episodes(
            [o.returns[0] for o in outcomes],
            [o.lengths[0] for o in outcomes],
            [bool(s) for s in successes] if successes and all(s is not None for s in successes) else None,
        )
        return rung.result(spec, merged, seed)

    def close(self) -> None:
        self.pool.close()
