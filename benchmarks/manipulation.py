"""Manipulation in dreams: HER-SAC trained only in a world model of PandaReach or PandaPush, scored in PyBullet.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/manipulation.py --tasks PandaReach PandaPush --work runs/manipulation
    python benchmarks/manipulation.py --table-only     # rewrite manipulation.md from manipulation.json

For each task and seed:

1. Data: ``--data-steps`` real steps of the noisy scripted expert (``dreamgym collect --policy scripted``).
2. A world model of ``--preset`` trained for ``--wm-steps`` updates on it.
3. The physics audit of ``--dreams`` closed-loop dreams of the scripted expert, with its PyBullet rollouts as the
   control, including the tabletop checks (block moving untouched, in the table, floating; gripper in the table
   or the block).
4. SB3 SAC with HER (``MultiInputPolicy``, future-goal relabelling) trained for ``--agent-steps`` steps in the
   dream alone (``gymnasium.make("dreamgym/<Task>-dream-v0")``), then scored in PyBullet and in the dream on
   the same ``--eval-episodes`` seeds: success rate and return.
5. The peer baseline: the same HER-SAC trained directly in PyBullet for as many real steps as the data set
   holds, scored the same way. The dream agent has seen no real step of its own.

Every stage resumes from ``--work``; results go to ``benchmarks/results/manipulation.json`` as each run lands,
and the table to ``manipulation.md`` (``--name`` names them otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
EVAL_SEED, AUDIT_SEED = 1_000_000, 2_000


def _score(policy: Any, task: str, checkpoint: Path, episodes: int) -> dict[str, Any]:
    from agents.evaluation import evaluate_in_dream, evaluate_in_pybullet

    real = evaluate_in_pybullet(policy, task, episodes, EVAL_SEED)
    dream = evaluate_in_dream(policy, task, checkpoint, episodes, EVAL_SEED)
    return {
        "pybullet": {"success": real.success_rate, "return": real.mean, "std": real.std},
        "dream": {"success": dream.success_rate, "return": dream.mean, "std": dream.std},
    }


def run(task: str, seed: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import gymnasium as gym

    import dreamgym  # noqa: F401  (registers the dream ids)
    from agents.evaluation import sb3_policy
    from agents.her import her_sac
    from dreamgym.data import collect, load_episodes
    from dreamgym.data.scripted import scripted_policy
    from dreamgym.tasks import get_task
    from dreamgym.transfer.audit import PhysicsBounds, audit_dreams
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    spec = get_task(task)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    data_dir = work / "data"
    if not data_dir.exists():
        collect(spec, args.data_steps, data_dir, policy="scripted", seed=seed, progress=args.progress)
    data = load_episodes(data_dir, spec)
    seconds["collect"] = time.perf_counter() - started

    started = time.perf_counter()
    model_cfg, train_cfg = make_config(args.preset, spec.obs_shape[0], spec.action_dim, steps=args.wm_steps, seed=seed)
    ckpt = train_world_model(data, work / "model", spec, model_cfg, train_cfg, progress=args.progress).path
    seconds["world_model"] = time.perf_counter() - started

    started = time.perf_counter()
    audit = audit_dreams(
        ckpt,
        spec,
        scripted_policy(spec, seed=seed),
        args.dreams,
        spec.max_episode_steps,
        AUDIT_SEED,
        PhysicsBounds.fit(data, spec),
        real_episodes=args.dreams,
    )
    seconds["audit"] = time.perf_counter() - started

    results: dict[str, Any] = {}
    for name, make_env, steps in (
        ("dream", lambda: gym.make(f"dreamgym/{task}-dream-v0", checkpoint=ckpt), args.agent_steps),
        ("pybullet", lambda: spec.make_env(flatten=False), args.data_steps),
    ):
        path = work / f"her_sac_{name}.zip"
        started = time.perf_counter()
        from stable_baselines3 import SAC

        env = make_env()
        if path.exists():
            agent = SAC.load(path, env=env, device="cpu")
        else:
            agent = her_sac(env, seed)
            agent.learn(steps, progress_bar=args.progress)
            agent.save(path)
        seconds[f"agent_{name}"] = time.perf_counter() - started
        results[f"trained_in_{name}"] = {"steps": steps} | _score(sb3_policy(agent), task, ckpt, args.eval_episodes)
        env.close()
    return {
        "data": {"steps": len(data), "episodes": data.num_episodes, "policy": "scripted"},
        "world_model": {"preset": args.preset, "updates": args.wm_steps},
        "audit": {"checks": list(audit.checks), "dream": audit.dream.step_rate, "real": audit.real.step_rate},
        **results,
        "seconds": seconds,
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def table(store: dict[str, Any]) -> str:
    lines = [
        "| task | seed | trained in | agent steps (real) | PyBullet success | PyBullet return | dream success |",
        "|---|---|---|---|---|---|---|",
    ]
    audit_lines = ["| task | seed | check | dream steps | PyBullet steps |", "|---|---|---|---|---|"]
    for key, entry in sorted(store["runs"].items()):
        task, seed = key.split("/")
        for where in ("dream", "pybullet"):
            r = entry[f"trained_in_{where}"]
            real = r["steps"] if where == "pybullet" else 0
            lines.append(
                f"| {task} | {seed} | {where} | {r['steps']:,} ({real:,}) | {_pct(r['pybullet']['success'])} | "
                f"{r['pybullet']['return']:.1f} ± {r['pybullet']['std']:.1f} | {_pct(r['dream']['success'])} |"
            )
        for check in [*entry["audit"]["checks"], "any"]:
            dream, real = entry["audit"]["dream"][check], entry["audit"]["real"][check]
            if dream is not None:
                audit_lines.append(f"| {task} | {seed} | {check} | {_pct(dream)} | {_pct(real)} |")
    return "\n".join(lines) + "\n\nPhysics audit of the scripted expert's dreams:\n\n" + "\n".join(audit_lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["PandaReach", "PandaPush"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--data-steps", type=int, default=20_000)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--wm-steps", type=int, default=3000)
    parser.add_argument("--agent-steps", type=int, default=30_000)
    parser.add_argument("--dreams", type=int, default=32)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "manipulation")
    parser.add_argument("--name", default="manipulation", help="results file name in benchmarks/results")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    import torch

    from dreamgym.data.scripted import SCRIPTED_TASKS
    from dreamgym.tasks import get_task

    args.tasks = [get_task(task).name for task in args.tasks]
    unscripted = [task for task in args.tasks if task not in SCRIPTED_TASKS]
    if unscripted:  # its data comes from a noisy scripted expert and its agents from HER on a goal Dict
        expected = sorted(SCRIPTED_TASKS)
        parser.error(f"the manipulation benchmark runs tasks with a scripted expert, {expected}; got {unscripted}")
    from dreamgym.atomic import write_json_atomic

    torch.set_num_threads(args.threads)
    path = RESULTS / f"{args.name}.json"
    store = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    if not args.table_only:
        for task in args.tasks:
            for seed in args.seeds:
                key = f"{task}/{seed}"
                if key in store["runs"]:
                    continue
                entry = run(task, seed, args.work / task / str(seed), args)
                entry["command"] = "python benchmarks/manipulation.py " + " ".join(sys.argv[1:])
                store = json.loads(path.read_text()) if path.exists() else {"runs": {}}
                store["runs"][key] = entry
                write_json_atomic(path, store)
                print(key, json.dumps({k: entry[k] for k in ("trained_in_dream", "trained_in_pybullet")}), flush=True)
    commands = sorted({entry["command"] for entry in store["runs"].values()})
    text = "# Manipulation in dreams\n\nCommands:\n\n" + "".join(f"- `{c}`\n" for c in commands)
    (RESULTS / f"{args.name}.md").write_text(text + "\n" + table(store) + "\n")
    print(table(store))


if __name__ == "__main__":
    main()
