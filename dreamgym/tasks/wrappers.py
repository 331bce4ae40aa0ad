"""Wrappers that make a task's real env keep Gymnasium's API (and a clean terminal) where its package does not."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import Any

import gymnasium as gym

__all__ = ["ChainedSeeds", "QuietConnect", "native_output_silenced"]


@contextlib.contextmanager
def native_output_silenced(streams: tuple[int, ...] = (1,)) -> Iterator[None]:
    """Sends what C code writes to the given file descriptors (stdout by default) to /dev/null for the body.

    PyBullet's C library prints ``argv[0]=`` lines on every connection and its build time on import, straight to
    the process's file descriptors, where Python's ``sys.stdout`` cannot catch them. C's own buffers are flushed
    before the descriptors are restored, so nothing printed inside leaks out afterwards; Python's are flushed
    before, so nothing printed before is lost.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = [os.dup(fd) for fd in streams]
    except OSError:  # no such descriptor (an embedded interpreter): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in streams:
            os.dup2(devnull, fd)
        yield
    finally:
        ctypes.CDLL(None).fflush(None)
        for fd, copy in zip(streams, saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


class QuietConnect(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Silences the native output of the env's resets, where pybullet_envs_gymnasium connects to PyBullet."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        with native_output_silenced():
            return self.env.reset(seed=seed, options=options)


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
