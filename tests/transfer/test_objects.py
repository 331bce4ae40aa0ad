"""The tabletop checks: PyBullet's own pushing breaks none, each planted violation is flagged where it was planted."""

from __future__ import annotations

import numpy as np
import pytest

from dreamgym.data.scripted import scripted_policy
from dreamgym.tasks import get_task
from dreamgym.transfer.objects import OBJECT_CHECKS, object_violations
from dreamgym.transfer.recording import padded_episodes, record_pybullet

PUSH = get_task("PandaPush")


@pytest.fixture(scope="module")
def pushing() -> tuple[np.ndarray, np.ndarray]:
    """Twelve episodes of the noisy scripted pusher: observations (12, T + 1, 24) and valid steps."""
    obs, valid, _ = padded_episodes(record_pybullet(PUSH, scripted_policy(PUSH, seed=3), 12, seed=0))
    return obs, valid


def test_the_simulator_breaks_no_tabletop_fact(pushing) -> None:
    obs, valid = pushing
    scene = PUSH.scene
    block = obs[..., list(scene.object_dims)]
    moved = np.linalg.norm(block[:, -1, :2] - block[:, 0, :2], axis=-1)
    assert (moved > 0.05).sum() >= 6  # the control really pushes blocks around
    flags = object_violations(scene, obs, valid)
    assert set(flags) == set(OBJECT_CHECKS)
    assert {name: int(mask.sum()) for name, mask in flags.items()} == dict.fromkeys(OBJECT_CHECKS, 0)


def _planted(obs: np.ndarray, valid: np.ndarray, check: str) -> tuple[np.ndarray, tuple[int, int]]:
    """A copy of ``obs`` with one state (episode, step) changed to break ``check``; returns it and the step."""
    scene = PUSH.scene
    gripper, block, velocity = (list(d) for d in (scene.gripper_dims, scene.object_dims, scene.object_velocity_dims))
    planted = obs.copy()
    resting = scene.table_top + scene.object_half_size
    e = 0
    # A step where the block rests and the gripper is far from it, before and after.
    distance = np.linalg.norm(obs[e, :, gripper] - obs[e, :, block], axis=-1)
    t = int(next(t for t in range(valid.shape[1]) if distance[t] > 0.15 and distance[t + 1] > 0.15))
    if check == "object_untouched":
        planted[e, t + 1, velocity[:2]] = planted[e, t, velocity[:2]] + 0.3
        planted[e, t + 1, block[2]] = planted[e, t, block[2]] = resting
    elif check == "object_in_table":
        planted[e, t + 1, block[2]] = resting - 0.02
    elif check == "object_floating":
        planted[e, t + 1, block] = [scene.table_x[1] + 0.1, 0.0, resting]
    elif check == "gripper_in_table":
        planted[e, t + 1, gripper] = [-0.2, 0.0, scene.table_top - 0.02]
    elif check == "gripper_in_object":
        planted[e, t + 1, gripper] = planted[e, t + 1, block] + [0.005, -0.004, 0.003]
    return planted, (e, t)


@pytest.mark.parametrize("check", OBJECT_CHECKS)
def test_a_planted_violation_is_flagged_where_it_is(pushing, check: str) -> None:
    obs, valid = pushing
    planted, step = _planted(obs, valid, check)
    flags = object_violations(PUSH.scene, planted, valid)
    assert np.argwhere(flags[check]).tolist() == [list(step)]
    others = {name: int(mask.sum()) for name, mask in flags.items() if name != check}
    assert sum(others.values()) <= 1, others  # a moved block may also count as sunk, never as much else


def test_reach_has_no_block_but_keeps_the_gripper_out_of_the_table() -> None:
    reach = get_task("PandaReach")
    obs, valid, _ = padded_episodes(record_pybullet(reach, scripted_policy(reach, seed=0), 2, seed=0))
    flags = object_violations(reach.scene, obs, valid)
    assert flags["object_untouched"] is None and flags["gripper_in_object"] is None
    assert flags["gripper_in_table"].sum() == 0
    obs[0, 3, list(reach.scene.gripper_dims)] = [-0.3, 0.1, -0.05]
    assert object_violations(reach.scene, obs, valid)["gripper_in_table"][0, 2]


def test_the_audit_of_a_push_dream_reports_the_tabletop_checks(tmp_path) -> None:
    from dreamgym.data import collect, load_episodes
    from dreamgym.transfer.audit import CHECKS, PhysicsBounds, audit_dreams
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    data = load_episodes(collect(PUSH, 400, tmp_path / "data", policy="scripted", seed=0, progress=False), PUSH)
    model_cfg, train_cfg = make_config("debug", PUSH.obs_shape[0], PUSH.action_dim, steps=10)
    ckpt = train_world_model(data, tmp_path / "ckpt", PUSH, model_cfg, train_cfg, progress=False).path
    policy = scripted_policy(PUSH, seed=1)
    result = audit_dreams(ckpt, PUSH, policy, 8, 30, 0, PhysicsBounds.fit(data, PUSH), real_episodes=3)
    assert result.checks == CHECKS + OBJECT_CHECKS
    assert all(result.real.step_rate[name] == 0.0 for name in OBJECT_CHECKS)
    assert all(result.dream.step_rate[name] is not None for name in OBJECT_CHECKS)
    assert {row["check"] for row in result.report_section(tmp_path).table} >= set(OBJECT_CHECKS)
