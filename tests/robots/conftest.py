"""Loopback robot servers for the bridge's tests: each test starts the servers it needs and they are shut down
after it, so no test sees another's robot state."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from dreamgym.robots.loopback import loopback_server
from dreamgym.robots.protocol import TOKEN_ENV
from dreamgym.robots.server import RobotServer
from dreamgym.tasks import TaskSpec

TOKEN = b"test-token-0123456789abcdef"


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The shared token in ``DREAMGYM_ROBOT_TOKEN``, where the robot env reads it by default."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN.decode())
    return TOKEN


@pytest.fixture
def serve(token_env: bytes) -> Iterator[Callable[..., RobotServer]]:
    """Starts loopback servers (``loopback_server`` arguments; InvertedPendulum at 20 ms by default)."""
    servers: list[RobotServer] = []

    def start(task: str | TaskSpec = "InvertedPendulum", **kwargs) -> RobotServer:
        kwargs.setdefault("period", 0.02)
        server = loopback_server(task, token_env, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
