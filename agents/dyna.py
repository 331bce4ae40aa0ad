"""Dyna-style rounds: real steps only collect data; the world model learns from it; the agent learns in dreams.

Each round: train the world model on all real data so far, train the agent in dreams started from real
states, score it in the dream and in PyBullet, then collect more real steps with the agent so the next
model sees the states the agent actually reaches (the track end of a drifting cart, say). Rounds resume:
a killed run skips rounds whose results are on disk.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation import evaluate_in_dream, evaluate_in_pybullet, random_policy, sb3_policy
from agents.sb3_dream import ALGORITHMS, DreamAgentConfig, train_in_dream
from dreamgym.atomic import write_json_atomic
from dreamgym.data import SequenceData, collect, load_episodes
from dreamgym.data.policies import proprioceptive
from dreamgym.tasks import get_task
from dreamgym.world_model import make_config
from dreamgym.world_model.trainer import train_world_model

__all__ = ["DynaConfig", "RoundResult", "run_dyna"]


@dataclass(frozen=True)
class DynaConfig:
    """Settings of a Dyna run (the ``demo`` command uses the defaults on InvertedPendulum).

    Attributes:
        task: dreamgym task name.
        out: output directory (data sets, world model, policies, TensorBoard logs, results.json).
        seed: seeds collection, world model, agent and evaluation.
        rounds: number of model-then-agent rounds.
        initial_steps: random real steps collected before the first round.
        steps_per_round: real steps collected with the current agent after each round.
        preset: world-model size preset.
        ensemble: dynamics heads of the world model; more than one enables ``agent.uncertainty_penalty``.
        ensemble_heads: ``"mlp"`` or ``"linear"`` heads (see ``WorldModelConfig``); the runs before commit 20bf98d
            in ``benchmarks/results/demo_runs/`` used linear heads.
        wm_updates_first: world-model updates in the first round.
        wm_updates_per_round: further updates in each later round (the model resumes, not restarts).
        agent: how the agent trains in dreams; ``agent.steps`` is the last round's budget.
        early_agent_steps: dream steps of the agents of every round but the last (``agent.steps`` if ``None``).
            Those agents only steer the next round's data collection; the last one is the result, so the
            budget goes there.
        eval_episodes: episodes per evaluation, in the dream and in PyBullet.
        target_return: stop after the round whose PyBullet mean return reaches this.
        mirror: add the task's mirror image of every real episode to the world model's data.
        fresh_agent: train a new agent each round instead of continuing the last one, so a policy that
            settled into a bad habit in an early, inaccurate dream does not carry it forward.
        model_overrides: further fields of the world model's preset (``cnn_depth``, ``batch_size`` and ``seq_len``
            size a pixel task's camera model to the machine).
        progress: show progress bars.
    """

    task: str = "InvertedPendulum"
    out: str = "demo_out"
    seed: int = 0
    rounds: int = 4
    initial_steps: int = 5000
    steps_per_round: int = 15000
    preset: str = "small"
    ensemble: int = 5
    ensemble_heads: str = "mlp"
    wm_updates_first: int = 1000
    wm_updates_per_round: int = 500
    agent: DreamAgentConfig = field(default_factory=lambda: DreamAgentConfig(steps=1_000_000, uncertainty_penalty=1.0))
    early_agent_steps: int | None = 800_000
    eval_episodes: int = 20
    target_return: float | None = None
    mirror: bool = False
    fresh_agent: bool = True
    model_overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


@dataclass(frozen=True)
class RoundResult:
    """One row of the demo table."""

    round: int
    real_steps: int
    wm_updates: int
    dream_return: float
    dream_std: float
    pybullet_return: float
    pybullet_std: float
    seconds: dict[str, float]
    agent_steps: int = 0


def _print_row(row: RoundResult | None) -> None:
    if row is None:
        print(
            f"{'round':>5} {'real steps':>10} {'wm upd':>7} {'agent steps':>11} {'dream return':>16}"
            f" {'PyBullet return':>18}  time (s)"
        )
        return
    times = " ".join(f"{k}={v:.0f}" for k, v in row.seconds.items())
    print(
        f"{row.round:>5} {row.real_steps:>10} {row.wm_updates:>7} {row.agent_steps:>11}"
        f" {row.dream_return:>8.1f} ± {row.dream_std:>5.1f}"
        f" {row.pybullet_return:>10.1f} ± {row.pybullet_std:>5.1f}  {times}",
        flush=True,
    )


def run_dyna(cfg: DynaConfig) -> list[RoundResult]:
    """Runs (or resumes) the Dyna rounds and returns one result per round, printing a table as it goes."""
    spec = get_task(cfg.task)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    done: list[RoundResult] = []
    if results_path.exists():
        done = [RoundResult(**r) for r in json.loads(results_path.read_text())["rounds"]]
    ckpt_dir, agent_dir, tb_dir = out / "world_model", out / "agent", out / "tensorboard"
    agent_dir.mkdir(exist_ok=True)
    print(f"dreamgym Dyna run on {spec.name}: outputs in {out}/, TensorBoard: tensorboard --logdir {tb_dir}")

    random_eval = evaluate_in_pybullet(
        random_policy(spec.action_dim, cfg.seed), spec.name, cfg.eval_episodes, seed=10_000 + cfg.seed
    )
    print(f"random policy in PyBullet: {random_eval}")
    _print_row(None)
    for row in done:
        _print_row(row)

    def data_dir(round_index: int) -> Path:
        return out / "data" / f"round{round_index}"

    datasets: list[SequenceData] = []
    model = None
    if done:
        model = ALGORITHMS[cfg.agent.algo].load(agent_dir / f"policy_round{done[-1].round}.zip", device="cpu")
    for r in range(cfg.rounds):
        if r >= len(done) and done and cfg.target_return is not None and done[-1].pybullet_return >= cfg.target_return:
            break
        timings: dict[str, float] = {}
        started = time.perf_counter()
        if not data_dir(r).exists():
            # Collection is single-env; a stochastic policy explores around what the agent would do.
            policy = None if r == 0 else proprioceptive(spec.image_shape, sb3_policy(model, deterministic=False))
            steps = cfg.initial_steps if r == 0 else cfg.steps_per_round
            collect(
                spec,
                steps,
                data_dir(r),
                policy=policy,
                seed=cfg.seed + 1000 * r,
                progress=False,
                name=f"round{r}",
                extra_metadata={"dyna_round": r},
            )
        datasets.append(load_episodes(data_dir(r), spec))
        timings["collect"] = time.perf_counter() - started
        if r < len(done):
            continue
        data = SequenceData.concatenate(datasets)
        real_steps = len(data) - data.num_episodes
        if cfg.mirror and spec.mirror is not None:
            data = SequenceData.concatenate([data, data.mirrored(*spec.mirror)], metadata=data.metadata)

        started = time.perf_counter()
        updates = cfg.wm_updates_first + r * cfg.wm_updates_per_round
        model_cfg, train_cfg = make_config(
            cfg.preset,
            spec.obs_shape[0],
            spec.action_dim,
            steps=updates,
            seed=cfg.seed,
            ensemble=cfg.ensemble,
            ensemble_heads=cfg.ensemble_heads,
            **cfg.model_overrides,
        )
        train_world_model(
            data, ckpt_dir, spec, model_cfg, train_cfg, logdir=tb_dir / "world_model", progress=cfg.progress
        )
        timings["world_model"] = time.perf_counter() - started

        started = time.perf_counter()
        last_round = r == cfg.rounds - 1
        steps = cfg.agent.steps if last_round or cfg.early_agent_steps is None else cfg.early_agent_steps
        agent_cfg = replace(cfg.agent, seed=cfg.seed + r, steps=steps)
        model = train_in_dream(
            ckpt_dir,
            spec.name,
            agent_cfg,
            model=None if cfg.fresh_agent else model,
            logdir=tb_dir,
            progress=cfg.progress,
        )
        model.save(agent_dir / f"policy_round{r}.zip")
        timings["agent"] = time.perf_counter() - started

        started = time.perf_counter()
        policy = sb3_policy(model, deterministic=True)
        dream = evaluate_in_dream(policy, spec.name, ckpt_dir, cfg.eval_episodes, seed=cfg.seed)
        real = evaluate_in_pybullet(policy, spec.name, cfg.eval_episodes, seed=cfg.seed, progress=False)
        timings["evaluate"] = time.perf_counter() - started
        row = RoundResult(r, real_steps, updates, dream.mean, dream.std, real.mean, real.std, timings, steps)
        done.append(row)
        _print_row(row)
        _write_results(results_path, cfg, random_eval.mean, done)
    return done


def _write_results(path: Path, cfg: DynaConfig, random_return: float, rows: list[RoundResult]) -> None:
    payload: dict[str, Any] = {
        "config": asdict(cfg),
        "random_return": random_return,
        "rounds": [asdict(r) for r in rows],
        "best_pybullet_return": float(np.max([r.pybullet_return for r in rows])),
    }
    write_json_atomic(path, payload)
