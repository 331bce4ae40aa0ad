"""Wrappers that make a task's real env keep Gymnasium's API where its package does not."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

__all__ = ["ChainedSeeds"]


class ChainedSeeds(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Makes ``reset()`` without a seed continue from the last seeded reset, as Gymnasium's API asks.

    panda-gym (3.0.7) reseeds its task's generator with fresh entropy on every unseeded reset, so the goals and
    block positions after ``reset(seed=s)`` differ from run to run and Gymnasium's env checker fails. This draws
    the seed of an unseeded reset from the env's own generator, which the last seeded reset seeded.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is None:
            seed = int(self.env.unwrapped.np_random.integers(2**31 - 1))
        return self.env.reset(seed=seed, options=options)
