"""One end-to-end transfer evaluation: the ladder, a random baseline, world-model fidelity, the physics audit and a
side-by-side video, written as one report.

``dreamgym evaluate`` and ``benchmarks/transfer.py`` both call :func:`evaluate_transfer`, so the command line,
the committed benchmark and a notebook measure the same thing the same way.

Example:
    >>> from dreamgym.transfer.evaluate import TransferConfig, evaluate_transfer
    >>> config = TransferConfig(episodes=10, seed=0, gaps=("mild", "harsh"))
    >>> report = evaluate_transfer("ckpt", "policy.zip", config, out="report")  # doctest: +SKIP
    >>> print(report.summary_lines())  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from tqdm.auto import tqdm

from dreamgym.atomic import write_json_atomic
from dreamgym.data import SequenceData, load_policy, policy_digest
from dreamgym.errors import CheckpointError, InvalidGapError
from dreamgym.tasks import TaskSpec, get_task
from dreamgym.transfer.gaps import GAP_PRESETS, parse_gap
from dreamgym.transfer.ladder import LadderResult, Policy, PyBulletRung, Rung, RungResult, default_rungs, run_ladder
from dreamgym.transfer.recording import random_policy
from dreamgym.transfer.report import PARTIAL_DIR, ReportFiles, ReportSection, check_report_directory, write_report

__all__ = ["BOUNDS_SEED_OFFSET", "FIDELITY_HORIZONS", "TransferConfig", "TransferReport", "evaluate_transfer"]

T = TypeVar("T")

BOUNDS_SEED_OFFSET = 1_000_000
"""Episodes recorded to fit the audit's physics bounds are seeded from ``seed + BOUNDS_SEED_OFFSET``, so they never
share a seed with an evaluation episode (the audit's control must be held out from the data its bounds come from)."""

FIDELITY_HORIZONS = (1, 10, 50)
"""Open-loop horizons quoted in the one-line fidelity summary."""


@dataclass
class TransferConfig:
    """Settings of :func:`evaluate_transfer`; every field has a default that gives the full evaluation.

    Attributes:
        episodes: episodes per ladder rung and per robustness point; episode ``i`` is seeded ``seed + i``.
        seed: seed of the first episode; the fidelity episodes, the audit's dreams and control and the video all
            start from it too, so one seed reproduces the whole report.
        gaps: reality-gap rungs, by name (see :func:`~dreamgym.transfer.gaps.parse_gap`); empty for none.
        robustness: preset whose strength the robustness curve sweeps, or ``None`` to skip the curve.
        strengths: robustness-curve strengths (multipliers of the preset; 0 is nominal); each must give a valid gap.
        robot: robot address (``tcp://host:port`` or ``host:port``), ``"loopback"``, or ``None`` (the rung says
            "not connected").
        robot_token_file: file holding the robot's shared token; ``None`` reads ``DREAMGYM_ROBOT_TOKEN`` (never
            the token itself: settings are stored with the report).
        max_episode_steps: shorter episode limit on every rung, fidelity episode, audit trajectory and video,
            for quick runs; ``None`` keeps the task's.
        baseline: also run a uniform random policy on nominal PyBullet, the floor the ladder compares to.
        fidelity: measure open-loop error against horizon and dream vs PyBullet return.
        fidelity_episodes: held-out PyBullet episodes the fidelity is measured on (seeds ``seed, seed + 1, ...``).
        fidelity_horizon: open-loop steps measured.
        fidelity_context: real observations the model filters before each open-loop prediction; fewer than
            ``max_episode_steps``, so an episode has a step left to predict.
        fidelity_stride: every ``fidelity_stride``-th step of an episode is an open-loop start (1: every step;
            larger is proportionally faster and, over long episodes, changes the averages little).
        audit: run the physics-consistency audit of dreams against a PyBullet control.
        audit_dreams: dreams audited, in one batch.
        audit_horizon: steps per audited dream and control trajectory (capped by ``max_episode_steps``).
        audit_real_episodes: PyBullet control episodes of the same policy (seeds ``seed, seed + 1, ...``).
        bounds_episodes: episodes of the random and of the evaluated policy recorded (on seeds from
            ``seed + BOUNDS_SEED_OFFSET``) to fit the audit's bounds, on top of the checkpoint's training windows.
        video: render PyBullet next to the dream from the same start and actions.
        video_steps: most steps in the video (it also stops when PyBullet ends the episode).
        video_format: ``"webm"`` (VP8: plays in the HTML report), ``"mp4"`` (mp4v) or ``"gif"``.
        video_fps: frames per second of the video.
    """

    episodes: int = 20
    seed: int = 0
    gaps: Sequence[str] = ("mild", "moderate", "harsh")
    robustness: str | None = "harsh"
    strengths: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)
    robot: str | None = None
    robot_token_file: str | None = None
    max_episode_steps: int | None = None
    baseline: bool = True
    fidelity: bool = True
    fidelity_episodes: int = 5
    fidelity_horizon: int = 50
    fidelity_context: int = 5
    fidelity_stride: int = 5
    audit: bool = True
    audit_dreams: int = 64
    audit_horizon: int = 200
    audit_real_episodes: int = 5
    bounds_episodes: int = 5
    video: bool = True
    video_steps: int = 200
    video_format: str = "webm"
    video_fps: int = 30

    def __post_init__(self) -> None:
        counts = ("episodes", "fidelity_episodes", "fidelity_horizon", "fidelity_context", "fidelity_stride")
        counts += ("audit_dreams", "audit_horizon", "audit_real_episodes", "bounds_episodes", "video_steps")
        for name in (*counts, "video_fps"):
            self._integer(name, "a positive integer")
        if self.max_episode_steps is not None:
            self._integer("max_episode_steps", "a positive integer", " or None")
        self._integer("seed", "an integer", positive=False)
        if self.video_format not in ("webm", "mp4", "gif"):
            raise ValueError(f"Expected `video_format` 'webm', 'mp4' or 'gif', got {self.video_format!r}.")
        self.gaps = tuple(self.gaps)
        self.strengths = tuple(float(s) for s in self.strengths)
        for name in self.gaps:
            parse_gap(name)  # an unknown name fails here, with the closest valid one as a hint
        if self.robustness is not None and self.robustness not in GAP_PRESETS:
            raise InvalidGapError(
                f"Expected `robustness` (CLI: --robustness) to be one of {[*GAP_PRESETS, 'none']}, "
                f"got {self.robustness!r}."
            )
        # What the rungs would only find out after everything before them ran: checked here, before any work.
        self._check_strengths()
        self._check_robot()
        if self.fidelity and self.max_episode_steps is not None and self.fidelity_context >= self.max_episode_steps:
            raise ValueError(
                f"Expected `fidelity_context` ({self.fidelity_context}) below `max_episode_steps` "
                f"({self.max_episode_steps}): each open-loop prediction starts after that many real observations, "
                "so an episode must run longer. Lower `fidelity_context`, raise `max_episode_steps` or turn "
                "`fidelity` off."
            )

    def _integer(self, name: str, expected: str, alternative: str = "", positive: bool = True) -> None:
        """Checks field ``name`` is an integer (positive unless told) and stores it as a plain ``int``: a NumPy
        integer would not serialise into the stored run identity."""
        value = getattr(self, name)
        if not isinstance(value, int | np.integer) or (positive and value <= 0):
            raise ValueError(f"Expected {expected} `{name}`{alternative}, got {value!r}.")
        setattr(self, name, int(value))

    def _check_strengths(self) -> None:
        """Each strength must give a valid gap of the robustness preset (the curve runs after every rung)."""
        if self.robustness is None:
            return
        for strength in self.strengths:
            try:
                GAP_PRESETS[self.robustness].scaled(strength)
            except InvalidGapError as err:
                raise InvalidGapError(
                    f"Expected every `strengths` value (CLI: --strengths) to give a valid {self.robustness!r} gap; "
                    f"strength {strength:g} does not: {err}"
                ) from err

    def _check_robot(self) -> None:
        """A malformed robot address fails here rather than at the ladder's last rung."""
        if self.robot is None or self.robot == "loopback":
            return
        from dreamgym.robots.protocol import parse_address

        try:
            parse_address(self.robot)
        except ValueError as err:
            raise ValueError(f"Invalid `robot` (CLI: --robot): {err} Or pass 'loopback', or no robot at all.") from err

    def rungs(self, checkpoint: str | Path, simulator: str = "PyBullet") -> list[Rung]:
        """The ladder (:func:`~dreamgym.transfer.ladder.default_rungs`): the dream, the nominal simulator, each gap,
        then the robot (present even when not connected), the first two named for the dream-trained policy."""
        return default_rungs(
            checkpoint,
            self.gaps,
            self.robot,
            self.max_episode_steps,
            dream_name="dream-trained policy in the dream",
            nominal_name=f"dream-trained policy in {simulator}",
            robot_token_file=self.robot_token_file,
            simulator=simulator,
        )


@dataclass
class TransferReport:
    """Everything one evaluation measured, and the report sections built from it.

    Attributes:
        config: the settings it ran with.
        checkpoint, policy: what was evaluated (``policy`` is a path, or a description of a callable).
        ladder: the ladder and robustness curve.
        baseline: the random policy on nominal PyBullet, or ``None`` if skipped.
        fidelity: :class:`~dreamgym.transfer.fidelity.FidelityResult`, or ``None`` if skipped.
        audit: :class:`~dreamgym.transfer.audit.AuditResult`, or ``None`` if skipped.
        bounds_sources: where the audit's physics bounds were fitted from (rows per source).
        video: :class:`~dreamgym.transfer.video.SideBySideVideo`, or ``None`` if skipped.
        skipped: the parts the task cannot run (``baseline``, ``fidelity``, ``audit``, ``video``), with why (the
            ladder's own skipped rungs and curve are in :attr:`ladder`).
        simulator: what ran the real task (``"PyBullet"``, a user's env id), as the summary names it.
        sections: report sections after the ladder's, in order; figures and the video already written.
        files: where :meth:`write` last put the report, if it was written.
    """

    config: TransferConfig
    checkpoint: str
    policy: str
    ladder: LadderResult
    baseline: RungResult | None = None
    fidelity: Any = None
    audit: Any = None
    bounds_sources: dict[str, int] = field(default_factory=dict)
    video: Any = None
    skipped: dict[str, str] = field(default_factory=dict)
    simulator: str = "PyBullet"
    sections: list[ReportSection] = field(default_factory=list)
    files: ReportFiles | None = None

    def fidelity_errors(self) -> dict[int, float | None]:
        """Total open-loop error at each of :data:`FIDELITY_HORIZONS` within the measured horizon (``None``
        where no held-out episode lasted that long)."""
        if self.fidelity is None:
            return {}
        errors = {h: self.fidelity.error_at(h) for h in FIDELITY_HORIZONS if h <= self.fidelity.horizon}
        return {h: (e if math.isfinite(e) else None) for h, e in errors.items()}

    def audit_rates(self) -> dict[str, float | None]:
        """The audit's headline: fraction of steps and of trajectories breaking any check, dream and PyBullet."""
        if self.audit is None:
            return {}
        return {
            "dream_step_rate": self.audit.dream.step_rate["any"],
            "dream_trajectory_rate": self.audit.dream.trajectory_rate["any"],
            "pybullet_step_rate": self.audit.real.step_rate["any"],
            "pybullet_trajectory_rate": self.audit.real.trajectory_rate["any"],
        }

    def summary_lines(self) -> list[str]:
        """One line each for fidelity, audit and video, as ``dreamgym evaluate`` prints them."""
        lines = []
        if self.fidelity is not None:
            errors = ", ".join(f"h={h}: {_num(e)}" for h, e in self.fidelity_errors().items())
            lines.append(
                f"fidelity (open-loop RMSE / data std): {errors}; return dream "
                f"{np.mean(self.fidelity.dream_returns):.1f} vs {self.simulator} "
                f"{np.mean(self.fidelity.real_returns):.1f}"
            )
        if self.audit is not None:
            r = self.audit_rates()
            dreams, episodes = self.audit.dream.trajectories, self.audit.real.trajectories
            lines.append(
                f"audit (fraction of steps breaking any physics check): dream {_num(r['dream_step_rate'])} "
                f"({round(r['dream_trajectory_rate'] * dreams)} of {dreams} dreams) vs PyBullet control "
                f"{_num(r['pybullet_step_rate'])} ({round(r['pybullet_trajectory_rate'] * episodes)} of {episodes} "
                "episodes)"
            )
        if self.video is not None:
            lines.append(f"video: {self.video.path} ({self.video.frames} frames)")
        lines += [f"skipped {part}: {reason}" for part, reason in self.skipped.items()]  # the ladder's: in its table
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The headline numbers and settings (the full data of every figure is in the report's ``figures.json``)."""
        return {
            "config": asdict(self.config),
            "checkpoint": self.checkpoint,
            "policy": self.policy,
            "ladder": self.ladder.to_dict(),
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "fidelity": self.fidelity.to_dict() if self.fidelity is not None else None,
            "fidelity_errors": {str(h): e for h, e in self.fidelity_errors().items()},
            "audit": self.audit.to_dict() if self.audit is not None else None,
            "audit_rates": self.audit_rates(),
            "bounds_sources": self.bounds_sources,
            "video": self.video.to_dict() if self.video is not None else None,
            "skipped": dict(self.skipped),
        }

    def write(
        self, out_dir: str | Path, extra_sections: Sequence[ReportSection] = (), tensorboard: bool = True
    ) -> ReportFiles:
        """Writes the one report (ladder, baseline, fidelity, audit, video, then ``extra_sections``) to ``out_dir``,
        replacing the directory as a whole (see :func:`~dreamgym.transfer.report.write_report`)."""
        self.files = write_report(
            out_dir, self.ladder, sections=[*self.sections, *extra_sections], tensorboard=tensorboard
        )
        # The report's copies are the ones that stay with it: the originals may have been in the directory the
        # report just replaced (``evaluate_transfer`` works in ``out/partial``), so point at the copies.
        directory = self.files.directory
        self.sections = [_section_in(section, directory) for section in self.sections]
        if self.video is not None:
            self.video = _moved(self.video, directory / Path(self.video.path).name)
        return self.files


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _moved(video: Any, path: Path) -> Any:
    return replace(video, path=path)


def _section_in(section: ReportSection, directory: Path) -> ReportSection:
    """``section`` with its figures and media at their copies in the report ``directory``."""
    return replace(
        section,
        figures=[directory / Path(f).name for f in section.figures],
        media=[directory / Path(m).name for m in section.media],
    )


RUN_FILE = "run.json"
"""What an unfinished evaluation in ``out/partial`` was run on and with; a rerun resumes it only if it matches."""

STAGE_FORMAT = 1
"""Version of what the stored stages mean; raise it when a stage's result or its JSON changes, so a partial run
left by older code is run again rather than read back."""

_MEASURING_PACKAGES = ("dreamgym", "gymnasium", "numpy", "pybullet", "stable-baselines3", "torch")
"""Packages whose versions a stored stage's numbers depend on."""


def _run_identity(checkpoint: str | Path, policy: str | Path | Policy, config: TransferConfig) -> dict | None:
    """Everything a stage's result depends on: the settings, the checkpoint and the policy (their paths, which
    the report quotes, and their contents by sha256, so a model or policy saved over the same path is never
    mistaken for the one the stored stages measured) and the code that measured them. ``None`` for a policy given
    as a callable, whose behaviour has no fingerprint: such a run never resumes."""
    from importlib.metadata import version

    from dreamgym.world_model import read_config

    if not isinstance(policy, str | Path):
        return None
    identity = {
        "stage_format": STAGE_FORMAT,
        "packages": {package: version(package) for package in _MEASURING_PACKAGES},
        "config": asdict(config),
        "checkpoint": str(checkpoint),
        "checkpoint_files": read_config(checkpoint)["files"],
        "policy": str(policy),
        "policy_sha256": policy_digest(policy),
    }
    return json.loads(json.dumps(identity))  # tuples as lists, as the stored copy reads back


def _work_directory(out: str | Path | None, identity: dict | None, resume: bool) -> tuple[Path, bool]:
    """Where the stages put their figures, video and results until the report is written, and whether it holds
    finished stages of this same run (``identity``) to resume from.

    ``out/partial`` when there is a report directory: a crash in a later stage then leaves every finished stage's
    JSON (and its video) on disk, beside, never mixed into, an earlier report; writing the report replaces
    ``out``, this folder with it. It is emptied first unless ``resume`` is set and it was left by a run with the
    same identity. A fresh temporary directory when there is no report directory.
    """
    if out is None:
        return Path(tempfile.mkdtemp(prefix="dreamgym-transfer-")), False
    work = check_report_directory(out) / PARTIAL_DIR  # refused now, not after the whole evaluation
    run_file = work / RUN_FILE
    if resume and identity is not None and run_file.is_file():
        with contextlib.suppress(ValueError):  # unreadable: start afresh below
            if json.loads(run_file.read_text()) == identity:
                return work, True
    shutil.rmtree(work, ignore_errors=True)  # another run's unfinished stages
    work.mkdir(parents=True)
    if identity is not None:
        write_json_atomic(run_file, identity, indent=1)
    return work, False


class _Stages:
    """Runs the evaluation's stages in order, saving each result as ``<stage>.json`` in the work directory as it
    finishes; on a resumed run, a stage found there is read back instead of run again.

    Every stage seeds itself from the config (none draws from a stream an earlier stage advanced), so a resumed
    report is the one an uninterrupted run writes.
    """

    def __init__(self, directory: Path, resumed: bool, bar: Any) -> None:
        self.directory, self.resumed, self.bar = directory, resumed, bar

    def run(
        self, stage: str, compute: Callable[[], T], to_dict: Callable[[T], dict], from_dict: Callable[[dict], T]
    ) -> T:
        path = self.directory / f"{stage}.json"
        result = self._stored(stage, path, to_dict, from_dict) if self.resumed and path.is_file() else None
        if result is None:
            result = compute()
            write_json_atomic(path, to_dict(result), indent=1)
        self.bar.set_postfix_str(stage)
        self.bar.update(1)
        return result

    @staticmethod
    def _stored(stage: str, path: Path, to_dict: Callable[[T], dict], from_dict: Callable[[dict], T]) -> T | None:
        """The stored result, if it reads back to exactly what was stored (a damaged or edited file, or one whose
        robot rung could not run, is not)."""
        try:
            data = json.loads(path.read_text())
            result = from_dict(data)
            if json.loads(json.dumps(to_dict(result))) != data:
                raise ValueError("it does not read back to what it holds")
            return result
        except (ValueError, KeyError, TypeError, FileNotFoundError) as err:
            cause = f"{type(err).__name__}: {err}"
            warnings.warn(
                f"Running the {stage!r} stage again: its stored result {str(path)!r} is unusable ({cause}).",
                stacklevel=3,
            )
            return None


def _resolve_policy(policy: str | Path | Policy) -> tuple[Policy, str]:
    if isinstance(policy, str | Path):
        return load_policy(policy, deterministic=True), str(policy)
    if callable(policy):
        return policy, f"callable {getattr(policy, '__qualname__', type(policy).__qualname__)}"
    raise TypeError(
        f"Expected `policy` to be a path to an SB3 policy (.zip), a Dreamer policy directory or a batched callable, "
        f"got {policy!r}."
    )


def training_windows(checkpoint: Any) -> SequenceData:
    """The real context windows stored in a checkpoint, as data rows: the part of its training data that travels
    with it.

    A window's first row and every row where an episode began inside it are first rows, so no step change is
    measured across an episode boundary. Windows store observations and previous actions only: the rows' rewards
    are NaN (unknown) and no row is terminal; :meth:`PhysicsBounds.fit` reads observations and first rows alone.
    """
    obs = checkpoint.starts["obs"].flatten(0, 1).numpy()
    prev_action = checkpoint.starts["prev_action"].flatten(0, 1).numpy()
    is_first = checkpoint.starts["is_first"].flatten(0, 1).numpy().copy()
    length = checkpoint.starts["obs"].shape[1]
    is_first[::length] = True
    action = np.zeros_like(prev_action)
    action[:-1] = np.where(is_first[1:, None], 0.0, prev_action[1:])
    return SequenceData(
        obs=obs,
        prev_action=prev_action,
        action=action,
        reward=np.full(len(obs), np.nan, dtype=np.float32),
        is_first=is_first,
        is_terminal=np.zeros(len(obs), dtype=bool),
        episode_index=np.cumsum(is_first) - 1,
        metadata={"source": "checkpoint start windows", "windows": int(checkpoint.starts["obs"].shape[0])},
    )


def fit_audit_bounds(checkpoint: Any, spec: TaskSpec, policy: Policy, config: TransferConfig) -> tuple[Any, dict]:
    """Physics bounds for the audit, fitted on three sources of the simulator's own data.

    Why these: the bounds must describe what the *simulator* can produce, so that a violation means the model
    dreamed something impossible, not something it has not seen. The checkpoint's stored training windows
    (always reachable: a checkpoint carries them) cover what the model learned from; fresh PyBullet episodes of a
    random policy cover the wide, falling-over part of the state space; episodes of the evaluated policy cover
    the states the dreams and the control actually visit (a good policy runs faster than any training data, and
    bounds without its states would flag the control itself). The fresh episodes use seeds from
    ``seed + BOUNDS_SEED_OFFSET``, disjoint from every evaluation seed, so the control stays held out.
    """
    from dreamgym.transfer.audit import PhysicsBounds
    from dreamgym.transfer.recording import record_pybullet

    first = config.seed + BOUNDS_SEED_OFFSET
    steps = config.max_episode_steps
    real = spec.vector_task  # bounds are of the proprioception: a pixel task's frames are not drawn
    parts = {
        "checkpoint training windows": training_windows(checkpoint),
        "random policy in PyBullet": record_pybullet(
            real, random_policy(spec.action_dim, first), config.bounds_episodes, first, max_steps=steps
        ),
        "evaluated policy in PyBullet": record_pybullet(real, policy, config.bounds_episodes, first, max_steps=steps),
    }
    data = SequenceData.concatenate(list(parts.values()))
    return PhysicsBounds.fit(data, spec), {name: len(part) for name, part in parts.items()}


def _stored_ladder(data: dict[str, Any], config: TransferConfig) -> LadderResult:
    """The stored ladder, unless a robot was asked for and its rung did not run: the robot may be back now."""
    ladder = LadderResult.from_dict(data)
    if config.robot is not None and any(r.kind == "robot" and r.status != "ok" for r in ladder.rungs):
        raise ValueError("its robot rung did not run; trying the robot again")
    return ladder


def _video_record(video: Any) -> dict[str, Any]:
    """The video's record with its file named relative to the report folder (which may be moved or renamed)."""
    return {**video.to_dict(), "path": Path(video.path).name}


def _stored_video(data: dict[str, Any], directory: Path) -> Any:
    """The stored video record, pointing at its file in ``directory``, if the file is still there."""
    from dreamgym.transfer.video import SideBySideVideo

    video = SideBySideVideo.from_dict(data)
    path = directory / Path(video.path).name
    if not path.is_file():
        raise FileNotFoundError(f"the video {path.name!r} is missing")
    return replace(video, path=path)


def skipped_parts(spec: TaskSpec, config: TransferConfig) -> dict[str, str]:
    """The parts of the evaluation ``spec`` cannot run, asked for in ``config``, each with why: without a simulator
    (a task defined by a robot's log) nothing but the dream and the robot runs; the audit needs the task's
    observation layout, and the side-by-side video poses a PyBullet robot in the dreamed state."""
    from dreamgym.transfer.ladder import simulator_unavailable

    asked = {part for part in ("baseline", "fidelity", "audit", "video") if getattr(config, part)}
    no_simulator = simulator_unavailable(spec)
    if no_simulator is not None:
        return dict.fromkeys(sorted(asked), no_simulator)
    skipped = {}
    if "audit" in asked and spec.layout is None:
        skipped["audit"] = f"task {spec.name!r} has no observation layout, so the audit cannot tell joints from speeds"
    if "video" in asked and spec.simulator != "PyBullet":
        skipped["video"] = (
            f"the video poses a PyBullet robot in the dreamed state; {spec.name} runs in {spec.simulator}"
        )
    return skipped


def _skipped_section(skipped: dict[str, str]) -> ReportSection:
    return ReportSection(
        "Not run",
        "Parts of the evaluation this task cannot run, and why.",
        table=[{"part": part, "why": reason} for part, reason in skipped.items()],
    )


def _baseline_section(baseline: RungResult, simulator: str) -> ReportSection:
    return ReportSection(
        "Random-policy baseline",
        f"A uniform random policy on nominal {simulator}, same seeds: the floor the ladder's returns compare to.",
        [{"policy": "random", "return (mean ± std)": f"{baseline.mean:.1f} ± {baseline.std:.1f}"}],
        data=baseline.to_dict(),
    )


def _fidelity_section(fidelity: Any, directory: Path) -> ReportSection:
    section = fidelity.report_section(directory)
    section.scalars = {
        "fidelity/total_error": [(k + 1, float(e)) for k, e in enumerate(fidelity.total_error) if np.isfinite(e)],
        "fidelity/reward_rmse": [(k + 1, float(e)) for k, e in enumerate(fidelity.reward_rmse) if np.isfinite(e)],
        "fidelity/dream_return_mean": [(0, float(np.mean(fidelity.dream_returns)))],
        "fidelity/pybullet_return_mean": [(0, float(np.mean(fidelity.real_returns)))],
    }
    return section


def _audit_section(audit: Any, bounds_sources: dict[str, int], directory: Path) -> ReportSection:
    section = audit.report_section(directory)
    rates = (audit.dream.step_rate["any"], audit.real.step_rate["any"])
    section.text = (
        f"Headline: {_num(rates[0])} of dreamed steps break at least one physical fact, against {_num(rates[1])} of "
        f"PyBullet steps (the control). {section.text} Bounds sources (rows): "
        + ", ".join(f"{name} {rows}" for name, rows in bounds_sources.items())
        + f"; the PyBullet episodes behind the bounds use seeds from seed + {BOUNDS_SEED_OFFSET}, disjoint from the "
        "evaluation's."
    )
    section.data = {**section.data, "bounds_sources": bounds_sources}
    section.scalars = {
        f"audit/{who}_step_rate/{check}": [(0, value)]
        for who, rates_of in (("dream", audit.dream), ("pybullet", audit.real))
        for check, value in rates_of.step_rate.items()
        if value is not None
    }
    return section


def _video_section(video: Any, directory: Path, task: str, seed: int) -> ReportSection:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.0, 3.0), layout="constrained")
    ax = figure.subplots()
    ax.plot(np.arange(len(video.divergence)), video.divergence, color="C3")
    ax.set(xlabel="step", ylabel="RMSE / data std", title=f"{task}: dream divergence from PyBullet (seed {seed})")
    plot = directory / "video_divergence.png"
    figure.savefig(plot, dpi=100)
    ends = f"PyBullet ended at step {video.real_terminated_at}" if video.real_terminated_at else "PyBullet did not end"
    ends += f", the dream at step {video.dream_terminated_at}" if video.dream_terminated_at else ", the dream did not"
    return ReportSection(
        "Side-by-side video",
        f"PyBullet (left) and the dream (right, the robot posed in the dreamed state: {video.dream_frames}) from the "
        f"same start (seed {seed}) under the same actions, chosen by the policy from the PyBullet observation, so the "
        f"dream is open loop; the divergence is plotted below the frames. {video.frames} frames; {ends}.",
        figures=[plot],
        data={"video": _video_record(video)},
        scalars={"video/divergence": [(t, float(d)) for t, d in enumerate(video.divergence)]},
        media=[video.path],
    )


def evaluate_transfer(
    checkpoint: str | Path,
    policy: str | Path | Policy,
    config: TransferConfig | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    task: str | None = None,
    resume: bool = True,
    workers: int | None = None,
) -> TransferReport:
    """Evaluates a dream-trained policy from the dream to PyBullet (and a robot) and writes one report.

    Runs, in order: the ladder with its robustness curve, the random baseline, world-model fidelity on held-out
    PyBullet episodes, the physics audit of dreams (bounds: :func:`fit_audit_bounds`) and the side-by-side
    video. Every part uses ``config.seed``: the ladder's episodes and the fidelity episodes share seeds, so the
    dream-vs-PyBullet returns of the fidelity section are the ladder's episodes seen from the model's side.

    Each stage's result is saved as JSON (``ladder.json``, ``baseline.json``, ``fidelity.json``, ``audit.json``,
    ``video.json``) in ``out/partial`` as soon as the stage finishes, so a crash or a kill in a later stage keeps
    the earlier ones, and the same evaluation run again (same settings, checkpoint and policy file contents:
    ``partial/run.json``) resumes after them, writing the report an uninterrupted run writes. The finished report
    then replaces ``out``, ``partial`` included.

    Args:
        checkpoint: world-model checkpoint directory.
        policy: SB3 policy path (acted deterministically) or a batched callable.
        config: what to run; :class:`TransferConfig` defaults if omitted.
        out: report directory (``report.md``, ``report.html``, ``figures.json``, PNGs, the video, TensorBoard),
            new or an earlier report's, which it replaces. ``None`` writes no report; figures, the video and the
            stages' JSON then go to a fresh temporary directory.
        progress: show progress bars.
        task: the task the caller expects; refused if the checkpoint models another.
        resume: reuse the finished stages an interrupted run of this same evaluation left in ``out/partial``;
            ``False`` runs every stage again. A policy given as a callable never resumes (nothing identifies it).
        workers: play the ladder's PyBullet episodes on this many Ray workers (:func:`run_ladder`); the numbers
            are those of ``None``, all in this process, so a resumed run may use another count.

    Raises:
        CheckpointError: no checkpoint at ``checkpoint``, or it models another task than ``task``.
        InvalidGapError: an unknown gap or robustness preset in ``config``.
        FileExistsError: ``out`` holds something other than a report (see
            :func:`~dreamgym.transfer.report.check_report_directory`).
    """
    from dreamgym.world_model import checkpoint_task

    config = config or TransferConfig()
    spec = checkpoint_task(checkpoint)  # a user's task not registered here is rebuilt from the checkpoint
    if task is not None and get_task(task).name != spec.name:
        raise CheckpointError(
            f"Checkpoint {str(checkpoint)!r} models {spec.name!r}, not {task!r}; pass a {task} checkpoint."
        )
    act, policy_name = _resolve_policy(policy)
    directory, resumed = _work_directory(out, _run_identity(checkpoint, policy, config), resume)
    skipped = skipped_parts(spec, config)
    asked, config = config, replace(config, **dict.fromkeys(skipped, False))  # the report says why the rest did not
    stages = 1 + sum((config.baseline, config.fidelity, config.audit, config.video))  # the ladder, then each part
    bar = tqdm(total=stages, desc=f"{spec.name} transfer", unit="part", disable=not progress)
    run = _Stages(directory, resumed, bar).run

    def ladder() -> LadderResult:
        robustness = GAP_PRESETS[config.robustness] if config.robustness is not None else None
        rungs = config.rungs(checkpoint, spec.simulator or "the simulator")
        return run_ladder(
            act, spec, rungs, config.episodes, config.seed, robustness, config.strengths, progress, workers
        )

    report = TransferReport(
        asked,
        str(checkpoint),
        policy_name,
        run("ladder", ladder, LadderResult.to_dict, lambda data: _stored_ladder(data, config)),
        skipped=skipped,
        simulator=spec.simulator or "no simulator",
    )
    if config.baseline:

        def baseline() -> RungResult:
            rung = PyBulletRung(None, f"random policy in {spec.simulator}", config.max_episode_steps)
            return rung.run(random_policy(spec.action_dim, config.seed), spec, config.episodes, config.seed, False)

        report.baseline = run("baseline", baseline, RungResult.to_dict, RungResult.from_dict)
        report.sections.append(_baseline_section(report.baseline, report.simulator))
    loaded = None

    def model() -> Any:  # loaded on first use: a resumed run with every model stage stored never loads it
        nonlocal loaded
        if loaded is None:
            from dreamgym.transfer.recording import load_for_task

            loaded, _ = load_for_task(checkpoint, spec)
        return loaded

    if config.fidelity:
        from dreamgym.transfer.fidelity import FidelityResult, measure_fidelity

        def fidelity() -> FidelityResult:
            return measure_fidelity(
                model(),
                spec,
                act,
                config.fidelity_episodes,
                config.seed,
                config.fidelity_horizon,
                config.fidelity_context,
                config.fidelity_stride,
                config.max_episode_steps,
            )

        report.fidelity = run("fidelity", fidelity, FidelityResult.to_dict, FidelityResult.from_dict)
        report.sections.append(_fidelity_section(report.fidelity, directory))
    if config.audit:
        from dreamgym.transfer.audit import AuditResult, audit_dreams

        def audit() -> tuple[AuditResult, dict[str, int]]:
            bounds, sources = fit_audit_bounds(model(), spec, act, config)
            horizon = min(config.audit_horizon, config.max_episode_steps or spec.max_episode_steps)
            result = audit_dreams(
                model(), spec, act, config.audit_dreams, horizon, config.seed, bounds, config.audit_real_episodes
            )
            return result, sources

        report.audit, report.bounds_sources = run(
            "audit",
            audit,
            lambda result: {**result[0].to_dict(), "bounds_sources": result[1]},
            lambda data: (AuditResult.from_dict(data), data["bounds_sources"]),
        )
        report.sections.append(_audit_section(report.audit, report.bounds_sources, directory))
    if config.video:
        from dreamgym.transfer.video import SideBySideVideo, side_by_side_video

        def video() -> SideBySideVideo:
            steps = min(config.video_steps, config.max_episode_steps or spec.max_episode_steps)
            path = directory / f"side_by_side.{config.video_format}"
            return side_by_side_video(model(), spec, act, config.seed, path, steps, config.video_fps)

        report.video = run(
            "video",
            video,
            _video_record,
            lambda data: _stored_video(data, directory),
        )
        report.sections.append(_video_section(report.video, directory, spec.name, config.seed))
    if skipped or report.ladder.skipped:
        report.sections.append(_skipped_section({**report.ladder.skipped, **skipped}))
    bar.close()
    if out is not None:
        report.write(out)
    return report
