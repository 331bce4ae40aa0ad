"""Physics audit: held-out real data passes, planted violations are counted (the task layouts the audit reads
are checked against the simulator in tests/tasks/test_layout.py).

Bounds are fitted on some episodes and checked on others: checked on their own data, the range, jump and energy
checks would pass by construction.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from agents.evaluation import random_policy
from dreamgym.transfer.audit import PhysicsBounds, audit_dreams, find_violations
from dreamgym.transfer.recording import episode_slices, padded_episodes, record_pybullet
from dreamgym.world_model.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def hopper_real():
    """Short random Hopper episodes (a random hopper falls within a few dozen steps): eight to fit bounds on, and
    two held out, on other seeds."""
    fit = record_pybullet("Hopper", random_policy(3, 0), episodes=8, seed=0, max_steps=100)
    return fit, record_pybullet("Hopper", random_policy(3, 0), episodes=2, seed=8, max_steps=100)


def _rows(data, start: int, stop: int):
    """Rows ``start:stop`` of ``data`` (cut where episodes begin) as data of their own."""
    arrays = {
        f.name: getattr(data, f.name)[start:stop]
        for f in dataclasses.fields(data)
        if f.name != "metadata" and getattr(data, f.name) is not None
    }
    return dataclasses.replace(data, **arrays)


def _new(found: dict, clean: dict, checks: tuple[str, ...]) -> dict[str, list[list[int]]]:
    """(trajectory, step) of each violation in ``found`` that the clean data did not already have."""
    return {name: np.argwhere(found[name] & ~clean[name]).tolist() for name in checks}


def test_held_out_data_passes_and_planted_pendulum_violations_are_counted(wm_sequences):
    episodes = episode_slices(wm_sequences)
    cut = episodes[len(episodes) * 3 // 4].start  # fit on three quarters of the episodes, check the rest
    bounds = PhysicsBounds.fit(_rows(wm_sequences, 0, cut), "InvertedPendulum")
    obs, valid, terminated = padded_episodes(_rows(wm_sequences, cut, len(wm_sequences)))
    clean = find_violations(bounds, obs, valid, terminated)
    assert clean["ground"] is None and clean["contact"] is None
    assert not clean["joint_limit"].any() and not clean["termination"].any()  # the slider's limits, the env's rule
    for check in ("out_of_range", "jump", "energy_jump"):  # from finite data: a held-out step may pass them, rarely
        assert clean[check].sum() <= 0.05 * valid.sum(), check

    planted = obs.copy()
    planted[0, 3, 0] = 1.5  # slider beyond its 1 m limit: a limit violation and two jumps (in and out)
    planted[1, 2, 2:4] = np.cos(0.5), np.sin(0.5)  # the pole at 0.5 rad, yet the episode goes on
    planted[2, 5, 4] = 5.0  # the pole spinning over three times faster than in any fitted row
    planted[3, 2, 2:4] = 0.9, 0.0  # upright, but a cosine of 0.9 with a sine of 0 is no angle
    found = find_violations(bounds, planted, valid, terminated)
    assert not clean["angle_pair"].any()
    assert np.argwhere(found["angle_pair"]).tolist() == [[3, 1]]
    new = _new(found, clean, ("joint_limit", "out_of_range", "energy_jump", "termination"))
    new["out_of_range"] = [step for step in new["out_of_range"] if step[0] != 3]
    new["energy_jump"] = [step for step in new["energy_jump"] if step[0] != 3]
    assert new == {
        "joint_limit": [[0, 2]],
        "out_of_range": [[1, 1], [2, 4]],  # the tilted pole's cos and sin, and the pole's speed
        "energy_jump": [[2, 4], [2, 5]],
        "termination": [[1, 1]],
    }
    assert np.argwhere(found["jump"][0] & ~clean["jump"][0]).ravel().tolist() == [2, 3]
    assert np.argwhere(found["jump"][2] & ~clean["jump"][2]).ravel().tolist() == [4, 5]


def test_planted_hopper_violations_are_counted_and_real_termination_matches_the_rule(hopper_real):
    fit, held_out = hopper_real
    bounds = PhysicsBounds.fit(fit, "Hopper")
    obs, valid, terminated = padded_episodes(held_out)
    assert terminated.any()  # random hoppers fall, so the rule is exercised on real terminations
    clean = find_violations(bounds, obs, valid, terminated)
    # Contact values (0 or 1) and the termination rule (the env's own) are not fitted, so held-out real episodes
    # pass them exactly; the joint limits are the robot's, widened by the soft-limit overshoot seen in the fit
    # episodes (three were too few: a held-out thigh resting past them was flagged). Speeds are not bounded yet.
    assert not any(clean[check].any() for check in ("joint_limit", "contact", "termination"))

    planted = obs.copy()
    planted[0, 2, 8] = 1.5  # thigh beyond its limit (scaled position 1 is the limit)
    planted[0, 4, 0] = bounds.low[0] - 0.5  # torso under the lowest height PyBullet produced
    planted[1, 3, 14] = 0.5  # half a foot contact
    planted[1, 6, 0] = bounds.high[0] + 1.0  # torso a metre above the highest PyBullet put it
    planted[0, 7, 6] = 1.2  # rolled 1.2 rad: a robot held in the x-z plane is upright or on its back
    planted[1, 8, 2] = -1.0  # the heading of a robot on its back, with the roll of an upright one
    found = find_violations(bounds, planted, valid, terminated)
    assert not clean["planar"].any()
    assert _new(found, clean, ("joint_limit", "ground", "planar", "out_of_range", "contact", "termination")) == {
        "joint_limit": [[0, 1]],
        "ground": [[0, 3]],
        "planar": [[0, 6], [1, 7]],
        "out_of_range": [[0, 6], [1, 5]],  # the roll (no fitted row had one); held-out step [1, 7] already was
        "contact": [[1, 2]],
        "termination": [[0, 3]],  # 0.5 below the lowest height is below 0.8 m: the rule says it fell
    }


def test_audit_dreams_is_reproducible_and_its_real_control_is_clean(
    trained_checkpoint: Path, wm_sequences, tmp_path: Path
):
    bounds = PhysicsBounds.fit(wm_sequences, "InvertedPendulum")

    checkpoint = load_checkpoint(trained_checkpoint)

    def run():
        return audit_dreams(checkpoint, "InvertedPendulum", random_policy(1, 3), 6, 8, 100, bounds, 2)

    result, replay = run(), run()
    assert json.dumps(result.to_dict()) == json.dumps(replay.to_dict())
    assert result.real.step_rate["any"] == 0.0 and result.real.steps > 0 and result.real.trajectories == 2
    assert result.dream.step_rate["interpenetration"] is not None  # the pendulum is posed in every state
    assert result.dream.trajectories == 6 and 0 < result.dream.steps <= 6 * 8
    assert result.plot(tmp_path / "audit.png").stat().st_size > 0
    section = result.report_section(tmp_path)
    assert [row["check"] for row in section.table][-1] == "any" and section.figures[0].exists()
    with pytest.raises(ValueError, match="bounds of task 'InvertedPendulum', got bounds fitted on 'Hopper'"):
        audit_dreams(trained_checkpoint, "InvertedPendulum", random_policy(1, 3), 6, 8, 100, _hopper_bounds(bounds))
    with pytest.raises(ValueError, match="positive integer `horizon`"):
        audit_dreams(trained_checkpoint, "InvertedPendulum", random_policy(1, 3), 6, 0, 100, bounds)


def _hopper_bounds(bounds: PhysicsBounds) -> PhysicsBounds:
    from dataclasses import replace

    return replace(bounds, task="Hopper")


def test_rounding_noise_in_a_constant_dimension_does_not_shrink_its_bounds(hopper_real):
    fit, _ = hopper_real
    roll = 6  # a planar Hopper's torso roll: 0 in every row
    assert np.all(fit.obs[:, roll] == 0)
    obs = fit.obs.copy()
    obs[::2, roll] = 1.2e-16  # what sin(pi) rounds to in float, as a flipped HalfCheetah reports
    noisy = dataclasses.replace(fit, obs=obs)
    exact, rounded = PhysicsBounds.fit(fit, "Hopper"), PhysicsBounds.fit(noisy, "Hopper")
    low, high = rounded.limits()
    assert high[roll] - low[roll] > 0.01  # the median extent of the others, not 1e-16
    np.testing.assert_allclose(np.stack(rounded.limits()), np.stack(exact.limits()), atol=1e-12)
    np.testing.assert_allclose(rounded.jump_limits(), exact.jump_limits(), atol=1e-12)


def test_a_planar_robot_turned_over_short_of_the_vertical_is_a_jump(hopper_real):
    fit, held_out = hopper_real
    bounds = PhysicsBounds.fit(fit, "Hopper")
    step = ~fit.is_first[1:]
    assert bounds.max_turn == pytest.approx(np.abs(np.diff(fit.obs[:, 7]))[step].max())  # it never turns over
    max_delta = bounds.max_delta.copy()
    max_delta[6] = 2 * np.pi  # a roll free to flip, as HalfCheetah's own turn-overs leave it
    bounds = dataclasses.replace(bounds, max_delta=max_delta)
    obs, valid, terminated = padded_episodes(held_out)
    clean = find_violations(bounds, obs, valid, terminated)
    planted = obs.copy()
    planted[0, 5:, 6] = np.pi  # on its back from step 4 on, with the pitch it had upright: turned by pi - 2 pitch
    found = find_violations(bounds, planted, valid, terminated)
    assert _new(found, clean, ("jump",)) == {"jump": [[0, 4]]}
    unmeasured = find_violations(dataclasses.replace(bounds, max_turn=None), planted, valid, terminated)
    assert not (unmeasured["jump"] & ~clean["jump"]).any()  # bounds from before the turn was measured


def test_turning_over_through_the_vertical_is_a_small_turn():
    from dreamgym.tasks import get_task
    from dreamgym.transfer.audit import _turns

    planar = get_task("HalfCheetah").layout.planar
    angle = np.linspace(1.45, 1.7, 11)  # pitching nose-up past the vertical, 0.025 rad a step
    obs = np.zeros((1, 11, 26))
    obs[0, :, 6] = np.where(angle > np.pi / 2, np.pi, 0.0)
    obs[0, :, 7] = np.where(angle > np.pi / 2, np.pi - angle, angle)
    np.testing.assert_allclose(planar.angle(obs)[0], angle, atol=1e-6)
    np.testing.assert_allclose(_turns(obs, planar)[0], 0.025, atol=1e-6)
