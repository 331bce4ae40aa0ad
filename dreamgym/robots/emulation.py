"""A network between client and robot that is worse than loopback: latency, jitter and packet loss.

The loopback robot server puts its control stream (commands in, observations out) through this, so a client can
be tested against the delays and losses a real link has before it meets one. Requests and their replies (reset,
stop, status) are not dropped: over a real link they would be retried until answered. Delivery stays in order
per direction, as on a TCP link, so jitter delays messages without reordering them.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["DelayLine", "NetworkConditions"]


@dataclass(frozen=True)
class NetworkConditions:
    """Properties of the emulated link, per direction.

    Attributes:
        latency: one-way delay in seconds.
        jitter: the delay varies uniformly within ``latency +- jitter`` (never below zero).
        loss: probability that one command or observation is lost.
    """

    latency: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0

    def __post_init__(self) -> None:
        if not (self.latency >= 0 and self.jitter >= 0):
            raise ValueError(f"Expected latency >= 0 and jitter >= 0 seconds, got {self.latency}, {self.jitter}.")
        if not 0 <= self.loss < 1:
            raise ValueError(f"Expected a packet `loss` probability in [0, 1), got {self.loss}.")

    @property
    def is_perfect(self) -> bool:
        return self.latency == 0 and self.jitter == 0 and self.loss == 0

    def describe(self) -> str:
        if self.is_perfect:
            return "no emulated latency or loss"
        return f"latency {1e3 * self.latency:g} ± {1e3 * self.jitter:g} ms, loss {100 * self.loss:g} %"


class DelayLine:
    """Runs callables on one thread of its own, in order, each no earlier than its due time.

    Gives each connection a sender that never blocks the robot's control loop (a client that stops reading fills
    the line, and further messages are dropped, not waited for), and emulates a link's delay and loss.

    Args:
        name: thread name.
        conditions: the emulated link; a perfect one delivers as soon as the thread can.
        seed: seed of the delay and loss draws.
        capacity: most messages waiting; beyond it, :meth:`put` drops.
    """

    def __init__(self, name: str, conditions: NetworkConditions | None = None, seed: int = 0, capacity: int = 1024):
        self.conditions = conditions or NetworkConditions()
        self.capacity = capacity
        self._rng = np.random.default_rng(seed)
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._last_due = 0.0
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, delivery: Callable[[], None], lossy: bool = False) -> bool:
        """Schedules ``delivery``; ``False`` if it was lost (``lossy`` and the link dropped it) or the line is full."""
        conditions = self.conditions
        with self._wake:
            if self._closed or len(self._heap) >= self.capacity:
                return False
            if lossy and conditions.loss and self._rng.random() < conditions.loss:
                return False
            delay = conditions.latency
            if conditions.jitter:
                delay = max(0.0, delay + self._rng.uniform(-conditions.jitter, conditions.jitter))
            due = max(time.monotonic() + delay, self._last_due)  # in order, as on a TCP link
            self._last_due = due
            heapq.heappush(self._heap, (due, next(self._order), delivery))
            self._wake.notify()
        return True

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._wake.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                if self._closed:
                    return
                _, _, delivery = heapq.heappop(self._heap)
            with contextlib.suppress(Exception):  # a broken connection: its reader notices and cleans up
                delivery()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._heap.clear()
            self._wake.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)
