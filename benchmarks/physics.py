"""Physical consistency of dreams, before and after the structured decoder and the task's termination rule.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/physics.py --task Hopper --work runs/physics
    python benchmarks/physics.py --table-only          # rewrite physics.md from every physics_<task>.json

For one task, on one data set and one set of seeds:

1. A behaviour policy: SB3 PPO trained in PyBullet for ``--ppo-steps`` (a policy that stays up for a while,
   so held-out episodes are long enough to measure 50-step open-loop error and returns worth comparing).
2. Data: ``--collect-steps`` real steps, split equally between the ``--behaviours``: uniform random actions
   (``random``), the stochastic PPO policy (``ppo``) and the deterministic one (``ppo_deterministic``, the policy
   the dreams are measured with, on other starts than the held-out episodes').
3. Two world models of the same preset, seed and data: ``before`` (plain decoder: every dimension a free real
   number) and ``after`` (structured decoder: angle pairs on the unit circle, joints and hard bounds respected,
   contacts Bernoulli; see ``dreamgym/world_model/decoder.py``).
4. Each is measured with the deterministic PPO policy: the physics audit of ``--dreams`` closed-loop dreams
   (with PyBullet rollouts of the same policy as the control) including interpenetration of the posed robot,
   open-loop error at 1/10/50 steps on held-out episodes, and dream against PyBullet return from the same
   starts. ``before`` dreams end where the continue head says (as every dream did before the task rules);
   ``after`` dreams end where the task's own rule says, and the continue head's disagreement with the rule is
   reported beside it, with the return of dreams that end by the rule or the continue head, whichever first.

Stages resume from ``--work``: a finished policy, data set, model or measurement is not redone. The result
goes to ``benchmarks/results/physics_<task>.json``; ``physics.md`` is the table of every task's result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = {
    "before": {"decoder": "plain", "termination": "model"},
    "after": {"decoder": "structured", "termination": "task"},
}
HORIZONS = (1, 10, 50)
CONTEXT = 5  # real observations filtered before a prediction starts
FIDELITY_SEED, AUDIT_SEED = 1_000, 2_000
BEHAVIOURS = ("random", "ppo", "ppo_deterministic")


@dataclass(frozen=True)
class PhysicsConfig:
    """One task's run.

    Attributes:
        task: dreamgym task name.
        work: directory for the policy, data sets, models and stage results.
        seed: seeds PPO, collection and world-model training.
        ppo_steps: PyBullet steps of PPO training for the behaviour policy.
        collect_steps: real steps of world-model data, split equally between ``behaviours``.
        behaviours: who acts in the data: ``random``, ``ppo`` (stochastic) or ``ppo_deterministic``. A dream can
            only rate the policy it is measured with if its model has seen where that policy goes, falls included.
        preset: world-model size preset.
        wm_steps: world-model updates.
        dreams: closed-loop dreams audited per model.
        dream_horizon: steps per audited dream.
        eval_episodes: held-out PyBullet episodes for open-loop error and returns, and control rollouts.
        dream_samples: dreams per held-out start whose returns are averaged into the start's dream return (a
            dream samples its latents: one dream is one draw of the return the model predicts).
    """

    task: str
    work: str
    seed: int = 0
    ppo_steps: int = 100_000
    collect_steps: int = 75_000
    behaviours: tuple[str, ...] = BEHAVIOURS
    preset: str = "small"
    wm_steps: int = 3000
    dreams: int = 64
    dream_horizon: int = 200
    eval_episodes: int = 10
    dream_samples: int = 8


def _stage(path: Path, compute) -> Any:
    """The stored result at ``path``, or ``compute()`` stored there (atomically) first."""
    from dreamgym.atomic import write_json_atomic

    if path.exists():
        return json.loads(path.read_text())
    started = time.perf_counter()
    result = compute()
    result["seconds"] = time.perf_counter() - started
    write_json_atomic(path, result)
    return result


def behaviour_policy(cfg: PhysicsConfig, work: Path) -> dict[str, Any]:
    """Trains PPO in PyBullet (8 envs in one process) and scores it deterministically."""
    from agents.evaluation import evaluate_in_pybullet
    from agents.pybullet_ppo import train_pybullet_ppo
    from dreamgym.data.policies import load_policy

    def compute() -> dict[str, Any]:
        train_pybullet_ppo(cfg.task, cfg.ppo_steps, work / "ppo.zip", seed=cfg.seed)
        policy = load_policy(work / "ppo.zip", deterministic=True)
        score = evaluate_in_pybullet(policy, cfg.task, cfg.eval_episodes, seed=10_000)
        return {"path": "ppo.zip", "return": score.mean, "std": score.std}

    return _stage(work / "ppo.json", compute)


def datasets(cfg: PhysicsConfig, work: Path) -> list[Path]:
    from dreamgym.data import collect
    from dreamgym.data.policies import load_policy

    paths = []
    for offset, name in enumerate(cfg.behaviours):
        path = work / f"data_{name}"
        if not path.exists():
            policy = None if name == "random" else load_policy(work / "ppo.zip", deterministic=name != "ppo")
            steps = cfg.collect_steps // len(cfg.behaviours)
            collect(cfg.task, steps, path, policy=policy, seed=cfg.seed + offset, algorithm_name=name)
        paths.append(path)
    return paths


def world_model(cfg: PhysicsConfig, work: Path, variant: str, data) -> Path:
    from dreamgym.tasks import get_task
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    spec = get_task(cfg.task)
    out = work / f"wm_{variant}"
    model_cfg, train_cfg = make_config(
        cfg.preset,
        spec.obs_shape[0],
        spec.action_dim,
        steps=cfg.wm_steps,
        seed=cfg.seed,
        decoder=VARIANTS[variant]["decoder"],
    )
    train_world_model(data, out, spec, model_cfg, train_cfg)
    return out


def measure(cfg: PhysicsConfig, work: Path, variant: str, checkpoint: Path, data) -> dict[str, Any]:
    """Fidelity and audit of one model with the deterministic behaviour policy."""
    from dreamgym.data.policies import load_policy
    from dreamgym.tasks import get_task
    from dreamgym.transfer.audit import PhysicsBounds, audit_dreams
    from dreamgym.transfer.fidelity import dream_vs_real_returns, filter_episodes, open_loop_errors
    from dreamgym.transfer.recording import record_pybullet
    from dreamgym.world_model import load_checkpoint

    termination = VARIANTS[variant]["termination"]
    # Dreams that end by the task's rule are also scored ending by the rule or the continue head, whichever
    # comes first: the continue head may see a fall coming that the decoded state does not show yet.
    return_modes = [termination, "either"] if termination == "task" else [termination]

    def compute() -> dict[str, Any]:
        spec, model = get_task(cfg.task), load_checkpoint(checkpoint)
        policy = load_policy(work / "ppo.zip", deterministic=True)
        real = record_pybullet(spec, policy, cfg.eval_episodes, FIDELITY_SEED, max_steps=spec.max_episode_steps)
        posts, _ = filter_episodes(model.model, real, FIDELITY_SEED)
        errors = open_loop_errors(model, real, max(HORIZONS), CONTEXT, FIDELITY_SEED, posts=posts)
        returns = {
            mode: dream_vs_real_returns(
                model, real, policy, CONTEXT, FIDELITY_SEED, spec.max_episode_steps, posts, mode, cfg.dream_samples
            )
            for mode in return_modes
        }
        bounds = PhysicsBounds.fit(data, cfg.task)
        audits = {
            mode: audit_dreams(
                model,
                cfg.task,
                policy,
                cfg.dreams,
                cfg.dream_horizon,
                AUDIT_SEED,
                bounds,
                real_episodes=cfg.eval_episodes,
                termination=mode,
            ).to_dict()
            for mode in dict.fromkeys([termination, "model"])  # the continue head's own agreement with the rule
        }
        dream, real_return = returns[termination]
        return {
            "termination": termination,
            "open_loop_error": {str(h): float(errors["total_error"][h - 1]) for h in HORIZONS},
            "dream_return": float(np.mean(dream)),
            "real_return": float(np.mean(real_return)),
            "return_pairs": np.stack([dream, real_return], 1).tolist(),
            "dream_return_by_termination": {mode: float(np.mean(d)) for mode, (d, _) in returns.items()},
            "audit": audits[termination],
            "continue_head_audit": audits["model"],
        }

    return _stage(work / f"measure_{variant}.json", compute)


def run(cfg: PhysicsConfig, results: Path = RESULTS, models_only: bool = False) -> dict[str, Any] | None:
    from dreamgym.data import SequenceData, load_episodes
    from dreamgym.tasks import get_task

    work = Path(cfg.work) / cfg.task
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    policy = behaviour_policy(cfg, work)
    spec = get_task(cfg.task)
    data = SequenceData.concatenate([load_episodes(path, spec) for path in datasets(cfg, work)])
    checkpoints = {variant: world_model(cfg, work, variant, data) for variant in VARIANTS}
    if models_only:
        return None
    variants = {variant: measure(cfg, work, variant, checkpoints[variant], data) for variant in VARIANTS}
    result = {
        "config": asdict(cfg) | {"work": None},
        "behaviour_policy": policy,
        "data": {"steps": len(data), "episodes": data.num_episodes},
        "variants": variants,
        "seconds": time.perf_counter() - started,
    }
    from dreamgym.atomic import write_json_atomic

    results.mkdir(parents=True, exist_ok=True)
    write_json_atomic(results / f"physics_{cfg.task}.json", result)
    return result


def _relative_gap(variant: dict[str, Any]) -> float:
    """How far the dream's mean return is from PyBullet's, as a fraction of PyBullet's."""
    return abs(variant["dream_return"] - variant["real_return"]) / max(abs(variant["real_return"]), 1e-9)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _behaviours(names: list[str]) -> str:
    words = {
        "random": "uniform random actions",
        "ppo": "the stochastic policy",
        "ppo_deterministic": "the deterministic policy (the one measured, from other starts)",
    }
    described = [words[name] for name in names]
    return " and ".join([", ".join(described[:-1]), described[-1]] if len(described) > 2 else described)


def table(results: dict[str, dict[str, Any]]) -> str:
    """physics.md: one section per task, before and after side by side."""
    lines = [
        "# Physics: do dreams keep the facts of the world they were learned from?",
        "",
        "Produced by `python benchmarks/physics.py` (one run per task, then `--table-only`), from "
        "`physics_<task>.json`. Per task: one data set, one seed; `before` is a plain decoder whose dreams end by "
        "the continue head, `after` the structured decoder whose dreams end by the task's own rule. Rates are "
        "fractions of dreamed steps; the PyBullet control runs the same checks on real rollouts of the same policy.",
        "",
    ]
    for task, result in results.items():
        cfg = result["config"]
        before, after = (result["variants"][v] for v in VARIANTS)
        checks = before["audit"]["checks"]
        behaviours = _behaviours(cfg.get("behaviours", ["random", "ppo"]))  # results from before the option
        lines += [
            f"## {task}",
            "",
            f"Data: {result['data']['steps']} real steps ({result['data']['episodes']} episodes), split equally "
            f"between {behaviours}, the policy a PPO trained for {cfg['ppo_steps']} "
            f"PyBullet steps (deterministic return "
            f"{result['behaviour_policy']['return']:.1f}). World models: `{cfg['preset']}` preset, {cfg['wm_steps']} "
            f"updates, seed {cfg['seed']}. Audit: {cfg['dreams']} dreams of {cfg['dream_horizon']} steps with the "
            f"deterministic PPO policy; {cfg['eval_episodes']} held-out PyBullet episodes for the rest, each start's "
            f"dream return the mean of {cfg.get('dream_samples', 1)} dream(s).",
            "",
            "| check | before | after | PyBullet control |",
            "|---|---|---|---|",
        ]
        for check in checks:
            lines.append(
                f"| {check} | {_pct(before['audit']['dream']['step_rate'][check])} | "
                f"{_pct(after['audit']['dream']['step_rate'][check])} | "
                f"{_pct(after['audit']['real']['step_rate'][check])} |"
            )
        heads = [_pct(v["continue_head_audit"]["dream"]["step_rate"]["termination"]) for v in (before, after)]
        lines.append(f"| continue head vs the task's rule | {heads[0]} | {heads[1]} | - |")
        for h in HORIZONS:
            lines.append(
                f"| open-loop error, {h} steps | {before['open_loop_error'][str(h)]:.3f} | "
                f"{after['open_loop_error'][str(h)]:.3f} | - |"
            )
        returns = [
            f"{v['dream_return']:.1f} / {v['real_return']:.1f} ({_pct(_relative_gap(v))} off)" for v in (before, after)
        ]
        lines.append(f"| dream / PyBullet return, same starts | {returns[0]} | {returns[1]} | - |")
        either = after.get("dream_return_by_termination", {}).get("either")
        if either is not None:
            variant = {"dream_return": either, "real_return": after["real_return"]}
            lines.append(
                f"| the same, ending by the rule or the continue head | - | {either:.1f} / {after['real_return']:.1f} "
                f"({_pct(_relative_gap(variant))} off) | - |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="Hopper", help="a dreamgym task with an observation layout")
    parser.add_argument("--work", default="runs/physics")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ppo-steps", type=int, default=PhysicsConfig.ppo_steps)
    parser.add_argument("--collect-steps", type=int, default=PhysicsConfig.collect_steps)
    parser.add_argument(
        "--behaviours", nargs="+", choices=BEHAVIOURS, default=PhysicsConfig.behaviours, help="who acts in the data"
    )
    parser.add_argument("--preset", default=PhysicsConfig.preset)
    parser.add_argument("--wm-steps", type=int, default=PhysicsConfig.wm_steps)
    parser.add_argument("--dreams", type=int, default=PhysicsConfig.dreams)
    parser.add_argument("--dream-horizon", type=int, default=PhysicsConfig.dream_horizon)
    parser.add_argument("--eval-episodes", type=int, default=PhysicsConfig.eval_episodes)
    parser.add_argument("--dream-samples", type=int, default=PhysicsConfig.dream_samples)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where physics_<task>.json and physics.md go")
    parser.add_argument("--table-only", action="store_true", help="rewrite physics.md from the stored results")
    parser.add_argument("--models-only", action="store_true", help="stop once the policy, data and models exist")
    args = parser.parse_args()
    from dreamgym.tasks import get_task

    spec = get_task(args.task)  # a user's module:ATTRIBUTE too, registered under its name
    if spec.layout is None:  # the audit's checks are per kind of observation entry (joint, speed, contact, ...)
        parser.error(f"the physics benchmark audits a task's observation layout; task {spec.name!r} has none")
    args.task = spec.name
    if not args.table_only:
        fields = {k: v for k, v in vars(args).items() if k not in ("table_only", "models_only", "results")}
        fields["behaviours"] = tuple(fields["behaviours"])
        if run(PhysicsConfig(**fields), args.results, args.models_only) is None:
            return
    stored = sorted(args.results.glob("physics_*.json"))
    results = {path.stem.removeprefix("physics_"): json.loads(path.read_text()) for path in stored}
    (args.results / "physics.md").write_text(table(results) + "\n")


if __name__ == "__main__":
    main()
