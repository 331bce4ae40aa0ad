"""Physics-consistency audit of dreams: how often dreamed trajectories break facts the real task guarantees.

A world model that has learned physics keeps joints inside their limits, the body above the ground, speeds
and their changes inside what the simulator can produce, contacts binary, and ends an episode exactly when the
task's own termination rule says so. A model that hallucinates plausible-looking numbers does not. The audit
counts those violations over many dreams, and runs the same checks on real PyBullet rollouts as a control: the
control's rates must be (near) zero, which is how one knows the checks measure the model and not the checks.

Every bound comes from the simulator's own data (:meth:`PhysicsBounds.fit`), never from hand-tuned numbers.
The rule for margins, stated once: a bound fitted from data is widened by :data:`MARGIN_FRACTION` of its own
extent (a dimension's observed range, a step's largest observed change). A dimension the simulator holds
constant (a planar Hopper's roll) has no extent of its own; it borrows the median extent of the other
dimensions (and a dimension that never changes in one step borrows the median largest change). Constant means
an extent under :data:`STILL`: a flipped HalfCheetah's target angle has a sine of 1.2e-16 (sin pi in float), which
is rounding, not motion, and must not shrink that dimension's margin to 1e-16. What the data
cannot say (which dimensions are joints, angle pairs or contacts, what ends an episode) is the task's
observation layout and termination rule (:mod:`dreamgym.tasks.layout`), checked against the simulator's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dreamgym.data import SequenceData
from dreamgym.data.policies import reset_policy
from dreamgym.envs.dream_batch import DreamBatch
from dreamgym.tasks import ObsLayout, Planar, TaskSpec, get_task
from dreamgym.transfer.recording import BatchPolicy, load_for_task, padded_episodes, record_pybullet
from dreamgym.world_model.checkpoint import Checkpoint

__all__ = [
    "CHECKS",
    "MARGIN_FRACTION",
    "STILL",
    "AuditResult",
    "PhysicsBounds",
    "ViolationRates",
    "audit_checks",
    "audit_dreams",
    "find_violations",
    "outside_limits",
]

MARGIN_FRACTION = 0.05
"""Fraction of a data-derived bound's extent by which it is widened (see the module docstring)."""

STILL = 1e-6
"""Extent below which a dimension counts as held constant: float rounding, far below any physical motion."""

CHECKS = (
    "joint_limit",
    "ground",
    "angle_pair",
    "planar",
    "out_of_range",
    "jump",
    "energy_jump",
    "contact",
    "termination",
    "interpenetration",
)
"""The audited facts, in report order:

- ``joint_limit``: a joint position outside its limits ([-1, 1] in the scaled observation, widened to what the
  simulator's soft limits let through).
- ``ground``: the body height below the lowest height the simulator produced.
- ``angle_pair``: a (cos, sin) pair off the unit circle by more than the margin fraction.
- ``planar``: a robot held in a plane (:class:`~dreamgym.tasks.layout.Planar`) half turned over: its roll farther
  than the margin from 0 or +-pi, its heading from the (cos, sin) of 0 or pi that goes with that roll, or its
  sideways speed from 0.
- ``out_of_range``: any other dimension outside its observed range (speeds, orientation, dimensions the
  simulator holds constant), and the body height above the highest the simulator produced (below the lowest is
  ``ground``).
- ``jump``: one step's change of any dimension larger than the largest change the simulator produced, or of a planar
  robot's angle about y (:meth:`~dreamgym.tasks.layout.Planar.angle`): a robot that turns onto its back in one
  step from a pitch short of the vertical has a roll that jumps by pi, which its own jump limit (2 pi, the
  simulator's turn-overs) lets through.
- ``energy_jump``: one step's change of the kinetic-energy proxy (sum of squared velocity dimensions) larger than
  the simulator ever produced.
- ``contact``: a contact flag away from the two values (0 and 1) the simulator uses.
- ``termination``: the dream ends where the task's own rule says the episode goes on, or goes on where the rule
  says it ends.
- ``interpenetration``: PyBullet posed in the state has a body part in the floor or inside another link deeper
  than :data:`~dreamgym.transfer.interpenetration.PENETRATION_TOLERANCE`; it needs the simulator, so
  :func:`audit_dreams` measures it (:func:`find_violations` reports ``None``), and tasks that cannot be posed
  (Ant's free base) report ``None``.

Tabletop tasks (a :class:`~dreamgym.tasks.scene.TableScene`) add the object-permanence and contact checks of
:data:`~dreamgym.transfer.objects.OBJECT_CHECKS`.
"""


def _layout(task: str) -> ObsLayout:
    layout = get_task(task).layout
    if layout is None:
        raise ValueError(f"Task {task!r} has no observation layout, so the audit cannot tell joints from speeds.")
    return layout


def _energy(obs: np.ndarray, layout: ObsLayout) -> np.ndarray:
    return np.square(obs[..., list(layout.velocity_dims)]).sum(-1)


@dataclass(frozen=True)
class PhysicsBounds:
    """Bounds on a task's observations, fitted from the simulator's own data.

    Attributes:
        task: the task the bounds hold for.
        low, high: (obs_dim,) smallest and largest value of each dimension in the data.
        max_delta: (obs_dim,) largest one-step change of each dimension within an episode.
        max_energy_delta: largest one-step change of the kinetic-energy proxy.
        max_turn: largest one-step change of a planar robot's angle about y (``None``: not a planar robot, or
            bounds written before it was measured).
        rows: number of data rows the bounds were fitted on.
        margin: the margin fraction applied to every bound.

    Example:
        >>> bounds = PhysicsBounds.fit(load_episodes("data/pendulum", get_task("InvertedPendulum")), "InvertedPendulum")
        ... # doctest: +SKIP
    """

    task: str
    low: np.ndarray
    high: np.ndarray
    max_delta: np.ndarray
    max_energy_delta: float
    rows: int
    margin: float = MARGIN_FRACTION
    max_turn: float | None = None

    @classmethod
    def fit(cls, data: SequenceData, task: str | TaskSpec, margin: float = MARGIN_FRACTION) -> PhysicsBounds:
        """Fits the bounds to real ``data`` of ``task`` (a data set or recorded PyBullet episodes).

        Raises:
            ValueError: the data's observations do not have the task's shape, or no episode has two rows.
        """
        spec = task if isinstance(task, TaskSpec) else get_task(task)
        if data.obs_shape != spec.obs_shape:
            raise ValueError(
                f"Expected data of task {spec.name!r} with observation shape {spec.obs_shape}, got {data.obs_shape}."
            )
        layout = _layout(spec.name)
        step = ~data.is_first[1:]  # a row and the one before it belong to one episode
        if not step.any():
            raise ValueError("Expected at least one episode with two or more rows to measure step changes.")
        delta = np.abs(np.diff(data.obs, axis=0))[step]
        energy = _energy(data.obs, layout)
        turning = layout.planar is not None and layout.planar.pitch is not None
        return cls(
            task=spec.name,
            low=data.obs.min(0),
            high=data.obs.max(0),
            max_delta=delta.max(0),
            max_energy_delta=float(np.abs(np.diff(energy))[step].max()),
            rows=len(data),
            margin=margin,
            max_turn=float(_turns(data.obs[None], layout.planar)[0][step].max()) if turning else None,
        )

    @property
    def layout(self) -> ObsLayout:
        return _layout(self.task)

    @staticmethod
    def _borrowed(extent: np.ndarray) -> np.ndarray:
        """The extent of each dimension; a still one borrows the median of the others (module docstring)."""
        moving = extent > STILL
        fallback = float(np.median(extent[moving])) if moving.any() else 1.0
        return np.where(moving, extent, fallback)

    def limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension [low, high] with the margin; joint positions also span their nominal limits."""
        pad = self.margin * self._borrowed(self.high - self.low)
        low, high = self.low.astype(np.float64), self.high.astype(np.float64)
        layout = self.layout
        joints, (nominal_low, nominal_high) = list(layout.joint_dims), layout.joint_limits()
        low[joints], high[joints] = np.minimum(low[joints], nominal_low), np.maximum(high[joints], nominal_high)
        return low - pad, high + pad

    def jump_limits(self) -> np.ndarray:
        """Per-dimension largest allowed one-step change: the simulator's largest, plus the margin."""
        return self.max_delta + self.margin * self._borrowed(self.max_delta)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.limits()
        return {
            "task": self.task,
            "rows": self.rows,
            "margin_fraction": self.margin,
            "observed_low": self.low.tolist(),
            "observed_high": self.high.tolist(),
            "limit_low": low.tolist(),
            "limit_high": high.tolist(),
            "max_delta": self.max_delta.tolist(),
            "jump_limit": self.jump_limits().tolist(),
            "max_energy_delta": self.max_energy_delta,
            "max_turn": self.max_turn,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhysicsBounds:
        """The bounds :meth:`to_dict` wrote (the limits it also wrote are derived, so recomputed; an ``initial_z``
        written before the height rule moved to the task's termination rule is not needed)."""
        return cls(
            task=data["task"],
            low=np.asarray(data["observed_low"], dtype=np.float32),
            high=np.asarray(data["observed_high"], dtype=np.float32),
            max_delta=np.asarray(data["max_delta"], dtype=np.float32),
            max_energy_delta=data["max_energy_delta"],
            rows=data["rows"],
            margin=data["margin_fraction"],
            max_turn=data.get("max_turn"),
        )


def outside_limits(bounds: PhysicsBounds, obs: np.ndarray) -> np.ndarray:
    """(N, T, d) bool: each dimension of ``obs[:, 1:]`` outside :meth:`PhysicsBounds.limits` (NaN is outside)."""
    low, high = bounds.limits()
    after = obs[:, 1:].astype(np.float64)
    return ~((after >= low) & (after <= high))


def _floating(after: np.ndarray, height_dim: int | None, high: np.ndarray) -> np.ndarray | bool:
    """The body higher than the simulator ever put it (False where the task reports no height)."""
    return False if height_dim is None else after[..., height_dim] > high[height_dim]


def _turns(obs: np.ndarray, planar: Planar) -> np.ndarray:
    """(N, T) how far a planar robot turns about y in each step of trajectories obs (N, T + 1, d), the shorter way."""
    turn = np.diff(planar.angle(obs), axis=1)
    return np.abs(np.mod(turn + np.pi, 2 * np.pi) - np.pi)


def _turned_too_fast(bounds: PhysicsBounds, obs: np.ndarray) -> np.ndarray | bool:
    """(N, T) steps of obs (N, T + 1, d) that turn a planar robot about y farther than the simulator ever did."""
    if bounds.max_turn is None:
        return False
    return ~(_turns(obs.astype(np.float64), bounds.layout.planar) <= bounds.max_turn * (1 + bounds.margin))


def _off_the_plane(after: np.ndarray, planar: Planar, margin: float) -> np.ndarray:
    """(N, T) steps of ``after`` (N, T, d) that break a planar robot's facts by more than ``margin``."""
    roll = after[..., planar.roll]
    flipped = np.cos(roll) < 0
    nearest = np.where(flipped, np.copysign(np.pi, roll), 0.0)
    cos_dim, sin_dim = planar.heading
    off = np.abs(roll - nearest) > margin
    off |= np.abs(after[..., cos_dim] - np.where(flipped, -1.0, 1.0)) > margin
    off |= np.abs(after[..., sin_dim]) > margin
    return off | (np.abs(after[..., list(planar.lateral)]) > margin).any(-1)


def find_violations(
    bounds: PhysicsBounds, obs: np.ndarray, valid: np.ndarray, terminated: np.ndarray
) -> dict[str, np.ndarray | None]:
    """Flags every step of a batch of trajectories that breaks each check.

    Args:
        bounds: fitted bounds of the task.
        obs: (N, T + 1, obs_dim) observations; ``obs[:, 0]`` is the start, ``obs[:, t + 1]`` follows step ``t``.
        valid: (N, T) bool, the steps that were taken (a trajectory that ended early has invalid steps after).
        terminated: (N, T) bool, whether the trajectory (real or dreamed) ended at each step.

    Returns:
        For each name in :data:`CHECKS`, an (N, T) bool array of violations on valid steps, or ``None`` where the
        check does not apply to the task (no height, angle pairs or contacts, no observable termination rule).
    """
    if obs.ndim != 3 or obs.shape[:2] != (valid.shape[0], valid.shape[1] + 1) or valid.shape != terminated.shape:
        raise ValueError(
            f"Expected obs (N, T + 1, d) with valid and terminated (N, T); got {obs.shape}, {valid.shape}, "
            f"{terminated.shape}."
        )
    layout = bounds.layout
    low, high = bounds.limits()
    after = obs[:, 1:].astype(np.float64)
    outside = outside_limits(bounds, obs)
    special = set(layout.joint_dims) | set(layout.contact_dims)
    if layout.height_dim is not None:
        special.add(layout.height_dim)
    others = [d for d in range(obs.shape[-1]) if d not in special]
    jump_limit = bounds.jump_limits()
    energy = _energy(obs.astype(np.float64), layout)
    spec = get_task(bounds.task)
    checks: dict[str, np.ndarray | None] = {
        "joint_limit": outside[..., list(layout.joint_dims)].any(-1) if layout.joint_dims else None,
        "ground": None if layout.height_dim is None else ~(after[..., layout.height_dim] >= low[layout.height_dim]),
        "angle_pair": None,
        "planar": None if layout.planar is None else _off_the_plane(after, layout.planar, bounds.margin),
        "out_of_range": outside[..., others].any(-1) | _floating(after, layout.height_dim, high),
        "jump": ~(np.abs(np.diff(obs, axis=1)) <= jump_limit).all(-1) | _turned_too_fast(bounds, obs),
        "energy_jump": ~(np.abs(np.diff(energy, axis=1)) <= bounds.max_energy_delta * (1 + bounds.margin)),
        "contact": None,
        "termination": None,
        "interpenetration": None,  # needs the simulator: audit_dreams measures it
    }
    if layout.angle_pairs:
        norms = np.linalg.norm(after[..., np.array(layout.angle_pairs)], axis=-1)  # (N, T, pairs)
        checks["angle_pair"] = ~(np.abs(norms - 1.0) <= bounds.margin).all(-1)
    if layout.contact_dims:
        flags = after[..., list(layout.contact_dims)]
        checks["contact"] = ~(np.minimum(np.abs(flags), np.abs(flags - 1.0)) <= bounds.margin).all(-1)
    if spec.termination is not None:
        checks["termination"] = spec.termination(after) != terminated
    return {name: None if mask is None else mask & valid for name, mask in checks.items()}


@dataclass(frozen=True)
class ViolationRates:
    """Violation rates of one set of trajectories: per check, as a fraction of steps and of trajectories."""

    step_rate: dict[str, float | None]
    trajectory_rate: dict[str, float | None]
    steps: int
    trajectories: int
    dim_outside_rate: list[float] = field(default_factory=list)

    @classmethod
    def of(
        cls, violations: dict[str, np.ndarray | None], valid: np.ndarray, outside: np.ndarray | None = None
    ) -> ViolationRates:
        """Rates of ``violations`` (see :func:`find_violations`) over the ``valid`` steps; ``outside`` (N, T, d)
        adds the fraction of steps each dimension is outside its limits, to show which dimension a range check
        is about."""
        steps = int(valid.sum())
        step_rate: dict[str, float | None] = {}
        trajectory_rate: dict[str, float | None] = {}
        applicable = [v for v in violations.values() if v is not None]
        for name, mask in [*violations.items(), ("any", np.any(applicable, axis=0))]:
            step_rate[name] = None if mask is None else float(mask.sum() / max(steps, 1))
            trajectory_rate[name] = None if mask is None else float(mask.any(1).mean())
        dims = [] if outside is None else (outside[valid].sum(0) / max(steps, 1)).tolist()
        return cls(step_rate, trajectory_rate, steps, len(valid), dims)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_rate": self.step_rate,
            "trajectory_rate": self.trajectory_rate,
            "steps": self.steps,
            "trajectories": self.trajectories,
            "dim_outside_rate": self.dim_outside_rate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViolationRates:
        return cls(**data)


@dataclass(frozen=True)
class AuditResult:
    """Violation rates of dreams, and of real PyBullet rollouts of the same policy as the control.

    Attributes:
        task: the task name.
        dream: rates over the dreamed trajectories.
        real: rates over the real rollouts; near zero when the checks are calibrated.
        bounds: the bounds the checks used.
        horizon, seed: the audit's settings.
    """

    task: str
    dream: ViolationRates
    real: ViolationRates
    bounds: PhysicsBounds
    horizon: int
    seed: int
    checks: tuple[str, ...] = field(default=CHECKS)

    def to_dict(self) -> dict[str, Any]:
        """Every number behind the figure, JSON-serialisable; ``null`` marks a check the task does not have."""
        return {
            "task": self.task,
            "horizon": self.horizon,
            "seed": self.seed,
            "checks": [*self.checks, "any"],
            "dream": self.dream.to_dict(),
            "real": self.real.to_dict(),
            "bounds": self.bounds.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditResult:
        """The result :meth:`to_dict` wrote; how a resumed evaluation reads it back."""
        return cls(
            task=data["task"],
            dream=ViolationRates.from_dict(data["dream"]),
            real=ViolationRates.from_dict(data["real"]),
            bounds=PhysicsBounds.from_dict(data["bounds"]),
            horizon=data["horizon"],
            seed=data["seed"],
            checks=tuple(check for check in data["checks"] if check != "any"),
        )

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def report_section(self, directory: str | Path):
        """The result as a :class:`~dreamgym.transfer.report.ReportSection` (figure written into ``directory``)."""
        from dreamgym.transfer.report import ReportSection

        rows = [
            {
                "check": name,
                "dream steps": self.dream.step_rate[name],
                "dream trajectories": self.dream.trajectory_rate[name],
                "PyBullet steps": self.real.step_rate[name],
                "PyBullet trajectories": self.real.trajectory_rate[name],
            }
            for name in [*self.checks, "any"]
        ]
        return ReportSection(
            title=f"Physics-consistency audit ({self.task})",
            text=f"Fraction of steps and of trajectories breaking each physical fact, over {self.dream.trajectories} "
            f"dreams and, as the control, {self.real.trajectories} PyBullet rollouts of the same policy "
            f"({self.horizon} steps); bounds fitted from {self.bounds.rows} rows of simulator data. Empty: the task "
            "has no such fact.",
            table=rows,
            figures=[self.plot(Path(directory) / f"audit_{self.task}.png")],
            data={"audit": self.to_dict()},
        )

    def plot(self, path: str | Path) -> Path:
        """Saves a bar chart of violation rates per check, dream next to real, per step and per trajectory."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [*self.checks, "any"]
        index = np.arange(len(names))
        fig, axes = plt.subplots(1, 2, figsize=(13, 4))
        for ax, kind in zip(axes, ("step_rate", "trajectory_rate"), strict=True):
            for offset, (label, rates) in zip(
                (-0.2, 0.2), (("dream", self.dream), ("PyBullet", self.real)), strict=True
            ):
                values = [getattr(rates, kind)[n] for n in names]
                ax.bar(index + offset, [np.nan if v is None else v for v in values], 0.4, label=label)
            for i, name in enumerate(names):
                if getattr(self.dream, kind)[name] is None:
                    ax.text(i, 0.0, "n/a", ha="center", va="bottom", fontsize=8)
            ax.set_xticks(index, names, rotation=30, ha="right")
            ax.set(ylim=(0, 1), ylabel="fraction " + ("of steps" if kind == "step_rate" else "of trajectories"))
            ax.set_title(f"{self.task}: physics violations ({kind.replace('_', ' ')})")
            ax.legend()
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _dream_rollouts(
    checkpoint: Checkpoint, policy: BatchPolicy, num_dreams: int, horizon: int, seed: int, termination: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-loop dreams from the checkpoint's real start windows: obs (N, H + 1, d), valid and terminated (N, H)."""
    dreams = DreamBatch(checkpoint, num_envs=num_dreams, horizon=horizon, termination=termination)
    dreams.set_seeds(torch.arange(num_dreams), torch.arange(num_dreams) + seed)
    obs = np.zeros((num_dreams, horizon + 1, checkpoint.model.cfg.obs_dim), dtype=np.float32)
    obs[:, 0] = dreams.reset(torch.ones(num_dreams, dtype=torch.bool))
    valid = np.zeros((num_dreams, horizon), dtype=bool)
    terminated = np.zeros((num_dreams, horizon), dtype=bool)
    running = np.ones(num_dreams, dtype=bool)
    reset_policy(policy)
    for t in range(horizon):
        out = dreams.step(np.asarray(policy(obs[:, t]), dtype=np.float32))
        obs[:, t + 1], valid[:, t], terminated[:, t] = out.obs, running, out.terminated & running
        running &= ~out.terminated
        if not running.any():
            break
    return obs, valid, terminated


def _interpenetration(spec: TaskSpec, obs: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
    """(N, T) interpenetrating steps of trajectories obs (N, T + 1, d), or ``None`` where the task cannot be posed.

    A non-finite state cannot be posed; it is counted by the range checks instead.
    """
    from dreamgym.transfer.interpenetration import measure_interpenetration
    from dreamgym.transfer.posing import UNPOSABLE_TASKS

    if spec.pixels_of is not None:  # its proprioception is its vector task's observation: posed the same way
        spec = get_task(spec.pixels_of)
    if spec.name in UNPOSABLE_TASKS:
        return None
    after = obs[:, 1:]
    finite = valid & np.isfinite(after).all(-1)
    return measure_interpenetration(spec, np.where(finite[..., None], after, 0.0), finite).flags


def _violations(bounds: PhysicsBounds, spec: TaskSpec, rollouts: tuple[np.ndarray, ...]) -> ViolationRates:
    from dreamgym.transfer.objects import object_violations

    obs, valid, _ = rollouts
    violations = find_violations(bounds, *rollouts)
    violations["interpenetration"] = _interpenetration(spec, obs, valid)
    if spec.scene is not None:
        violations |= object_violations(spec.scene, obs, valid)
    return ViolationRates.of(violations, valid, outside_limits(bounds, obs))


def audit_checks(spec: TaskSpec) -> tuple[str, ...]:
    """The checks audited on ``spec``: :data:`CHECKS`, and the tabletop checks where the task has a scene."""
    from dreamgym.transfer.objects import OBJECT_CHECKS

    return CHECKS + (OBJECT_CHECKS if spec.scene is not None else ())


def audit_dreams(
    checkpoint: Checkpoint | str | Path,
    task: str | TaskSpec,
    policy: BatchPolicy,
    num_dreams: int,
    horizon: int,
    seed: int,
    bounds: PhysicsBounds,
    real_episodes: int = 5,
    termination: str = "task",
) -> AuditResult:
    """Audits ``num_dreams`` closed-loop dreams of ``policy`` against the task's physics, with a real control.

    Dreams start from the checkpoint's real context windows (as dream envs do), dream ``i`` seeded with
    ``seed + i``, and run until the continue head ends them or for ``horizon`` steps. The control runs the same
    checks on ``real_episodes`` PyBullet episodes of the same policy (seeds ``seed``, ``seed + 1``, ...), cut at
    the same horizon. Interpenetration poses PyBullet in every dreamed and real state (some thousands of states
    per second).

    Args:
        checkpoint: world model (path or loaded) trained on ``task``.
        task: the task; a checkpoint of another task is refused.
        policy: batched policy.
        num_dreams: number of dreams, in one batch.
        horizon: dream and real steps per trajectory.
        seed: seeds dreams and real episodes; the same seed gives the same result.
        bounds: bounds fitted from the task's real data, see :meth:`PhysicsBounds.fit`.
        real_episodes: real rollouts for the control.
        termination: how dreams end (see :class:`DreamBatch`): ``"task"`` applies the task's rule to the
            dreamed state, so the ``termination`` check passes by construction; ``"model"`` audits the continue
            head against the rule.

    Raises:
        ValueError: a non-positive count or horizon, or bounds of another task.
    """
    checkpoint, spec = load_for_task(checkpoint, task)
    for name, value in (("num_dreams", num_dreams), ("horizon", horizon), ("real_episodes", real_episodes)):
        if not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"Expected a positive integer `{name}`, got {value!r}.")
    if bounds.task != spec.name:
        raise ValueError(f"Expected physics bounds of task {spec.name!r}, got bounds fitted on {bounds.task!r}.")
    dream = _dream_rollouts(checkpoint, policy, num_dreams, horizon, seed, termination)
    real = padded_episodes(record_pybullet(spec.vector_task, policy, real_episodes, seed, max_steps=horizon))
    return AuditResult(
        task=spec.name,
        dream=_violations(bounds, spec, dream),
        real=_violations(bounds, spec, real),
        bounds=bounds,
        horizon=horizon,
        seed=seed,
        checks=audit_checks(spec),
    )
