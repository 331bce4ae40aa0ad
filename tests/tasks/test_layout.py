"""Each PyBullet locomotion task's observation layout and termination rule agree with the simulator they were read
off (the goal tasks have their own, tests/tasks/test_goal_tasks.py).

Short seeded random rollouts (a few hundred steps per task) are compared, step by step, with what the simulator's
own robot objects hold; planted observations probe the termination thresholds against the env's own verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from dreamgym.tasks import TASKS, Integral, ObsField, ObsLayout, Planar, TaskSpec
from dreamgym.tasks.registry import ANT_Z, CHEETAH_Z, HOPPER_Z, WALKER_Z

PENDULA = ("InvertedDoublePendulum", "InvertedPendulum")
WALKERS = ("Ant", "HalfCheetah", "Hopper", "Walker2D")
LOCOMOTION = sorted(PENDULA + WALKERS)
INITIAL_Z = {"Ant": ANT_Z, "HalfCheetah": CHEETAH_Z, "Hopper": HOPPER_Z, "Walker2D": WALKER_Z}
ANGLE_NORM_TOL = 1e-5
EPS = 1e-4  # how far past a threshold a planted observation lies: far above float32 rounding, far below physics


@dataclass(frozen=True)
class Plan:
    """How one task's rollout goes: ``episodes`` seeded episodes of at most ``max_steps`` random actions each;
    at step ``tip_at`` (``None``: never) every other episode is tipped over, because random actions rarely tip Ant
    over, and HalfCheetah should be seen in states past every threshold of its alive_bonus."""

    episodes: int
    max_steps: int
    tip_at: int | None = None


PLANS = {
    "InvertedPendulum": Plan(8, 200),
    "InvertedDoublePendulum": Plan(8, 200),
    "Hopper": Plan(10, 200),
    "Walker2D": Plan(8, 200),
    "HalfCheetah": Plan(3, 100, tip_at=30),
    "Ant": Plan(3, 100, tip_at=30),
}


@dataclass(frozen=True)
class Rollout:
    """One task's rollout, one row per step.

    Attributes:
        observations: what ``step`` returned.
        terminated: the env's ``terminated`` flag.
        states: ``robot.calc_state()`` called again right after the step (the same state, with the foot contacts
            of this step: ``step`` computes the observation before it updates them).
        expected: each dimension as the layout reads it, computed from the simulator's robot at that moment.
        contacts_before: ``robot.feet_contact`` before the step (what the observation's contact dims hold).
        first: the step is its episode's first (its observation does not follow the row before).
    """

    observations: np.ndarray
    terminated: np.ndarray
    states: np.ndarray
    expected: np.ndarray
    contacts_before: np.ndarray
    first: np.ndarray


def _rotation_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def simulator_fields(robot) -> dict[str, list[float]]:
    """The simulator's value of every layout kind, in the layout's field order, read off the robot directly."""
    if hasattr(robot, "slider"):  # InvertedPendulum, InvertedDoublePendulum
        hinges = [robot.j1, robot.j2] if hasattr(robot, "j2") else [robot.j1]
        x, vx = robot.slider.current_position()
        fields = {
            "angle_pair": [h.current_position()[0] for h in hinges],
            "joint_position": [x],
            "velocity": [vx] + [h.current_position()[1] for h in hinges],
        }
        if hasattr(robot, "pole2"):
            fields["other"] = [robot.pole2.pose().xyz()[0]]
        return fields
    roll, pitch, yaw = robot.body_rpy
    joints = [j.current_relative_position() for j in robot.ordered_joints]
    torso_speed = 0.3 * (_rotation_z(-yaw) @ robot.robot_body.speed())
    return {
        "angle_pair": [robot.walk_target_theta - yaw],
        "joint_position": [position for position, _ in joints],
        "velocity": [*torso_speed, *(speed for _, speed in joints)],
        "height": [robot.body_xyz[2] - robot.initial_z],
        "orientation": [roll, pitch],
        "contact": list(robot.feet_contact),
    }


def expected_observation(layout: ObsLayout, robot) -> np.ndarray:
    """The observation the layout says the robot's current state gives (NaN where no field says)."""
    expected = np.full(layout.size, np.nan)
    for kind, values in simulator_fields(robot).items():
        if kind == "angle_pair":
            assert len(layout.angle_pairs) == len(values), (layout.angle_pairs, values)
            for (cos_dim, sin_dim), angle in zip(layout.angle_pairs, values, strict=True):
                expected[cos_dim], expected[sin_dim] = math.cos(angle), math.sin(angle)
        else:
            dims = layout.dims_of(kind)
            assert len(dims) == len(values), (kind, dims, values)
            expected[list(dims)] = values
    if layout.clip is not None:
        expected = np.clip(expected, -layout.clip, layout.clip)
    return expected


def tip_over(robot) -> None:
    """Puts the torso where no episode survives: upside down (Ant, whose torso is the free base) or pitched by
    1.3 rad on its hinge (the planar robots hang their torso on slide x, slide z and hinge y joints ``ignore*``)."""
    p = robot._p
    if robot.robot_body.bodyPartIndex == -1:
        x, y, _ = robot.robot_body.current_position()
        robot.robot_body.reset_pose([x, y, 0.5], p.getQuaternionFromEuler([math.pi, 0.0, 0.0]))
        return
    body = robot.robot_body.bodies[robot.robot_body.bodyIndex]
    infos = [p.getJointInfo(body, j) for j in range(p.getNumJoints(body))]
    (hinge,) = [i[0] for i in infos if i[1].startswith(b"ignore") and i[2] == p.JOINT_REVOLUTE]
    p.resetJointState(body, hinge, 1.3, 0.0)


def roll_out(spec: TaskSpec, env, plan: Plan, seed: int = 0) -> Rollout:
    robot, layout = env.unwrapped.robot, spec.layout
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {f: [] for f in Rollout.__dataclass_fields__}
    for episode in range(plan.episodes):
        env.reset(seed=seed + episode)
        for t in range(plan.max_steps):
            if plan.tip_at is not None and t == plan.tip_at and episode % 2 == 0:
                tip_over(robot)
            contacts = np.array(getattr(robot, "feet_contact", []), dtype=np.float32)
            obs, _, terminated, _, _ = env.step(rng.uniform(-1, 1, spec.action_dim).astype(np.float32))
            rows["observations"].append(np.asarray(obs))
            rows["terminated"].append(terminated)
            rows["states"].append(np.asarray(robot.calc_state(), dtype=np.float32))
            rows["expected"].append(expected_observation(layout, robot))
            rows["contacts_before"].append(contacts)
            rows["first"].append(t == 0)
            if terminated:
                break
    return Rollout(**{k: np.array(v) for k, v in rows.items()})


@pytest.fixture(scope="module")
def real_env() -> Iterator[Callable[[str], object]]:
    """One real env per task for the whole module, made on first use; tests reset it before they use it."""
    envs: dict[str, object] = {}

    def get(name: str):
        if name not in envs:
            envs[name] = TASKS[name].make_env()
        return envs[name]

    yield get
    for env in envs.values():
        env.close()


@pytest.fixture(scope="module")
def rollout(real_env) -> Callable[[str], Rollout]:
    """Each task's rollout, run once on first use."""
    cache: dict[str, Rollout] = {}

    def get(name: str) -> Rollout:
        if name not in cache:
            cache[name] = roll_out(TASKS[name], real_env(name), PLANS[name])
        return cache[name]

    return get


def test_every_task_is_covered_here() -> None:
    vector = sorted(name for name, spec in TASKS.items() if spec.goal is None and spec.pixels_of is None)
    assert vector == LOCOMOTION == sorted(PLANS)
    assert all(TASKS[name].layout == TASKS[TASKS[name].pixels_of].layout for name in TASKS if TASKS[name].pixels_of)


# 1. The layout covers the observation -----------------------------------------------------------------------


@pytest.mark.parametrize("name", LOCOMOTION)
def test_layout_covers_every_dimension_once(name: str) -> None:
    spec = TASKS[name]
    assert spec.layout is not None
    assert (spec.layout.size,) == spec.obs_shape
    assert sorted(d for f in spec.layout.fields for d in f.dims) == list(range(spec.obs_shape[0]))
    assert all(kind for kind in spec.layout.kinds())


def test_layout_with_a_gap_or_a_repeat_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^Expected the fields to cover dimensions 0\.\.1 once each; got \[0, 2\]\.$"):
        ObsLayout((ObsField("a", "other", (0,)), ObsField("b", "other", (2,))))
    with pytest.raises(ValueError, match=r"^Expected the fields to cover dimensions 0\.\.2 once each; got \[0, 0, 1\]"):
        ObsLayout((ObsField("a", "other", (0,)), ObsField("b", "velocity", (0, 1))))


def test_fields_that_cannot_be_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^Unknown observation field kind 'speed'; expected one of \['angle_pair'"):
        ObsField("a", "speed", (0,))
    with pytest.raises(ValueError, match=r"^An angle pair holds two dimensions \(cos, sin\); 'a' has \(0,\)\.$"):
        ObsField("a", "angle_pair", (0,))
    with pytest.raises(ValueError, match=r"^Field 'a' has low 1\.0 above high -1\.0\.$"):
        ObsField("a", "joint_position", (0,), 1.0, -1.0)


def test_task_whose_layout_does_not_fit_its_shape_is_refused() -> None:
    layout = ObsLayout((ObsField("a", "other", (0, 1, 2)),))
    with pytest.raises(
        ValueError, match=r"^Task 'X': the observation layout covers 3 dimensions, the observation shape is \(4,\)\.$"
    ):
        TaskSpec("X", "X-v0", (4,), 1, 10, 10, layout=layout)


# 2. The layout says what the simulator holds ------------------------------------------------------------------


@pytest.mark.parametrize("name", LOCOMOTION)
def test_layout_reads_every_dimension_off_the_simulator(name: str, rollout) -> None:
    """Every dimension of every state is the simulator value its field names: angle pairs are (cos, sin) of the
    hinge angles or of the angle to the walk target, joints are the ordered joints' scaled positions, ..."""
    data, layout = rollout(name), TASKS[name].layout
    assert len(data.states) >= 100, len(data.states)
    assert not np.isnan(data.expected).any(), "a field kind without a simulator reading"
    for kind in sorted(set(layout.kinds())):
        dims = [d for d, k in enumerate(layout.kinds()) if k == kind]
        np.testing.assert_allclose(
            data.states[:, dims], data.expected[:, dims], rtol=1e-5, atol=1e-5, err_msg=f"{name}: {kind} dims {dims}"
        )


@pytest.mark.parametrize("name", LOCOMOTION)
def test_angle_pairs_lie_on_the_unit_circle(name: str, rollout) -> None:
    data, layout = rollout(name), TASKS[name].layout
    assert layout.angle_pairs
    for cos_dim, sin_dim in layout.angle_pairs:
        for rows in (data.observations, data.states):
            norm = np.hypot(rows[:, cos_dim], rows[:, sin_dim])
            np.testing.assert_allclose(norm, 1.0, atol=ANGLE_NORM_TOL)


@pytest.mark.parametrize("name", LOCOMOTION)
def test_step_observation_is_the_state_with_the_previous_contacts(name: str, rollout) -> None:
    """step() returns calc_state() as it was before that step's foot contacts were updated."""
    data, layout = rollout(name), TASKS[name].layout
    contact = list(layout.contact_dims)
    rest = [d for d in range(layout.size) if d not in contact]
    np.testing.assert_allclose(data.observations[:, rest], data.states[:, rest], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(data.observations[:, contact], data.contacts_before)


@pytest.mark.parametrize("name", LOCOMOTION)
def test_integrated_positions_move_by_their_new_velocity(name: str, rollout) -> None:
    """The pendula's cart moves by exactly dt times the velocity after the step (one semi-implicit Euler step
    per env step); the walkers' four substeps per env step hold no such relation, and declare none."""
    data, layout = rollout(name), TASKS[name].layout
    assert bool(layout.integrals) == (name in PENDULA)
    follows = ~data.first[1:]
    for integral in layout.integrals:
        moved = np.diff(data.observations[:, integral.position].astype(np.float64))[follows]
        stepped = integral.dt * data.observations[1:, integral.velocity][follows]
        assert np.abs(moved).max() > 1e-3  # random actions do move the cart
        np.testing.assert_allclose(moved, stepped, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", WALKERS)
def test_planar_walkers_are_upright_or_on_their_back(name: str, rollout) -> None:
    """A walker hung on slide x, slide z and hinge y reads roll 0 or +-pi, the heading 0 or pi with it, and no
    sideways speed, exactly, tipped over or not; Ant, free in three dimensions, declares none of it."""
    data, planar = rollout(name), TASKS[name].layout.planar
    assert (planar is None) == (name == "Ant")
    if planar is None:
        return
    roll = data.observations[:, planar.roll].astype(np.float64)
    flipped = np.abs(roll) > np.pi / 2
    assert name != "HalfCheetah" or flipped.any()  # its rollout is tipped onto its back
    np.testing.assert_allclose(np.where(flipped, np.abs(roll), roll), np.where(flipped, np.pi, 0.0), atol=1e-6)
    cos_dim, sin_dim = planar.heading
    np.testing.assert_array_equal(data.observations[:, cos_dim], np.where(flipped, -1.0, 1.0))
    np.testing.assert_allclose(data.observations[:, [sin_dim, *planar.lateral]], 0.0, atol=1e-6)


def test_a_planar_walker_turns_over_through_the_vertical(rollout) -> None:
    """HalfCheetah, tipped by the test and left to fall on: its Euler roll flips between 0 and pi only where the
    pitch is near the vertical, on both sides of the flip, so the two read one angle about y that moves on
    (:meth:`Planar.angle`), not a turn by pi minus twice the pitch."""
    data, planar = rollout("HalfCheetah"), TASKS["HalfCheetah"].layout.planar
    obs = data.observations.astype(np.float64)
    flips = ((np.cos(obs[1:, planar.roll]) < 0) != (np.cos(obs[:-1, planar.roll]) < 0)) & ~data.first[1:]
    assert flips.sum() >= 2
    near_vertical = np.pi / 2 - 0.5  # the robot falls through it at up to 0.3 rad a step
    assert (np.abs(obs[1:, planar.pitch][flips]) > near_vertical).all()
    assert (np.abs(obs[:-1, planar.pitch][flips]) > near_vertical).all()
    turn = np.abs(np.mod(np.diff(planar.angle(obs)) + np.pi, 2 * np.pi) - np.pi)
    assert turn[flips].max() < 0.5


def test_an_integral_of_the_wrong_kinds_is_refused() -> None:
    fields = (ObsField("x", "joint_position", (0,)), ObsField("v", "velocity", (1,)))
    with pytest.raises(ValueError, match=r"must pair a position dimension with a velocity dimension"):
        ObsLayout(fields, integrals=(Integral(1, 0, 0.01),))
    with pytest.raises(ValueError, match=r"^Expected distinct position and velocity dimensions and dt > 0"):
        Integral(0, 1, 0.0)
    with pytest.raises(ValueError, match=r"must name an orientation, an angle pair and velocity dimensions"):
        ObsLayout(fields, planar=Planar(roll=1, heading=(0, 1), lateral=(1,)))


@pytest.mark.parametrize("name", WALKERS)
def test_contacts_are_binary_and_seen(name: str, rollout) -> None:
    data, layout = rollout(name), TASKS[name].layout
    contacts = data.observations[:, list(layout.contact_dims)]
    assert set(np.unique(contacts)) <= {0.0, 1.0}
    assert contacts.any(), "no foot ever touched the ground: the contact check saw nothing"


@pytest.mark.parametrize("name", LOCOMOTION)
def test_joint_fields_bounds_are_the_nominal_limits(name: str, real_env) -> None:
    """Walker joints are scaled so that their limits are -1 and 1; the pendulum's cart lies between the slider's
    limits in metres."""
    spec, robot = TASKS[name], real_env(name).unwrapped.robot
    real_env(name).reset(seed=0)
    (field,) = [f for f in spec.layout.fields if f.kind == "joint_position"]
    if name in PENDULA:
        assert (field.low, field.high) == (robot.slider.lowerLimit, robot.slider.upperLimit)
        assert robot.slider.lowerLimit < robot.slider.upperLimit
    else:
        assert len(field.dims) == len(robot.ordered_joints)
        assert (field.low, field.high) == (-1.0, 1.0)
        for j in robot.ordered_joints:
            span = j.upperLimit - j.lowerLimit
            assert span > 0, j.joint_name
            scaled = 2 * (j.get_position() - j.lowerLimit) / span - 1  # current_relative_position's formula
            assert scaled == pytest.approx(j.current_relative_position()[0])


@pytest.mark.parametrize("name", LOCOMOTION)
def test_observations_lie_within_the_layout_bounds(name: str, rollout) -> None:
    data, layout = rollout(name), TASKS[name].layout
    rows = np.concatenate([data.observations, data.states])
    hard_low, hard_high = layout.bounds(None)
    joints, reach = list(layout.joint_dims), layout.clip or math.inf  # joints: only the env's clip bounds them
    np.testing.assert_array_equal(hard_low[joints], -reach)
    np.testing.assert_array_equal(hard_high[joints], reach)
    outside = np.nonzero((rows < hard_low) | (rows > hard_high))
    if len(outside[0]):
        row, dim = outside[0][0], outside[1][0]
        pytest.fail(
            f"{name}: {len(outside[0])} values leave the hard bounds, dims {sorted(set(outside[1].tolist()))}; first: "
            f"dim {dim} = {rows[row, dim]!r} outside [{hard_low[dim]!r}, {hard_high[dim]!r}]"
        )
    low, high = layout.bounds(rows)  # joints widened to what the data reach
    assert ((rows >= low) & (rows <= high)).all()


@pytest.mark.parametrize("name", WALKERS)
def test_hard_bounds_of_walker_fields(name: str) -> None:
    layout = TASKS[name].layout
    low, high = layout.bounds(None)
    assert (low[0], high[0]) == (-INITIAL_Z[name], layout.clip)
    np.testing.assert_allclose(high[6:8], [math.pi, math.pi / 2], rtol=1e-6)  # roll, pitch: Euler ranges
    np.testing.assert_array_equal(low[6:8], -high[6:8])
    ends = np.float32([math.pi, math.pi / 2])  # what a float32 observation holds at the ends of those ranges
    assert (high[6:8] >= ends).all(), f"float32 observations {ends.tolist()} lie above the bounds {high[6:8].tolist()}"
    np.testing.assert_array_equal(low[list(layout.contact_dims)], 0.0)
    np.testing.assert_array_equal(high[list(layout.contact_dims)], 1.0)
    assert layout.clip == 5.0
    np.testing.assert_array_equal(low[list(layout.velocity_dims)], -5.0)


@pytest.mark.parametrize("name", WALKERS)
def test_initial_z_is_the_torso_height_at_reset(name: str, real_env) -> None:
    env = real_env(name)
    for seed in range(4):
        env.reset(seed=seed)
        assert env.unwrapped.robot.initial_z == pytest.approx(INITIAL_Z[name], abs=1e-6), seed
    rule = TASKS[name].termination
    if rule is not None and rule.height_dim is not None:
        assert rule.height_dim == TASKS[name].layout.height_dim
        assert rule.initial_height == INITIAL_Z[name]


# 3. The termination rule is the simulator's -------------------------------------------------------------------


def test_double_pendulum_has_no_observation_rule() -> None:
    """Its env ends an episode when the second pole's tip height is at most 1; the layout holds no height."""
    assert TASKS["InvertedDoublePendulum"].termination is None


RULED = [name for name in LOCOMOTION if TASKS[name].termination is not None]


@pytest.mark.parametrize("name", RULED)
def test_rule_agrees_with_terminated_on_real_rollouts(name: str, rollout) -> None:
    data, rule = rollout(name), TASKS[name].termination
    ended = rule(data.observations)
    assert ended.dtype == np.bool_ and ended.shape == data.terminated.shape
    wrong = np.nonzero(ended != data.terminated)[0]
    if len(wrong):
        i = wrong[0]
        obs = data.observations[i]
        pytest.fail(
            f"{name}: the rule says {bool(ended[i])}, the env terminated={bool(data.terminated[i])} on {len(wrong)} of "
            f"{len(ended)} steps; first at step {i}: obs[:8] {np.round(obs[:8], 4).tolist()}, "
            f"contacts {obs[list(TASKS[name].layout.contact_dims)].tolist()}"
        )
    if name != "HalfCheetah":  # HalfCheetahBulletEnv._isDone() is always False: only a non-finite state ends it
        assert data.terminated.sum() >= 2, "too few terminations to test the rule on"


def planted_walker_observations(spec: TaskSpec, base: np.ndarray) -> np.ndarray:
    """Observations around every walker's thresholds: absolute height 0.8 and 0.26, pitch +-1, each foot's contact,
    and non-finite values."""
    z0 = INITIAL_Z[spec.name]
    contact = list(spec.layout.contact_dims)
    heights = [0.8 - EPS, 0.8 + EPS, 0.26 - EPS, 0.26 + EPS, z0, 0.1]
    pitches = [0.0, 1 - EPS, 1 + EPS, -1 + EPS, -1 - EPS]
    patterns = [np.zeros(len(contact)), np.ones(len(contact)), *np.eye(len(contact))]
    rows = []
    for height in heights:
        for pitch in pitches:
            for pattern in patterns:
                obs = base.copy()
                obs[0], obs[7], obs[contact] = height - z0, pitch, pattern
                rows.append(obs)
    for dim in (0, 7, 3, contact[0]):
        for value in (np.nan, np.inf):
            obs = base.copy()
            obs[dim] = value
            rows.append(obs)
    return np.array(rows, dtype=np.float32)


def env_ends_walker(env, obs: np.ndarray, contact_dims: tuple[int, ...]) -> bool:
    """WalkerBaseBulletEnv.step's verdict on a state: ``_isDone()`` on the robot's alive bonus (which reads the
    foot contacts the observation holds, so they are set first), or a non-finite state."""
    robot = env.robot
    saved = robot.feet_contact.copy()
    robot.feet_contact[:] = obs[list(contact_dims)]
    try:
        env._alive = float(robot.alive_bonus(obs[0] + robot.initial_z, obs[7]))
        return bool(env._isDone()) or not np.isfinite(obs).all()
    finally:
        robot.feet_contact[:] = saved


def planted(name: str, real_env) -> tuple[np.ndarray, np.ndarray]:
    """Planted observations of one task and the simulator's verdict on each."""
    spec, env = TASKS[name], real_env(name)
    base, _ = env.reset(seed=0)
    if name == "InvertedPendulum":
        robot, rows, verdicts = env.unwrapped.robot, [], []
        for theta in (0.0, 0.2 - EPS, 0.2 + EPS, -0.2 + EPS, -0.2 - EPS, 0.1, -1.0, 3.0):
            robot.j1.reset_current_position(theta, 0.0)
            rows.append(np.asarray(robot.calc_state(), dtype=np.float32))  # as step() returns it
            verdicts.append(bool(np.abs(robot.theta) > 0.2))  # InvertedPendulumBulletEnv.step's done
        env.reset(seed=0)
        return np.array(rows), np.array(verdicts)
    rows = planted_walker_observations(spec, np.asarray(base))
    verdicts = np.array([env_ends_walker(env.unwrapped, obs, spec.layout.contact_dims) for obs in rows])
    return rows, verdicts


@pytest.mark.parametrize("name", RULED)
def test_rule_agrees_with_the_env_on_planted_observations(name: str, real_env) -> None:
    rows, verdicts = planted(name, real_env)
    assert verdicts.any() and not verdicts.all()
    ended = TASKS[name].termination(rows)
    wrong = np.nonzero(ended != verdicts)[0]
    assert not len(wrong), (
        f"{name}: rule != env on {len(wrong)} of {len(rows)} planted observations; first: "
        f"obs[:8] {rows[wrong[0], :8].tolist()}, rule {bool(ended[wrong[0]])}, env {bool(verdicts[wrong[0]])}"
    )


def float32_neighbours(value: float, count: int = 3) -> list[np.float32]:
    """``value`` in float32 and the ``count`` float32 numbers on either side of it."""
    below, above = [np.float32(value)], [np.float32(value)]
    for _ in range(count):
        below.append(np.nextafter(below[-1], np.float32(-np.inf)))
        above.append(np.nextafter(above[-1], np.float32(np.inf)))
    return below[::-1] + above[1:]


@pytest.mark.parametrize("name", [n for n in WALKERS if n in RULED])
def test_rule_agrees_with_the_env_to_the_last_float32_bit(name: str, real_env) -> None:
    """The env adds the float32 height to the float64 initial_z: a rule that adds in float32 rounds differently
    right at the threshold."""
    spec, env = TASKS[name], real_env(name)
    base, _ = env.reset(seed=0)
    z0 = env.unwrapped.robot.initial_z
    rows = []
    for dim, values in (
        (0, float32_neighbours(0.8 - z0) + float32_neighbours(0.26 - z0)),
        (7, float32_neighbours(1.0) + float32_neighbours(-1.0)),
    ):
        for value in values:
            obs = np.array(base, dtype=np.float32)
            obs[dim] = value
            rows.append(obs)
    rows = np.array(rows)
    verdicts = np.array([env_ends_walker(env.unwrapped, obs, spec.layout.contact_dims) for obs in rows])
    ended = spec.termination(rows)
    wrong = np.nonzero(ended != verdicts)[0]
    assert not len(wrong), [(float(rows[i, 0]), float(rows[i, 7]), bool(ended[i]), bool(verdicts[i])) for i in wrong]


@pytest.mark.parametrize("name", [n for n in WALKERS if n in RULED])
def test_walker_rule_reads_the_layouts_dims(name: str) -> None:
    spec = TASKS[name]
    rule, layout = spec.termination, spec.layout
    if rule.pitch_dim is not None:
        assert rule.pitch_dim == layout.dims_of("orientation")[1]
    assert set(rule.forbidden_contacts) <= set(layout.contact_dims)


# 4. The rule runs on torch batches --------------------------------------------------------------------------


@pytest.mark.parametrize("name", RULED)
def test_rule_on_torch_batches_matches_numpy(name: str, real_env, rollout) -> None:
    rows, _ = planted(name, real_env)
    rows = np.concatenate([rows, rollout(name).observations[:50]])
    rule = TASKS[name].termination
    batch = np.stack([rows, rows[::-1]])  # (2, n, d)
    on_numpy = rule(batch)
    assert isinstance(on_numpy, np.ndarray) and on_numpy.shape == batch.shape[:-1]
    np.testing.assert_array_equal(on_numpy[0], [rule(row) for row in rows])
    for dtype in (torch.float32, torch.float64):
        on_torch = rule(torch.from_numpy(batch).to(dtype))
        assert isinstance(on_torch, torch.Tensor) and on_torch.dtype == torch.bool
        assert on_torch.shape == batch.shape[:-1]
        np.testing.assert_array_equal(on_torch.numpy(), on_numpy)
    assert rule(torch.from_numpy(rows[:0])).shape == (0,)
