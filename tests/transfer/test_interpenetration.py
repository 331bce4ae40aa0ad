"""Interpenetration of posed states: planted penetrations are found, PyBullet's own states are not."""

from __future__ import annotations

import numpy as np
import pytest

from dreamgym.tasks import get_task
from dreamgym.transfer.interpenetration import PENETRATION_TOLERANCE, measure_interpenetration
from dreamgym.transfer.recording import padded_episodes, random_policy, record_pybullet


@pytest.fixture(scope="module")
def hopper_start() -> np.ndarray:
    """Hopper's first observation: standing, foot just above the floor."""
    env = get_task("Hopper").make_env()
    obs, _ = env.reset(seed=0)
    env.close()
    return obs


def _states(task: str, episodes: int = 2, steps: int = 100, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Observations (E, T + 1, d) of a random-policy rollout, and which of them exist (E, T + 1)."""
    spec = get_task(task)
    obs, valid, _ = padded_episodes(record_pybullet(spec, random_policy(spec.action_dim, seed), episodes, seed, steps))
    return obs, np.concatenate([np.ones((len(valid), 1), dtype=bool), valid], 1)


def test_a_torso_sunk_half_a_metre_puts_the_foot_through_the_floor(hopper_start: np.ndarray):
    sunk = hopper_start.copy()
    sunk[0] = -0.5  # torso 0.5 m below its height at reset
    result = measure_interpenetration("Hopper", np.stack([hopper_start, sunk])[None], np.ones((1, 2), dtype=bool))
    np.testing.assert_array_equal(result.flags, [[False, True]])
    assert 0.4 < result.depth[0, 1] < 0.5  # the foot hung a few cm above the floor
    assert result.pairs[result.pair[0, 1]] == "foot/floor" and result.pair[0, 0] == -1
    assert result.to_dict()["max_depth_pair"] == "foot/floor" and result.rate() == 0.5


def test_a_knee_bent_past_its_limit_puts_the_foot_into_the_thigh(hopper_start: np.ndarray):
    folded = hopper_start.copy()
    folded[0], folded[9::2] = 1.0, 0.0  # in the air, at rest
    folded[10] = -1.3  # the knee (leg_joint, limits [-150, 0] deg) bent past its lower limit
    result = measure_interpenetration("Hopper", folded[None, None], np.ones((1, 1), dtype=bool))
    assert result.flags[0, 0] and result.pairs[result.pair[0, 0]] == "thigh/foot"


def test_checked_pairs_are_the_ground_and_the_ones_the_joints_keep_apart(hopper_start: np.ndarray):
    result = measure_interpenetration("Hopper", hopper_start[None, None], np.ones((1, 1), dtype=bool))
    # Shapeless dummy links are left out; torso/leg and torso/foot meet within the joint limits.
    assert result.pairs == ("torso/floor", "thigh/floor", "leg/floor", "foot/floor", "thigh/foot")


@pytest.mark.parametrize("task", ["Hopper", "Walker2D", "HalfCheetah"])
def test_poses_within_the_joint_limits_in_the_air_are_never_flagged(task: str):
    """Keeps PERMITTED_OVERLAPS honest: no checked pair meets while every joint is inside its limits."""
    spec = get_task(task)
    rng = np.random.default_rng(0)
    obs = np.zeros((1, 300, spec.obs_shape[0]), dtype=np.float32)
    obs[..., 0] = 2.0  # 2 m above the reset height
    obs[..., list(spec.layout.joint_dims)] = rng.uniform(-1.0, 1.0, (1, 300, len(spec.layout.joint_dims)))
    result = measure_interpenetration(spec, obs, np.ones((1, 300), dtype=bool), tolerance=0.0)
    assert not result.flags.any(), result.pair_counts()


@pytest.mark.parametrize("task", ["Hopper", "Walker2D", "HalfCheetah", "InvertedPendulum"])
def test_pybullet_own_states_are_not_flagged(task: str):
    obs, valid = _states(task)
    result = measure_interpenetration(task, obs, valid)
    assert result.tolerance == PENETRATION_TOLERANCE and result.valid.sum() == valid.sum()
    assert not result.flags.any(), (result.depth.max(), result.pair_counts())
    assert (result.depth < PENETRATION_TOLERANCE).all()


def test_invalid_steps_are_neither_posed_nor_counted(hopper_start: np.ndarray):
    sunk = hopper_start.copy()
    sunk[0] = -0.5
    obs = np.stack([hopper_start, sunk, np.full_like(sunk, np.nan)])[None]  # a non-finite state past the end
    result = measure_interpenetration("Hopper", obs, np.array([[True, False, False]]))
    assert not result.flags.any() and result.depth[0, 1] == 0.0 and result.pair[0, 1] == -1
    assert result.rate() == 0.0 and result.to_dict()["steps"] == 1


def test_the_rate_can_be_read_at_other_tolerances(hopper_start: np.ndarray):
    sunk = hopper_start.copy()
    sunk[0] = -0.5
    result = measure_interpenetration("Hopper", sunk[None, None], np.ones((1, 1), dtype=bool))
    assert result.rate(1.0) == 0.0 and result.rate(0.1) == 1.0 and result.pair_counts() == {"foot/floor": 1}


def test_ant_cannot_be_posed():
    with pytest.raises(ValueError, match=r"Cannot measure interpenetration on Ant: Ant's base is free"):
        measure_interpenetration("Ant", np.zeros((1, 1, 28)), np.ones((1, 1), dtype=bool))


@pytest.mark.parametrize(
    ("obs_shape", "valid", "message"),
    [
        ((2, 15), np.ones((1, 2), dtype=bool), r"Expected obs of shape \(N, T, 15\) for Hopper, got \(2, 15\)"),
        ((1, 2, 14), np.ones((1, 2), dtype=bool), r"Expected obs of shape \(N, T, 15\) for Hopper, got \(1, 2, 14\)"),
        (
            (1, 2, 15),
            np.ones((1, 3), dtype=bool),
            r"Expected valid of shape \(1, 2\) and dtype bool, got \(1, 3\) bool",
        ),
        ((1, 2, 15), np.ones((1, 2)), r"Expected valid of shape \(1, 2\) and dtype bool, got \(1, 2\) float64"),
    ],
)
def test_wrong_shapes_are_refused(obs_shape: tuple[int, ...], valid: np.ndarray, message: str):
    with pytest.raises(ValueError, match=message):
        measure_interpenetration("Hopper", np.zeros(obs_shape), valid)


def test_non_finite_valid_states_and_bad_tolerances_are_refused(hopper_start: np.ndarray):
    obs = np.stack([hopper_start, np.full_like(hopper_start, np.inf)])[None]
    with pytest.raises(
        ValueError, match=r"Expected finite observations on valid steps, got 1 non-finite, the first at"
    ):
        measure_interpenetration("Hopper", obs, np.ones((1, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"Expected a finite non-negative tolerance in metres, got -0.01"):
        measure_interpenetration("Hopper", obs[:, :1], np.ones((1, 1), dtype=bool), tolerance=-0.01)
