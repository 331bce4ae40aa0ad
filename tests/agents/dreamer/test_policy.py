"""DreamerPolicy: acting from the latent state, save and load, and the checks that refuse a bad directory."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from agents.dreamer import DreamerPolicy, load_dreamer_policy
from agents.evaluation import evaluate_in_dream, evaluate_in_pybullet
from agents.online import OnlineTrainer
from dreamgym.data import load_policy
from dreamgym.errors import CheckpointError
from dreamgym.seeding import seeded_torch


class _Recording:
    """Wraps a policy and keeps every action it returned."""

    def __init__(self, policy: DreamerPolicy):
        self.policy, self.actions = policy, []

    def reset(self) -> None:
        self.policy.reset()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self.actions.append(self.policy(obs))
        return self.actions[-1]


def _rollout(policy: DreamerPolicy) -> tuple[np.ndarray, list[np.ndarray]]:
    recording = _Recording(policy)
    with seeded_torch(7):  # the posterior's samples, the same for both
        returns = evaluate_in_pybullet(recording, "InvertedPendulum", episodes=2, seed=3).returns
    return returns, recording.actions


def test_saved_and_loaded_policy_acts_like_the_trained_one_in_pybullet(online_run: OnlineTrainer) -> None:
    trained = DreamerPolicy(online_run.world_model, online_run.behaviour.learner.actor, deterministic=True)
    loaded = load_dreamer_policy(online_run.out / "policy")
    via_entry_point = load_policy(online_run.out / "policy")  # what dreamgym evaluate and the ladder call
    assert isinstance(via_entry_point, DreamerPolicy)
    (ret_a, act_a), (ret_b, act_b), (ret_c, act_c) = (_rollout(p) for p in (trained, loaded, via_entry_point))
    np.testing.assert_array_equal(ret_a, ret_b)
    np.testing.assert_array_equal(ret_a, ret_c)
    assert len(act_a) == len(act_b) == len(act_c) > 2
    for a, b, c in zip(act_a, act_b, act_c, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_the_policy_directory_serves_dreams_too(online_run: OnlineTrainer) -> None:
    import gymnasium as gym

    import dreamgym  # noqa: F401

    directory = online_run.out / "policy"
    env = gym.make("dreamgym/InvertedPendulum-dream-v0", checkpoint=str(directory))
    obs, _ = env.reset(seed=0)
    policy = load_dreamer_policy(directory)
    obs, reward, *_ = env.step(policy(obs[None])[0])
    assert env.observation_space.contains(obs) and np.isfinite(reward)
    result = evaluate_in_dream(policy, "InvertedPendulum", directory, episodes=3, seed=0, horizon=20)
    assert np.isfinite(result.returns).all() and (result.lengths >= 1).all()


def test_memory_is_per_env_and_reset_restarts_it(online_run: OnlineTrainer) -> None:
    policy = DreamerPolicy(online_run.world_model, online_run.behaviour.learner.actor, deterministic=True)
    obs = np.tile(np.array([[0.0, 0.0, 1.0, 0.0, 0.0]], np.float32), (2, 1))
    with seeded_torch(0):
        first = policy(obs)
        policy(obs + 0.1)
        policy.reset_where(np.array([True, False]))
        third = policy(obs)
    fresh = DreamerPolicy(online_run.world_model, online_run.behaviour.learner.actor, deterministic=True)
    with seeded_torch(0):
        fresh_first = fresh(obs)
    np.testing.assert_array_equal(first, fresh_first)
    assert policy.memory()["deter"].shape[0] == 2 and third.shape == (2, 1)
    with pytest.raises(ValueError, match=r"Expected observations of shape \(N, 5\), got \(2, 4\)"):
        policy(obs[:, :4])
    with pytest.raises(ValueError, match="finite observations"):
        policy(np.full((2, 5), np.nan, np.float32))


def test_tampered_or_mismatched_policy_directories_are_refused(online_run: OnlineTrainer, tmp_path: Path) -> None:
    source = online_run.out / "policy"
    tampered = shutil.copytree(source, tmp_path / "tampered")
    data = bytearray((tampered / "actor.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tampered / "actor.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"actor\.safetensors.*sha256 does not match"):
        load_dreamer_policy(tampered)

    other_model = shutil.copytree(source, tmp_path / "other")
    manifest = json.loads((other_model / "policy.json").read_text())
    (other_model / "policy.json").write_text(json.dumps({**manifest, "world_model_sha256": "0" * 64}))
    with pytest.raises(CheckpointError, match="trained with another world model"):
        load_dreamer_policy(other_model)

    unknown = shutil.copytree(source, tmp_path / "unknown")
    (unknown / "policy.json").write_text(json.dumps({**manifest, "format": "someone-elses-policy"}))
    with pytest.raises(CheckpointError, match=r"format 'someone-elses-policy'.*dreamgym-dreamer-policy"):
        load_policy(unknown)
    with pytest.raises(CheckpointError, match=r"no readable policy\.json"):
        load_policy(tmp_path)
