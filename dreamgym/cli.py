"""Command line: ``dreamgym collect | train | dream | evaluate | demo``.

Each command's options come from a dataclass whose fields are documented once, in the ``help`` metadata,
as CleanRL does; nothing imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

__all__ = ["main"]


def _opt(default: Any, help: str, **kwargs: Any) -> Any:
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass
class CollectArgs:
    """Record real experience as a Minari data set."""

    task: str = _opt("InvertedPendulum", "dreamgym task name")
    steps: int = _opt(50_000, "environment steps to record")
    policy: str = _opt("random", "'random' or the path of an SB3 checkpoint (.zip)")
    out: str = _opt("data/dataset", "output data-set directory")
    seed: int = _opt(0, "random seed")
    overwrite: bool = _opt(False, "replace an existing data set at --out")


@dataclass
class TrainArgs:
    """Train a world model on one or more data sets."""

    dataset: list[str] = _opt(None, "data-set directories or Minari ids (several are concatenated)", nargs="+")
    out: str = _opt("ckpt", "checkpoint directory (resumes from it if present)")
    task: str | None = _opt(None, "task name; read from the data set's metadata if omitted")
    preset: str = _opt("small", "world-model size preset: debug, small or default")
    steps: int | None = _opt(None, "gradient updates (preset default if omitted)")
    ensemble: int = _opt(1, "dynamics heads (>= 2 gives disagreement for --uncertainty-penalty and --halt)")
    seed: int = _opt(0, "random seed")
    logdir: str | None = _opt(None, "TensorBoard directory (default: <out>/tensorboard)")


@dataclass
class DreamArgs:
    """Train an SB3 agent inside dreams of a world model."""

    checkpoint: str = _opt("ckpt", "world-model checkpoint directory")
    algo: str = _opt("ppo", "ppo or sac")
    steps: int = _opt(1_000_000, "dream transitions to train on")
    num_envs: int = _opt(256, "dreams stepped together")
    horizon: int | None = _opt(None, "dream length (task default if omitted)")
    uncertainty_penalty: float = _opt(0.0, "MOPO-style reward penalty per unit of ensemble disagreement")
    halt: str | None = _opt(
        None, "MOReL-style HALT threshold: nats of disagreement, or a data-set statistic p50, p90, p99 or max"
    )
    halt_scale: float = _opt(1.0, "multiplies a named --halt threshold")
    halt_penalty: float = _opt(100.0, "penalty of the step where HALT ends a dream")
    seed: int = _opt(0, "random seed")
    out: str = _opt("policy.zip", "where to save the SB3 policy")
    logdir: str | None = _opt("runs", "TensorBoard directory")


@dataclass
class EvaluateArgs:
    """Run a policy up the evaluation ladder (dream, PyBullet, reality gaps, robot) next to a random policy."""

    checkpoint: str = _opt("ckpt", "world-model checkpoint directory")
    policy: str = _opt("policy.zip", "SB3 policy to evaluate")
    episodes: int = _opt(20, "episodes per setting")
    seed: int = _opt(0, "seed of the first episode (episode i uses seed + i)")
    task: str | None = _opt(None, "task name; read from the checkpoint if omitted, and must match it")
    gaps: list[str] = _opt(  # tuple defaults: a dataclass field may not default to a (mutable) list
        ("mild", "moderate", "harsh"),
        "reality-gap rungs: mild, moderate, harsh, random, random:<preset>; 'none' for no gap rung",
        nargs="+",
    )
    robustness: str = _opt("harsh", "gap preset whose strength the robustness curve sweeps; 'none' to skip")
    strengths: list[float] = _opt((0.0, 0.25, 0.5, 0.75, 1.0), "robustness-curve strengths (x preset)", nargs="+")
    robot: str | None = _opt(
        None, "robot server address (tcp://host:port), or 'loopback' for PyBullet behind the robot interface"
    )
    out: str | None = _opt(None, "report directory: report.md, report.html, figures.json, PNGs, TensorBoard")
    max_episode_steps: int | None = _opt(None, "shorter episode limit on every rung, for quick runs")
    no_progress: bool = _opt(False, "hide progress bars")


@dataclass
class DemoArgs:
    """The whole path on the bundled defaults: collect, world model, agent in dreams, PyBullet evaluation."""

    task: str = _opt("InvertedPendulum", "dreamgym task name")
    out: str = _opt("demo_out", "output directory")
    seed: int = _opt(0, "random seed")
    rounds: int = _opt(3, "Dyna rounds")
    initial_steps: int = _opt(5000, "random real steps before the first round")
    steps_per_round: int = _opt(5000, "real steps collected with the agent after each round")
    preset: str = _opt("small", "world-model size preset")
    ensemble: int = _opt(5, "dynamics heads of the world model (>= 2 enables --uncertainty-penalty)")
    uncertainty_penalty: float = _opt(1.0, "MOPO-style dream reward penalty per unit of ensemble disagreement")
    wm_updates_first: int = _opt(1500, "world-model updates in the first round")
    wm_updates_per_round: int = _opt(500, "further world-model updates per round")
    agent_steps: int = _opt(2_500_000, "dream transitions per round")
    num_envs: int = _opt(256, "dreams stepped together while the agent trains")
    eval_episodes: int = _opt(20, "evaluation episodes, in the dream and in PyBullet")
    target_return: float | None = _opt(
        None, "stop once the PyBullet return reaches this (default: the task's success return)"
    )
    mirror: bool = _opt(False, "add the task's mirror image of real episodes to the world-model data")
    continue_agent: bool = _opt(False, "continue last round's agent instead of training a fresh one")
    no_progress: bool = _opt(False, "hide progress bars")


COMMANDS: dict[str, type] = {
    "collect": CollectArgs,
    "train": TrainArgs,
    "dream": DreamArgs,
    "evaluate": EvaluateArgs,
    "demo": DemoArgs,
}


def _add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        extra = {k: v for k, v in f.metadata.items() if k != "help"}
        if kind is bool:
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
            continue
        base = next((t for t in getattr(kind, "__args__", (kind,)) if t is not type(None)), str)
        if getattr(base, "__origin__", None) is list:
            base = base.__args__[0]
        parser.add_argument(
            flag,
            type=base,
            default=f.default,
            required=f.default is None and "nargs" in extra,
            help=f"{f.metadata['help']} (default: {f.default})",
            **extra,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dreamgym", description="Train robots in dreams of learned world models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, cls in COMMANDS.items():
        _add_dataclass_arguments(sub.add_parser(name, help=cls.__doc__, description=cls.__doc__), cls)
    return parser


def _collect(args: CollectArgs) -> None:
    from dreamgym.data import collect

    policy = None if args.policy == "random" else args.policy
    path = collect(args.task, args.steps, args.out, policy=policy, seed=args.seed, overwrite=args.overwrite)
    print(f"wrote {args.steps} steps of {args.task} to {path}")


def _train(args: TrainArgs) -> None:
    from dreamgym.data import SequenceData, load_episodes
    from dreamgym.tasks import get_task
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    parts = [load_episodes(path) for path in args.dataset]
    task_name = args.task or parts[0].metadata.get("task")
    if task_name is None:
        raise SystemExit("The data set does not name its task; pass --task.")
    spec = get_task(task_name)
    data = SequenceData.concatenate([load_episodes(path, spec) for path in args.dataset])
    overrides = {"seed": args.seed, "ensemble": args.ensemble} | ({"steps": args.steps} if args.steps else {})
    model_cfg, train_cfg = make_config(args.preset, spec.obs_shape[0], spec.action_dim, **overrides)
    result = train_world_model(data, args.out, spec, model_cfg, train_cfg, logdir=args.logdir)
    print(f"trained {result.step} updates in {result.seconds:.0f}s; checkpoint in {result.path}")
    print("final losses: " + ", ".join(f"{k}={v:.3f}" for k, v in result.metrics.items()))


def _dream(args: DreamArgs) -> None:
    from agents import DreamAgentConfig, train_in_dream
    from dreamgym.world_model import read_config

    task = read_config(args.checkpoint)["task"]
    halt: float | str | None = args.halt
    with contextlib.suppress(ValueError):  # not a number: a calibration statistic's name, checked by the env
        halt = float(args.halt) if args.halt is not None else None
    config = DreamAgentConfig(
        algo=args.algo,
        steps=args.steps,
        num_envs=args.num_envs,
        horizon=args.horizon,
        uncertainty_penalty=args.uncertainty_penalty,
        halt_threshold=halt,
        halt_scale=args.halt_scale,
        halt_penalty=args.halt_penalty,
        seed=args.seed,
    )
    try:
        model = train_in_dream(args.checkpoint, task, config, logdir=args.logdir)
    except ValueError as err:  # settings the checkpoint cannot support (HALT without an ensemble, say)
        raise SystemExit(f"dreamgym dream: error: {err}") from err
    model.save(args.out)
    print(f"saved {args.algo.upper()} policy trained on {args.steps} dream steps to {args.out}")


def _evaluate(args: EvaluateArgs) -> None:
    from agents import random_policy, sb3_policy
    from dreamgym.errors import CheckpointError, InvalidGapError
    from dreamgym.tasks import get_task
    from dreamgym.transfer.gaps import GAP_PRESETS, parse_gap
    from dreamgym.transfer.ladder import DreamRung, PyBulletRung, RobotRung, run_ladder
    from dreamgym.transfer.report import ReportSection, write_report
    from dreamgym.world_model import read_config

    trained_on = read_config(args.checkpoint)["task"]
    if args.task is not None and get_task(args.task).name != trained_on:
        raise CheckpointError(
            f"Checkpoint {args.checkpoint!r} models {trained_on!r}, not {args.task!r}; pass a {args.task} checkpoint."
        )
    spec = get_task(trained_on)
    robustness_gap = None if args.robustness == "none" else parse_gap(args.robustness)
    if robustness_gap is not None and robustness_gap not in GAP_PRESETS.values():
        raise InvalidGapError(f"--robustness must be one of {[*GAP_PRESETS, 'none']}, got {args.robustness!r}.")
    gaps = [] if list(args.gaps) == ["none"] else [(name, parse_gap(name)) for name in args.gaps]
    steps, progress = args.max_episode_steps, not args.no_progress
    rungs = [
        DreamRung(args.checkpoint, horizon=steps, name="dream-trained policy in the dream"),
        PyBulletRung(None, "dream-trained policy in PyBullet", steps),
        *(PyBulletRung(gap, f"PyBullet + {name} gap", steps) for name, gap in gaps),
        RobotRung(args.robot, max_episode_steps=steps),
    ]
    policy = sb3_policy(args.policy, deterministic=True)
    baseline = PyBulletRung(None, "random policy in PyBullet", steps).run(
        random_policy(spec.action_dim, args.seed), spec, args.episodes, args.seed, False
    )
    result = run_ladder(
        policy, spec, rungs, args.episodes, args.seed, robustness_gap, tuple(args.strengths), progress=progress
    )
    print(f"{spec.name}, {args.episodes} episodes, seeds {args.seed}..{args.seed + args.episodes - 1}")
    print(result.table(baselines=[baseline]))
    if result.robustness is not None:
        curve = result.robustness
        points = ", ".join(f"{s:g}: {m:.1f}" for s, m in zip(curve.strengths, curve.means, strict=True))
        print(f"robustness (return at strength x {args.robustness}): {points}")
    if args.out is not None:
        section = ReportSection(
            "Random-policy baseline",
            "A uniform random policy on nominal PyBullet, same seeds: the floor the ladder's returns compare to.",
            [{"policy": "random", "return (mean ± std)": f"{baseline.mean:.1f} ± {baseline.std:.1f}"}],
            data=baseline.to_dict(),
        )
        files = write_report(args.out, result, sections=[section])
        print(f"report in {files.html} (Markdown {files.markdown.name}, figures, TensorBoard in {files.tensorboard})")


def _demo(args: DemoArgs) -> None:
    from agents.dyna import DynaConfig, run_dyna
    from agents.sb3_dream import DreamAgentConfig
    from dreamgym.tasks import get_task

    config = DynaConfig(
        task=args.task,
        out=args.out,
        seed=args.seed,
        rounds=args.rounds,
        initial_steps=args.initial_steps,
        steps_per_round=args.steps_per_round,
        preset=args.preset,
        wm_updates_first=args.wm_updates_first,
        wm_updates_per_round=args.wm_updates_per_round,
        eval_episodes=args.eval_episodes,
        ensemble=args.ensemble,
        agent=DreamAgentConfig(
            steps=args.agent_steps, num_envs=args.num_envs, uncertainty_penalty=args.uncertainty_penalty
        ),
        target_return=args.target_return if args.target_return is not None else get_task(args.task).success_return,
        mirror=args.mirror,
        fresh_agent=not args.continue_agent,
        progress=not args.no_progress,
    )
    rows = run_dyna(config)
    best = max(rows, key=lambda r: r.pybullet_return)
    print(
        f"best PyBullet return {best.pybullet_return:.1f} ± {best.pybullet_std:.1f} (round {best.round}); "
        f"results in {Path(args.out) / 'results.json'}, TensorBoard logs in {Path(args.out) / 'tensorboard'}"
    )


HANDLERS = {"collect": _collect, "train": _train, "dream": _dream, "evaluate": _evaluate, "demo": _demo}


def main(argv: list[str] | None = None) -> int:
    from dreamgym.errors import DreamGymError

    namespace = build_parser().parse_args(argv)
    cls = COMMANDS[namespace.command]
    args = cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls)})
    try:
        HANDLERS[namespace.command](args)
    except DreamGymError as err:
        print(f"dreamgym {namespace.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
