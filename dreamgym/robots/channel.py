"""One authenticated connection: the HMAC challenge-response handshake, then sealed, sequenced frames.

Handshake (plain msgpack frames of at most :data:`~dreamgym.robots.protocol.HANDSHAKE_MAX_FRAME` bytes)::

    robot  -> client  {"type": "challenge", "protocol": 2, "nonce": <32 random bytes>}
    client -> robot   {"type": "hello", "protocol": 2, "nonce": <32 random bytes>,
                       "proof": HMAC(token, "dreamgym-robot/2 client" + robot nonce + client nonce)}
    robot  -> client  {"type": "accepted"}  or  {"type": "denied", "reason": "..."} and the robot hangs up

Then both sides seal every frame with the connection's key (:func:`~dreamgym.robots.protocol.session_key`); the
robot's first sealed frame is its ``welcome``, whose MAC proves to the client that the robot holds the token too.
A MAC covers a direction label as well, so a frame cannot be reflected back to the side that sent it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import socket
import threading
from typing import Any

from dreamgym.robots.protocol import (
    HANDSHAKE_MAX_FRAME,
    MAC_BYTES,
    NONCE_BYTES,
    PROTOCOL_VERSION,
    AuthenticationFailure,
    ProtocolViolation,
    pack,
    proof,
    read_frame,
    require,
    session_key,
    unpack,
    write_frame,
)

__all__ = ["Channel", "accept_handshake", "open_handshake"]

_TO_ROBOT, _TO_CLIENT = b"client>robot", b"robot>client"


class Channel:
    """Sealed, sequenced messages over one socket; ``send`` is thread-safe, ``receive`` is for one reader.

    Args:
        sock: the connected socket (its timeout governs ``receive``).
        key: the connection's MAC key.
        outgoing, incoming: direction labels covered by the MACs of sent and received frames.
        max_frame: largest frame accepted, in bytes.
    """

    def __init__(self, sock: socket.socket, key: bytes, outgoing: bytes, incoming: bytes, max_frame: int):
        self.sock, self._key, self._out, self._in, self.max_frame = sock, key, outgoing, incoming, max_frame
        self._send_seq, self._last_received = 0, -1
        self._send_lock = threading.Lock()

    def _mac(self, label: bytes, payload: bytes) -> bytes:
        return hmac.new(self._key, label + payload, hashlib.sha256).digest()

    def send(self, body: dict[str, Any]) -> int:
        """Seals and sends ``body`` with the next sequence number, which it returns."""
        with self._send_lock:
            seq = self._send_seq
            self._send_seq += 1
            payload = pack({**body, "seq": seq})
            write_frame(self.sock, self._mac(self._out, payload) + payload)
        return seq

    def receive(self) -> dict[str, Any]:
        """The next message, its MAC verified before it is decoded, and its ``seq`` above every earlier one.

        Raises:
            AuthenticationFailure: the MAC does not verify (wrong key, tampered or reflected frame).
            ProtocolViolation: oversize, undecodable, or replayed (``seq`` not above the last one).
            ConnectionClosed: the stream ended.
        """
        frame = read_frame(self.sock, self.max_frame)
        mac, payload = frame[:MAC_BYTES], frame[MAC_BYTES:]
        if len(frame) <= MAC_BYTES or not hmac.compare_digest(mac, self._mac(self._in, payload)):
            raise AuthenticationFailure("bad_mac", "frame failed its MAC check")
        body = unpack(payload)
        seq = require(body, "seq", int, "an integer sequence number")
        if seq <= self._last_received:
            raise ProtocolViolation("replay", f"sequence number {seq} replayed; the last one was {self._last_received}")
        self._last_received = seq
        return body


def accept_handshake(
    sock: socket.socket, token: bytes, welcome: dict[str, Any], max_frame: int
) -> tuple[Channel, dict[str, Any]]:
    """The robot's side: challenges the client, checks its proof, and sends ``welcome`` sealed.

    Returns:
        The channel and the client's hello.

    Raises:
        AuthenticationFailure: a wrong proof (the client was told ``denied``).
        ProtocolViolation: anything but a well-formed hello of our protocol version.
    """
    robot_nonce = secrets.token_bytes(NONCE_BYTES)
    write_frame(sock, pack({"type": "challenge", "protocol": PROTOCOL_VERSION, "nonce": robot_nonce}))
    hello = unpack(read_frame(sock, HANDSHAKE_MAX_FRAME))
    try:
        if hello.get("type") != "hello":
            raise ProtocolViolation("bad_hello", f"expected a hello, got type {hello.get('type')!r:.40}")
        if hello.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolViolation(
                "version", f"client speaks protocol {hello.get('protocol')!r:.20}; this robot speaks {PROTOCOL_VERSION}"
            )
        client_nonce = require(hello, "nonce", bytes)
        given = require(hello, "proof", bytes)
        if len(client_nonce) != NONCE_BYTES:
            raise ProtocolViolation("bad_hello", f"expected a {NONCE_BYTES}-byte nonce, got {len(client_nonce)}")
        if not hmac.compare_digest(given, proof(token, "client", robot_nonce, client_nonce)):
            raise AuthenticationFailure("bad_proof", "the client's proof does not match the robot's token")
    except ProtocolViolation as err:
        write_frame(sock, pack({"type": "denied", "reason": str(err)}))
        raise
    write_frame(sock, pack({"type": "accepted"}))
    key = session_key(token, robot_nonce, client_nonce)
    channel = Channel(sock, key, _TO_CLIENT, _TO_ROBOT, max_frame)
    channel.send(welcome)
    return channel, hello


def open_handshake(sock: socket.socket, token: bytes, max_frame: int) -> tuple[Channel, dict[str, Any]]:
    """The client's side: answers the challenge and reads the robot's sealed welcome.

    Raises:
        AuthenticationFailure: the robot denied the proof, or its welcome fails the MAC (it lacks the token).
        ProtocolViolation: the robot does not speak this protocol.
    """
    challenge = unpack(read_frame(sock, HANDSHAKE_MAX_FRAME))
    if challenge.get("type") != "challenge" or challenge.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolViolation(
            "version",
            f"expected a challenge of protocol {PROTOCOL_VERSION}, got type {challenge.get('type')!r:.40} of "
            f"protocol {challenge.get('protocol')!r:.20}",
        )
    robot_nonce = require(challenge, "nonce", bytes)
    client_nonce = secrets.token_bytes(NONCE_BYTES)
    hello = {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "nonce": client_nonce,
        "proof": proof(token, "client", robot_nonce, client_nonce),
    }
    write_frame(sock, pack(hello))
    verdict = unpack(read_frame(sock, HANDSHAKE_MAX_FRAME))
    if verdict.get("type") != "accepted":
        raise AuthenticationFailure("denied", f"the robot refused the connection: {verdict.get('reason')!r:.200}")
    channel = Channel(sock, session_key(token, robot_nonce, client_nonce), _TO_ROBOT, _TO_CLIENT, max_frame)
    welcome = channel.receive()
    if welcome.get("type") != "welcome":
        raise ProtocolViolation("malformed", f"expected the robot's welcome, got type {welcome.get('type')!r:.40}")
    return channel, welcome
