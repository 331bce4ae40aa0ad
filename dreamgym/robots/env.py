"""``dreamgym/<Task>-robot-v0``: any robot that speaks the dreamgym robot protocol, as a Gymnasium env.

The env has the task's spaces, so a policy trained in a dream or in PyBullet runs on the robot unchanged::

    env = gymnasium.make("dreamgym/Hopper-robot-v0", address="tcp://robot.local:5555", token_file="robot.token")

The robot keeps time: it ticks at its own fixed period whether or not the policy has answered, so one ``step``
spans as many robot ticks as passed since the last observation the env handed out (``info["ticks"]``, 1 unless
the policy was late or an observation was lost), and its reward is the episode's return over those ticks.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dreamgym.errors import InvalidActionError, RobotError
from dreamgym.robots.client import RobotClient
from dreamgym.robots.protocol import TOKEN_ENV, decode_array, load_token
from dreamgym.tasks import get_task

__all__ = ["RobotEnv"]


class RobotEnv(gym.Env):
    """A robot of task ``task`` behind a robot server at ``address``.

    Args:
        task: the dreamgym task the robot runs; the server must announce the same one.
        address: ``tcp://host:port`` of the robot server.
        token_file: file holding the shared token; if ``None``, the token is read from ``token_env``.
        token_env: environment variable holding the token (``DREAMGYM_ROBOT_TOKEN`` by default).
        timeout: seconds to wait for a reply or an observation before the robot counts as lost; by default the
            longer of 2 s and 50 control periods.
        max_episode_steps: the episode is truncated after this many robot ticks (the task's limit by default),
            counted on the robot's clock, so observations lost on the way do not lengthen it.

    Example:
        >>> env = gymnasium.make("dreamgym/Hopper-robot-v0", address="tcp://127.0.0.1:5555")  # doctest: +SKIP
        >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        task: str,
        address: str | None = None,
        token_file: str | Path | None = None,
        token_env: str = TOKEN_ENV,
        timeout: float | None = None,
        max_episode_steps: int | None = None,
    ):
        if address is None:
            raise ValueError(
                f"Expected the robot's `address`, e.g. gymnasium.make('dreamgym/{task}-robot-v0', "
                "address='tcp://127.0.0.1:5555'); start a loopback robot with `dreamgym robot-server`."
            )
        self.task = get_task(task)
        if self.task.obs_kind != "vector":
            raise ValueError(f"Expected a vector task for a robot env, got the pixel task {task!r}.")
        self.observation_space = self.task.observation_space
        self.action_space = self.task.action_space
        self.max_episode_steps = max_episode_steps or self.task.max_episode_steps
        self.client = RobotClient(address, load_token(token_file, token_env), timeout=timeout or 2.0)
        welcome = self.client.welcome
        try:
            self._check_welcome(welcome)
        except RobotError:
            self.client.close()
            raise
        self.client.timeout = timeout or max(2.0, 50 * self.client.period)
        self._episode, self._tick, self._return = 0, 0, 0.0
        self._obs = np.zeros(self.observation_space.shape, np.float32)
        self._running = False

    def _check_welcome(self, welcome: dict[str, Any]) -> None:
        task = self.task
        announced = (welcome.get("task"), welcome.get("obs_dim"), welcome.get("action_dim"))
        if announced != (task.name, task.obs_shape[0], task.action_dim):
            raise RobotError(
                f"The robot at {self.client.address} runs {announced[0]!r} (observations of {announced[1]}, actions "
                f"of {announced[2]}); expected {task.name!r} ({task.obs_shape[0]}, {task.action_dim})."
            )

    @property
    def period(self) -> float:
        """The robot's control period in seconds."""
        return self.client.period

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode on the robot (its start state seeded where the robot can be).

        Raises:
            EmergencyStopError: the robot's emergency stop is latched; :meth:`clear_emergency_stop` first.
            RobotError: the robot started outside its safety limits (it holds its safe stop).
        """
        super().reset(seed=seed)
        message = self.client.request("reset", seed=seed)
        self._episode, self._tick, self._return = message["episode"], 0, 0.0
        self._running = not (message["terminated"] or message["truncated"])
        if message.get("stop"):  # Gymnasium's reset cannot end an episode, so this is an error
            raise RobotError(
                f"The robot started outside its safety limits ({message['stop']}) and holds its safe stop; bring it "
                "within its limits and reset again."
            )
        return self._observation(message), self._info(message, ticks=0)

    def _observation(self, message: dict[str, Any]) -> np.ndarray:
        self._obs = decode_array(message.get("obs"), self.observation_space.shape[0], "obs")
        return self._obs

    def _info(self, message: dict[str, Any], ticks: int) -> dict[str, Any]:
        info = {
            "tick": message["tick"],
            "robot_time": message["t"],
            "ticks": ticks,
            "applied": message["applied"],
            "safe_action": decode_array(message.get("action"), self.action_space.shape[0], "action"),
            "interventions": dict(message["interventions"]),
        }
        if message.get("stop"):
            info["stop"] = message["stop"]
        return info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Sends ``action`` as the answer to the last observation and returns the robot's next one.

        Raises:
            InvalidActionError: ``action`` of the wrong shape or with non-finite values (nothing is sent; the
                robot's watchdog holds its safe stop).
            RobotError: stepping an episode that already ended.
        """
        action = np.asarray(action, dtype=np.float32)
        if action.shape != self.action_space.shape:
            raise InvalidActionError(f"Expected `action` of shape {self.action_space.shape}, got {action.shape}.")
        if not np.all(np.isfinite(action)):
            raise InvalidActionError(f"Expected a finite `action`, got {action.tolist()}.")
        if not self._running:
            raise RobotError("The robot's episode has ended; call reset() before stepping again.")
        # A policy slower than the robot answers an observation the robot has moved past: the command would be
        # stale (the robot refuses those), so it is not sent, and the step returns the robot's present instead.
        late = self.client.has_news(self._episode, self._tick)
        if not late:
            self.client.command(self._tick, action)
        message = self.client.observation(self._episode, self._tick)
        if message["type"] == "stopped":
            self._running = False
            info = {"tick": self._tick, "ticks": 0, "emergency_stop": message["reason"]}
            return self._obs, 0.0, True, False, info
        ticks = message["tick"] - self._tick
        # The robot's running return makes a step whose earlier ticks' observations were lost still count them.
        reward = float(message["reward"]) if ticks == 1 else float(message["return"]) - self._return
        self._tick, self._return = message["tick"], float(message["return"])
        terminated, truncated = bool(message["terminated"]), bool(message["truncated"])
        if not (terminated or truncated) and self._tick >= self.max_episode_steps:
            truncated = True
            self.client.request("end")  # the robot holds its safe stop, not a watchdog stop, until the next reset
        self._running = not (terminated or truncated)
        return self._observation(message), reward, terminated, truncated, {**self._info(message, ticks), "late": late}

    def emergency_stop(self, reason: str = "requested by the client") -> None:
        """Stops the robot now; it refuses to start an episode until :meth:`clear_emergency_stop`."""
        self.client.request("estop", reason=reason)
        self._running = False

    def clear_emergency_stop(self) -> None:
        """Clears a latched emergency stop (an explicit act, never done by ``reset``)."""
        self.client.request("clear_estop")

    def status(self) -> dict[str, Any]:
        """The robot's mode, clock, and lifetime counts of interventions and refused messages."""
        return self.client.request("status")

    def close(self) -> None:
        """Ends a running episode (the robot holds its safe stop) and disconnects."""
        if self.client.connected and self._running:
            with contextlib.suppress(RobotError):
                self.client.request("end")
        self._running = False
        self.client.close()
        super().close()
