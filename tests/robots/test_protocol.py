"""The wire format and the handshake, on socket pairs: bounds, tokens, MACs, sequence numbers."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from dreamgym.errors import RobotAuthenticationError
from dreamgym.robots.channel import accept_handshake, open_handshake
from dreamgym.robots.protocol import (
    HANDSHAKE_MAX_FRAME,
    TOKEN_ENV,
    ConnectionClosed,
    ProtocolViolation,
    decode_array,
    encode_array,
    load_token,
    pack,
    parse_address,
    read_frame,
    write_frame,
)

TOKEN = b"protocol-test-token-0123"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.settimeout(5.0)
    b.settimeout(5.0)
    yield a, b
    a.close()
    b.close()


def test_a_frame_over_the_bound_is_refused_before_its_payload_is_read(pair) -> None:
    a, b = pair
    a.sendall(struct.pack(">I", 10 * 2**20))  # announces 10 MiB and sends none of it: reading it would block
    with pytest.raises(ProtocolViolation, match=r"frame of 10485760 bytes refused; expected 1 to 1000") as caught:
        read_frame(b, 1000)
    assert caught.value.code == "oversize"
    write_frame(a, b"x" * 1000)  # at the bound is fine
    assert read_frame(b, 1000) == b"x" * 1000
    a.sendall(struct.pack(">I", 0))
    with pytest.raises(ProtocolViolation, match="frame of 0 bytes"):
        read_frame(b, 1000)
    a.sendall(struct.pack(">I", 10) + b"abc")
    a.close()
    with pytest.raises(ConnectionClosed):
        read_frame(b, 1000)


def test_arrays_round_trip_bit_for_bit_and_their_size_is_checked() -> None:
    values = np.array([np.pi, -0.0, 1e-38, np.float32(3.4e38)], dtype=np.float32)
    np.testing.assert_array_equal(decode_array(encode_array(values), 4, "obs"), values)
    with pytest.raises(ProtocolViolation, match=r"expected `action` of shape \(3,\) \(12 bytes\), got 16 bytes"):
        decode_array(encode_array(values), 3, "action")
    with pytest.raises(ProtocolViolation, match="expected `action` as float32 bytes, got list"):
        decode_array([1.0, 2.0], 2, "action")


def test_tokens_come_from_a_file_or_the_environment(tmp_path, monkeypatch) -> None:
    path = tmp_path / "robot.token"
    path.write_text("a" * 32 + "\n")
    assert load_token(path) == b"a" * 32  # the file's newline is not part of the token
    monkeypatch.setenv(TOKEN_ENV, "b" * 20)
    assert load_token() == b"b" * 20
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(RobotAuthenticationError, match=f"No robot token: set {TOKEN_ENV} or pass a token file"):
        load_token()
    with pytest.raises(RobotAuthenticationError, match="Expected a robot token file at"):
        load_token(tmp_path / "missing")
    path.write_text("short")
    with pytest.raises(RobotAuthenticationError, match=r"at least 16 bytes in the token file .* got 5"):
        load_token(path)


def test_addresses() -> None:
    assert parse_address("tcp://127.0.0.1:5555") == ("127.0.0.1", 5555)
    assert parse_address("robot.local:80") == ("robot.local", 80)
    for bad in ("localhost", "tcp://127.0.0.1:70000", "tcp://:5555"):
        with pytest.raises(ValueError, match="Expected a robot address like"):
            parse_address(bad)


def _handshake(pair, robot_token: bytes, client_token: bytes):
    """Runs both sides of the handshake; (robot result or error, client result or error)."""
    a, b = pair
    results: dict[str, object] = {}

    def robot() -> None:
        try:
            results["robot"] = accept_handshake(a, robot_token, {"type": "welcome", "task": "X"}, 4096)
        except Exception as err:
            results["robot"] = err

    thread = threading.Thread(target=robot)
    thread.start()
    try:
        results["client"] = open_handshake(b, client_token, 4096)
    except Exception as err:
        results["client"] = err
    thread.join(5.0)
    return results["robot"], results["client"]


def test_handshake_proves_the_token_both_ways_and_frames_are_sealed(pair) -> None:
    robot, client = _handshake(pair, TOKEN, TOKEN)
    (robot_channel, _), (client_channel, welcome) = robot, client
    assert welcome["type"] == "welcome" and welcome["task"] == "X" and welcome["seq"] == 0
    client_channel.send({"type": "status"})
    assert robot_channel.receive()["type"] == "status"
    # A recorded frame sent again is a replay; a frame with one bit flipped fails its MAC.
    seq = client_channel.send({"type": "status"})
    frame = robot_channel.sock.recv(4096)
    a_peer = socket.socketpair()  # feed the recorded bytes twice into a fresh reader with the same key
    try:
        a_peer[0].sendall(frame + frame)
        robot_channel.sock = a_peer[1]
        assert robot_channel.receive()["seq"] == seq
        with pytest.raises(ProtocolViolation, match=f"sequence number {seq} replayed") as caught:
            robot_channel.receive()
        assert caught.value.code == "replay"
        tampered = bytearray(frame)
        tampered[-1] ^= 1
        a_peer[0].sendall(bytes(tampered))
        with pytest.raises(RobotAuthenticationError, match="failed its MAC") as caught:
            robot_channel.receive()
        assert caught.value.code == "bad_mac"
        # The robot's own frames do not verify as the client's (the MAC covers the direction).
        robot_channel.sock = a_peer[0]
        robot_channel.send({"type": "obs"})
        robot_channel.sock = a_peer[1]
        with pytest.raises(RobotAuthenticationError, match="failed its MAC"):
            robot_channel.receive()
    finally:
        a_peer[0].close()
        a_peer[1].close()


def test_a_wrong_token_is_denied(pair) -> None:
    robot, client = _handshake(pair, TOKEN, b"not-the-token-at-all-0123")
    assert isinstance(robot, RobotAuthenticationError) and robot.code == "bad_proof"
    assert isinstance(client, RobotAuthenticationError)
    assert "refused the connection: \"the client's proof does not match" in str(client)


def test_a_hello_of_another_version_or_shape_is_refused(pair) -> None:
    a, b = pair
    errors: list[ProtocolViolation] = []
    thread = threading.Thread(target=lambda: _catch(lambda: accept_handshake(a, TOKEN, {}, 4096), errors))
    thread.start()
    read_frame(b, HANDSHAKE_MAX_FRAME)  # the challenge
    write_frame(b, pack({"type": "hello", "protocol": 1, "nonce": b"n" * 32, "proof": b"p" * 32}))
    thread.join(5.0)
    assert errors[0].code == "version" and "client speaks protocol 1; this robot speaks 2" in str(errors[0])


def _catch(run, errors: list) -> None:
    try:
        run()
    except ProtocolViolation as err:
        errors.append(err)
