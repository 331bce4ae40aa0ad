"""A user's own task: a Gymnasium env dreamgym does not ship (Pendulum, actions in [-2, 2]) runs collect -> train ->
dream -> evaluate, and what is not supported is refused by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dreamgym
from dreamgym.tasks import TASKS, TaskSpec, get_task


@pytest.fixture(scope="module")
def pendulum() -> Iterator[TaskSpec]:
    spec = dreamgym.register_task(TaskSpec.from_env("Pendulum-v1"))
    yield spec
    del TASKS[spec.name]
    gym.registry.pop("dreamgym/Pendulum-dream-v0")


@pytest.fixture(scope="module")
def checkpoint(pendulum: TaskSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dreamgym.data import collect, load_episodes
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    root = tmp_path_factory.mktemp("pendulum")
    data = load_episodes(collect(pendulum, 400, root / "data", seed=0, progress=False), pendulum)
    assert np.abs(data.action).max() <= 1.0  # the pipeline's actions are unit actions
    model_cfg, train_cfg = make_config("debug", 3, 1, steps=10)
    return train_world_model(data, root / "ckpt", pendulum, model_cfg, train_cfg, progress=False).path


def test_the_spec_is_read_off_the_env(pendulum: TaskSpec) -> None:
    assert (pendulum.name, pendulum.obs_shape, pendulum.action_dim) == ("Pendulum", (3,), 1)
    assert pendulum.max_episode_steps == 200 and pendulum.action_low == (-2.0,) and pendulum.package is None
    assert get_task("Pendulum") is pendulum
    env = pendulum.make_env()
    assert env.action_space == pendulum.action_space  # rescaled to [-1, 1] for the pipeline
    assert pendulum.env_action_space == gym.make("Pendulum-v1").action_space
    with pytest.raises(ValueError, match="A task named 'Pendulum' is registered already"):
        dreamgym.register_task(TaskSpec.from_env("Pendulum-v1"))


def test_its_dream_takes_the_envs_own_actions_and_passes_both_checkers(pendulum: TaskSpec, checkpoint: Path) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("dreamgym/Pendulum-dream-v0", checkpoint=checkpoint)
    assert env.action_space == pendulum.env_action_space
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)
    vector = gym.make_vec("dreamgym/Pendulum-dream-v0", num_envs=2, checkpoint=checkpoint)
    assert vector.single_action_space == pendulum.env_action_space
    # The same command, in the env's units or in the unit range, dreams the same.
    native = gym.make("dreamgym/Pendulum-dream-v0", checkpoint=checkpoint).unwrapped
    unit = dreamgym.envs.DreamEnv("Pendulum", checkpoint=checkpoint, native_spaces=False)
    native.reset(seed=3)
    unit.reset(seed=3)
    space = native.observation_space
    assert space == gym.make("Pendulum-v1").observation_space  # the env's own bounds, which dreams are clipped into
    for a in (2.0, -1.0, 0.5):
        obs = native.step(np.array([a], np.float32))[0]
        assert space.contains(obs)
        np.testing.assert_allclose(obs, np.clip(unit.step(np.array([a / 2], np.float32))[0], space.low, space.high))


def test_an_agent_trained_in_its_dream_is_evaluated_in_the_real_env(pendulum: TaskSpec, checkpoint: Path) -> None:
    from stable_baselines3 import PPO

    from agents.evaluation import evaluate_in_dream, evaluate_in_pybullet, sb3_policy

    model = PPO(
        "MlpPolicy",
        gym.make("dreamgym/Pendulum-dream-v0", checkpoint=checkpoint),
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        seed=0,
        device="cpu",
    )
    model.learn(128)
    real = evaluate_in_pybullet(sb3_policy(model), "Pendulum", 2, seed=0)
    # The ladder's unit actions, rescaled by the task's env, are the model's own actions in Pendulum itself.
    env, returns = gym.make("Pendulum-v1"), []
    for episode in range(2):
        obs, _ = env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(model.predict(obs, deterministic=True)[0])
            total, done = total + reward, terminated or truncated
        returns.append(total)
    np.testing.assert_allclose(real.returns, returns, rtol=1e-5)
    assert np.isfinite(evaluate_in_dream(sb3_policy(model), "Pendulum", checkpoint, 2, seed=0).returns).all()


@pytest.mark.parametrize(
    ("env_id", "message"),
    [
        ("CartPole-v1", "acts in Discrete\\(2\\); dreamgym's world models take continuous actions"),
        ("FrozenLake-v1", "observes Discrete\\(16\\); dreamgym's tasks take a flat float Box observation or a Dict"),
    ],
)
def test_unsupported_spaces_are_refused_by_name(env_id: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TaskSpec.from_env(env_id)


def test_the_command_line_takes_a_users_task_by_module_and_name(tmp_path: Path, monkeypatch, capsys) -> None:
    from dreamgym.cli import main
    from dreamgym.errors import UnknownTaskError

    (tmp_path / "my_tasks.py").write_text(
        "from dreamgym import TaskSpec\nSWING = TaskSpec.from_env('Pendulum-v1', name='Swing')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        data, ckpt = tmp_path / "data", tmp_path / "ckpt"
        assert main(["collect", "--task", "my_tasks:SWING", "--steps", "300", "--out", str(data), "--no-progress"]) == 0
        flags = ["--dataset", str(data), "--task", "my_tasks:SWING", "--preset", "debug", "--steps", "5"]
        assert main(["train", *flags, "--out", str(ckpt), "--no-progress"]) == 0
        assert get_task("Swing").action_low == (-2.0,)
        # As in a fresh process, where Swing is not registered: the data set and the checkpoint describe it.
        swing = TASKS.pop("Swing")
        flags = ["--dataset", str(data), "--preset", "debug", "--steps", "5", "--no-progress"]
        assert main(["train", *flags, "--out", str(tmp_path / "again")]) == 0
        assert TASKS.pop("Swing") == swing
        assert dreamgym.task_from_checkpoint(ckpt) == swing
        env = gym.make("dreamgym/Swing-dream-v0", checkpoint=ckpt)
        assert env.reset(seed=0)[0].shape == (3,)
        # An agent trained in its dream, then the ladder: the dream and Pendulum itself run; the gaps that change
        # PyBullet's physics, the audit (no observation layout) and the video (a PyBullet robot) say why they did not.
        policy, report = tmp_path / "policy.zip", tmp_path / "report"
        dream = ["dream", "--checkpoint", str(ckpt), "--steps", "64", "--num-envs", "2", "--out", str(policy)]
        assert main([*dream, "--logdir", str(tmp_path / "runs"), "--no-progress"]) == 0
        capsys.readouterr()
        evaluate = ["evaluate", "--checkpoint", str(ckpt), "--policy", str(policy), "--task", "my_tasks:SWING"]
        evaluate += ["--episodes", "2", "--max-episode-steps", "30", "--fidelity-episodes", "1", "--out", str(report)]
        assert main([*evaluate, "--fidelity-horizon", "5", "--robot", "loopback", "--no-progress"]) == 0
        printed = capsys.readouterr().out
        ran = next(line for line in printed.splitlines() if line.startswith("dream-trained policy in Pendulum-v1"))
        assert "skipped" not in ran and "nominal" in ran
        robot = next(line for line in printed.splitlines() if line.startswith("robot "))
        assert "loopback Pendulum-v1 robot at" in robot and "period 50 ms" in robot  # Pendulum's dt, behind the bridge
        physics = "the gap's mass, friction and control-period jitter act through PyBullet's physics; Swing runs in"
        for gap in ("mild", "moderate", "harsh"):
            row = next(line for line in printed.splitlines() if line.startswith(f"Pendulum-v1 + {gap} gap"))
            assert "skipped" in row and physics in row
        assert "skipped robustness curve: " + physics in printed
        assert "fidelity (open-loop RMSE / data std): h=1:" in printed and "vs Pendulum-v1" in printed
        assert "skipped audit: task 'Swing' has no observation layout" in printed
        posing = "the video poses a PyBullet robot in the dreamed state; Swing runs in Pendulum-v1"
        assert f"skipped video: {posing}" in printed
        with pytest.raises(UnknownTaskError, match="Cannot import task 'my_tasks:NOPE'"):
            get_task("my_tasks:NOPE")
    finally:
        TASKS.pop("Swing", None)
        gym.registry.pop("dreamgym/Swing-dream-v0", None)
