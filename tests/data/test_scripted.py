"""The scripted experts reach and push, and their data sets record it."""

import numpy as np
import pytest

from dreamgym.data import collect, load_episodes
from dreamgym.data.scripted import scripted_policy
from dreamgym.tasks import get_task
from dreamgym.transfer.recording import padded_episodes, record_pybullet


@pytest.mark.parametrize(("task", "least"), [("PandaReach", 1.0), ("PandaPush", 0.5)])
def test_the_noiseless_expert_mostly_succeeds(task: str, least: float) -> None:
    spec = get_task(task)
    env = spec.make_env()
    policy, successes = scripted_policy(spec, noise=0.0, random_share=0.0), []
    for episode in range(10):
        obs, _ = env.reset(seed=episode)
        for _ in range(spec.max_episode_steps):
            obs, _, terminated, truncated, info = env.step(policy(obs))
            if terminated or truncated:
                break
        successes.append(info["is_success"])
    assert np.mean(successes) >= least


def test_noise_is_seeded_and_batches_act_like_rows() -> None:
    spec = get_task("PandaPush")
    obs, _, _ = padded_episodes(record_pybullet(spec, scripted_policy(spec, seed=0), 1, seed=0, max_steps=10))
    rows = obs[0]
    a, b = scripted_policy(spec, seed=5)(rows), scripted_policy(spec, seed=5)(rows)
    np.testing.assert_array_equal(a, b)
    exact = scripted_policy(spec, noise=0.0, random_share=0.0)
    np.testing.assert_array_equal(exact(rows), np.stack([exact(row) for row in rows]))
    assert a.shape == (len(rows), 3) and (np.abs(a) <= 1).all()


def test_scripted_data_sets_move_the_block(tmp_path) -> None:
    spec = get_task("PandaPush")
    data = load_episodes(collect(spec, 300, tmp_path / "push", policy="scripted", seed=0, progress=False), spec)
    block = data.obs[:, list(spec.scene.object_dims)]
    assert np.abs(np.diff(block[:, :2], axis=0)).max() > 0.005  # the block was pushed, not left alone
    with pytest.raises(ValueError, match="Task 'Hopper' has no scripted expert"):
        scripted_policy("Hopper")
