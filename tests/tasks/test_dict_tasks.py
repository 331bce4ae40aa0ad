"""A user's env that observes a Dict of Box entries (defined here, not shipped by dreamgym): flat inside the pipeline in
the Dict's own key order, the env's own Dict in its dream, and recorded in the checkpoint, which refuses a task whose
spaces changed and rebuilds the task where it is not registered."""

from __future__ import annotations

import json
import shutil
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import dreamgym
from dreamgym.errors import CheckpointError
from dreamgym.tasks import TASKS, TaskSpec

ENV_ID = "dreamgym_tests/DictReach-v0"


class DictReach(gym.Env):
    """A point moved by velocity commands in [-0.1, 0.1] towards a target; observes its target before its position
    (an OrderedDict, so the key order is not the sorted one and the flattening order is seen to be the Dict's)."""

    def __init__(self) -> None:
        self.observation_space = spaces.Dict(
            OrderedDict(
                target=spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
                position=spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
            )
        )
        self.action_space = spaces.Box(-0.1, 0.1, shape=(2,), dtype=np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        return OrderedDict(target=self.target.copy(), position=self.position.copy())

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-0.5, 0.5, 2).astype(np.float32)
        self.target = self.np_random.uniform(-0.5, 0.5, 2).astype(np.float32)
        return self._obs(), {}

    def step(self, action):
        self.position = np.clip(self.position + np.asarray(action, np.float32), -1.0, 1.0).astype(np.float32)
        distance = float(np.linalg.norm(self.position - self.target))
        return self._obs(), -distance, distance < 0.05, False, {}


@pytest.fixture(scope="module")
def reach() -> Iterator[TaskSpec]:
    # A string entry point: Minari records the env spec of a collected data set, and cannot record a class.
    gym.register(ENV_ID, entry_point=f"{__name__}:DictReach", max_episode_steps=25)
    spec = dreamgym.register_task(TaskSpec.from_env(ENV_ID))
    yield spec
    TASKS.pop(spec.name, None)
    gym.registry.pop("dreamgym/DictReach-dream-v0", None)
    gym.registry.pop(ENV_ID, None)


@pytest.fixture(scope="module")
def checkpoint(reach: TaskSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dreamgym.data import collect, load_episodes
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    root = tmp_path_factory.mktemp("reach")
    data = load_episodes(collect(reach, 300, root / "data", seed=0, progress=False), reach)
    model_cfg, train_cfg = make_config("debug", 4, 2, steps=5)
    return train_world_model(data, root / "ckpt", reach, model_cfg, train_cfg, progress=False).path


def test_the_dict_is_flat_inside_the_pipeline_in_its_own_key_order(reach: TaskSpec) -> None:
    assert (reach.name, reach.obs_shape, reach.action_dim) == ("DictReach", (4,), 2)
    assert list(reach.env_observation_space.spaces) == ["target", "position"]
    real = gym.make(ENV_ID)
    obs, _ = real.reset(seed=1)
    flat, _ = reach.make_env().reset(seed=1)
    np.testing.assert_array_equal(flat, np.concatenate([obs["target"], obs["position"]]))
    np.testing.assert_array_equal(reach.observation_codec.to_flat(obs), flat)


def test_its_dream_observes_the_envs_own_dict_and_passes_both_checkers(reach: TaskSpec, checkpoint: Path) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("dreamgym/DictReach-dream-v0", checkpoint=checkpoint)
    assert env.observation_space == gym.make(ENV_ID).observation_space
    assert env.action_space == gym.make(ENV_ID).action_space
    obs, _ = env.reset(seed=0)
    assert list(obs) == ["target", "position"] and env.observation_space.contains(obs)
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)
    vector = gym.make_vec("dreamgym/DictReach-dream-v0", num_envs=3, checkpoint=checkpoint)
    batch, _ = vector.reset(seed=0)
    assert batch["position"].shape == (3, 2)
    # Env 0 of the vector dreams what the single env dreams with the same seed, in the same Dict.
    np.testing.assert_allclose(batch["target"][0], obs["target"], rtol=1e-5)


def test_the_checkpoint_records_the_spaces_and_rebuilds_the_task(reach: TaskSpec, checkpoint: Path) -> None:
    from dreamgym.world_model import read_config

    stored = read_config(checkpoint)["task_spec"]
    assert stored["action_space"]["low"] == pytest.approx(-0.1) and stored["action_space"]["high"] == pytest.approx(0.1)
    assert [key for key, _ in stored["observation_space"]["spaces"]] == ["target", "position"]
    # Unregistered (a fresh process, or the env gone), the task comes back from the checkpoint alone.
    TASKS.pop("DictReach")
    try:
        rebuilt = dreamgym.task_from_checkpoint(checkpoint)
        assert rebuilt == reach and rebuilt.env_observation_space == reach.env_observation_space
        assert list(rebuilt.env_observation_space.spaces) == ["target", "position"]
        assert dreamgym.task_from_checkpoint(checkpoint) is rebuilt  # registered once
    finally:
        TASKS["DictReach"] = reach


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"action_low": (-1.0, -1.0), "action_high": (1.0, 1.0)}, "with the action space"),
        (
            {
                "env_observation": spaces.Dict(
                    OrderedDict(
                        position=spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
                        target=spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
                    )
                )
            },
            "with the observation space",
        ),
    ],
)
def test_a_task_whose_spaces_changed_is_refused(reach: TaskSpec, checkpoint: Path, change: dict, message: str) -> None:
    import dataclasses

    changed = dataclasses.replace(reach, **change)
    dreamgym.register_task(changed, overwrite=True)
    try:
        with pytest.raises(CheckpointError, match=f"trained for task 'DictReach' {message}"):
            dreamgym.envs.DreamEnv("DictReach", checkpoint=checkpoint)
    finally:
        dreamgym.register_task(reach, overwrite=True)


def test_a_checkpoint_without_recorded_spaces_still_loads(tmp_path: Path) -> None:
    from dreamgym.envs.loading import BUNDLED_CHECKPOINTS

    old = tmp_path / "old"  # a checkpoint as written before task specs were recorded
    shutil.copytree(BUNDLED_CHECKPOINTS / "InvertedPendulum", old)
    config = json.loads((old / "config.json").read_text())
    del config["task_spec"]
    (old / "config.json").write_text(json.dumps(config))
    env = dreamgym.envs.DreamEnv("InvertedPendulum", checkpoint=old)
    assert env.reset(seed=0)[0].shape == (5,)


def test_unsupported_dict_entries_are_refused_by_name() -> None:
    observation = spaces.Dict(position=spaces.Box(-1, 1, (2,)), mode=spaces.Discrete(3))
    with pytest.raises(ValueError, match="its entry 'mode' is Discrete\\(3\\)"):
        TaskSpec.from_spaces("Modes", observation, spaces.Box(-1, 1, (1,)), 10)
    nested = spaces.Dict(arm=spaces.Dict(q=spaces.Box(-1, 1, (2,))))
    with pytest.raises(ValueError, match="its entry 'arm' is Dict"):
        TaskSpec.from_spaces("Nested", nested, spaces.Box(-1, 1, (1,)), 10)
    with pytest.raises(ValueError, match="has unbounded actions"):
        TaskSpec.from_spaces("Free", spaces.Box(-1, 1, (2,)), spaces.Box(-np.inf, np.inf, (1,)), 10)
