"""Policies of the proprioception collect on a pixel twin: the scripted expert and a goal task's HER policy read
the entries beside the frame, and the data set names the policy that acted."""

from pathlib import Path

import numpy as np

from dreamgym.data import collect, dataset_metadata, load_episodes
from dreamgym.data.policies import resolve_policy
from dreamgym.tasks import get_task


def test_the_scripted_pixel_expert_is_recorded_by_its_own_name(tmp_path: Path) -> None:
    path = collect("PandaReachPixels", 20, tmp_path / "reach", policy="scripted", seed=0, progress=False)
    data = load_episodes(path, get_task("PandaReachPixels"))
    assert data.image.shape[0] == len(data)
    assert dataset_metadata(path)["policy"] == "callable scripted_policy.<locals>.act"


def test_a_goal_dict_policy_acts_on_the_pixel_twins_observations(tmp_path: Path) -> None:
    from stable_baselines3 import SAC

    vector, pixels = get_task("PandaReach"), get_task("PandaReachPixels")
    model = SAC("MultiInputPolicy", vector.make_env(flatten=False), seed=0, device="cpu", buffer_size=10)
    model.save(tmp_path / "her.zip")
    env = pixels.make_env()
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"image", "proprio"}
    act = resolve_policy(tmp_path / "her.zip", env.action_space, 0, True, pixels.image_shape).act
    expected, _ = model.predict(vector.observation_codec.to_dict(obs["proprio"]), deterministic=True)
    np.testing.assert_allclose(act(obs), expected, atol=1e-6)
