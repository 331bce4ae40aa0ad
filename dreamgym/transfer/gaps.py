"""Reality gaps: composable Gymnasium wrappers that make a PyBullet task differ from the one a policy trained on.

A policy trained in a dream meets a simulator that is not the one the world model learned; a real robot differs
again. These wrappers make that difference controllable: each changes one thing by a stated amount, physical
things through the PyBullet API (``changeDynamics``, ``setPhysicsEngineParameter``) and re-applied after every
reset, because ``restoreState`` and the scene's ``clean_everything`` on reset put engine parameters back.

Example:
    >>> from dreamgym.transfer.gaps import GAP_PRESETS, make_gap_env
    >>> env = make_gap_env("Hopper", GAP_PRESETS["moderate"], seed=0)  # heavier, slipperier, weaker, late, noisy
    >>> obs, info = env.reset(seed=0)
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from dreamgym.errors import InvalidGapError
from dreamgym.tasks import TaskSpec, get_task

__all__ = [
    "GAP_PRESETS",
    "ActionLatency",
    "ControlJitter",
    "DomainRandomization",
    "FrictionGap",
    "GapConfig",
    "GapWrapper",
    "MassGap",
    "MotorStrength",
    "ObservationNoise",
    "RandomGap",
    "make_gap_env",
    "parse_gap",
    "wrap_gap",
]


@dataclass(frozen=True)
class GapConfig:
    """One reality gap: how far each physical or interface property is from the nominal simulator.

    Multipliers are 1 and additive terms 0 at nominal, so ``GapConfig()`` is no gap at all.

    Attributes:
        mass: multiplier of every robot link's mass and inertia (a uniform change of density).
        friction: multiplier of the ground's lateral friction. Bullet multiplies the two contact partners'
            coefficients, so this scales every foot-ground contact by the same factor. Tasks without a ground
            (InvertedPendulum) are unaffected, and the wrapper says so with a warning.
        motor: multiplier of the action (motor strength). The envs clip actions to [-1, 1] after it, so a
            value above 1 only strengthens actions below saturation.
        latency: control steps between a command and its execution (a FIFO of ``latency`` actions, zeros first).
        obs_noise: standard deviation of additive Gaussian observation noise, in observation units (absolute,
            not relative: the PyBullet observations are already scaled to order one).
        jitter: largest relative change of the control period; each step lasts ``dt * (1 + u)``,
            ``u ~ U(-jitter, jitter)``, with the physics substeps rounded from ``frame_skip * (1 + u)``.
    """

    mass: float = 1.0
    friction: float = 1.0
    motor: float = 1.0
    latency: int = 0
    obs_noise: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not self.mass > 0:
            problems.append(f"mass multiplier must be > 0, got {self.mass}")
        if not self.friction >= 0:
            problems.append(f"friction multiplier must be >= 0, got {self.friction}")
        if not self.motor >= 0:
            problems.append(f"motor multiplier must be >= 0, got {self.motor}")
        if not isinstance(self.latency, int | np.integer) or self.latency < 0:
            problems.append(f"latency must be a whole number of steps >= 0, got {self.latency!r}")
        if not self.obs_noise >= 0:
            problems.append(f"obs_noise must be a standard deviation >= 0, got {self.obs_noise}")
        if not 0 <= self.jitter < 1:
            problems.append(f"jitter must be in [0, 1) (a fraction of the control period), got {self.jitter}")
        if problems:
            raise InvalidGapError("Invalid reality gap: " + "; ".join(problems) + ".")

    @property
    def is_nominal(self) -> bool:
        return self == GapConfig()

    @property
    def pybullet_fields(self) -> tuple[str, ...]:
        """The properties this gap changes through PyBullet's API (mass, friction, control period); the others
        (motor strength, latency, observation noise) wrap any Gymnasium env."""
        return tuple(name for name in PYBULLET_FIELDS if getattr(self, name) != getattr(GapConfig(), name))

    def scaled(self, strength: float) -> GapConfig:
        """The gap at ``strength`` times this one's distance from nominal (0: nominal, 1: this gap).

        Multipliers move linearly from 1, additive terms from 0, latency is rounded to whole steps.

        Raises:
            InvalidGapError: ``strength`` is negative, or so large that a multiplier would leave its range.
        """
        if not strength >= 0:
            raise InvalidGapError(f"Gap strength must be >= 0, got {strength}.")
        if strength == 1:  # exactly this gap, so results cached under it are found again
            return self
        return GapConfig(
            mass=1.0 + strength * (self.mass - 1.0),
            friction=1.0 + strength * (self.friction - 1.0),
            motor=1.0 + strength * (self.motor - 1.0),
            latency=round(strength * self.latency),
            obs_noise=strength * self.obs_noise,
            jitter=strength * self.jitter,
        )

    def to_dict(self) -> dict[str, float | int]:
        return {k: (int(v) if k == "latency" else float(v)) for k, v in dataclasses.asdict(self).items()}

    def describe(self) -> str:
        """A short human-readable summary of what differs from nominal."""
        parts = [
            f"mass x{self.mass:.2f}" if self.mass != 1 else "",
            f"friction x{self.friction:.2f}" if self.friction != 1 else "",
            f"motor x{self.motor:.2f}" if self.motor != 1 else "",
            f"latency {self.latency} step{'s' * (self.latency != 1)}" if self.latency else "",
            f"obs noise std {self.obs_noise:g}" if self.obs_noise else "",
            f"control period ±{100 * self.jitter:.0f}%" if self.jitter else "",
        ]
        return ", ".join(p for p in parts if p) or "nominal"


PYBULLET_FIELDS = ("mass", "friction", "jitter")
"""Gap properties applied through PyBullet's API, which only a PyBullet task's env has."""

GAP_PRESETS: dict[str, GapConfig] = {
    "mild": GapConfig(mass=1.1, friction=0.9, motor=0.9, latency=1, obs_noise=0.01, jitter=0.1),
    "moderate": GapConfig(mass=1.25, friction=0.75, motor=0.8, latency=2, obs_noise=0.03, jitter=0.2),
    "harsh": GapConfig(mass=1.5, friction=0.5, motor=0.65, latency=3, obs_noise=0.1, jitter=0.4),
}
"""Named gaps, each a step further from nominal in every property at once."""


@dataclass(frozen=True)
class RandomGap:
    """Domain randomisation: a fresh gap per episode, each property drawn uniformly within ``bound``'s distance.

    Multipliers are drawn from ``[1 - d, 1 + d]`` with ``d = |bound - 1|`` (lighter and heavier, slipperier
    and grippier), latency from ``{0, ..., bound.latency}``, noise and jitter from ``[0, bound]``.
    """

    bound: GapConfig = GAP_PRESETS["moderate"]

    def __post_init__(self) -> None:
        for name in ("mass", "friction", "motor"):
            if abs(getattr(self.bound, name) - 1.0) >= 1.0:
                raise InvalidGapError(
                    f"RandomGap {name} bound {getattr(self.bound, name)} would allow multipliers <= 0; "
                    "expected a bound within (0, 2)."
                )

    def sample(self, rng: np.random.Generator) -> GapConfig:
        def around_one(value: float) -> float:
            d = abs(value - 1.0)
            return float(rng.uniform(1.0 - d, 1.0 + d))

        b = self.bound
        return GapConfig(
            mass=around_one(b.mass),
            friction=around_one(b.friction),
            motor=around_one(b.motor),
            latency=int(rng.integers(0, b.latency + 1)),
            obs_noise=float(rng.uniform(0.0, b.obs_noise)),
            jitter=float(rng.uniform(0.0, b.jitter)),
        )

    @property
    def pybullet_fields(self) -> tuple[str, ...]:
        return self.bound.pybullet_fields

    def to_dict(self) -> dict[str, Any]:
        return {"random": True, "bound": self.bound.to_dict()}

    def describe(self) -> str:
        return f"random per episode within ({self.bound.describe()})"


def parse_gap(name: str) -> GapConfig | RandomGap:
    """Reads a gap name: ``nominal``, a preset (``mild``, ``moderate``, ``harsh``), ``random`` (within
    ``moderate``) or ``random:<preset>``.

    Raises:
        InvalidGapError: the name is not one of these, with the closest valid name as a hint.
    """
    if name in ("nominal", "none"):
        return GapConfig()
    if name in GAP_PRESETS:
        return GAP_PRESETS[name]
    if name == "random":
        return RandomGap()
    if name.startswith("random:") and name.removeprefix("random:") in GAP_PRESETS:
        return RandomGap(GAP_PRESETS[name.removeprefix("random:")])
    valid = ["nominal", *GAP_PRESETS, "random", *(f"random:{p}" for p in GAP_PRESETS)]
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InvalidGapError(f"Unknown reality gap {name!r}; expected one of {valid}.{hint}")


def _bullet_env(env: gym.Env, wrapper: str) -> Any:
    """The pybullet_envs_gymnasium env under ``env``, whose ``_p`` is the bullet client and ``robot`` the body."""
    base = env.unwrapped
    if not (hasattr(base, "robot") and hasattr(base, "create_single_player_scene")):
        raise TypeError(
            f"{wrapper} changes PyBullet physics and needs a pybullet_envs_gymnasium environment "
            f"(with `_p`, `robot` and `scene`), got {type(base).__name__}."
        )
    return base


def _stream(seed: int, stream: int, reset_seed: int | None) -> np.random.Generator:
    """A generator for one wrapper's randomness, reproducible from the env seed and the episode's reset seed."""
    return np.random.default_rng([seed, stream] + ([] if reset_seed is None else [reset_seed]))


class GapWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Base of the gap wrappers: each reads one field of :class:`GapConfig` and can be reconfigured per episode.

    :class:`DomainRandomization` calls :meth:`configure` before every reset; a new value takes effect at the
    next reset, never in the middle of an episode. Constructor arguments are recorded, as Gymnasium's own
    wrappers do, so ``env.spec`` can rebuild the wrapped env.
    """

    field: ClassVar[str]

    def __init__(self, env: gym.Env, value: float | int, **recorded: Any):
        gym.utils.RecordConstructorArgs.__init__(self, value=value, **recorded)
        gym.Wrapper.__init__(self, env)
        GapConfig(**{self.field: value})  # validates the value with the dataclass's message
        self.value = value

    def configure(self, gap: GapConfig) -> None:
        self.value = getattr(gap, self.field)


class _PhysicsGap(GapWrapper):
    """Sets one ``changeDynamics`` property of some bodies to nominal x ``value`` after every reset.

    Nominal values are read once, at the first reset, so re-applying never compounds.
    """

    def __init__(self, env: gym.Env, value: float):
        super().__init__(env, value)
        self._bullet = _bullet_env(env, type(self).__name__)
        self._nominal: dict[tuple[int, int], Any] | None = None

    def _links(self) -> list[tuple[int, int]]:
        raise NotImplementedError

    def _read(self, body: int, link: int) -> Any:
        raise NotImplementedError

    def _write(self, body: int, link: int, nominal: Any) -> None:
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        if self._nominal is None:
            self._nominal = {key: self._read(*key) for key in self._links()}
        for (body, link), nominal in self._nominal.items():
            self._write(body, link, nominal)
        return obs, info


class MassGap(_PhysicsGap):
    """Scales the mass and inertia of every robot link with mass (static bodies, mass 0, stay static)."""

    field = "mass"

    def _links(self) -> list[tuple[int, int]]:
        p, objects = self._bullet._p, self._bullet.robot.objects
        bodies = [objects] if np.isscalar(objects) else list(objects)
        return [(b, link) for b in bodies for link in range(-1, p.getNumJoints(b)) if p.getDynamicsInfo(b, link)[0] > 0]

    def _read(self, body: int, link: int) -> tuple[float, tuple[float, float, float]]:
        info = self._bullet._p.getDynamicsInfo(body, link)
        return info[0], tuple(info[2])

    def _write(self, body: int, link: int, nominal: tuple[float, tuple[float, float, float]]) -> None:
        mass, inertia = nominal
        self._bullet._p.changeDynamics(
            body, link, mass=mass * self.value, localInertiaDiagonal=[i * self.value for i in inertia]
        )


class FrictionGap(_PhysicsGap):
    """Scales the lateral friction of the ground (every link of the scene's ground bodies)."""

    field = "friction"

    def _links(self) -> list[tuple[int, int]]:
        p = self._bullet._p
        ground = getattr(self._bullet.scene, "ground_plane_mjcf", ())
        links = [(b, link) for b in ground for link in range(-1, p.getNumJoints(b))]
        if not links:
            warnings.warn(
                f"{type(self._bullet).__name__} has no ground to change the friction of; the friction gap has no "
                "effect on this task.",
                stacklevel=3,
            )
        return links

    def _read(self, body: int, link: int) -> float:
        return self._bullet._p.getDynamicsInfo(body, link)[1]

    def _write(self, body: int, link: int, nominal: float) -> None:
        self._bullet._p.changeDynamics(body, link, lateralFriction=nominal * self.value)


class MotorStrength(GapWrapper):
    """Multiplies every action by ``value`` before the env applies it, as a weaker (or stronger) motor would."""

    field = "motor"

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        self.applied_action = np.asarray(action, dtype=np.float32) * np.float32(self.value)
        return self.env.step(self.applied_action)


class ActionLatency(GapWrapper):
    """Executes at step t the action given at step t - ``value``; the first ``value`` steps execute zeros.

    ``info["executed_action"]`` holds the action that reached the env, so logs show what the robot really did.
    """

    field = "latency"

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        shape, dtype = self.action_space.shape, self.action_space.dtype
        self._queue: deque[np.ndarray] = deque(np.zeros(shape, dtype) for _ in range(int(self.value)))
        return self.env.reset(seed=seed, options=options)

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        # A copy: callers (SB3 among them) may reuse their action buffer before this action's turn comes.
        self._queue.append(np.array(action, dtype=self.action_space.dtype, copy=True))
        executed = self._queue.popleft()
        obs, reward, terminated, truncated, info = self.env.step(executed)
        return obs, reward, terminated, truncated, {**info, "executed_action": executed}


class ObservationNoise(GapWrapper):
    """Adds zero-mean Gaussian noise of standard deviation ``value`` (observation units) to every observation.

    The noise stream restarts from ``(seed, reset seed)`` whenever ``reset`` gets a seed, so an episode's noise
    depends only on its own seed, not on which episodes ran before it.
    """

    field = "obs_noise"

    def __init__(self, env: gym.Env, value: float, seed: int = 0):
        super().__init__(env, value, seed=seed)
        self.seed = seed
        self._rng = _stream(seed, 1, None)

    def _noisy(self, obs: np.ndarray) -> np.ndarray:
        if self.value == 0:
            return obs
        return (obs + self._rng.normal(0.0, self.value, size=np.shape(obs))).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._rng = _stream(self.seed, 1, seed)
        obs, info = self.env.reset(seed=seed, options=options)
        return self._noisy(obs), info

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._noisy(obs), reward, terminated, truncated, info


class ControlJitter(GapWrapper):
    """Varies the control period each step: the physics advances ``dt * (1 + u)``, ``u ~ U(-value, value)``.

    The pybullet_envs scenes take one ``stepSimulation`` per control step, of ``fixedTimeStep = timestep *
    frame_skip`` split into ``numSubSteps = frame_skip``; this sets both before each step, keeping the substep
    near the nominal timestep. The scene restores them at reset. ``info["control_period"]`` and
    ``info["physics_substeps"]`` report what the step used.
    """

    field = "jitter"

    def __init__(self, env: gym.Env, value: float, seed: int = 0):
        super().__init__(env, value, seed=seed)
        self._bullet = _bullet_env(env, type(self).__name__)
        self.seed = seed
        self._rng = _stream(seed, 2, None)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._rng = _stream(self.seed, 2, seed)
        return self.env.reset(seed=seed, options=options)

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        scene = self._bullet.scene
        u = float(self._rng.uniform(-self.value, self.value)) if self.value else 0.0
        period = scene.timestep * scene.frame_skip * (1.0 + u)
        substeps = max(1, round(scene.frame_skip * (1.0 + u)))
        if self.value:
            self._bullet._p.setPhysicsEngineParameter(fixedTimeStep=period, numSubSteps=substeps)
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "control_period": period, "physics_substeps": substeps}


class DomainRandomization(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Draws a new gap from ``random_gap`` at every reset and configures the gap wrappers beneath it.

    ``info["gap"]`` at reset is the drawn gap; the draw is reproducible from ``(seed, reset seed)``.
    Usable for evaluation, for training in randomised simulation, and for collecting varied data.
    """

    def __init__(self, env: gym.Env, random_gap: RandomGap, seed: int = 0):
        gym.utils.RecordConstructorArgs.__init__(self, random_gap=random_gap, seed=seed)
        gym.Wrapper.__init__(self, env)
        self.random_gap = random_gap
        self.seed = seed
        self._rng = _stream(seed, 3, None)
        self.gap = GapConfig()
        self._wrappers: list[GapWrapper] = []
        inner = env
        while isinstance(inner, gym.Wrapper):
            if isinstance(inner, GapWrapper):
                self._wrappers.append(inner)
            inner = inner.env
        missing = {f.name for f in dataclasses.fields(GapConfig)} - {w.field for w in self._wrappers}
        if missing:
            raise ValueError(
                f"DomainRandomization needs a gap wrapper for every GapConfig field beneath it; missing "
                f"{sorted(missing)}. Build the env with make_gap_env(task, RandomGap(...)) instead."
            )

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._rng = _stream(self.seed, 3, seed)
        self.gap = self.random_gap.sample(self._rng)
        for wrapper in self._wrappers:
            wrapper.configure(self.gap)
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, "gap": self.gap.to_dict()}


def wrap_gap(env: gym.Env, gap: GapConfig | RandomGap | str | None = None, seed: int = 0) -> gym.Env:
    """``env`` (a PyBullet task env) behind the wrappers of ``gap``; what :func:`make_gap_env` does to a fresh env.

    Takes an existing env so code that makes its own env (data collection's ``wrap_env`` hook, say) gets the
    same wrappers in the same order.

    Args:
        env: the task's env, unwrapped by any gap.
        gap: a :class:`GapConfig`, a :class:`RandomGap`, a name for :func:`parse_gap`, or ``None`` for nominal.
        seed: seeds the noise, jitter and randomisation streams (each restarted from the reset seed too).

    Returns:
        The env, wrapped (inside out) in mass, friction, jitter, motor, latency, observation noise and, for a
        random gap, domain randomisation. A fixed gap only gets the wrappers of the properties it changes.
    """
    if isinstance(gap, str):
        gap = parse_gap(gap)
    gap = gap if gap is not None else GapConfig()
    randomised = isinstance(gap, RandomGap)
    start = GapConfig() if randomised else gap
    nominal = GapConfig()
    for cls in (MassGap, FrictionGap, ControlJitter, MotorStrength, ActionLatency, ObservationNoise):
        value = getattr(start, cls.field)
        if not randomised and value == getattr(nominal, cls.field):
            continue
        env = cls(env, value, seed=seed) if cls in (ObservationNoise, ControlJitter) else cls(env, value)
    if randomised:
        env = DomainRandomization(env, gap, seed=seed)
    return env


def make_gap_env(
    task: str | TaskSpec, gap: GapConfig | RandomGap | str | None = None, seed: int = 0, **env_kwargs: Any
) -> gym.Env:
    """The task's PyBullet env behind the wrappers of ``gap`` (see :func:`wrap_gap`).

    Args:
        task: task name or spec.
        gap: a :class:`GapConfig`, a :class:`RandomGap`, a name for :func:`parse_gap`, or ``None`` for nominal.
        seed: seeds the noise, jitter and randomisation streams (each restarted from the reset seed too).
        **env_kwargs: passed to ``gym.make`` (e.g. ``max_episode_steps``).
    """
    spec = get_task(task) if isinstance(task, str) else task
    if isinstance(gap, str):
        gap = parse_gap(gap)  # before making the env, so a wrong name costs no PyBullet start-up
    return wrap_gap(spec.make_env(**env_kwargs), gap, seed)
