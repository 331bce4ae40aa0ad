"""The evaluation ladder: one policy, the same seeds, from the dream to PyBullet, through reality gaps, to a robot.

Each rung is a small object with a ``run`` method, so a new kind of rung (another simulator, a real robot
somewhere else) plugs in without touching the ladder. A rung that cannot run (no robot connected) says so in
its result and carries no numbers.

Example:
    >>> from dreamgym.transfer.ladder import default_rungs, run_ladder
    >>> rungs = default_rungs(checkpoint="ckpt", gaps=("mild", "harsh"))  # doctest: +SKIP
    >>> result = run_ladder(policy, "Hopper", rungs, episodes=20, seed=0)  # doctest: +SKIP
    >>> print(result.table())  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np
from tqdm.auto import tqdm

from dreamgym.data.policies import reset_policy
from dreamgym.errors import NoSimulatorError, RobotError, RobotNotConnectedError
from dreamgym.tasks import TaskSpec, get_task
from dreamgym.transfer.gaps import GAP_PRESETS, GapConfig, RandomGap, make_gap_env, parse_gap

if TYPE_CHECKING:
    from dreamgym.transfer.parallel import EpisodeFanOut

__all__ = [
    "DreamRung",
    "LadderResult",
    "Policy",
    "PyBulletRung",
    "RobotRung",
    "RobustnessCurve",
    "Rung",
    "RungResult",
    "default_rungs",
    "robustness_curve",
    "run_dreams",
    "run_episodes",
    "run_ladder",
    "simulator_unavailable",
]

Policy = Callable[[np.ndarray], np.ndarray]
"""Maps a batch of observations (N, obs_dim) to a batch of actions (N, action_dim)."""


@dataclass(frozen=True)
class RungResult:
    """What one rung measured.

    Attributes:
        name: the rung's label in tables and plots.
        kind: ``"dream"``, ``"pybullet"``, ``"gap"`` or ``"robot"``.
        status: ``"ok"``, ``"not connected"`` (no numbers, by design), ``"skipped"`` (the task cannot run it: no
            simulator, or a gap PyBullet applies on another simulator; why in ``detail``) or ``"error"`` (message in
            ``detail``).
        returns: one return per episode, episode ``i`` run with seed ``seeds[i]``.
        lengths: steps per episode.
        seeds: the reset seed of each episode.
        success_return: the task's success threshold, where it defines one.
        successes: whether each episode ended in success, where the env says (goal tasks); empty otherwise.
        detail: what the rung ran on (gap description, robot address) or why it did not run.
        extra: rung-specific measurements, e.g. a robot's interventions (watchdog stops, clipped commands, ...).
    """

    name: str
    kind: str
    status: str = "ok"
    returns: tuple[float, ...] = ()
    lengths: tuple[int, ...] = ()
    seeds: tuple[int, ...] = ()
    success_return: float | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    successes: tuple[bool, ...] = ()

    @classmethod
    def from_episodes(
        cls,
        name: str,
        kind: str,
        episodes: Episodes,
        first_seed: int,
        success_return: float | None,
        detail: str,
        extra: dict[str, Any] | None = None,
    ) -> RungResult:
        """The result of episodes seeded ``first_seed, first_seed + 1, ...`` that all ran to their end."""
        returns = episodes.returns
        return cls(
            name,
            kind,
            returns=tuple(float(r) for r in returns),
            lengths=tuple(int(n) for n in episodes.lengths),
            successes=tuple(bool(s) for s in episodes.successes or ()),
            seeds=tuple(range(first_seed, first_seed + len(returns))),
            success_return=success_return,
            detail=detail,
            extra=extra or {},
        )

    @property
    def ok(self) -> bool:
        return self.status == "ok" and len(self.returns) > 0

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.returns)) if self.ok else None

    @property
    def std(self) -> float | None:
        return float(np.std(self.returns)) if self.ok else None

    @property
    def success_rate(self) -> float | None:
        """The share of episodes that ended in success (goal tasks) or reached the task's success return."""
        if not self.ok:
            return None
        if self.successes:
            return float(np.mean(self.successes))
        if self.success_return is None:
            return None
        return float(np.mean(np.asarray(self.returns) >= self.success_return))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "mean": self.mean,
            "std": self.std,
            "success_rate": self.success_rate,
            "success_return": self.success_return,
            "returns": list(self.returns),
            "lengths": list(self.lengths),
            "successes": list(self.successes),
            "seeds": list(self.seeds),
            "detail": self.detail,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RungResult:
        """The result :meth:`to_dict` wrote (its derived numbers, such as the mean, are recomputed)."""
        return cls(
            data["name"],
            data["kind"],
            status=data["status"],
            returns=tuple(data["returns"]),
            lengths=tuple(data["lengths"]),
            seeds=tuple(data["seeds"]),
            success_return=data["success_return"],
            detail=data["detail"],
            extra=data["extra"],
            successes=tuple(data.get("successes", ())),  # reports written before goal tasks have none
        )


class Rung(Protocol):
    """One rung of the ladder. ``run`` evaluates ``policy`` on episodes seeded ``seed, seed + 1, ...``."""

    name: str
    kind: str

    def run(self, policy: Policy, spec: TaskSpec, episodes: int, seed: int, progress: bool) -> RungResult: ...


class Episodes(NamedTuple):
    """Per-episode outcomes: returns, lengths and, where the env reports ``info["is_success"]`` (goal tasks),
    whether each episode ended in success (``None`` otherwise)."""

    returns: list[float]
    lengths: list[int]
    successes: list[bool] | None


def run_episodes(
    policy: Policy,
    env: Any,
    episodes: int,
    seed: int,
    max_steps: int,
    progress: bool = False,
    desc: str = "",
) -> Episodes:
    """Runs ``episodes`` episodes on anything with Gymnasium's ``reset(seed=)``/``step`` (an env or a robot).

    Episode ``i`` resets with ``seed + i``; an episode also ends after ``max_steps`` steps, the task's limit, so
    a robot without a time limit of its own stops where the simulator would.
    """
    returns, lengths, successes = [], [], []
    for i in tqdm(range(episodes), desc=desc, unit="ep", disable=not progress, leave=False):
        obs, _ = env.reset(seed=seed + i)
        reset_policy(policy)
        total, steps, done, info = 0.0, 0, False, {}
        while not done:
            action = np.asarray(policy(np.asarray(obs, dtype=np.float32)[None]))[0]
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            steps += int(info.get("ticks", 1))  # a robot's step spans more than one of its ticks after a loss
            done = terminated or truncated or steps >= max_steps
        returns.append(total)
        lengths.append(steps)
        successes.append(info.get("is_success"))
    reported = all(s is not None for s in successes)
    return Episodes(returns, lengths, [bool(s) for s in successes] if reported and successes else None)


def run_dreams(
    policy: Policy,
    spec: TaskSpec,
    checkpoint: str | Path,
    episodes: int,
    seed: int,
    horizon: int,
    progress: bool = False,
    desc: str = "dreams",
) -> Episodes:
    """Returns and lengths of ``episodes`` dreams stepped as one batch (dream ``i`` seeded ``seed + i``), each
    until it ends or reaches ``horizon``: :func:`run_episodes` for the world model."""
    from dreamgym.envs.dream_vector_env import DreamVectorEnv

    env = DreamVectorEnv(spec.name, num_envs=episodes, checkpoint=checkpoint, horizon=horizon, native_spaces=False)
    try:
        obs, _ = env.reset(seed=seed)
        reset_policy(policy)
        returns, lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
        successes = np.zeros(episodes, dtype=bool) if spec.goal is not None else None
        running = np.ones(episodes, dtype=bool)
        with tqdm(total=horizon, desc=desc, unit="step", disable=not progress, leave=False) as bar:
            while running.any():
                obs, reward, terminated, truncated, info = env.step(np.asarray(policy(obs), dtype=np.float32))
                returns += reward * running
                lengths += running
                if successes is not None:
                    successes[running] = info["is_success"][running]
                running &= ~(terminated | truncated)
                bar.update(1)
    finally:
        env.close()
    return Episodes(list(returns), list(lengths), None if successes is None else list(successes))


@dataclass
class DreamRung:
    """The world model's dreams, all episodes stepped as one batch; dream ``i`` is seeded ``seed + i``.

    ``horizon`` defaults to the real task's episode limit, so dream and PyBullet returns compare directly.
    """

    checkpoint: str | Path
    horizon: int | None = None
    name: str = "dream"
    kind: str = "dream"

    def run(self, policy: Policy, spec: TaskSpec, episodes: int, seed: int, progress: bool) -> RungResult:
        horizon = self.horizon or spec.max_episode_steps
        outcome = run_dreams(
            policy, spec, self.checkpoint, episodes, seed, horizon, progress, f"{spec.name} {self.name}"
        )
        return RungResult.from_episodes(
            self.name,
            self.kind,
            outcome,
            seed,
            spec.success_return,
            f"world model {self.checkpoint}, horizon {horizon}",
        )


def simulator_unavailable(spec: TaskSpec, gap: GapConfig | RandomGap | None = None) -> str | None:
    """Why ``spec``'s simulator cannot run behind ``gap`` (``None``: nominal), or ``None`` where it can: a task
    defined by a recorded log has no simulator, and only a PyBullet task's env takes the gaps that change PyBullet's
    physics (mass, friction, control period)."""
    if spec.simulator is None:
        return f"task {spec.name!r} has no simulator: it was defined by the recorded data set {spec.dataset!r}"
    needs = gap.pybullet_fields if gap is not None else ()
    if needs and spec.simulator != "PyBullet":
        names = [name.replace("jitter", "control-period jitter") for name in needs]
        changes = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        verb = "acts" if len(names) == 1 else "act"
        return f"the gap's {changes} {verb} through PyBullet's physics; {spec.name} runs in {spec.simulator}"
    return None


@dataclass
class PyBulletRung:
    """The task's simulator (PyBullet for dreamgym's own tasks, a user's task's Gymnasium env otherwise), nominal
    (``gap=None``) or behind a reality gap; episode ``i`` reset with ``seed + i``. A task the rung cannot run (see
    :func:`simulator_unavailable`) gets a ``"skipped"`` result saying why.

    ``max_episode_steps`` shortens the task's time limit (for quick checks); ``None`` keeps the task's.
    """

    gap: GapConfig | RandomGap | None = None
    name: str = "PyBullet"
    max_episode_steps: int | None = None

    @property
    def kind(self) -> str:
        return "pybullet" if self.gap is None or (isinstance(self.gap, GapConfig) and self.gap.is_nominal) else "gap"

    def run(self, policy: Policy, spec: TaskSpec, episodes: int, seed: int, progress: bool) -> RungResult:
        reason = simulator_unavailable(spec, self.gap)
        if reason is not None:
            return RungResult(self.name, self.kind, status="skipped", detail=reason)
        env = self.make_env(spec)
        try:
            outcome = run_episodes(policy, env, episodes, seed, self.limit(spec), progress, f"{spec.name} {self.name}")
        finally:
            env.close()
        return self.result(spec, outcome, seed)

    def limit(self, spec: TaskSpec) -> int:
        """The most steps of an episode on this rung."""
        return self.max_episode_steps or spec.max_episode_steps

    def make_env(self, spec: TaskSpec) -> Any:
        """The rung's env: the task behind its gap.

        A pixel task's policies act on the proprioception (the flat view its dreams give them), so the rung runs
        the vector task it renders: the same physics and observation, without drawing frames no policy reads.
        """
        kwargs = {"max_episode_steps": self.max_episode_steps} if self.max_episode_steps else {}
        # The gap's random streams restart from each episode's reset seed, so episode i's noise, jitter and drawn
        # gap depend on its seed alone, as its initial state does; the env-level seed stays fixed.
        return make_gap_env(spec.vector_task, self.gap, seed=0, **kwargs)

    def result(self, spec: TaskSpec, outcome: Episodes, seed: int) -> RungResult:
        """The rung's result from the outcomes of episodes seeded ``seed, seed + 1, ...``."""
        gap = self.gap or GapConfig()
        return RungResult.from_episodes(
            self.name, self.kind, outcome, seed, spec.success_return, gap.describe(), {"gap": gap.to_dict()}
        )


@dataclass
class RobotRung:
    """A robot through the robot bridge (:mod:`dreamgym.robots`): the ``dreamgym/<Task>-robot-v0`` env.

    The robot's own safety layer, watchdog and emergency stop act on every command; the rung reports how often
    they intervened over its episodes (``extra["interventions"]``, from the robot's lifetime counters).

    Args:
        address: the robot server (``tcp://host:port``); ``"loopback"`` starts an in-process robot server over
            the task's simulator, which exercises the whole robot path and is labelled as such; ``None`` means no
            robot.
        token_file: file holding the robot's token; ``None`` reads ``DREAMGYM_ROBOT_TOKEN`` (a loopback robot
            gets a fresh random token of its own).
        safety: limits of a loopback robot's safety layer; the task's joint limits by default (a real robot
            enforces its own).
        connect_timeout: seconds to wait for the robot to answer.
        loopback_period: a loopback robot's control period in seconds; the simulator's step by default.
    """

    address: str | None = None
    safety: Any = None
    connect_timeout: float = 5.0
    max_episode_steps: int | None = None
    name: str = "robot"
    kind: str = "robot"
    token_file: str | Path | None = None
    loopback_period: float | None = None

    def run(self, policy: Policy, spec: TaskSpec, episodes: int, seed: int, progress: bool) -> RungResult:
        from dreamgym.robots.protocol import parse_address

        if self.address is None:
            return RungResult(self.name, self.kind, status="not connected", detail="no robot address given")
        if self.address != "loopback":
            try:
                parse_address(self.address)
            except ValueError as err:  # on the rung, not raised, so the rungs already measured are kept
                return RungResult(self.name, self.kind, status="error", detail=f"robot address {self.address!r}: {err}")
        elif simulator_unavailable(spec) is not None:  # the loopback robot is the task's simulator
            reason = f"the loopback robot serves the task's simulator; {simulator_unavailable(spec)}"
            return RungResult(self.name, self.kind, status="skipped", detail=reason)
        with contextlib.ExitStack() as stack:
            if self.address == "loopback":
                try:
                    address, token_file = self._start_loopback(spec, stack)
                except (NoSimulatorError, ValueError) as err:  # an env it cannot serve (no `dt` to pace it by)
                    return RungResult(self.name, self.kind, status="error", detail=f"loopback robot: {err}")
                detail = f"loopback {spec.simulator} robot at {address}"
            else:
                address, token_file, detail = self.address, self.token_file, f"robot at {self.address}"
            return self._run_robot(policy, spec, episodes, seed, progress, address, token_file, detail)

    def _start_loopback(self, spec: TaskSpec, stack: contextlib.ExitStack) -> tuple[str, Path]:
        """Serves ``spec`` from an in-process simulated robot with a fresh token in a private file."""
        from dreamgym.robots.loopback import loopback_server

        token = secrets.token_hex(32)
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dreamgym-robot-")))
        token_file = directory / "robot.token"
        token_file.touch(mode=0o600)
        token_file.write_text(token)
        server = loopback_server(spec, token.encode(), period=self.loopback_period, safety=self.safety)
        stack.enter_context(server)
        return server.address, token_file

    def _run_robot(
        self,
        policy: Policy,
        spec: TaskSpec,
        episodes: int,
        seed: int,
        progress: bool,
        address: str,
        token_file: str | Path | None,
        detail: str,
    ) -> RungResult:
        from dreamgym.robots.control import INTERVENTIONS
        from dreamgym.robots.env import RobotEnv

        limit = self.max_episode_steps or spec.max_episode_steps
        try:
            env = RobotEnv(
                spec.name, address, token_file=token_file, timeout=self.connect_timeout, max_episode_steps=limit
            )
        except RobotNotConnectedError as err:
            return RungResult(self.name, self.kind, status="not connected", detail=str(err))
        except RobotError as err:  # a refused token, another task, another protocol
            return RungResult(self.name, self.kind, status="error", detail=f"{detail}: {err}")
        try:
            before = env.status()["counts"]
            detail = f"{detail}, period {1e3 * env.period:g} ms"
            try:
                outcome = run_episodes(policy, env, episodes, seed, limit, progress, f"{spec.name} robot")
            except RobotError as err:
                return RungResult(self.name, self.kind, status="error", detail=f"{detail}: {err}")
            after = env.status()["counts"]
            interventions = {name: after[name] - before[name] for name in INTERVENTIONS}
            acted = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in interventions.items() if n)
            detail = f"{detail}, interventions: {acted or 'none'}"
            extra = {"interventions": interventions, "loopback": self.address == "loopback", "period": env.period}
            return RungResult.from_episodes(self.name, self.kind, outcome, seed, spec.success_return, detail, extra)
        finally:
            env.close()


@dataclass(frozen=True)
class RobustnessCurve:
    """Return against gap strength: ``gap.scaled(s)`` for each ``s`` in ``strengths`` (0 is nominal)."""

    gap: GapConfig
    strengths: tuple[float, ...]
    returns: tuple[tuple[float, ...], ...]

    @property
    def means(self) -> list[float]:
        return [float(np.mean(r)) for r in self.returns]

    @property
    def stds(self) -> list[float]:
        return [float(np.std(r)) for r in self.returns]

    def to_dict(self) -> dict[str, Any]:
        return {
            "gap": self.gap.to_dict(),
            "strengths": list(self.strengths),
            "mean": self.means,
            "std": self.stds,
            "returns": [list(r) for r in self.returns],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RobustnessCurve:
        return cls(
            GapConfig(**data["gap"]),
            tuple(data["strengths"]),
            tuple(tuple(returns) for returns in data["returns"]),
        )


@dataclass(frozen=True)
class LadderResult:
    """Every rung's result, in ladder order, the robustness curve if one was measured, and what the ladder skipped
    beyond its rungs (the curve, for a task whose simulator cannot take its gap), with why."""

    task: str
    episodes: int
    seed: int
    rungs: tuple[RungResult, ...]
    robustness: RobustnessCurve | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    def rung(self, name: str) -> RungResult:
        for r in self.rungs:
            if r.name == name:
                return r
        raise KeyError(f"No rung named {name!r}; rungs are {[r.name for r in self.rungs]}.")

    @property
    def nominal(self) -> RungResult | None:
        """The first measured nominal-PyBullet rung, the reference of every ratio to nominal."""
        return next((r for r in self.rungs if r.ok and r.kind == "pybullet"), None)

    def ratio_to_nominal(self, result: RungResult) -> float | None:
        """``result``'s mean return over PyBullet nominal's: a rung of this ladder (the dream too) or a baseline.

        The one definition behind the terminal table, the report's table and its ratio figure, so they agree.
        ``None`` where ``result`` has no numbers or the nominal mean is not positive: a ratio of returns only
        reads as "kept this fraction" when the reference is above zero.
        """
        return _ratio(result.mean, self.nominal.mean if self.nominal else None)

    def ratios(self) -> list[dict[str, Any]]:
        """Each measured rung after the first: its mean return over the previous measured rung's, and over
        PyBullet nominal's (see :meth:`ratio_to_nominal`, which also covers the first rung)."""
        measured = [r for r in self.rungs if r.ok]
        return [
            {
                "from": previous.name,
                "to": current.name,
                "ratio": _ratio(current.mean, previous.mean),
                "difference": current.mean - previous.mean,
                "ratio_to_nominal": self.ratio_to_nominal(current),
            }
            for previous, current in itertools.pairwise(measured)
        ]

    def table(self, baselines: Sequence[RungResult] = ()) -> str:
        """The ladder as a plain-text table for the terminal, ``baselines`` (e.g. a random policy) first."""
        rows = [*baselines, *self.rungs]
        width = max(28, *(len(r.name) for r in rows))
        lines = [f"{'rung':<{width}} {'return (mean ± std)':>20} {'success':>8} {'vs nominal':>10}  detail"]
        for r in rows:
            if r.ok:
                value = f"{r.mean:8.1f} ± {r.std:6.1f}"
                success = f"{100 * r.success_rate:.0f}%" if r.success_rate is not None else "-"
                ratio = self.ratio_to_nominal(r)
                vs = f"{ratio:.2f}" if ratio is not None else "-"
            else:
                value, success, vs = r.status, "-", "-"
            lines.append(f"{r.name:<{width}} {value:>20} {success:>8} {vs:>10}  {r.detail}")
        lines += [f"skipped {part}: {reason}" for part, reason in self.skipped.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "episodes": self.episodes,
            "seed": self.seed,
            "rungs": [{**r.to_dict(), "ratio_to_nominal": self.ratio_to_nominal(r)} for r in self.rungs],
            "ratios": self.ratios(),
            "robustness": self.robustness.to_dict() if self.robustness else None,
            "skipped": dict(self.skipped),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LadderResult:
        """The result :meth:`to_dict` wrote; how a resumed evaluation reads back a finished ladder."""
        return cls(
            data["task"],
            data["episodes"],
            data["seed"],
            tuple(RungResult.from_dict(rung) for rung in data["rungs"]),
            RobustnessCurve.from_dict(data["robustness"]) if data["robustness"] else None,
            dict(data.get("skipped", {})),  # ladders stored before anything was skipped have none
        )


def _ratio(value: float | None, reference: float | None) -> float | None:
    return value / reference if value is not None and reference is not None and reference > 0 else None


def default_rungs(
    checkpoint: str | Path | None = None,
    gaps: Sequence[str | GapConfig | RandomGap] = ("mild", "moderate", "harsh"),
    robot: str | None = None,
    max_episode_steps: int | None = None,
    dream_horizon: int | None = None,
    dream_name: str = "dream",
    nominal_name: str = "PyBullet nominal",
    robot_token_file: str | Path | None = None,
    simulator: str = "PyBullet",
) -> list[Rung]:
    """The ladder of the issue: dream (if a checkpoint is given), PyBullet nominal, each gap, then the robot.

    The robot rung is always present, so a ladder without a robot says "not connected" rather than
    silently dropping the rung. ``dream_name`` and ``nominal_name`` label the first two rungs (a report may say
    whose policy runs there); ``simulator`` names the gap rungs' simulator (a user's task's env id).
    ``robot_token_file`` holds the robot's token (``DREAMGYM_ROBOT_TOKEN`` otherwise).
    """
    rungs: list[Rung] = []
    if checkpoint is not None:
        rungs.append(DreamRung(checkpoint, horizon=dream_horizon or max_episode_steps, name=dream_name))
    rungs.append(PyBulletRung(None, nominal_name, max_episode_steps))
    for gap in gaps:
        config = parse_gap(gap) if isinstance(gap, str) else gap
        label = gap if isinstance(gap, str) else config.describe()
        rungs.append(PyBulletRung(config, f"{simulator} + {label} gap", max_episode_steps))
    rungs.append(RobotRung(robot, max_episode_steps=max_episode_steps, token_file=robot_token_file))
    return rungs


def robustness_curve(
    policy: Policy,
    task: str | TaskSpec,
    gap: GapConfig = GAP_PRESETS["harsh"],
    strengths: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    episodes: int = 10,
    seed: int = 0,
    max_episode_steps: int | None = None,
    progress: bool = False,
    cache: dict[GapConfig, RungResult] | None = None,
    fan_out: EpisodeFanOut | None = None,
) -> RobustnessCurve:
    """Returns of ``policy`` in PyBullet at each ``gap.scaled(strength)``, same seeds at every strength.

    ``cache`` maps gaps already evaluated (with the same policy, episodes and seed) to their results, so the
    ladder's nominal and preset rungs are not run twice. ``fan_out`` runs each strength's episodes on Ray
    workers (see :func:`run_ladder`).
    """
    spec = get_task(task) if isinstance(task, str) else task
    cache = {} if cache is None else cache
    returns = []
    for s in tqdm(strengths, desc=f"{spec.name} robustness", unit="strength", disable=not progress, leave=False):
        config = gap.scaled(s)
        if config not in cache:
            rung = PyBulletRung(config, f"strength {s:g}", max_episode_steps)
            cache[config] = _run_rung(rung, policy, spec, episodes, seed, False, fan_out)
        returns.append(cache[config].returns)
    return RobustnessCurve(gap, tuple(float(s) for s in strengths), tuple(returns))


def run_ladder(
    policy: Policy,
    task: str | TaskSpec,
    rungs: Sequence[Rung],
    episodes: int = 20,
    seed: int = 0,
    robustness_gap: GapConfig | None = GAP_PRESETS["harsh"],
    robustness_strengths: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    progress: bool = True,
    workers: int | None = None,
) -> LadderResult:
    """Runs every rung with episodes seeded ``seed .. seed + episodes - 1``, then the robustness curve.

    Args:
        policy: batched policy, e.g. ``dreamgym.data.load_sb3_policy(path, deterministic=True)``.
        task: the task every rung runs.
        rungs: in ladder order; see :func:`default_rungs`.
        episodes: episodes per rung (and per robustness point).
        seed: seed of the first episode.
        robustness_gap: the gap whose strength the curve sweeps; ``None`` skips the curve.
        robustness_strengths: multipliers of ``robustness_gap`` (0 = nominal, 1 = the gap itself).
        progress: tqdm bars per rung.
        workers: run the PyBullet rungs' episodes (and the robustness curve's) on this many Ray workers
            (:mod:`dreamgym.transfer.parallel`); the results are the serial ladder's. ``None``: all in this process.
            The policy is sent to the workers, so it must pickle.
    """
    spec = get_task(task) if isinstance(task, str) else task
    results: list[RungResult] = []
    cache: dict[GapConfig, RungResult] = {}
    steps_limit = None
    fan_out = None
    if workers is not None:
        from dreamgym.transfer.parallel import EpisodeFanOut

        fan_out = EpisodeFanOut(policy, workers)
    try:
        for rung in tqdm(rungs, desc=f"{spec.name} ladder", unit="rung", disable=not progress):
            result = _run_rung(rung, policy, spec, episodes, seed, progress, fan_out)
            results.append(result)
            if isinstance(rung, PyBulletRung) and result.ok and not isinstance(rung.gap, RandomGap):
                cache[rung.gap or GapConfig()] = result
                steps_limit = rung.max_episode_steps
        curve, skipped = None, {}
        unavailable = simulator_unavailable(spec, robustness_gap) if robustness_gap is not None else None
        if unavailable is not None:
            skipped["robustness curve"] = unavailable
        elif robustness_gap is not None:
            strengths = robustness_strengths
            curve = robustness_curve(
                policy, spec, robustness_gap, strengths, episodes, seed, steps_limit, progress, cache, fan_out
            )
    finally:
        if fan_out is not None:
            fan_out.close()
    return LadderResult(spec.name, episodes, seed, tuple(results), curve, skipped)


def _run_rung(
    rung: Rung,
    policy: Policy,
    spec: TaskSpec,
    episodes: int,
    seed: int,
    progress: bool,
    fan_out: EpisodeFanOut | None,
) -> RungResult:
    """``rung.run``, or its episodes spread over workers where there are workers and the rung is a simulator's that
    the task can run (a rung it cannot says so from ``rung.run``)."""
    if fan_out is not None and isinstance(rung, PyBulletRung) and simulator_unavailable(spec, rung.gap) is None:
        return fan_out.run(rung, spec, episodes, seed)
    return rung.run(policy, spec, episodes, seed, progress)
