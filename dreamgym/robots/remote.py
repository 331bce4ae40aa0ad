"""A robot reached over TCP, speaking newline-delimited JSON, and the wire protocol a robot server implements.

A real robot's controller runs a small server speaking this protocol; :mod:`dreamgym.robots.loopback` is one
backed by PyBullet. JSON is used rather than pickle so that nothing received is executed, and it round-trips
float32 observations exactly (Python writes the shortest repr that reads back to the same double).

Requests and replies, one JSON object per line::

    {"cmd": "hello"}                  -> {"ok": true, "protocol": 1, "task": "Hopper", "obs_shape": [15],
                                          "action_dim": 3}
    {"cmd": "reset", "seed": 0}       -> {"ok": true, "obs": [...], "info": {...}}
    {"cmd": "step", "action": [...]}  -> {"ok": true, "obs": [...], "reward": 1.0, "terminated": false,
                                          "truncated": false, "info": {...}}
    {"cmd": "stop"}                   -> {"ok": true}        (emergency stop; steps are refused until a reset)
    {"cmd": "close"}                  -> {"ok": true}        (then the server drops the connection; clients send
                                                              a stop first, and a server stops the robot too)
    any failure                       -> {"ok": false, "error": "what went wrong"}
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import numpy as np
from gymnasium import spaces

from dreamgym.errors import RobotError, RobotNotConnectedError

__all__ = ["PROTOCOL_VERSION", "RemoteRobot", "connect_robot", "parse_address", "read_message", "write_message"]

PROTOCOL_VERSION = 1


def parse_address(address: str) -> tuple[str, int]:
    """``"host:port"`` or ``"tcp://host:port"`` to ``(host, port)``.

    Raises:
        ValueError: the address has no port or the port is not a number.
    """
    rest = address.removeprefix("tcp://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"Expected a robot address like 'tcp://127.0.0.1:5555' or '127.0.0.1:5555', got {address!r}.")
    return host, int(port)


def write_message(stream: Any, message: dict[str, Any]) -> None:
    stream.write((json.dumps(message) + "\n").encode())
    stream.flush()


def read_message(stream: Any) -> dict[str, Any] | None:
    """The next message, or ``None`` when the other side closed the connection."""
    line = stream.readline()
    if not line:
        return None
    return json.loads(line)


def jsonable_info(info: dict[str, Any]) -> dict[str, Any]:
    """The part of an info dict that JSON can carry (numbers, strings, flags, and arrays as lists)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, np.ndarray):
            out[key] = value.tolist()
        elif isinstance(value, np.generic):
            out[key] = value.item()
        elif isinstance(value, str | int | float | bool) or value is None:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = jsonable_info(value)
    return out


class RemoteRobot:
    """A :class:`~dreamgym.robots.base.Robot` behind a TCP robot server.

    Example:
        >>> robot = connect_robot("tcp://127.0.0.1:5555")  # doctest: +SKIP
        >>> obs, info = robot.reset(seed=0)  # doctest: +SKIP
    """

    def __init__(self, address: str, timeout: float = 10.0):
        self.address = address
        host, port = parse_address(address)
        try:
            self._socket = socket.create_connection((host, port), timeout=timeout)
        except OSError as err:
            raise RobotNotConnectedError(
                f"No robot answers at {address} ({err.strerror or err}). Start the robot's server, or a loopback "
                f"robot with `python -m dreamgym.robots.loopback --task <Task> --port {port}`."
            ) from err
        self._stream = self._socket.makefile("rwb")
        self._connected = True
        hello = self._request({"cmd": "hello"})
        if hello.get("protocol") != PROTOCOL_VERSION:
            self.close()
            raise RobotError(
                f"Robot at {address} speaks protocol {hello.get('protocol')!r}; expected {PROTOCOL_VERSION}."
            )
        self.task: str = hello["task"]
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=tuple(hello["obs_shape"]), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(int(hello["action_dim"]),), dtype=np.float32)

    @property
    def connected(self) -> bool:
        return self._connected

    def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        if not self._connected:
            raise RobotNotConnectedError(f"The robot at {self.address} is not connected (closed or lost).")
        try:
            write_message(self._stream, message)
            reply = read_message(self._stream)
        except (OSError, json.JSONDecodeError) as err:
            self._connected = False
            raise RobotNotConnectedError(f"Lost the robot at {self.address} during {message['cmd']!r}: {err}") from err
        if reply is None:
            self._connected = False
            raise RobotNotConnectedError(
                f"The robot at {self.address} closed the connection during {message['cmd']!r}."
            )
        if not reply.get("ok"):
            raise RobotError(f"Robot at {self.address} refused {message['cmd']!r}: {reply.get('error')}")
        return reply

    def _observation(self, reply: dict[str, Any], cmd: str) -> np.ndarray:
        """The reply's observation, checked against the shape the robot announced (a server bug, not the policy's)."""
        obs = np.asarray(reply.get("obs"), dtype=np.float32)
        if obs.shape != self.observation_space.shape:
            raise RobotError(
                f"Robot at {self.address} answered {cmd!r} with an observation of shape {obs.shape}; it announced "
                f"{self.observation_space.shape}."
            )
        return obs

    def reset(self, *, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        reply = self._request({"cmd": "reset", "seed": seed})
        return self._observation(reply, "reset"), reply.get("info", {})

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        reply = self._request({"cmd": "step", "action": np.asarray(action, dtype=np.float32).tolist()})
        obs = self._observation(reply, "step")
        return obs, float(reply["reward"]), bool(reply["terminated"]), bool(reply["truncated"]), reply.get("info", {})

    def stop(self) -> None:
        self._request({"cmd": "stop"})

    def close(self) -> None:
        """Stops the robot, then releases the connection: a robot must never keep running its last command."""
        if self._connected:
            with contextlib.suppress(RobotError):
                self._request({"cmd": "stop"})
                self._request({"cmd": "close"})
        self._connected = False
        self._stream.close()
        self._socket.close()

    def __repr__(self) -> str:
        return f"RemoteRobot({self.address!r}, task={getattr(self, 'task', '?')!r}, connected={self._connected})"


def connect_robot(address: str, timeout: float = 10.0) -> RemoteRobot:
    """Connects to the robot server at ``address`` and checks it speaks our protocol.

    Raises:
        RobotNotConnectedError: nothing answers there.
        RobotError: something answers but not in protocol.
    """
    return RemoteRobot(address, timeout=timeout)
