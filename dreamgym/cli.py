"""Command line: ``dreamgym collect | train | dream | train-online | evaluate | video | export | robot-server |
demo | zoo``.

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

    task: str = _opt("InvertedPendulum", "dreamgym task name, or a user's task as module:ATTRIBUTE")
    steps: int = _opt(50_000, "environment steps to record")
    policy: str = _opt("random", "'random', 'scripted' (manipulation tasks' noisy expert) or an SB3 checkpoint (.zip)")
    out: str = _opt("data/dataset", "output data-set directory")
    seed: int = _opt(0, "random seed")
    gap: str | None = _opt(
        None,
        "collect under a reality gap: mild, moderate, harsh, or random / random:<preset> for a new gap per episode",
    )
    overwrite: bool = _opt(False, "replace an existing data set at --out")
    workers: int = _opt(
        0,
        "Ray workers (RAY_ADDRESS's cluster or a local one); episodes then seed from (seed, index), so any count "
        "gives the same data; 0: one env in this process",
    )
    no_progress: bool = _opt(False, "hide progress bars")


@dataclass
class TrainArgs:
    """Train a world model on one or more data sets."""

    dataset: list[str] = _opt(None, "data-set directories or Minari ids (several are concatenated)", nargs="+")
    out: str = _opt("ckpt", "checkpoint directory (resumes from it if present)")
    task: str | None = _opt(
        None, "task name or module:ATTRIBUTE; if omitted, the data set's (a robot's log without one defines it)"
    )
    preset: str = _opt("small", "world-model size preset: debug, small or default")
    steps: int | None = _opt(None, "gradient updates (preset default if omitted)")
    ensemble: int = _opt(1, "dynamics heads (>= 2 gives disagreement for --uncertainty-penalty and --halt)")
    ensemble_heads: str = _opt("mlp", "dynamics heads: an MLP each (mlp) or output layers of one MLP (linear)")
    decoder: str = _opt("structured", "observation decoder: structured (angles, joint limits, contacts) or plain")
    cnn_depth: int | None = _opt(None, "pixel tasks: channels of the CNN's first stage (preset default if omitted)")
    image_foreground_weight: float = _opt(
        0.0, "pixel tasks: extra image-loss weight on pixels off the static background (small objects)"
    )
    seed: int = _opt(0, "random seed")
    logdir: str | None = _opt(None, "TensorBoard directory (default: <out>/tensorboard)")
    nproc: int = _opt(1, "data-parallel training processes on this machine (DDP; under torchrun, torchrun's count)")
    no_progress: bool = _opt(False, "hide progress bars")


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
    warm_start: str | None = _opt(
        None, "offline warm start (PPO): clone the actor from this data set (directory or Minari id) first"
    )
    clone_updates: int = _opt(10_000, "behaviour-cloning updates of the --warm-start actor")
    critic_warmup: int = _opt(0, "dream steps at the start, counted in --steps, that train the critic alone")
    behaviour_penalty: float = _opt(
        0.0, "with --warm-start: reward penalty per unit of squared distance to the cloned actor's action"
    )
    seed: int = _opt(0, "random seed")
    out: str = _opt("policy.zip", "where to save the SB3 policy")
    logdir: str | None = _opt("runs", "TensorBoard directory")
    no_progress: bool = _opt(False, "hide progress bars")


@dataclass
class TrainOnlineArgs:
    """Train a world model and a behaviour online: act in PyBullet, learn on replay (Dreamer or MBPO-style SAC)."""

    task: str = _opt("Hopper", "dreamgym task name, or a user's task as module:ATTRIBUTE")
    agent: str = _opt("dreamer", "dreamer (latent actor-critic) or mbpo (SAC on rollouts branched off real states)")
    steps: int = _opt(100_000, "real environment steps in all (summed over --num-envs)")
    out: str = _opt("runs/online", "run directory (resumes from it if present); the policy lands in OUT/policy")
    num_envs: int = _opt(4, "PyBullet envs acting together")
    preset: str = _opt("small", "world-model and actor-critic size preset: debug, small or default (the paper's S)")
    train_ratio: float = _opt(512.0, "replayed steps per real step (one update every batch*seq_len/ratio steps)")
    prefill: int = _opt(5000, "real steps of random actions before the first update")
    batch_size: int | None = _opt(None, "sequences per update (preset default if omitted)")
    seq_len: int | None = _opt(None, "steps per sequence (preset default if omitted)")
    ensemble: int = _opt(1, "prior heads of the world model (MBPO samples one per imagined step)")
    actor_gradient: str = _opt("reinforce", "actor gradient: reinforce, or dynamics (backprop through imagination)")
    horizon: int = _opt(15, "imagination horizon of Dreamer's actor-critic")
    termination: str = _opt("task", "Dreamer: imagination ends by the task rule (task), continue head (model), either")
    utd: float = _opt(10.0, "MBPO: SAC gradient steps per real step")
    real_ratio: float = _opt(0.05, "MBPO: share of real transitions in each SAC batch")
    trust_quantile: float | None = _opt(None, "MBPO: stop rollouts where head disagreement passes this quantile")
    sac_gamma: float = _opt(0.99, "MBPO: SAC's discount (rl-zoo3's PyBullet setting: 0.98)")
    sac_tau: float = _opt(0.005, "MBPO: SAC's target-network rate (rl-zoo3: 0.02)")
    sac_lr: float = _opt(3e-4, "MBPO: SAC's learning rate (rl-zoo3: 7.3e-4)")
    sde: bool = _opt(False, "MBPO: SAC explores with gSDE, as rl-zoo3's PyBullet SAC does")
    rollout_schedule: list[int] = _opt(
        (20_000, 100_000, 1, 15),
        "MBPO: START END MIN MAX: rollout length from MIN at START real steps to MAX at END, linearly",
        nargs=4,
    )
    eval_every: int = _opt(10_000, "real steps between PyBullet evaluations (0: only at the end)")
    eval_episodes: int = _opt(5, "episodes per evaluation, on the same seeds every time")
    checkpoint_every: int = _opt(10_000, "real steps between checkpoints (a killed run resumes from the last)")
    seed: int = _opt(0, "random seed")
    logdir: str | None = _opt(None, "TensorBoard directory (default: <out>/tensorboard)")
    no_progress: bool = _opt(False, "hide progress bars")


@dataclass
class EvaluateArgs:
    """Run a policy up the evaluation ladder (dream, PyBullet, reality gaps, robot) next to a random policy."""

    checkpoint: str = _opt("ckpt", "world-model checkpoint directory")
    policy: str = _opt("policy.zip", "SB3 policy (.zip) or Dreamer policy directory (train-online's OUT/policy)")
    episodes: int = _opt(20, "episodes per setting")
    seed: int = _opt(0, "seed of the first episode (episode i uses seed + i)")
    task: str | None = _opt(
        None, "task name or module:ATTRIBUTE; read from the checkpoint if omitted, and must match it"
    )
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
    robot_token_file: str | None = _opt(None, "file holding the robot's token (default: $DREAMGYM_ROBOT_TOKEN)")
    out: str | None = _opt(
        None,
        "report directory: report.md, report.html, figures.json, PNGs, the video, TensorBoard; new, empty or an "
        "earlier report, which it replaces whole (figures and the video go to a temporary directory if omitted)",
    )
    max_episode_steps: int | None = _opt(None, "shorter episode limit on every rung, for quick runs")
    workers: int = _opt(0, "Ray workers playing the PyBullet rungs' episodes (same numbers); 0: in this process")
    no_fidelity: bool = _opt(False, "skip world-model fidelity (open-loop error vs horizon, dream vs PyBullet return)")
    fidelity_episodes: int = _opt(5, "held-out PyBullet episodes the fidelity is measured on")
    fidelity_horizon: int = _opt(50, "open-loop steps of the fidelity measurement")
    no_audit: bool = _opt(False, "skip the physics-consistency audit of dreams")
    audit_dreams: int = _opt(64, "dreams the physics audit checks")
    audit_horizon: int = _opt(200, "steps per audited dream (and per PyBullet control episode)")
    no_video: bool = _opt(False, "skip the side-by-side video of PyBullet and the dream")
    video_steps: int = _opt(200, "most steps in the side-by-side video")
    video_format: str = _opt("webm", "video container: webm (plays in the HTML report), mp4 or gif")
    fresh: bool = _opt(
        False, "run every stage again; by default a killed run of the same evaluation resumes from OUT/partial"
    )
    no_progress: bool = _opt(False, "hide progress bars")


@dataclass
class VideoArgs:
    """Video of PyBullet next to the dream from the same start and actions (a camera model: and their difference)."""

    checkpoint: str = _opt("ckpt", "world-model checkpoint directory")
    policy: str = _opt("random", "'random', 'scripted' (manipulation tasks), an SB3 .zip or a policy directory")
    out: str = _opt("video.mp4", "output video: .mp4, .webm or .gif")
    steps: int = _opt(50, "most steps")
    seed: int = _opt(0, "reset seed of PyBullet and seed of the dream noise")
    fps: int = _opt(10, "frames per second")


@dataclass
class ExportArgs:
    """Write an inference-only copy of a world model (no optimiser state), e.g. to ship or bundle it."""

    checkpoint: str = _opt("ckpt", "world-model checkpoint directory")
    out: str = _opt("ckpt_export", "directory of the exported checkpoint")
    calibrate: list[str] | None = _opt(
        None,
        "data sets to (re)calibrate an ensemble's disagreement on, for HALT (default: keep the stored one)",
        nargs="+",
        required=False,
    )
    seed: int = _opt(0, "seed of the calibration's posterior samples")
    start_windows: int | None = _opt(None, "keep only this many of the stored dream start windows (default: all)")
    weights_dtype: str = _opt(
        "float32",
        "float16 stores the weights in half the bytes, checked against the float32 model (see docs/zoo.md)",
        choices=("float32", "float16"),
    )


@dataclass
class RobotServerArgs:
    """Serve a task's simulator as a loopback robot behind the robot bridge (token from --token-file or the env)."""

    task: str = _opt("InvertedPendulum", "dreamgym task name or module:ATTRIBUTE (a vector task with a simulator)")
    host: str = _opt("127.0.0.1", "interface to listen on (0.0.0.0: every interface)")
    port: int = _opt(5555, "TCP port (0: any free port)")
    token_file: str | None = _opt(None, "file holding the shared token (default: $DREAMGYM_ROBOT_TOKEN)")
    period: float | None = _opt(None, "control period in seconds (default: the simulator's step, real time)")
    latency: float = _opt(0.0, "emulated one-way latency of commands and observations, seconds")
    jitter: float = _opt(0.0, "emulated latency varies within latency +- jitter, seconds")
    loss: float = _opt(0.0, "emulated probability that a command or an observation is lost")
    gap: str = _opt("nominal", "reality gap of the simulated robot: mild, moderate, harsh, random[:<preset>]")
    seed: int = _opt(0, "seed of the gap's noise and the emulated network")


@dataclass
class DemoArgs:
    """The whole path on the bundled defaults: collect, world model, agent in dreams, PyBullet evaluation."""

    task: str = _opt("InvertedPendulum", "dreamgym task name, or a user's task as module:ATTRIBUTE")
    out: str = _opt("demo_out", "output directory")
    seed: int = _opt(0, "random seed")
    rounds: int = _opt(5, "Dyna rounds (the run stops early once PyBullet reaches the target)")
    initial_steps: int = _opt(5000, "random real steps before the first round")
    steps_per_round: int = _opt(15000, "real steps collected with the agent after each round")
    preset: str = _opt("small", "world-model size preset")
    ensemble: int = _opt(5, "dynamics heads of the world model (>= 2 enables --uncertainty-penalty)")
    ensemble_heads: str = _opt("mlp", "dynamics heads: an MLP each (mlp) or output layers of one MLP (linear)")
    uncertainty_penalty: float = _opt(1.0, "MOPO-style dream reward penalty per unit of ensemble disagreement")
    wm_updates_first: int = _opt(1000, "world-model updates in the first round")
    wm_updates_per_round: int = _opt(500, "further world-model updates per round")
    agent_steps: int = _opt(1_000_000, "dream transitions of the last round's agent")
    early_agent_steps: int = _opt(800_000, "dream transitions of earlier rounds' agents (they only collect data)")
    num_envs: int = _opt(256, "dreams stepped together while the agent trains")
    eval_episodes: int = _opt(20, "evaluation episodes, in the dream and in PyBullet")
    target_return: float | None = _opt(
        None, "stop once the PyBullet return reaches this (default: the task's success return)"
    )
    mirror: bool = _opt(False, "add the task's mirror image of real episodes to the world-model data")
    continue_agent: bool = _opt(False, "continue last round's agent instead of training a fresh one")
    raw_rewards: bool = _opt(False, "train agents on raw dream rewards, without SB3's reward normalisation")
    no_progress: bool = _opt(False, "hide progress bars")


@dataclass
class ZooArgs:
    """Bundled world models and reference policies: list them, show a model card, or measure a card again."""

    action: str = _opt("list", "list, info or eval", positional=True, nargs="?", choices=("list", "info", "eval"))
    task: str | None = _opt(None, "the task of info and eval", positional=True, nargs="?")
    quick: bool = _opt(False, "eval: only the open-loop error on the shipped evaluation set (seconds, not minutes)")
    no_progress: bool = _opt(False, "hide progress bars")


COMMANDS: dict[str, type] = {
    "collect": CollectArgs,
    "train": TrainArgs,
    "dream": DreamArgs,
    "train-online": TrainOnlineArgs,
    "evaluate": EvaluateArgs,
    "video": VideoArgs,
    "export": ExportArgs,
    "robot-server": RobotServerArgs,
    "demo": DemoArgs,
    "zoo": ZooArgs,
}


def _add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        extra = {k: v for k, v in f.metadata.items() if k not in ("help", "positional")}
        if f.metadata.get("positional"):
            flag = f.name
        else:
            flag = "--" + f.name.replace("_", "-")
            # A list option without a default is required unless its field says otherwise.
            extra.setdefault("required", f.default is None and "nargs" in extra)
        if kind is bool:
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
            continue
        base = next((t for t in getattr(kind, "__args__", (kind,)) if t is not type(None)), str)
        if getattr(base, "__origin__", None) is list:
            base = base.__args__[0]
        help_text = f.metadata["help"]
        # "(default: None)" says nothing: such a help text says what omitting the option means, as one that names
        # its own default (an env variable, the simulator's step) does.
        if f.default is not None and "(default" not in help_text:
            help_text = f"{help_text} (default: {f.default})"
        parser.add_argument(flag, type=base, default=f.default, help=help_text, **extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dreamgym", description="Train robots in dreams of learned world models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, cls in COMMANDS.items():
        _add_dataclass_arguments(sub.add_parser(name, help=cls.__doc__, description=cls.__doc__), cls)
    return parser


def _collect(args: CollectArgs) -> None:
    from dreamgym.data import collect

    policy = None if args.policy == "random" else args.policy
    gap_kwargs = {}
    if args.gap is not None:
        from dreamgym.transfer.gaps import parse_gap, wrap_gap

        gap = parse_gap(args.gap)
        gap_kwargs = {"gap": gap.to_dict(), "wrap_env": lambda env: wrap_gap(env, gap, seed=args.seed)}
    if args.workers:
        from dreamgym.data.parallel_collect import collect_episodes as collect

        gap_kwargs["workers"] = args.workers
    path = collect(
        args.task,
        args.steps,
        args.out,
        policy=policy,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        **gap_kwargs,
    )
    under = f" under the {args.gap} gap" if args.gap is not None else ""
    print(f"wrote {args.steps} steps of {args.task}{under} to {path}")


def _as_argv(command: str, args: Any) -> list[str]:
    """The command line that parses back into ``args``: how ``--nproc`` hands a command to its processes."""
    argv = [command]
    for f in dataclasses.fields(args):
        value, flag = getattr(args, f.name), "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def _train(args: TrainArgs) -> None:
    from dreamgym.world_model import distributed

    if args.nproc > 1 and not distributed.under_torchrun():
        distributed.launch_local(args.nproc, "dreamgym.cli", _as_argv("train", args))
        return
    run = distributed.init_from_environment()
    try:
        _train_here(args, run is None or run.is_main)
    finally:
        distributed.shutdown()


def _train_here(args: TrainArgs, main: bool) -> None:
    from dreamgym.data import SequenceData, load_episodes, task_from_dataset
    from dreamgym.tasks import ensure_registered, get_task
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    # The task the data set names, or, for a robot's log that names none, the task its spaces define.
    spec = get_task(args.task) if args.task else ensure_registered(task_from_dataset(args.dataset[0]))
    data = SequenceData.concatenate([load_episodes(path, spec) for path in args.dataset])
    overrides = {
        "seed": args.seed,
        "ensemble": args.ensemble,
        "ensemble_heads": args.ensemble_heads,
        "decoder": args.decoder,
        "image_foreground_weight": args.image_foreground_weight,
    }
    overrides |= {k: v for k, v in (("steps", args.steps), ("cnn_depth", args.cnn_depth)) if v is not None}
    model_cfg, train_cfg = make_config(args.preset, spec.obs_shape[0], spec.action_dim, **overrides)
    result = train_world_model(
        data, args.out, spec, model_cfg, train_cfg, logdir=args.logdir, progress=not args.no_progress
    )
    if not main:
        return
    print(f"trained {result.step} updates in {result.seconds:.0f}s; checkpoint in {result.path}")
    print("final losses: " + ", ".join(f"{k}={v:.3f}" for k, v in result.metrics.items()))


def _dream(args: DreamArgs) -> None:
    from agents import CloningConfig, DreamAgentConfig, train_in_dream
    from dreamgym.data import load_episodes
    from dreamgym.tasks import get_task
    from dreamgym.world_model import checkpoint_task

    task = checkpoint_task(args.checkpoint).name  # a user's task, unknown to this process, is rebuilt from it
    demonstrations = load_episodes(args.warm_start, get_task(task)) if args.warm_start else None
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
        cloning=CloningConfig(updates=args.clone_updates, seed=args.seed) if args.warm_start else None,
        critic_warmup_steps=args.critic_warmup,
        behaviour_penalty=args.behaviour_penalty,
        seed=args.seed,
    )
    model = train_in_dream(
        args.checkpoint, task, config, demonstrations=demonstrations, logdir=args.logdir, progress=not args.no_progress
    )
    model.save(args.out)
    print(f"saved {args.algo.upper()} policy trained on {args.steps} dream steps to {args.out}")


def _train_online(args: TrainOnlineArgs) -> None:
    from agents.mbpo import MBPOConfig
    from agents.online import OnlineConfig, train_online
    from dreamgym.tasks import get_task

    given = dataclasses.asdict(args)
    mbpo = MBPOConfig(
        utd=args.utd,
        real_ratio=args.real_ratio,
        rollout_schedule=tuple(args.rollout_schedule),
        trust_quantile=args.trust_quantile,
        gamma=args.sac_gamma,
        tau=args.sac_tau,
        learning_rate=args.sac_lr,
        use_sde=args.sde,
    )
    fields = {f.name for f in dataclasses.fields(OnlineConfig)} - {"mbpo"}
    config = OnlineConfig(**{k: v for k, v in given.items() if k in fields}, mbpo=mbpo)
    result = train_online(config, args.out, logdir=args.logdir, progress=not args.no_progress)
    last = result.evaluations[-1]
    stages = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in result.seconds.items())
    print(
        f"{config.task}: {get_task(config.task).simulator} return {last['mean']:.1f} ± {last['std']:.1f} after "
        f"{result.steps} real steps and "
        f"{result.updates} updates ({stages}); policy in {result.policy_path}"
    )


def _transfer_config(args: EvaluateArgs, cls: type) -> Any:
    """The evaluation's settings from the command line (``cls`` is TransferConfig, imported lazily)."""
    return cls(
        episodes=args.episodes,
        seed=args.seed,
        gaps=() if list(args.gaps) == ["none"] else tuple(args.gaps),
        robustness=None if args.robustness == "none" else args.robustness,
        strengths=tuple(args.strengths),
        robot=args.robot,
        robot_token_file=args.robot_token_file,
        max_episode_steps=args.max_episode_steps,
        fidelity=not args.no_fidelity,
        fidelity_episodes=args.fidelity_episodes,
        fidelity_horizon=args.fidelity_horizon,
        audit=not args.no_audit,
        audit_dreams=args.audit_dreams,
        audit_horizon=args.audit_horizon,
        video=not args.no_video,
        video_steps=args.video_steps,
        video_format=args.video_format,
    )


def _evaluate(args: EvaluateArgs) -> None:
    from dreamgym.transfer.evaluate import TransferConfig, evaluate_transfer

    config = _transfer_config(args, TransferConfig)
    report = evaluate_transfer(
        args.checkpoint,
        args.policy,
        config,
        args.out,
        not args.no_progress,
        args.task,
        resume=not args.fresh,
        workers=args.workers or None,
    )
    result = report.ladder
    print(f"{result.task}, {args.episodes} episodes, seeds {args.seed}..{args.seed + args.episodes - 1}")
    print(result.table(baselines=[report.baseline] if report.baseline else []))
    if result.robustness is not None:
        curve = result.robustness
        points = ", ".join(f"{s:g}: {m:.1f}" for s, m in zip(curve.strengths, curve.means, strict=True))
        print(f"robustness (return at strength x {args.robustness}): {points}")
    for line in report.summary_lines():
        print(line)
    if report.files is not None:
        files = report.files
        print(f"report in {files.html} (Markdown {files.markdown.name}, figures, TensorBoard in {files.tensorboard})")


def _video(args: VideoArgs) -> None:
    from dreamgym.transfer.video import write_video

    video = write_video(args.checkpoint, args.policy, args.out, args.steps, args.seed, args.fps)
    print(f"wrote {video.frames} frames of {video.size[1]}x{video.size[0]} to {video.path}")
    for side, events in (video.events or {}).items():
        print(f"{side} frames: " + ", ".join(f"{name} {len(steps)}" for name, steps in events.items()))


def _export(args: ExportArgs) -> None:
    from dreamgym.world_model import export_checkpoint, read_config

    config = read_config(args.checkpoint)
    ensemble = config["model"]["ensemble"]
    if args.calibrate and ensemble < 2:
        raise ValueError(
            f"--calibrate needs an ensemble world model (ensemble >= 2); {args.checkpoint!r} has {ensemble}."
        )
    data = None
    if args.calibrate:  # read (and check) the data first: a bad path must not leave an uncalibrated export
        from dreamgym.data import SequenceData, load_episodes
        from dreamgym.world_model import checkpoint_task

        spec = checkpoint_task(config)  # an export keeps its source's task
        data = SequenceData.concatenate([load_episodes(p, spec) for p in args.calibrate])
    path = export_checkpoint(args.checkpoint, args.out, args.start_windows, args.weights_dtype)
    if data is not None:
        from dreamgym.world_model.uncertainty import calibrate_checkpoint

        calibration = calibrate_checkpoint(path, data, seed=args.seed)
        p99, top = calibration["p99"], calibration["max"]
        print(f"disagreement calibration on {len(data)} rows: p99 {p99:.4f} nats, max {top:.4f} nats")
    print(f"exported {args.checkpoint} to {path} (weights, start windows, config; no trainer state)")
    check = read_config(path).get("float16_check")
    if check is not None:
        half, noise = check["float16_vs_float32"], check["float32_sampling_noise"]
        print(
            f"float16 weights move the decoded observations by {half['mean']:.3g} on average (at most "
            f"{half['max']:.3g}); the float32 model's own sampling moves them by {noise['mean']:.3g}"
        )


def _robot_server(args: RobotServerArgs) -> None:
    from dreamgym.robots.emulation import NetworkConditions
    from dreamgym.robots.loopback import serve_loopback

    network = NetworkConditions(args.latency, args.jitter, args.loss)
    gap = None if args.gap == "nominal" else args.gap
    serve_loopback(
        args.task,
        args.token_file,
        period=args.period,
        gap=gap,
        network=network,
        host=args.host,
        port=args.port,
        seed=args.seed,
    )


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
        ensemble_heads=args.ensemble_heads,
        early_agent_steps=args.early_agent_steps,
        agent=DreamAgentConfig(
            steps=args.agent_steps,
            num_envs=args.num_envs,
            uncertainty_penalty=args.uncertainty_penalty,
            normalize_reward=not args.raw_rewards,
        ),
        target_return=args.target_return if args.target_return is not None else get_task(args.task).success_return,
        mirror=args.mirror,
        fresh_agent=not args.continue_agent,
        progress=not args.no_progress,
    )
    rows = run_dyna(config)
    best = max(rows, key=lambda r: r.pybullet_return)
    print(
        f"best {get_task(args.task).simulator} return {best.pybullet_return:.1f} ± {best.pybullet_std:.1f} "
        f"(round {best.round}); "
        f"results in {Path(args.out) / 'results.json'}, TensorBoard logs in {Path(args.out) / 'tensorboard'}"
    )


def _zoo(args: ZooArgs) -> None:
    from dreamgym.zoo.commands import zoo_eval, zoo_info, zoo_list

    if args.action != "list" and args.task is None:
        raise ValueError(f"`dreamgym zoo {args.action}` needs a task, e.g. `dreamgym zoo {args.action} Hopper`.")
    if args.action == "list":
        print(zoo_list())
    elif args.action == "info":
        print(zoo_info(args.task))
    else:
        print(zoo_eval(args.task, quick=args.quick, progress=not args.no_progress))


HANDLERS = {
    "collect": _collect,
    "train": _train,
    "dream": _dream,
    "train-online": _train_online,
    "evaluate": _evaluate,
    "video": _video,
    "export": _export,
    "robot-server": _robot_server,
    "demo": _demo,
    "zoo": _zoo,
}


def main(argv: list[str] | None = None) -> int:
    from dreamgym.errors import DreamGymError

    namespace = build_parser().parse_args(argv)
    cls = COMMANDS[namespace.command]
    args = cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls)})
    try:
        if getattr(args, "task", None) is not None:
            from dreamgym.tasks import get_task

            # Every --task takes a built-in name, a registered one or a user's module:ATTRIBUTE (imported and
            # registered here), so the commands below see a registered task name whatever the user typed.
            args.task = get_task(args.task).name
        HANDLERS[namespace.command](args)
    except (DreamGymError, ValueError) as err:
        # Library code raises these for bad input (a missing file, a non-positive count, HALT on a single
        # model) with a message naming what was expected: a usage error, reported like argparse's.
        print(f"dreamgym {namespace.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
