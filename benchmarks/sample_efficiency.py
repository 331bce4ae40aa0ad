"""Sample efficiency: PyBullet return after 25k, 50k and 100k real steps, for the online Dreamer agent, MBPO-style
SAC on the same world model, SB3 SAC trained directly in PyBullet, and the Dyna PPO path (``dreamgym demo``), on the
same tasks and seeds.

Usage::

    python benchmarks/sample_efficiency.py --tasks InvertedPendulum Hopper HalfCheetah Walker2D \\
        --methods dreamer mbpo sac dyna --seeds 0 1 2 --milestones 25000 50000 100000

Hours, not minutes, and never in the test suite. Every run lives in ``--out`` (``runs/sample_efficiency``) and
resumes: Dreamer and MBPO from their own checkpoints, SAC from the model and replay buffer saved at each milestone, Dyna
from its rounds. Finished results go to ``benchmarks/results/<name>.json`` as they land, and the table to
``<name>.md``; ``--table-only`` rewrites the table from the JSON.

``--workers N`` runs the (task, method, seed) runs side by side on N Ray workers (a local cluster, or the one in
``RAY_ADDRESS``; see ``docs/scaling.md``), each with ``--threads`` torch threads; the results are those of the serial
loop, since every run depends on its own seed alone.

Every Dreamer, MBPO and SAC policy is scored on the same ``--eval-episodes`` PyBullet episodes (seeds 1,000,000 on)
with deterministic actions. Dyna's rounds end at fixed real-step counts (5k random, then 15k per round) and
score on their own evaluation seeds; a milestone shows the last round at or before it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
EVAL_SEED = 1_000_000

# rl-zoo3's tuned SAC hyperparameters for the PyBullet locomotion envs (hyperparams/sac.yml, *BulletEnv-v0).
SAC_ZOO = dict(
    learning_rate=7.3e-4,
    buffer_size=300_000,
    batch_size=256,
    ent_coef="auto",
    gamma=0.98,
    tau=0.02,
    train_freq=8,
    gradient_steps=8,
    learning_starts=10_000,
    use_sde=True,
    policy_kwargs=dict(log_std_init=-3, net_arch=[400, 300]),
)


def _store(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"runs": {}}


def _save_run(path: Path, key: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Adds one finished run to the results file as it is now, so several benchmark processes can fill one
    file (each writes only its own runs); returns the updated store."""
    from dreamgym.atomic import write_json_atomic

    store = _store(path)
    store["runs"][key] = entry
    write_json_atomic(path, store)
    return store


def _setting(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--mbpo-set``, the value read as JSON (``use_sde=true``, ``net_arch=[400,300]``)."""
    key, sep, value = item.partition("=")
    if not sep:
        raise SystemExit(f"Expected --mbpo-set items as KEY=VALUE, got {item!r}.")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        raise SystemExit(f"Expected a JSON value in --mbpo-set {item!r} (true, 0.98, [400,300]).") from None


def _online_settings(agent: str, args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~agents.online.OnlineConfig` fields the command line sets for ``agent``."""
    from agents.mbpo import MBPOConfig

    if agent == "dreamer":
        return dict(
            num_envs=args.num_envs,
            preset=args.dreamer_preset,
            train_ratio=args.train_ratio,
            prefill=args.prefill,
            actor_gradient=args.actor_gradient,
        )
    mbpo = MBPOConfig(
        utd=args.mbpo_utd,
        rollout_schedule=tuple(args.mbpo_rollout_schedule),
        trust_quantile=args.mbpo_trust_quantile,
        **dict(_setting(item) for item in args.mbpo_set),
    )
    return dict(
        num_envs=args.mbpo_num_envs,
        ensemble=args.mbpo_ensemble,
        preset=args.mbpo_preset,
        train_ratio=args.mbpo_train_ratio,
        prefill=args.prefill,
        mbpo=mbpo,
    )


def _run_online(
    agent: str, task: str, seed: int, milestones: list[int], out: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One online run (Dreamer or MBPO) to the last milestone, evaluated at every milestone on the fixed seeds."""
    from agents.online import OnlineConfig, train_online

    scores: dict[str, Any] = {}
    started = time.perf_counter()
    result = None
    record = out / "evaluations.json"  # the run's own record: milestones it already passed are not rerun
    passed = {e["step"]: e for e in json.loads(record.read_text())["evaluations"]} if record.exists() else {}
    for milestone in milestones:  # the run resumes from its checkpoint for each further milestone
        if milestone in passed:
            last = passed[milestone]
            scores[str(milestone)] = {"mean": last["mean"], "std": last["std"], "updates": last["updates"]}
            continue
        config = OnlineConfig(
            task=task,
            agent=agent,
            steps=milestone,
            eval_every=0,
            eval_episodes=args.eval_episodes,
            eval_seed=EVAL_SEED,
            checkpoint_every=args.checkpoint_every,
            seed=seed,
            **_online_settings(agent, args),
        )
        result = train_online(config, out, progress=args.progress)
        last = result.evaluations[-1]
        scores[str(milestone)] = {"mean": last["mean"], "std": last["std"], "updates": result.updates}
    settings = {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in _online_settings(agent, args).items()}
    return {
        "scores": scores,
        "seconds": result.seconds if result else None,  # None: every milestone was passed before this call
        "wall_s": time.perf_counter() - started,
        "settings": settings,
    }


def run_dreamer(task: str, seed: int, milestones: list[int], out: Path, args: argparse.Namespace) -> dict[str, Any]:
    return _run_online("dreamer", task, seed, milestones, out, args)


def run_mbpo(task: str, seed: int, milestones: list[int], out: Path, args: argparse.Namespace) -> dict[str, Any]:
    return _run_online("mbpo", task, seed, milestones, out, args)


def run_sac(task: str, seed: int, milestones: list[int], out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """SB3 SAC in PyBullet with rl-zoo3's hyperparameters, saved with its replay buffer at every milestone."""
    from stable_baselines3 import SAC

    from agents.evaluation import evaluate_in_pybullet, sb3_policy
    from dreamgym.tasks import get_task

    out.mkdir(parents=True, exist_ok=True)
    progress_file = out / "progress.json"
    done = json.loads(progress_file.read_text()) if progress_file.exists() else {"scores": {}, "train_s": 0.0}
    env = get_task(task).make_env()
    model = None
    for milestone in milestones:
        key = str(milestone)
        if key in done["scores"]:
            continue
        if model is None:
            previous = [m for m in milestones if str(m) in done["scores"]]
            if previous:
                model = SAC.load(out / f"sac_{previous[-1]}.zip", env=env, device="cpu")
                model.load_replay_buffer(out / f"replay_{previous[-1]}.pkl")
            else:
                model = SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **SAC_ZOO)
        started = time.perf_counter()
        model.learn(milestone - model.num_timesteps, reset_num_timesteps=False, progress_bar=args.progress)
        done["train_s"] += time.perf_counter() - started
        result = evaluate_in_pybullet(sb3_policy(model), task, args.eval_episodes, EVAL_SEED)
        done["scores"][key] = {"mean": result.mean, "std": result.std}
        model.save(out / f"sac_{milestone}.zip")  # SB3's own formats: this peer baseline is not our checkpoint
        model.save_replay_buffer(out / f"replay_{milestone}.pkl")
        progress_file.write_text(json.dumps(done))
    env.close()
    return {"scores": done["scores"], "seconds": {"train": done["train_s"]}}


def run_dyna_path(task: str, seed: int, milestones: list[int], out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``dreamgym demo``'s Dyna PPO rounds with as many rounds as the last milestone's real steps allow."""
    from agents.dyna import DynaConfig, run_dyna

    initial, per_round = 5000, 15000
    rounds = max(1, (max(milestones) - initial) // per_round + 1)
    rows = run_dyna(
        DynaConfig(
            task=task,
            out=str(out),
            seed=seed,
            rounds=rounds,
            initial_steps=initial,
            steps_per_round=per_round,
            target_return=None,
            progress=args.progress,
        )
    )
    scores = {}
    for milestone in milestones:
        reached = [r for r in rows if r.real_steps <= milestone]
        if reached:
            row = reached[-1]
            scores[str(milestone)] = {
                "mean": row.pybullet_return,
                "std": row.pybullet_std,
                "real_steps": row.real_steps,
            }
    seconds: dict[str, float] = {}
    for row in rows:
        for stage, value in row.seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + value
    return {"scores": scores, "seconds": seconds}


METHODS = {"dreamer": run_dreamer, "mbpo": run_mbpo, "sac": run_sac, "dyna": run_dyna_path}


def _run_one(run: tuple[str, str, int], milestones: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """One method on one task and seed, to the last milestone, in its own directory under ``--out``."""
    import torch

    task, method, seed = run
    torch.set_num_threads(args.threads)  # again here: a Ray worker is a process of its own
    out = args.out / task / method / str(seed)
    print(f"{task}/{method}/{seed}: running to {milestones[-1]} real steps in {out}", flush=True)
    return METHODS[method](task, seed, milestones, out, args)


def _run_all(
    runs: list[tuple[str, str, int]], milestones: list[int], args: argparse.Namespace
) -> Iterator[tuple[tuple[str, str, int], dict[str, Any]]]:
    """``(run, entry)`` as runs finish: one after the other here, or side by side on ``--workers`` Ray workers.

    Every run resumes from its own directory, so a worker that dies mid-run is replaced and its run picks up
    from its last checkpoint; each result is saved by this (the driver) process as it lands.
    """
    if args.workers == 0:
        for run in runs:
            yield run, _run_one(run, milestones, args)
        return
    from dreamgym.workers import WorkerPool

    with WorkerPool(
        lambda: None, lambda _state, run: _run_one(run, milestones, args), args.workers, cpus_per_worker=args.threads
    ) as pool:
        yield from pool.map(runs)


def _covers(entry: dict[str, Any] | None, milestones: list[int]) -> bool:
    """Whether a stored run already scored every milestone; a run asked for further milestones resumes."""
    return entry is not None and all(str(m) in entry["scores"] for m in milestones)


def table(store: dict[str, Any]) -> str:
    """Mean ± sample std over seeds per task, method and milestone, with the seeds counted; a column for every
    milestone some stored run reached, whichever command wrote the table."""
    runs = store["runs"]
    milestones = sorted({int(m) for entry in runs.values() for m in entry["scores"]})
    tasks = sorted({key.split("/")[0] for key in runs})
    lines = [
        "| task | method | " + " | ".join(f"{m // 1000}k real steps" for m in milestones) + " | seeds |",
        "|---|---|" + "---|" * (len(milestones) + 1),
    ]
    for task in tasks:
        for method in METHODS:
            entries = [v for k, v in runs.items() if k.startswith(f"{task}/{method}/")]
            if not entries:
                continue
            cells = []
            for milestone in milestones:
                scores = [e["scores"][str(milestone)] for e in entries if str(milestone) in e["scores"]]
                values = [score["mean"] for score in scores]
                if not values:
                    cells.append("-")
                    continue
                cell = (
                    f"{values[0]:.1f}" if len(values) == 1 else f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"
                )
                # The Dyna path scores whole rounds: the last round within the milestone, at fewer real steps.
                used = sorted({int(score.get("real_steps", milestone)) for score in scores})
                cells.append(cell if used == [milestone] else cell + " (" + ", ".join(f"{u:,}" for u in used) + ")")
            lines.append(f"| {task} | {method} | " + " | ".join(cells) + f" | {len(entries)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["InvertedPendulum", "Hopper", "HalfCheetah", "Walker2D"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--milestones", nargs="+", type=int, default=[25_000, 50_000, 100_000])
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--dreamer-preset", default="small")
    parser.add_argument("--train-ratio", type=float, default=512.0)
    parser.add_argument("--prefill", type=int, default=5000)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--actor-gradient", default="reinforce")
    parser.add_argument("--mbpo-preset", default="small")
    parser.add_argument("--mbpo-train-ratio", type=float, default=128.0)
    parser.add_argument("--mbpo-num-envs", type=int, default=1)
    parser.add_argument("--mbpo-utd", type=float, default=10.0)
    parser.add_argument("--mbpo-rollout-schedule", nargs=4, type=int, default=[20_000, 100_000, 1, 15])
    parser.add_argument("--mbpo-ensemble", type=int, default=1, help="prior heads of MBPO's world model")
    parser.add_argument("--mbpo-trust-quantile", type=float, default=None)
    parser.add_argument(
        "--mbpo-set", nargs="+", default=[], metavar="KEY=VALUE", help="more MBPOConfig fields: use_sde=true"
    )
    parser.add_argument("--checkpoint-every", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "sample_efficiency")
    parser.add_argument("--name", default="sample_efficiency", help="results file name in benchmarks/results")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (and Ray CPUs) per run")
    parser.add_argument("--workers", type=int, default=0, help="runs side by side on Ray workers (0: one by one)")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    import torch

    from dreamgym.tasks import get_task

    args.tasks = [get_task(task).name for task in args.tasks]  # a user's module:ATTRIBUTE, registered by its name
    torch.set_num_threads(args.threads)
    path = RESULTS / f"{args.name}.json"
    store = _store(path)
    milestones = sorted(args.milestones)
    if not args.table_only:
        command = "python benchmarks/sample_efficiency.py " + " ".join(sys.argv[1:])
        pending = [
            (task, method, seed)
            for task in args.tasks
            for method in args.methods
            for seed in args.seeds
            if not _covers(store["runs"].get(f"{task}/{method}/{seed}"), milestones)
        ]
        for (task, method, seed), entry in _run_all(pending, milestones, args):
            key = f"{task}/{method}/{seed}"
            store = _save_run(path, key, entry | {"command": command})
            print(f"{key}: {entry['scores']}", flush=True)
    commands = sorted({entry["command"] for entry in store["runs"].values()})
    text = "# Sample efficiency\n\nCommands:\n\n" + "".join(f"- `{c}`\n" for c in commands)
    text += (
        "\nPyBullet return of the deterministic policy, mean ± std over seeds; in brackets, the real steps a cell's "
    )
    text += "runs had used where they are fewer than its column's (the Dyna path is scored after whole rounds).\n"
    text += f"\n{table(store)}\n"
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
