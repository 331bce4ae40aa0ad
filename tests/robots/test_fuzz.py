"""Hostile and broken clients, fuzzed with hypothesis (thousands of cases, derandomised, bounded in time), against a
loopback robot that must refuse every one of them while it keeps serving a legitimate client's episodes."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dreamgym.robots.channel import Channel, open_handshake
from dreamgym.robots.env import RobotEnv
from dreamgym.robots.loopback import loopback_server
from dreamgym.robots.protocol import HANDSHAKE_MAX_FRAME, MAX_FRAME, pack, parse_address, read_frame, write_frame
from dreamgym.robots.server import RobotServer
from tests.robots.conftest import TOKEN

FUZZ = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


def fuzz(examples: int) -> settings:
    """Hypothesis settings: ``examples`` cases drawn the same way on every run, no example database written."""
    return settings(FUZZ, max_examples=examples)


IO_TIMEOUT = 5.0  # every socket read in this module gives up after this: nothing can hang the suite


class LegitimateClient(threading.Thread):
    """Runs short InvertedPendulum episodes on the robot until told to stop; records any error."""

    def __init__(self, address: str, token_file: Path):
        super().__init__(name="legitimate-client", daemon=True)
        self.address, self.token_file = address, token_file
        self.episodes, self.error = 0, None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            env = RobotEnv("InvertedPendulum", self.address, token_file=self.token_file, timeout=10.0)
            while not self.done.is_set():
                obs, _ = env.reset(seed=self.episodes)
                finished = False
                while not finished:
                    obs, _, terminated, truncated, _ = env.step(0.5 * obs[2:3])
                    finished = terminated or truncated
                self.episodes += 1
            env.close()
        except Exception as err:  # reported by the tests
            self.error = err


@pytest.fixture(scope="module")
def robot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RobotServer, LegitimateClient]]:
    token_file = tmp_path_factory.mktemp("robot") / "robot.token"
    token_file.write_bytes(TOKEN)
    server = loopback_server("InvertedPendulum", TOKEN, period=0.02).start()
    client = LegitimateClient(server.address, token_file)
    client.start()
    served_meanwhile(client, 0)  # it controls the robot before any fuzzing starts
    try:
        yield server, client
    finally:
        client.done.set()
        client.join(timeout=20)
        server.shutdown()


def connect(server: RobotServer) -> socket.socket:
    sock = socket.create_connection(parse_address(server.address), timeout=IO_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(IO_TIMEOUT)
    return sock


def hang_up_and_read(sock: socket.socket) -> bytes:
    """Ends our side, then reads everything the robot sends until it closes the connection; a reset counts as
    closing (the robot hung up on bytes it never read). A timeout fails the test: the robot stalled."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        with contextlib.suppress(OSError):  # already reset by the robot
            sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65_536):
            chunks.append(chunk)
    return b"".join(chunks)


def served_meanwhile(client: LegitimateClient, before: int) -> None:
    """The legitimate client finished an episode since ``before`` (within a few seconds) and met no error."""
    deadline = time.monotonic() + 5.0
    while client.episodes <= before and client.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.error is None, f"the legitimate client failed: {client.error!r}"
    assert client.episodes > before, "the legitimate client was not served"


def framed(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
"""Any msgpack value."""


@fuzz(600)
@given(
    data=st.one_of(
        st.binary(max_size=600),  # raw garbage
        st.binary(max_size=600).map(framed),  # well framed garbage, some of it over the handshake bound
        st.dictionaries(st.sampled_from(["type", "protocol", "nonce", "proof"]), values, max_size=4).map(
            lambda hello: framed(msgpack.packb(hello))
        ),  # hello-shaped maps
        st.integers(HANDSHAKE_MAX_FRAME + 1, 2**32 - 1).map(lambda n: struct.pack(">I", n)),  # huge announced frames
    )
)
def test_unauthenticated_bytes_are_refused(robot, data: bytes) -> None:
    server, client = robot
    with connect(server) as sock:
        read_frame(sock, HANDSHAKE_MAX_FRAME)  # the challenge
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # the robot may hang up mid-send
            sock.sendall(data)
        answer = hang_up_and_read(sock)
    if answer:  # denied, or simply hung up on
        (size,) = struct.unpack(">I", answer[:4])
        assert msgpack.unpackb(answer[4 : 4 + size])["type"] == "denied" and len(answer) == 4 + size
    assert client.error is None


@fuzz(300)
@given(nonce=st.binary(min_size=32, max_size=32), proof=st.binary(max_size=64), protocol=st.sampled_from([2, 1, 3]))
def test_forged_proofs_are_denied(robot, nonce: bytes, proof: bytes, protocol: int) -> None:
    server, client = robot
    with connect(server) as sock:
        read_frame(sock, HANDSHAKE_MAX_FRAME)
        write_frame(sock, pack({"type": "hello", "protocol": protocol, "nonce": nonce, "proof": proof}))
        verdict = msgpack.unpackb(read_frame(sock, HANDSHAKE_MAX_FRAME))
        assert verdict["type"] == "denied"
        assert hang_up_and_read(sock) == b""
    assert client.error is None


class Recorder:
    """A socket that keeps a copy of every byte sent through it."""

    def __init__(self, sock: socket.socket):
        self.sock, self.sent = sock, b""

    def sendall(self, data: bytes) -> None:
        self.sent += data
        self.sock.sendall(data)

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)


def authenticated(server: RobotServer) -> tuple[socket.socket, Channel]:
    sock = connect(server)
    channel, welcome = open_handshake(sock, TOKEN, MAX_FRAME)
    assert welcome["task"] == "InvertedPendulum"
    return sock, channel


def reply_to(channel: Channel, seq: int) -> dict:
    """The robot's reply to message ``seq`` (observations and other traffic are skipped)."""
    while True:
        message = channel.receive()
        if message.get("re") == seq:
            return message


# A monitor may send any of these; "estop" and "close" are left out because they are valid requests that would
# stop the robot or end the connection the fuzzing runs on (both are tested in test_bridge.py).
bodies = st.fixed_dictionaries(
    {"type": st.sampled_from(["command", "reset", "end", "status", "clear_estop", "nonsense"]) | st.text(max_size=10)},
    optional={
        "tick": values | st.integers(0, 10**6),
        "action": values | st.binary(min_size=4, max_size=4) | st.binary(min_size=8, max_size=8),
        "seed": values,
        "reason": values,
        "extra": values,
    },
).filter(lambda body: body["type"] not in ("estop", "close"))


@pytest.fixture(scope="module")
def monitor(robot) -> Iterator[tuple[socket.socket, Channel]]:
    server, _ = robot
    sock, channel = authenticated(server)
    yield sock, channel
    sock.close()


@fuzz(1200)
@given(body=bodies)
def test_malformed_messages_of_an_authenticated_client_are_refused(robot, monitor, body: dict) -> None:
    _, channel = monitor
    seq = channel.send(body)
    reply = reply_to(channel, seq)
    if body["type"] in ("status",):
        assert reply["type"] == "status"
    elif body["type"] == "clear_estop":  # valid, but there is no stop to clear
        assert reply["type"] == "error" and "no emergency stop" in reply["message"]
    else:  # not the controller, not well formed, or not in the task's spaces
        assert reply["type"] == "refused", reply
        assert reply["code"] in ("malformed", "out_of_space", "not_controller"), reply


@fuzz(300)
@given(position=st.integers(0, 10**6), replay=st.booleans())
def test_tampered_and_replayed_frames_close_only_their_connection(robot, position: int, replay: bool) -> None:
    server, _ = robot
    sock, channel = authenticated(server)
    with sock:
        recorder = Recorder(sock)
        channel.sock = recorder
        seq = channel.send({"type": "status"})
        assert reply_to(channel, seq)["type"] == "status"
        frame = bytearray(recorder.sent)
        if not replay:
            frame[position % len(frame)] ^= 1 << (position % 8)
        sock.sendall(bytes(frame))
        # The robot hangs up without answering (a status reply would be a sealed frame of its own).
        leftover = hang_up_and_read(sock)
    assert b"status" not in leftover


def test_the_legitimate_client_was_served_throughout(robot) -> None:
    server, client = robot
    served_meanwhile(client, client.episodes)
    refusals = server.loop.status()["refusals"]
    for code in ("oversize", "undecodable", "bad_hello", "bad_proof", "version", "malformed", "not_controller"):
        assert refusals.get(code, 0) > 0, (code, refusals)
    assert refusals.get("bad_mac", 0) + refusals.get("replay", 0) > 250
    assert np.sum(list(refusals.values())) > 1500  # thousands of refused messages, and the robot still serves
