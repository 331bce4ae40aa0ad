"""The robot's network side: authenticates clients and routes their messages to the :class:`ControlLoop`.

Each connection has a thread of its own, with a deadline on the handshake, so a silent, slow or hostile peer
holds only its own thread while the robot serves everyone else. Nothing a client sends can crash the server:
a frame that fails framing, its MAC or its sequence number closes that connection; a message that passes those
but breaks the protocol is refused with a ``refused`` reply. Both are logged and counted (``status``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
from typing import Any

from dreamgym.errors import RobotError
from dreamgym.robots.channel import Channel, accept_handshake
from dreamgym.robots.control import ControlLoop
from dreamgym.robots.emulation import DelayLine, NetworkConditions
from dreamgym.robots.protocol import MAX_FRAME, PROTOCOL_VERSION, ProtocolViolation, encode_array

__all__ = ["REQUESTS", "RobotServer"]

log = logging.getLogger("dreamgym.robots")

REQUESTS = ("command", "reset", "end", "estop", "clear_estop", "status", "close")
"""Message types a client may send after the handshake."""


class _Connection:
    """One authenticated client: its channel, and the delay lines its messages go through."""

    def __init__(self, channel: Channel, peer: str, network: NetworkConditions, seed: int):
        self.channel, self.peer = channel, peer
        self.outbox = DelayLine(f"robot-send-{peer}", network, seed)
        self.inbox = None if network.is_perfect else DelayLine(f"robot-receive-{peer}", network, seed + 1)

    def send(self, body: dict[str, Any], lossy: bool = False) -> bool:
        """Queues ``body`` for sending; never blocks the caller (the control loop must not wait on a client)."""
        return self.outbox.put(lambda: self.channel.send(body), lossy=lossy)

    def close(self) -> None:
        self.outbox.close()
        if self.inbox is not None:
            self.inbox.close()


class RobotServer:
    """Serves one robot (its :class:`ControlLoop`) on a TCP port to clients that prove the shared token.

    Args:
        loop: the robot's control loop (started by :meth:`start` or :meth:`serve_forever`).
        token: the shared secret (see :func:`~dreamgym.robots.protocol.load_token`).
        host: interface to listen on; localhost by default, so nothing outside the machine reaches it.
        port: TCP port; 0 picks a free one (read :attr:`address`).
        network: emulated latency, jitter and loss of the control stream (the loopback's; a real robot's link
            has its own).
        max_frame: largest frame accepted from an authenticated client, in bytes.
        handshake_timeout: seconds a new connection has to authenticate.
        max_connections: connections served at once; more are refused on arrival.
        seed: seed of the emulated network's draws.
    """

    def __init__(
        self,
        loop: ControlLoop,
        token: bytes,
        host: str = "127.0.0.1",
        port: int = 0,
        network: NetworkConditions | None = None,
        max_frame: int = MAX_FRAME,
        handshake_timeout: float = 2.0,
        max_connections: int = 16,
        seed: int = 0,
    ):
        self.loop, self._token, self.network = loop, token, network or NetworkConditions()
        self.max_frame, self.handshake_timeout, self.max_connections = max_frame, handshake_timeout, max_connections
        self._seed = seed
        self._listener = socket.create_server((host, port))
        self.address = f"tcp://{host}:{self._listener.getsockname()[1]}"
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._serving = False
        self.lost = {"commands": 0, "observations": 0}
        loop.publish = self._publish

    def start(self) -> RobotServer:
        """Starts the control loop and accepts clients on a daemon thread; returns at once."""
        self.loop.start()
        self._serving = True
        self._thread = threading.Thread(target=self._accept, name="robot-accept", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Starts the control loop and accepts clients on this thread until :meth:`shutdown`."""
        self.loop.start()
        self._serving = True
        self._accept()

    def _accept(self) -> None:
        while self._serving:
            try:
                sock, (host, port, *_) = self._listener.accept()
            except OSError:  # the listener was closed by shutdown()
                return
            peer = f"{host}:{port}"
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames, each sent at once
            with self._lock:
                full = len(self._sockets) >= self.max_connections
                if not full:
                    self._sockets.add(sock)
            if full:
                self.loop.refuse("too_many_connections", f"{self.max_connections} connections are open", peer)
                sock.close()
                continue
            threading.Thread(target=self._serve, args=(sock, peer), name=f"robot-conn-{peer}", daemon=True).start()

    def _welcome(self) -> dict[str, Any]:
        task, loop = self.loop.task, self.loop
        return {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "task": task.name,
            "obs_dim": loop.obs_dim,
            "action_dim": loop.action_dim,
            "period": loop.period,
            "safe_action": encode_array(loop.safe_action),
            "max_frame": self.max_frame,
            "network": self.network.describe(),
        }

    def _serve(self, sock: socket.socket, peer: str) -> None:
        connection: _Connection | None = None
        try:
            sock.settimeout(self.handshake_timeout)
            try:
                channel, _ = accept_handshake(sock, self._token, self._welcome(), self.max_frame)
            except TimeoutError:
                self.loop.refuse("handshake_timeout", f"no valid hello within {self.handshake_timeout} s", peer)
                return
            except ProtocolViolation as err:
                self.loop.refuse(err.code, str(err), peer)
                return
            except OSError as err:
                self.loop.refuse("closed", f"connection broken during the handshake: {err}", peer)
                return
            sock.settimeout(None)
            connection = _Connection(channel, peer, self.network, self._seed + 2 * next(self._ids))
            log.info("client %s authenticated", peer)
            self._receive(connection)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    self.loop.call(lambda: self.loop.release(connection))
                connection.close()
            with self._lock:
                self._sockets.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _receive(self, connection: _Connection) -> None:
        """Reads and handles ``connection``'s messages until it closes, breaks, or sends a frame that fails its
        framing, MAC or sequence number (the stream can no longer be trusted, so it is closed)."""
        while True:
            try:
                body = connection.channel.receive()
            except ProtocolViolation as err:
                if err.code != "closed":
                    self.loop.refuse(err.code, str(err), connection.peer)
                return
            except OSError:
                return
            if body.get("type") == "command":
                if connection.inbox is None:
                    self._submit(connection, body)
                elif not connection.inbox.put(lambda body=body: self._submit(connection, body), lossy=True):
                    self.lost["commands"] += 1
                continue
            try:
                reply = self._request(connection, body)
            except ProtocolViolation as err:
                self._refused(connection, body, err)
                continue
            except RobotError as err:
                reply = {"type": "error", "error": type(err).__name__, "message": str(err)}
            except Exception as err:  # a failing robot driver: the client hears it, the server keeps serving
                log.exception("request %r failed", body.get("type"))
                reply = {"type": "error", "error": "RobotError", "message": f"{type(err).__name__}: {err}"}
            connection.send({**reply, "re": body["seq"]})
            if body.get("type") == "close":
                return

    def _refused(self, connection: _Connection, body: dict[str, Any], err: ProtocolViolation) -> None:
        self.loop.refuse(err.code, str(err), connection.peer)
        connection.send({"type": "refused", "re": body["seq"], "code": err.code, "reason": str(err)})

    def _submit(self, connection: _Connection, body: dict[str, Any]) -> None:
        try:
            self.loop.submit(connection, body)
        except ProtocolViolation as err:
            self._refused(connection, body, err)

    def _request(self, connection: _Connection, body: dict[str, Any]) -> dict[str, Any]:
        kind, loop = body.get("type"), self.loop
        if kind == "reset":
            seed = body.get("seed")
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63):
                raise ProtocolViolation(
                    "malformed", f"expected `seed` to be a non-negative integer or nil, got {seed!r:.40}"
                )
            return loop.call(lambda: loop.reset(connection, seed))
        if kind == "status":
            status = loop.call(loop.status)
            return {**status, "network": self.network.describe(), "lost": dict(self.lost)}
        if kind == "estop":
            reason = body.get("reason")
            reason = reason[:200] if isinstance(reason, str) and reason else f"requested by {connection.peer}"
            loop.emergency_stop(reason)
        elif kind == "clear_estop":
            loop.call(loop.clear_emergency_stop)
        elif kind == "end":
            loop.call(lambda: loop.end_episode(connection))
        elif kind != "close":
            raise ProtocolViolation(
                "malformed", f"unknown message type {kind!r:.40}; expected one of {', '.join(REQUESTS)}"
            )
        return {"type": "ok"}

    def _publish(self, owner: object, message: dict[str, Any]) -> None:
        """Sends a message of the control loop to the client that controls the robot, if any."""
        if isinstance(owner, _Connection):
            lossy = message["type"] == "obs"  # a stop notice is delivered like a reply
            if not owner.send(message, lossy=lossy) and lossy:
                self.lost["observations"] += 1

    def shutdown(self) -> None:
        """Stops accepting, drops every connection, and stops the control loop (the robot holds its safe stop)."""
        self._serving = False
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept(); close() alone does not on Linux
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.loop.stop_loop()

    def __enter__(self) -> RobotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
