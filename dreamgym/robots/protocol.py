"""The robot protocol's wire format: length-prefixed msgpack frames, HMAC-SHA256 keys, and message checks.

Every message is one frame: a 4-byte big-endian length, then that many bytes. The length is read first and a
frame over the bound is refused before a byte of its payload is read, so no peer can make the other side
buffer more than the bound. Before authentication a payload is a msgpack map; after it, a 32-byte HMAC-SHA256
of the payload (keyed per connection, see :func:`session_key`) followed by the msgpack map, whose ``seq``
must exceed every earlier one (replays are refused). Arrays travel as little-endian float32 bytes, so an
observation arrives bit for bit and its length alone tells whether it has the task's shape.

The full message table and the security model are in ``docs/robots.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from dreamgym.errors import RobotAuthenticationError, RobotProtocolError

__all__ = [
    "HANDSHAKE_MAX_FRAME",
    "MAC_BYTES",
    "MAX_FRAME",
    "NONCE_BYTES",
    "PROTOCOL_VERSION",
    "TOKEN_ENV",
    "AuthenticationFailure",
    "ConnectionClosed",
    "ProtocolViolation",
    "decode_array",
    "encode_array",
    "load_token",
    "pack",
    "parse_address",
    "proof",
    "read_frame",
    "require",
    "session_key",
    "unpack",
    "write_frame",
]

PROTOCOL_VERSION = 2
"""Version 1 was newline-delimited JSON without authentication; version 2 is this module's."""

MAX_FRAME = 65_536
"""Default bound on an authenticated frame (bytes); a vector task's largest message is a few hundred."""

HANDSHAKE_MAX_FRAME = 512
"""Bound on a frame before the peer has authenticated: an unauthenticated peer gets no more memory than this."""

NONCE_BYTES = 32
MAC_BYTES = 32
TOKEN_ENV = "DREAMGYM_ROBOT_TOKEN"
"""Environment variable read for the shared token when no token file is given."""

MIN_TOKEN_BYTES = 16
_HEADER = struct.Struct(">I")


class ProtocolViolation(RobotProtocolError):
    """A refused message, with a short ``code`` under which the robot counts it (``oversize``, ``bad_mac``,
    ``replay``, ``malformed``, ``out_of_space``, ...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class AuthenticationFailure(ProtocolViolation, RobotAuthenticationError):
    """A peer that failed to prove the shared token, or a frame whose MAC does not verify."""


class ConnectionClosed(ProtocolViolation):
    """The peer closed the connection (or it broke) before a whole frame arrived."""

    def __init__(self, message: str):
        super().__init__("closed", message)


def parse_address(address: str) -> tuple[str, int]:
    """``"host:port"`` or ``"tcp://host:port"`` to ``(host, port)``.

    Raises:
        ValueError: the address has no port or the port is not a number in 1..65535.
    """
    rest = address.removeprefix("tcp://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"Expected a robot address like 'tcp://127.0.0.1:5555' or '127.0.0.1:5555', got {address!r}.")
    return host, int(port)


def load_token(token_file: str | Path | None = None, env_var: str = TOKEN_ENV) -> bytes:
    """The shared secret, from ``token_file`` if given, else from the environment variable ``env_var``.

    Never from the command line: a token in ``argv`` is visible to every user of the machine (``ps``) and lands
    in shell histories. Surrounding whitespace (a file's trailing newline) is not part of the token.

    Raises:
        RobotAuthenticationError: no token there, or one shorter than 16 bytes (too easy to guess).
    """
    if token_file is not None:
        path = Path(token_file)
        if not path.is_file():
            raise RobotAuthenticationError(f"Expected a robot token file at {str(path)!r}; there is none.")
        token, where = path.read_bytes().strip(), f"token file {str(path)!r}"
    else:
        token, where = os.environ.get(env_var, "").strip().encode(), f"environment variable {env_var}"
        if not token:
            raise RobotAuthenticationError(
                f"No robot token: set {env_var} or pass a token file. Make one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))' > robot.token && chmod 600 robot.token`."
            )
    if len(token) < MIN_TOKEN_BYTES:
        raise RobotAuthenticationError(
            f"Expected a robot token of at least {MIN_TOKEN_BYTES} bytes in the {where}, got {len(token)}."
        )
    return token


def proof(token: bytes, role: str, robot_nonce: bytes, client_nonce: bytes) -> bytes:
    """HMAC-SHA256 over both nonces, bound to ``role`` (``"client"`` or ``"session"``) and the protocol version."""
    label = f"dreamgym-robot/{PROTOCOL_VERSION} {role}".encode()
    return hmac.new(token, label + robot_nonce + client_nonce, hashlib.sha256).digest()


def session_key(token: bytes, robot_nonce: bytes, client_nonce: bytes) -> bytes:
    """The key of one connection's MACs: fresh nonces make it new per connection, so a frame recorded on one
    connection fails its MAC on any other."""
    return proof(token, "session", robot_nonce, client_nonce)


def recv_exact(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes; ``ConnectionClosed`` if the stream ends first (``socket.timeout`` passes through)."""
    chunks, left = [], size
    while left:
        try:
            chunk = sock.recv(min(left, 65_536))
        except (ConnectionResetError, BrokenPipeError) as err:
            raise ConnectionClosed(f"connection broken: {err}") from err
        if not chunk:
            raise ConnectionClosed("the peer closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket, max_bytes: int) -> bytes:
    """The next frame's payload.

    Raises:
        ProtocolViolation: the announced length is zero or over ``max_bytes`` (refused before it is read).
        ConnectionClosed: the stream ended.
    """
    (size,) = _HEADER.unpack(recv_exact(sock, _HEADER.size))
    if not 0 < size <= max_bytes:
        raise ProtocolViolation("oversize", f"frame of {size} bytes refused; expected 1 to {max_bytes}")
    return recv_exact(sock, size)


def write_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def pack(body: dict[str, Any]) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


def unpack(payload: bytes) -> dict[str, Any]:
    """A msgpack map with string keys.

    Raises:
        ProtocolViolation: not msgpack, trailing bytes, or not a map with string keys.
    """
    try:
        body = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as err:  # msgpack raises several unrelated types (ExtraData, FormatError, ValueError...)
        raise ProtocolViolation("undecodable", f"undecodable message ({type(err).__name__}: {err})") from None
    if not isinstance(body, dict):
        raise ProtocolViolation("undecodable", f"expected a msgpack map, got {type(body).__name__}")
    return body


def require(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str = "") -> Any:
    """``body[name]`` if it is of ``kind`` (``bool`` is not an ``int`` here).

    Raises:
        ProtocolViolation: naming the field, what was expected and what came.
    """
    value = body.get(name)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = what or " or ".join(k.__name__ for k in kinds)
        raise ProtocolViolation(
            "malformed", f"expected `{name}` to be {expected}, got {type(value).__name__} {value!r:.60}"
        )
    return value


def encode_array(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def decode_array(data: Any, size: int, name: str) -> np.ndarray:
    """``size`` float32 values from their little-endian bytes.

    Raises:
        ProtocolViolation: not bytes, or not ``4 * size`` of them (the space's shape is checked here).
    """
    if not isinstance(data, bytes):
        raise ProtocolViolation("out_of_space", f"expected `{name}` as float32 bytes, got {type(data).__name__}")
    if len(data) != 4 * size:
        raise ProtocolViolation(
            "out_of_space", f"expected `{name}` of shape ({size},) ({4 * size} bytes), got {len(data)} bytes"
        )
    return np.frombuffer(data, dtype="<f4").astype(np.float32)
