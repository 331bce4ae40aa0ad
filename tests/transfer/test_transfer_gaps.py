"""Each reality-gap wrapper changes what it says it changes, measured in PyBullet against a nominal twin."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dreamgym.errors import InvalidGapError
from dreamgym.transfer.gaps import (
    GAP_PRESETS,
    ActionLatency,
    ControlJitter,
    DomainRandomization,
    GapConfig,
    MassGap,
    RandomGap,
    make_gap_env,
    parse_gap,
)


def _rollout(env, actions: np.ndarray, seed: int = 0) -> np.ndarray:
    """Observations after each action (no early stop: the first steps of these tasks never terminate)."""
    env.reset(seed=seed)
    return np.stack([env.step(a)[0] for a in actions])


def _actions(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, dim)).astype(np.float32)


def _masses(env) -> dict[tuple[int, int], tuple[float, tuple]]:
    base = env.unwrapped
    p = base._p
    return {
        (b, link): (p.getDynamicsInfo(b, link)[0], p.getDynamicsInfo(b, link)[2])
        for b in base.robot.objects
        for link in range(-1, p.getNumJoints(b))
        if p.getDynamicsInfo(b, link)[0] > 0
    }


def test_mass_gap_scales_every_link_mass_and_inertia_and_survives_resets() -> None:
    nominal, heavy = make_gap_env("Hopper"), make_gap_env("Hopper", GapConfig(mass=1.3))
    nominal.reset(seed=0)
    for seed in (0, 1):  # a second reset must re-apply from the nominal values, not compound to 1.69
        heavy.reset(seed=seed)
        before, after = _masses(nominal), _masses(heavy)
        assert len(before) == 4 and before.keys() == after.keys()  # torso, thigh, leg, foot
        for key, (mass, inertia) in before.items():
            assert after[key][0] == pytest.approx(1.3 * mass, rel=1e-5)
            np.testing.assert_allclose(after[key][1], 1.3 * np.asarray(inertia), rtol=1e-5)


def test_friction_gap_scales_ground_lateral_friction() -> None:
    env = make_gap_env("Hopper", GapConfig(friction=0.5))
    for seed in (0, 1):
        env.reset(seed=seed)
        ground = env.unwrapped.scene.ground_plane_mjcf
        assert env.unwrapped._p.getDynamicsInfo(ground[0], -1)[1] == pytest.approx(0.4)  # nominal 0.8


def test_friction_gap_warns_on_a_task_without_ground() -> None:
    env = make_gap_env("InvertedPendulum", GapConfig(friction=0.5))
    with pytest.warns(UserWarning, match="no ground"):
        env.reset(seed=0)


def test_motor_strength_scales_the_applied_action() -> None:
    actions = _actions(20, 1)
    weak = _rollout(make_gap_env("InvertedPendulum", GapConfig(motor=0.5)), actions)
    # The weak motor given a is the nominal motor given a/2, state for state; and not the nominal given a.
    np.testing.assert_array_equal(weak, _rollout(make_gap_env("InvertedPendulum"), 0.5 * actions))
    assert not np.allclose(weak, _rollout(make_gap_env("InvertedPendulum"), actions))


def test_latency_executes_the_action_given_k_steps_earlier() -> None:
    k, actions = 3, _actions(25, 3)
    late_env = make_gap_env("Hopper", GapConfig(latency=k))
    late = _rollout(late_env, actions)
    shifted = np.concatenate([np.zeros((k, 3), np.float32), actions[:-k]])
    np.testing.assert_array_equal(late, _rollout(make_gap_env("Hopper"), shifted))
    assert not np.allclose(late, _rollout(make_gap_env("Hopper"), actions))
    assert isinstance(late_env, ActionLatency)
    np.testing.assert_array_equal(late_env.step(actions[0])[4]["executed_action"], actions[-k])


def test_observation_noise_has_the_stated_std_and_leaves_physics_alone() -> None:
    actions = _actions(200, 1)
    clean = _rollout(make_gap_env("InvertedPendulum"), actions)
    noisy = _rollout(make_gap_env("InvertedPendulum", GapConfig(obs_noise=0.05), seed=3), actions)
    diff = noisy - clean
    assert diff.std() == pytest.approx(0.05, rel=0.1)
    assert abs(diff.mean()) < 0.01
    again = _rollout(make_gap_env("InvertedPendulum", GapConfig(obs_noise=0.05), seed=3), actions)
    np.testing.assert_array_equal(noisy, again)  # same seed, same noise


def test_control_jitter_varies_the_physics_timestep_and_substeps() -> None:
    env = make_gap_env("Hopper", GapConfig(jitter=0.3), seed=0)
    env.reset(seed=0)
    p, periods, substeps = env.unwrapped._p, [], []
    for action in _actions(30, 3):
        info = env.step(action)[4]
        engine = p.getPhysicsEngineParameters()  # what PyBullet actually used for this step
        periods.append(engine["fixedTimeStep"])
        substeps.append(engine["numSubSteps"])
        assert engine["fixedTimeStep"] == pytest.approx(info["control_period"])
    nominal_dt = 0.0165  # timestep 0.0165 / 4 x frame_skip 4
    assert min(periods) >= 0.7 * nominal_dt - 1e-9 and max(periods) <= 1.3 * nominal_dt + 1e-9
    assert np.std(periods) > 0.05 * nominal_dt
    assert set(substeps) == {3, 4, 5}
    env.reset(seed=1)  # the scene restores the nominal step at reset
    assert p.getPhysicsEngineParameters()["fixedTimeStep"] == pytest.approx(nominal_dt)
    assert isinstance(env, ControlJitter)


def test_random_gap_draws_a_new_reproducible_gap_per_episode_and_applies_it() -> None:
    env = make_gap_env("Hopper", RandomGap(GAP_PRESETS["harsh"]), seed=7)
    assert isinstance(env, DomainRandomization)
    gaps = [env.reset(seed=s)[1]["gap"] for s in (0, 1, 0)]
    assert gaps[0] == gaps[2] and gaps[0] != gaps[1]
    for g in gaps[:2]:
        assert 0.5 <= g["mass"] <= 1.5 and 0 <= g["latency"] <= 3 and 0 <= g["jitter"] <= 0.4
    # The drawn mass is the one PyBullet holds.
    nominal = make_gap_env("Hopper")
    nominal.reset(seed=0)
    torso = min(_masses(nominal))
    env.reset(seed=1)
    assert _masses(env)[torso][0] == pytest.approx(gaps[1]["mass"] * _masses(nominal)[torso][0], rel=1e-5)


def test_scaled_interpolates_from_nominal() -> None:
    harsh = GAP_PRESETS["harsh"]
    assert harsh.scaled(0).is_nominal and harsh.scaled(1) == harsh
    half = harsh.scaled(0.5)
    assert half.mass == pytest.approx(1.25) and half.motor == pytest.approx(0.825) and half.latency == 2
    assert GAP_PRESETS["mild"].describe().startswith("mass x1.10, friction x0.90")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GAP_PRESETS["harsh"].scaled(-0.5), "strength must be >= 0, got -0.5"),
        (lambda: GAP_PRESETS["harsh"].scaled(3.0), "motor multiplier must be >= 0"),
        (lambda: GapConfig(latency=-1), "latency must be a whole number of steps >= 0, got -1"),
        (lambda: GapConfig(jitter=1.0), r"jitter must be in \[0, 1\)"),
        (lambda: parse_gap("moderat"), "Unknown reality gap 'moderat'.*Did you mean 'moderate'"),
        (lambda: RandomGap(GapConfig(mass=2.5)), "mass bound 2.5"),
    ],
)
def test_invalid_gaps_are_clear_errors(make, message: str) -> None:
    with pytest.raises(InvalidGapError, match=message):
        make()


def test_parse_gap_names() -> None:
    assert parse_gap("nominal").is_nominal
    assert parse_gap("harsh") == GAP_PRESETS["harsh"]
    assert parse_gap("random") == RandomGap(GAP_PRESETS["moderate"])
    assert parse_gap("random:mild") == RandomGap(GAP_PRESETS["mild"])


def test_physics_gaps_refuse_a_non_pybullet_env() -> None:
    import gymnasium as gym

    with pytest.raises(TypeError, match="needs a pybullet_envs_gymnasium environment"):
        MassGap(gym.make("CartPole-v1"), 1.2)


def test_random_gap_env_passes_the_gymnasium_checker_for_training_use() -> None:
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checker's advice on unbounded Box spaces and wrapped envs
        check_env(make_gap_env("Hopper", "random:harsh", seed=0), skip_render_check=True)


def test_latency_queue_keeps_its_own_copy_of_each_action() -> None:
    env = make_gap_env("InvertedPendulum", GapConfig(latency=1))
    env.reset(seed=0)
    buffer = np.full(1, 0.7, np.float32)
    env.step(buffer)
    buffer[:] = -0.3  # a caller reusing its action buffer must not rewrite the queued command
    np.testing.assert_array_equal(env.step(buffer)[4]["executed_action"], np.float32([0.7]))
