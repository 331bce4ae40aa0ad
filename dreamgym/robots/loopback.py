"""A loopback robot: a robot server on a localhost socket backed by a PyBullet env (optionally behind a gap).

It lets the real-robot rung of the ladder run end to end, through the same client, protocol and safety layer a
real robot would use, in tests and on machines with no hardware. Its numbers are PyBullet's, and the ladder
labels them as the loopback's, never as a real robot's.

Run one in its own process with ``python -m dreamgym.robots.loopback --task Hopper --port 5555``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
from typing import Any

import numpy as np

from dreamgym.robots.remote import PROTOCOL_VERSION, jsonable_info, read_message, write_message
from dreamgym.transfer.gaps import GapConfig, RandomGap, make_gap_env

__all__ = ["LoopbackRobotServer"]


class LoopbackRobotServer:
    """Serves one PyBullet env of ``task`` over TCP, one client at a time.

    Args:
        task: dreamgym task name.
        host: interface to listen on; localhost by default so nothing outside the machine can drive it.
        port: TCP port; 0 picks a free one (read it from :attr:`address`).
        gap: a reality gap for the simulated robot (e.g. ``"moderate"``), nominal by default.
        seed: seed of the gap's noise streams.

    Example:
        >>> with LoopbackRobotServer("InvertedPendulum") as server:  # doctest: +SKIP
        ...     robot = connect_robot(server.address)
    """

    def __init__(
        self,
        task: str,
        host: str = "127.0.0.1",
        port: int = 0,
        gap: GapConfig | RandomGap | str | None = None,
        seed: int = 0,
    ):
        self.task = task
        self.env = make_gap_env(task, gap, seed=seed)
        self._listener = socket.create_server((host, port))
        self.address = f"tcp://{host}:{self._listener.getsockname()[1]}"
        self._thread: threading.Thread | None = None
        self._running = False
        self.stopped = False  # emergency stop latched until the next reset

    def start(self) -> LoopbackRobotServer:
        """Serves in a daemon thread and returns at once."""
        self._running = True
        self._thread = threading.Thread(target=self.serve_forever, name=f"loopback-{self.task}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._running = True
        while self._running:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # the listener was closed by shutdown()
                return
            with connection, connection.makefile("rwb") as stream:
                self._serve(stream)

    def _serve(self, stream: Any) -> None:
        while True:
            try:
                message = read_message(stream)
            except (OSError, ValueError):
                return
            if message is None:
                return
            try:
                if not isinstance(message, dict):
                    raise TypeError(f'expected a JSON object like {{"cmd": "hello"}}, got {message!r}')
                reply = self._handle(message)
            except Exception as err:  # reported to the client, which raises it; the server keeps serving
                reply = {"ok": False, "error": f"{type(err).__name__}: {err}"}
            try:
                write_message(stream, reply)
            except OSError:
                return
            if isinstance(message, dict) and message.get("cmd") == "close":
                return

    def _handle(self, message: dict[str, Any]) -> dict[str, Any]:
        cmd = message.get("cmd")
        if cmd == "hello":
            return {
                "ok": True,
                "protocol": PROTOCOL_VERSION,
                "task": self.task,
                "obs_shape": list(self.env.observation_space.shape),
                "action_dim": int(self.env.action_space.shape[0]),
            }
        if cmd == "reset":
            self.stopped = False
            obs, info = self.env.reset(seed=message.get("seed"))
            return {"ok": True, "obs": np.asarray(obs).tolist(), "info": jsonable_info(info)}
        if cmd == "step":
            if self.stopped:
                return {"ok": False, "error": "emergency stop is latched; reset the robot before stepping"}
            action = np.asarray(message["action"], dtype=np.float32)
            if action.shape != self.env.action_space.shape:
                return {
                    "ok": False,
                    "error": f"expected an action of shape {self.env.action_space.shape}, got {action.shape}",
                }
            obs, reward, terminated, truncated, info = self.env.step(action)
            return {
                "ok": True,
                "obs": np.asarray(obs).tolist(),
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "info": jsonable_info(info),
            }
        if cmd == "stop":
            self.stopped = True
            return {"ok": True}
        if cmd == "close":  # a robot left alone must not keep its last command
            self.stopped = True
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {cmd!r}; expected hello, reset, step, stop or close"}

    def shutdown(self) -> None:
        """Stops accepting clients and releases the simulator."""
        self._running = False
        with contextlib.suppress(OSError):  # wakes a thread blocked in accept(); close() alone does not on Linux
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.env.close()

    def __enter__(self) -> LoopbackRobotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a PyBullet task as a loopback robot on a TCP port.")
    parser.add_argument("--task", default="InvertedPendulum", help="dreamgym task name")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=5555, help="TCP port (0: any free port)")
    parser.add_argument("--gap", default="nominal", help="reality gap of the simulated robot (e.g. moderate)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the gap's noise streams")
    args = parser.parse_args(argv)
    server = LoopbackRobotServer(args.task, args.host, args.port, gap=args.gap, seed=args.seed)
    print(f"loopback {args.task} robot at {server.address}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
