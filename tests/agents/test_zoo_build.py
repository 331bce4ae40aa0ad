"""Zoo recipes build a bundle (world model export, reference policy, build record) and a finished build is
returned as it is instead of being built again."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agents.zoo import RECIPES, ZooRecipe, build
from dreamgym.data import load_episodes, load_policy
from dreamgym.tasks import TASKS
from dreamgym.world_model import load_checkpoint


def test_every_recipe_names_a_registered_task_and_a_method() -> None:
    assert {"InvertedPendulum", "Hopper"} <= set(RECIPES)
    for task, recipe in RECIPES.items():
        assert recipe.task == task and task in TASKS
    with pytest.raises(ValueError, match=r"Unknown zoo recipe method 'magic'; expected one of \['dyna', 'goal'"):
        ZooRecipe("Hopper", method="magic")


def test_a_goal_recipe_builds_a_small_bundle_and_records_how(tmp_path: Path) -> None:
    recipe = ZooRecipe(
        "PandaReach",
        method="goal",
        preset="debug",
        ensemble=2,
        data_steps=120,
        wm_updates=4,
        agent_steps=64,
        uncertainty_penalty=0.0,
        start_windows=5,
    )
    result = build(recipe, tmp_path / "reach", progress=False)
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.task == "PandaReach" and checkpoint.config["step"] == 4
    assert len(checkpoint.starts["obs"]) == 5 and not (result.checkpoint / "trainer.json").exists()
    assert result.policy == result.checkpoint / "policy.zip" and result.policy.exists()
    # A HER-SAC zip loads to act without the env its replay buffer was built on.
    act = load_policy(result.policy)
    assert act(np.zeros((2, 12), dtype=np.float32)).shape == (2, 3)
    record = json.loads((tmp_path / "reach" / "build.json").read_text())
    assert record == result.info and record["recipe"] == recipe.to_dict()
    assert set(record["seconds"]) == {"collect", "world_model", "agent"} and record["wall_seconds"] > 0
    # Built already: the record comes back with its own wall time, nothing is trained again.
    stamp = result.policy.stat().st_mtime_ns
    again = build(recipe, tmp_path / "reach", progress=False)
    assert again.info == record and result.policy.stat().st_mtime_ns == stamp


def _tiny_offline(**changes: object) -> ZooRecipe:
    """An offline InvertedPendulum recipe small enough to build in seconds."""
    return ZooRecipe(
        "InvertedPendulum",
        method="offline",
        preset="debug",
        ensemble=2,
        behaviour_steps=256,
        data_steps=150,
        wm_updates=3,
        agent_steps=512,
        warm_start=True,
        critic_warmup_steps=256,
        cloning_updates=5,
        start_windows=4,
        **changes,
    )


def test_an_offline_recipe_trains_a_behaviour_policy_and_a_structured_model_on_its_episodes(tmp_path: Path) -> None:
    recipe = _tiny_offline()
    result = build(recipe, tmp_path / "work", progress=False)
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.config["model"]["decoder"] == "structured" and checkpoint.config["step"] == 3
    assert len(checkpoint.starts["obs"]) == 4 and result.policy.exists()
    record = json.loads((tmp_path / "work" / "build.json").read_text())
    assert set(record["seconds"]) == {"behaviour", "collect", "world_model", "agent"}
    # A third of the data each: random actions, then the behaviour policy sampled and deterministic.
    data = {
        name: load_episodes(tmp_path / "work" / f"data_{name}", TASKS["InvertedPendulum"])
        for name in ("random", "stochastic", "deterministic")
    }
    assert [len(part) - part.num_episodes for part in data.values()] == [50, 50, 50]  # rows: steps + last obs
    deterministic = data["deterministic"]
    acted = ~np.r_[deterministic.is_first[1:], True]  # an episode's last row is its final observation
    behaviour = load_policy(tmp_path / "work" / "behaviour.zip")
    np.testing.assert_allclose(
        behaviour(deterministic.obs[acted]).clip(-1, 1), deterministic.action[acted], rtol=1e-5, atol=1e-6
    )


def test_an_offline_recipe_can_clone_the_behaviour_policys_own_episodes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import agents.sb3_dream

    cloned = []
    clone = agents.sb3_dream.clone_behaviour
    monkeypatch.setattr(
        agents.sb3_dream,
        "clone_behaviour",
        lambda policy, data, *args, **kw: cloned.append(data) or clone(policy, data, *args, **kw),
    )
    recipe = _tiny_offline(clone_from="behaviour")
    build(recipe, tmp_path / "work", progress=False)
    spec = TASKS["InvertedPendulum"]
    own = [load_episodes(tmp_path / "work" / f"data_{name}", spec) for name in ("stochastic", "deterministic")]
    (data,) = cloned
    np.testing.assert_array_equal(data.obs, np.concatenate([part.obs for part in own]))  # no random third
    with pytest.raises(ValueError, match="Expected `clone_from` 'windows', or 'behaviour' with method 'offline'"):
        ZooRecipe("Hopper", clone_from="behaviour")


def test_an_offline_recipe_builds_a_pixel_twin_from_its_vector_twins_behaviour(tmp_path: Path) -> None:
    recipe = replace(
        _tiny_offline(clone_from="behaviour"),
        task="InvertedPendulumPixels",
        data_steps=60,
        model_overrides=dict(cnn_depth=4),
        weights_dtype="float16",
    )
    result = build(recipe, tmp_path / "work", progress=False)
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.task == "InvertedPendulumPixels" and checkpoint.model.cfg.image_shape == (64, 64, 3)
    behaviour_zip = tmp_path / "work" / "behaviour.zip"
    assert load_policy(behaviour_zip)(np.zeros((1, 5), np.float32)).shape == (1, 1)  # the vector twin's PPO
    deterministic = load_episodes(tmp_path / "work" / "data_deterministic", TASKS["InvertedPendulumPixels"])
    assert deterministic.image is not None and deterministic.image.dtype == np.uint8
    acted = ~np.r_[deterministic.is_first[1:], True]
    np.testing.assert_allclose(
        load_policy(behaviour_zip)(deterministic.obs[acted]).clip(-1, 1), deterministic.action[acted], atol=1e-6
    )
    assert load_policy(result.policy)(np.zeros((2, 5), np.float32)).shape == (2, 1)  # acts on the proprioception


def test_a_recipe_that_stops_at_success_hands_the_dyna_rounds_the_tasks_success_return(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Stopped(Exception):
        pass

    configs = []

    def run_dyna(config: object) -> None:  # the rounds themselves take minutes: only their settings are checked
        configs.append(config)
        raise Stopped

    monkeypatch.setattr("agents.dyna.run_dyna", run_dyna)
    recipe = RECIPES["InvertedPendulum"]
    for stop in (True, False):
        with pytest.raises(Stopped):
            build(replace(recipe, stop_at_success=stop), tmp_path / str(stop), progress=False)
    assert [config.target_return for config in configs] == [TASKS["InvertedPendulum"].success_return, None]
    assert configs[0].rounds == recipe.rounds and configs[0].initial_steps == recipe.data_steps


def test_a_pixel_recipe_builds_a_bundle_whose_card_is_measured_and_reproduced(tmp_path: Path) -> None:
    from dreamgym.zoo import CardConfig, load_bundle, measure_card, open_loop_at, write_card

    recipe = ZooRecipe(
        "InvertedPendulumPixels",
        preset="debug",
        ensemble=2,
        data_steps=200,
        rounds=1,
        wm_updates=3,
        agent_steps=256,
        early_agent_steps=256,
        eval_episodes=2,
        start_windows=4,
        model_overrides=dict(cnn_depth=2, batch_size=4, seq_len=8),
        weights_dtype="float16",
    )
    result = build(recipe, tmp_path / "work", progress=False)
    directory = tmp_path / "root" / "InvertedPendulumPixels"
    shutil.copytree(result.checkpoint, directory)
    config = CardConfig(eval_episodes=1, eval_max_steps=40, horizons=(1, 5), episodes=2, audit_dreams=2)
    write_card(directory, measure_card(directory, config, build=result.info))

    bundle = load_bundle("InvertedPendulumPixels", root=tmp_path / "root")
    assert bundle.checkpoint.config["model"]["cnn_depth"] == 2 and bundle.eval_set.image is not None
    assert open_loop_at(bundle.checkpoint, bundle.eval_set, config) == bundle.card["open_loop_error"]
    assert bundle.card["open_loop_error"]["pairs"]["1"] > 0
    # The reference policy acts on the proprioception; the card scores it in the vector task the pixels render.
    assert bundle.card["policy"]["pybullet"]["mean"] > 0 and bundle.card["audit"]["pybullet_episodes"] > 0
    world_model = bundle.card["world_model"]
    assert world_model["storage"] == "float16" and world_model["float16_check"]["windows"] == 4
    assert world_model["camera"] == {"image_shape": [64, 64, 3], "cnn_depth": 2}
    card_text = (directory / "CARD.md").read_text()
    assert "sees 64x64x3 camera frames" in card_text and "weights stored as float16" in card_text
