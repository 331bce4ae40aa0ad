"""A task defined by a recorded log alone: a Minari data set written from a robot's arrays (no env, no simulator named)
trains a world model and dreams, with every simulator made unimportable, and the checkpoint rebuilds the task without
the data set."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import dreamgym
from dreamgym.data import load_episodes, log_task_name, task_from_dataset
from dreamgym.tasks import TASKS

LOG_ID = "acme/arm-log-v0"
OBSERVATION = spaces.Dict(
    joints=spaces.Box(-3.0, 3.0, shape=(2,), dtype=np.float32),
    tip=spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32),
)
ACTION = spaces.Box(np.array([-2.0, -0.5], np.float32), np.array([2.0, 0.5], np.float32))


def write_robot_log(dataset_id: str, action_space: spaces.Space = ACTION, episodes: int = 6, steps: int = 30) -> None:
    """A Minari data set from arrays, as a robot's recorder writes one: no env, no env spec, no dreamgym metadata."""
    import minari
    from minari.data_collector import EpisodeBuffer

    rng = np.random.default_rng(0)
    buffers = []
    for _ in range(episodes):
        joints = np.cumsum(rng.normal(0, 0.1, (steps + 1, 2)), 0).clip(-3, 3).astype(np.float32)
        tip = rng.normal(size=(steps + 1, 3)).astype(np.float32)
        actions = np.stack([action_space.sample() for _ in range(steps)]).astype(action_space.dtype)
        buffers.append(
            EpisodeBuffer(
                observations={"joints": list(joints), "tip": list(tip)},
                actions=list(actions),
                rewards=list(-np.abs(joints[1:, 0])),
                terminations=[False] * steps,
                truncations=[False] * (steps - 1) + [True],
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Minari warns that a data set without an env has no env spec: the point
        minari.create_dataset_from_buffers(
            dataset_id, buffers, observation_space=OBSERVATION, action_space=action_space, author="acme"
        )


@pytest.fixture
def minari_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    yield root
    TASKS.pop("AcmeArmLog", None)
    gym.registry.pop("dreamgym/AcmeArmLog-dream-v0", None)


def test_a_log_defines_a_task_from_its_spaces(minari_root: Path) -> None:
    import minari

    write_robot_log(LOG_ID)
    spec = task_from_dataset(LOG_ID)
    assert (spec.name, spec.env_id, spec.simulator, spec.dataset) == ("AcmeArmLog", None, None, LOG_ID)
    assert (spec.obs_shape, spec.action_dim, spec.max_episode_steps) == ((5,), 2, 30)
    assert spec.env_observation_space == OBSERVATION and spec.env_action_space == ACTION
    # The log's actions, in the robot's units, reach the pipeline in [-1, 1].
    data = load_episodes(LOG_ID, spec)
    raw = np.concatenate([e.actions for e in minari.load_dataset(LOG_ID).iterate_episodes()])
    np.testing.assert_allclose(data.prev_action[~data.is_first], raw / np.array([2.0, 0.5]), atol=1e-6)
    with pytest.raises(dreamgym.errors.NoSimulatorError, match="Task 'AcmeArmLog' has no simulator"):
        spec.make_env()


def test_a_logs_task_name_comes_from_its_id() -> None:
    assert log_task_name("my-robot-log-v0", "x") == "MyRobotLog"
    assert log_task_name("acme/arm/pick_place-v3", "x") == "AcmeArmPickPlace"
    assert log_task_name(None, "/logs/2024_arm") == "Log2024Arm"


def test_a_log_with_unsupported_actions_is_refused_by_name(minari_root: Path) -> None:
    write_robot_log("acme/gripper-v0", action_space=spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32), episodes=1)
    # A log recorded against another action range than its task's is refused on load.
    other = dreamgym.register_task(task_from_dataset("acme/gripper-v0", name="AcmeArmLog"))
    assert other.env_action_space != ACTION
    write_robot_log(LOG_ID, episodes=1)
    import dataclasses

    with pytest.raises(dreamgym.errors.DatasetError, match=re.escape(f"acts in {ACTION}")):
        load_episodes(LOG_ID, dataclasses.replace(other, action_low=(-4.0, -4.0), action_high=(4.0, 4.0)))
    write_robot_log("acme/switch-v0", action_space=spaces.Discrete(3), episodes=1)
    with pytest.raises(ValueError, match="Data set 'acme/switch-v0' acts in Discrete\\(3\\)"):
        task_from_dataset("acme/switch-v0")


# Run in a fresh interpreter in which no simulator can be imported, as on a machine with only the robot's log.
NO_SIMULATOR = """
import json, sys

class NoSimulators:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pybullet", "pybullet_envs_gymnasium", "panda_gym", "pybullet_data", "pygame"):
            raise ImportError(f"{name} is not installed here")

sys.meta_path.insert(0, NoSimulators())
import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import dreamgym
from dreamgym.cli import main

data, ckpt = sys.argv[1], sys.argv[2]
if data != "-":
    train = ["train", "--dataset", data, "--preset", "debug", "--steps", "5", "--out", ckpt, "--no-progress"]
    assert main(train) == 0
spec = dreamgym.task_from_checkpoint(ckpt)
env = gym.make(f"dreamgym/{spec.name}-dream-v0", checkpoint=ckpt)
obs, _ = env.reset(seed=0)
check_env(env.unwrapped, skip_render_check=True)
sb3_check_env(env.unwrapped, warn=False)
step = env.step(env.action_space.high)
report = None
if len(sys.argv) > 3:  # then an agent in the dream and the evaluation ladder, which runs what exists
    policy, out = sys.argv[3] + "/policy.zip", sys.argv[3] + "/report"
    dream = ["dream", "--checkpoint", ckpt, "--steps", "64", "--num-envs", "2", "--out", policy, "--no-progress"]
    assert main([*dream, "--logdir", sys.argv[3] + "/runs"]) == 0
    assert main(["evaluate", "--checkpoint", ckpt, "--policy", policy, "--episodes", "2", "--out", out]) == 0
    report = open(out + "/report.md").read()
print(json.dumps({
    "report": report,
    "name": spec.name,
    "observation_space": str(env.observation_space),
    "action_space": str(env.action_space),
    "keys": list(obs),
    "simulators": sorted(m for m in sys.modules if m.split(".")[0] in ("pybullet", "pybullet_envs_gymnasium")),
}))
"""


def _run_without_simulators(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", NO_SIMULATOR, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_log_alone_trains_dreams_and_is_evaluated_with_no_simulator_importable(
    minari_root: Path, tmp_path: Path
) -> None:
    write_robot_log(LOG_ID)
    ckpt = tmp_path / "ckpt"
    trained = _run_without_simulators(LOG_ID, str(ckpt))
    assert trained["name"] == "AcmeArmLog" and trained["keys"] == ["joints", "tip"]
    assert trained["action_space"] == str(ACTION) and trained["simulators"] == []
    # The checkpoint carries the task: with the data set gone, a fresh process dreams from it, trains an agent in
    # its dreams and runs the ladder's rungs that exist, saying which it skipped and why.
    import shutil

    shutil.rmtree(minari_root)
    evaluated = _run_without_simulators("-", str(ckpt), str(tmp_path))
    report = evaluated.pop("report")
    assert trained.pop("report") is None and evaluated == trained  # the same dream as right after training
    no_simulator = "task 'AcmeArmLog' has no simulator: it was defined by the recorded data set 'acme/arm-log-v0'"
    dream_row = next(line for line in report.splitlines() if line.startswith("| dream-trained policy in the dream |"))
    assert "skipped" not in dream_row and "| 2 |" in dream_row  # two dreams ran
    assert f"| dream-trained policy in the simulator | skipped | - | - | - | 0 | {no_simulator} |" in report
    assert "| robot | not connected |" in report
    for part in ("robustness curve", "baseline", "fidelity", "audit", "video"):
        assert f"| {part} | {no_simulator} |" in report


class ArmStandIn(gym.Env):
    """Stands in for the robot that recorded the log: the log's spaces, a joint moved by the first action."""

    dt = 0.05

    def __init__(self) -> None:
        self.observation_space, self.action_space = OBSERVATION, ACTION

    def _obs(self) -> dict[str, np.ndarray]:
        return {"joints": self.joints.copy(), "tip": np.r_[np.cos(self.joints), self.joints[:1]].astype(np.float32)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.joints = self.np_random.uniform(-0.5, 0.5, 2).astype(np.float32)
        return self._obs(), {}

    def step(self, action):
        self.joints = np.clip(self.joints + 0.05 * np.asarray(action, np.float32), -3, 3).astype(np.float32)
        return self._obs(), -abs(float(self.joints[0])), False, False, {}


def test_the_ladder_of_a_log_task_runs_its_robot_when_an_address_is_given(minari_root: Path, tmp_path: Path) -> None:
    import dataclasses
    import secrets

    from dreamgym.robots.loopback import loopback_server
    from dreamgym.transfer.ladder import default_rungs, run_ladder
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    write_robot_log(LOG_ID)
    spec = dreamgym.register_task(task_from_dataset(LOG_ID))
    model_cfg, train_cfg = make_config("debug", 5, 2, steps=3)
    ckpt = train_world_model(load_episodes(LOG_ID, spec), tmp_path / "ckpt", spec, model_cfg, train_cfg, progress=False)
    # The robot: a server speaking dreamgym's robot protocol under the task's name, here over a stand-in env.
    gym.register("dreamgym_tests/ArmStandIn-v0", entry_point=ArmStandIn, max_episode_steps=30)
    robot = dataclasses.replace(spec, env_id="dreamgym_tests/ArmStandIn-v0", dataset=None)
    token = secrets.token_hex(16)
    (tmp_path / "token").write_text(token)
    still = lambda obs: np.zeros((len(obs), 2), np.float32)  # noqa: E731
    try:
        with loopback_server(robot, token.encode(), period=0.0) as server:
            rungs = default_rungs(ckpt.path, ("mild",), server.address, 10, robot_token_file=tmp_path / "token")
            ladder = run_ladder(still, spec, rungs, episodes=2, seed=0, progress=False)
    finally:
        gym.registry.pop("dreamgym_tests/ArmStandIn-v0", None)
    dream, nominal, gap, real = ladder.rungs
    assert dream.ok and real.ok and real.lengths == (10, 10)
    assert nominal.status == gap.status == "skipped" and "has no simulator" in gap.detail
    assert "robustness curve" in ladder.skipped
    loopback = default_rungs(gaps=(), robot="loopback")[-1]  # the in-process loopback robot is a simulator too
    skipped = loopback.run(still, spec, 1, 0, False)
    assert skipped.status == "skipped" and "the loopback robot serves the task's simulator; task" in skipped.detail
