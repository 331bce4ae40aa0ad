"""The client end of the robot protocol: connect, authenticate, send requests and commands, read observations.

Observations arrive on their own, one per control tick, between the replies to requests; the client keeps the
ones it has not consumed yet and always hands out the newest, so a client that fell behind acts on the robot's
present, not on a queue of its past.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections import deque
from typing import Any

import numpy as np

from dreamgym.errors import EmergencyStopError, RobotError, RobotNotConnectedError, RobotProtocolError
from dreamgym.robots.channel import open_handshake
from dreamgym.robots.protocol import MAX_FRAME, ProtocolViolation, encode_array, parse_address, require

__all__ = ["RobotClient"]

_ERRORS: dict[str, type[RobotError]] = {"EmergencyStopError": EmergencyStopError, "RobotError": RobotError}


class RobotClient:
    """One authenticated connection to a robot server.

    Args:
        address: ``tcp://host:port`` or ``host:port``.
        token: the shared secret (read it with :func:`~dreamgym.robots.protocol.load_token`).
        timeout: seconds to wait for the connection, a reply or the next observation.
        max_frame: largest frame accepted from the robot, in bytes.

    Attributes:
        welcome: what the robot announced: task, ``obs_dim``, ``action_dim``, ``period`` (seconds), ...
        refused: the robot's refusals of this client's messages, newest last (code, reason).

    Raises:
        RobotNotConnectedError: nothing answers at ``address``.
        RobotAuthenticationError: the robot refused the token, or could not prove it holds it.
    """

    def __init__(self, address: str, token: bytes, timeout: float = 5.0, max_frame: int = MAX_FRAME):
        self.address, self.timeout = address, timeout
        host, port = parse_address(address)
        try:
            self._socket = socket.create_connection((host, port), timeout=timeout)
        except OSError as err:
            raise RobotNotConnectedError(
                f"No robot answers at {address} ({err.strerror or err}). Start the robot's server, or a loopback "
                f"robot with `dreamgym robot-server --task <Task> --port {port}`."
            ) from err
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames, sent at once
        try:
            self._channel, self.welcome = open_handshake(self._socket, token, max_frame)
        except ProtocolViolation as err:
            self._socket.close()
            if err.code == "closed":
                raise RobotNotConnectedError(f"The robot at {address} hung up during the handshake.") from err
            raise
        except OSError as err:
            self._socket.close()
            raise RobotNotConnectedError(f"Lost the robot at {address} during the handshake: {err}") from err
        self.connected = True
        self.refused: deque[tuple[str, str]] = deque(maxlen=100)
        self._pending: deque[dict[str, Any]] = deque()

    @property
    def period(self) -> float:
        return float(self.welcome["period"])

    def _receive(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message, or ``None`` if none arrives within ``timeout`` seconds (0: only one already here)."""
        if not self.connected:
            raise RobotNotConnectedError(f"The robot at {self.address} is not connected (closed or lost).")
        ready, _, _ = select.select([self._socket], [], [], timeout)
        if not ready:
            return None
        try:
            message = self._channel.receive()
        except ProtocolViolation as err:
            self._lose()
            if err.code == "closed":
                raise RobotNotConnectedError(f"The robot at {self.address} closed the connection.") from err
            raise RobotProtocolError(f"The robot at {self.address} broke the protocol: {err}") from err
        except OSError as err:
            self._lose()
            raise RobotNotConnectedError(f"Lost the robot at {self.address}: {err}") from err
        if message.get("type") == "refused":
            self.refused.append((str(message.get("code")), str(message.get("reason"))))
        return message

    def _lose(self) -> None:
        self.connected = False
        with contextlib.suppress(OSError):
            self._socket.close()

    def _send(self, body: dict[str, Any]) -> int:
        if not self.connected:
            raise RobotNotConnectedError(f"The robot at {self.address} is not connected (closed or lost).")
        try:
            return self._channel.send(body)
        except OSError as err:
            self._lose()
            raise RobotNotConnectedError(f"Lost the robot at {self.address}: {err}") from err

    def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Sends a request and returns the robot's reply; observations arriving meanwhile are kept for later.

        Raises:
            RobotError: the robot answered with an error (``EmergencyStopError`` for a latched stop).
            RobotProtocolError: the robot refused the request.
            RobotNotConnectedError: no reply within ``timeout``, or the connection is gone.
        """
        seq = self._send({"type": kind, **fields})
        while True:
            message = self._receive(self.timeout)
            if message is None:
                self._lose()
                raise RobotNotConnectedError(
                    f"The robot at {self.address} did not answer {kind!r} in {self.timeout} s."
                )
            if message.get("re") != seq:
                if message.get("type") in ("obs", "stopped"):
                    self._pending.append(message)
                continue
            if message.get("type") == "refused":
                raise RobotProtocolError(f"The robot at {self.address} refused {kind!r}: {message.get('reason')}")
            if message.get("type") == "error":
                error = _ERRORS.get(str(message.get("error")), RobotError)
                raise error(f"The robot at {self.address} answered {kind!r} with: {message.get('message')}")
            return message

    def command(self, tick: int, action: np.ndarray) -> None:
        """Sends ``action`` as the answer to the observation of ``tick``; the robot applies it at the next tick."""
        self._send({"type": "command", "tick": tick, "action": encode_array(action)})

    def _news(self, episode: int, after_tick: int) -> dict[str, Any] | None:
        """The stop notice or the newest observation of ``episode`` past ``after_tick`` among those received; the
        rest are dropped (older ones, and late ones of an earlier episode, heartbeats included)."""
        newest = None
        while self._pending:
            message = self._pending.popleft()
            if message.get("episode") != episode:
                continue
            if message["type"] == "stopped":
                self._pending.clear()
                self._pending.append(message)  # kept until taken by `observation`
                return message
            if require(message, "tick", int) > after_tick:
                newest = message
        if newest is not None:
            self._pending.append(newest)  # kept until taken by `observation`
        return newest

    def _drain(self) -> None:
        """Moves every message already received into the pending queue, without waiting."""
        while (message := self._receive(0.0)) is not None:
            if message.get("type") in ("obs", "stopped"):
                self._pending.append(message)

    def has_news(self, episode: int, after_tick: int) -> bool:
        """Whether an observation of ``episode`` past ``after_tick`` (or a stop notice) has arrived; never waits."""
        self._drain()
        return self._news(episode, after_tick) is not None

    def observation(self, episode: int, after_tick: int, timeout: float | None = None) -> dict[str, Any]:
        """The newest observation of ``episode`` past ``after_tick``, or a stop notice, waiting up to ``timeout``.

        Raises:
            RobotNotConnectedError: none within the timeout, or the connection is gone.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while (news := self._news(episode, after_tick)) is None:
            message = self._receive(max(0.0, deadline - time.monotonic()))
            if message is None:
                raise RobotNotConnectedError(
                    f"No observation from the robot at {self.address} in {timeout} s (its period is "
                    f"{1e3 * self.period:g} ms)."
                )
            if message.get("type") in ("obs", "stopped"):
                self._pending.append(message)
        self._drain()  # a client that fell behind gets the robot's present, not its past
        news = self._news(episode, after_tick) or news
        self._pending.clear()
        return news

    def close(self) -> None:
        """Says goodbye (the robot stops an episode this client controls) and closes the connection."""
        if self.connected:
            with contextlib.suppress(RobotError):
                self.request("close")
        self._lose()

    def __repr__(self) -> str:
        return f"RobotClient({self.address!r}, task={self.welcome.get('task')!r}, connected={self.connected})"
