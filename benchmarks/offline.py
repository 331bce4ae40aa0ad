"""Offline RL benchmark: policies trained in dreams (no safeguard, MOPO penalty, MOReL HALT) against BC and IQL.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/offline.py \\
        --datasets /work/artifacts/datasets/Hopper/medium /work/artifacts/datasets/Hopper/medium-replay \\
        --out /work/artifacts/offline --seeds 0 1 --warm-start --critic-warmup-steps 100000

For each data set: train one ensemble world model (``small`` preset, 5 prior MLP heads, calibrated on the data at
the end of training), then for every seed: clone PPO's actor from the data (``BC``); train PPO in its dreams
three ways (no safeguard; MOPO reward penalty ``r - lambda * u``; HALT at the data set's maximum
disagreement), from a random actor or, with ``--warm-start``, fine-tuning that seed's BC actor (BREMEN-style);
and train IQL on the same transitions with TorchRL's loss (``benchmarks/iql_torchrl.py``, needs
``pip install -e '.[offline]'``). Every policy is scored in PyBullet on the same fixed seeds. Scores are
normalised as D4RL does, ``100 * (R - R_random) / (R_expert - R_random)``, with the reference returns stored in
the data set by ``benchmarks/datasets.py``.

Results go to ``benchmarks/results/offline.{json,md}``; each finished run is stored under ``--out`` so a killed
benchmark resumes where it stopped. Once the world model exists, several processes may share one ``--out`` (say
``--methods IQL`` on one core and the dream methods on the other): each skips the runs another has stored and
adds its own under a lock. TensorBoard logs are under ``--out/<data set>/tensorboard``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("BC", "dream", "dream+MOPO", "dream+HALT", "IQL")
SAFEGUARDS = ("dream+MOPO", "dream+HALT")
RIVALS = ("dream", "IQL")  # what issue 5's target asks a safeguarded policy to beat
SIGNIFICANCE = 0.05
MODEL_FREE = ("BC", "IQL")  # never dream


@dataclass(frozen=True)
class OfflineConfig:
    """Benchmark settings (defaults fit about 15 minutes per data set on 2 shared CPU cores).

    Attributes:
        datasets: data-set paths or Minari ids; the task is read from their metadata.
        methods: the methods to run (any of ``METHODS``); runs of the others already stored stay in the table.
        out: working directory for world models, policies, per-run results and TensorBoard logs.
        seeds: one agent (PPO and IQL) per seed and method.
        wm_seed: seed of the world model and of its disagreement calibration. Fixed apart from ``seeds``, so a
            benchmark resumed with other seeds reads the same model and calibration back (the calibration is
            recomputed with this seed on every run, and the MOPO lambda and HALT threshold come from it).
        wm_updates: world-model gradient updates (``small`` preset).
        ensemble: prior heads of the world model.
        ensemble_heads: ``"mlp"`` (an MLP each) or ``"linear"`` (output layers of one prior MLP, which results
            written before this setting existed used); see ``offline_mlp.notes.md``.
        agent_steps: dream transitions per PPO run.
        num_envs: dreams stepped together while PPO trains.
        dream_horizon: dream length in steps; 0 means the task's dream horizon. Short dreams branched from the
            data set's states (MBPO/MOPO use 5 on Hopper) give model error fewer steps to compound, and PPO
            bootstraps its value where they are cut.
        gamma: PPO's discount. The dream agent's default, 0.999, suits long dreams; short branched dreams lean
            on the value bootstrap, which a shorter effective horizon (0.99, as MBPO and MOPO use) learns faster.
            Runs of each (agent_steps, dream_horizon, gamma, warm start) variant are stored and tabled apart.
        clone_updates: behaviour-cloning updates of the ``BC`` policy (PPO's actor fitted to the data set; see
            ``agents.behaviour_cloning``), which is also the dream agents' starting point with ``warm_start``.
        warm_start: dream agents start from the BC policy of their seed and fine-tune it (BREMEN-style) instead
            of starting from a random actor.
        critic_warmup_steps: with ``warm_start``, dream steps at the start of each run in which only the
            critic learns (counted in ``agent_steps``).
        behaviour_penalty: with ``warm_start``, every dream method's reward also pays this per unit of mean
            squared distance to the cloned actor's action (``agents/behaviour_penalty.py``); 0 is off.
        mopo_reward_at_p99: MOPO penalty, in reward per step charged for a disagreement equal to the data set's
            99th percentile; the lambda passed to the dream is this over that percentile. Disagreement in nats
            has no natural scale (Hopper's data set p99 is about 0.02), so a fixed lambda such as MOPO's 1.0
            would mean a different, often negligible, penalty on every model; tying it to the calibration does not.
        halt_threshold: HALT threshold: a calibration statistic of the data set or nats.
        halt_scale: multiplies a named HALT threshold.
        halt_penalty: MOReL's kappa.
        iql_updates: IQL gradient updates per seed.
        iql_score_every: score IQL in PyBullet every this many updates (0: only at the end), to record its
            learning curve and see whether ``iql_updates`` was enough.
        eval_episodes: PyBullet episodes per policy (seeds ``eval_seed`` ... ``eval_seed + eval_episodes - 1``).
        eval_seed: seed of the first evaluation episode; the same for every policy.
        results_name: base name of the JSON and Markdown results in ``benchmarks/results``.
        progress: progress bars.
    """

    datasets: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    out: str = "/work/artifacts/offline"
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    wm_updates: int = 1500
    wm_seed: int = 0
    ensemble: int = 5
    ensemble_heads: str = "mlp"
    agent_steps: int = 500_000
    num_envs: int = 256
    dream_horizon: int = 0
    gamma: float = 0.999  # agents.sb3_dream's PPO default
    clone_updates: int = 10_000
    warm_start: bool = False
    critic_warmup_steps: int = 0
    behaviour_penalty: float = 0.0
    mopo_reward_at_p99: float = 1.0
    halt_threshold: str = "max"
    halt_scale: float = 1.0
    halt_penalty: float = 100.0
    iql_updates: int = 10_000
    iql_score_every: int = 0
    eval_episodes: int = 20  # HalfCheetah episodes spread by about 600 (flips): 10 left 190 of standard error
    eval_seed: int = 1000
    results_name: str = "offline"
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(f"Unknown methods {unknown}; expected any of {list(METHODS)}.")
        if self.behaviour_penalty and not self.warm_start:
            raise ValueError("behaviour_penalty needs warm_start: the cloned actor is the behaviour it charges for.")
        if not 0 < self.mopo_reward_at_p99 < float("inf"):  # 0 would be dream+MOPO without a penalty
            raise ValueError(f"Expected a positive, finite mopo_reward_at_p99, got {self.mopo_reward_at_p99}.")
        if self.eval_episodes < 1 or self.wm_updates < 1:
            raise ValueError(
                f"Expected eval_episodes and wm_updates >= 1, got {self.eval_episodes}, {self.wm_updates}."
            )


def _dataset_name(path: str, metadata: dict[str, Any]) -> str:
    return f"{metadata.get('task', 'task')}-{metadata.get('tier') or Path(path).name}"


def _references(data: Any, task: str, cfg: OfflineConfig) -> dict[str, Any]:
    """Random and expert returns to normalise by: the data set's own (written by benchmarks/datasets.py), or
    for a foreign data set a measured random policy and the data set's best episode, which we say."""
    from agents.evaluation import evaluate_in_pybullet, random_policy
    from dreamgym.tasks import get_task

    stored = data.metadata.get("reference_returns")
    if stored:
        return {**stored, "source": "data-set metadata (benchmarks/datasets.py)"}
    random = evaluate_in_pybullet(random_policy(get_task(task).action_dim, 0), task, cfg.eval_episodes, cfg.eval_seed)
    best = float(np.add.reduceat(data.reward, np.flatnonzero(data.is_first)).max())
    return {"random": random.mean, "expert": best, "source": "measured random policy; best episode of the data set"}


def _agent_config(method: str, seed: int, cfg: OfflineConfig, calibration: dict[str, float]):
    from agents.behaviour_cloning import CloningConfig
    from agents.sb3_dream import DreamAgentConfig

    cloning = CloningConfig(updates=cfg.clone_updates, seed=seed)
    if method == "BC":  # the warm start alone: the actor cloned, not a single dream step
        return DreamAgentConfig(steps=0, num_envs=1, cloning=cloning, seed=seed)
    safeguards: dict[str, Any] = {
        "dream": {},
        "dream+MOPO": {"uncertainty_penalty": cfg.mopo_reward_at_p99 / calibration["p99"]},
        "dream+HALT": {
            "halt_threshold": cfg.halt_threshold,
            "halt_scale": cfg.halt_scale,
            "halt_penalty": cfg.halt_penalty,
        },
    }[method]
    return DreamAgentConfig(
        steps=cfg.agent_steps,
        num_envs=cfg.num_envs,
        horizon=cfg.dream_horizon or None,
        seed=seed,
        algo_kwargs={} if cfg.gamma == _default_gamma() else {"gamma": cfg.gamma},
        cloning=cloning if cfg.warm_start else None,
        critic_warmup_steps=cfg.critic_warmup_steps if cfg.warm_start else 0,
        behaviour_penalty=cfg.behaviour_penalty,
        **safeguards,
    )


def _default_gamma() -> float:
    from agents.sb3_dream import DEFAULT_KWARGS

    return DEFAULT_KWARGS["ppo"]["gamma"]


def _variant(agent: dict[str, Any], calibration: dict[str, float]) -> str:
    """Names the dream settings a run used (its agent config as a dict), so runs of one never answer for
    another in a resumed benchmark. Settings at their defaults are left out, so keys of runs made before a
    setting existed stay valid."""
    horizon, gamma = agent.get("horizon"), agent.get("algo_kwargs", {}).get("gamma")
    parts = [f"s{agent['steps']}"]
    if horizon:
        parts.append(f"h{horizon}")
    if gamma is not None and gamma != _default_gamma():
        parts.append(f"g{gamma}")
    if agent.get("cloning"):
        parts.append(f"bc{agent['cloning']['updates']}")
    if agent.get("critic_warmup_steps"):
        parts.append(f"cw{agent['critic_warmup_steps']}")
    if agent.get("behaviour_penalty"):
        parts.append(f"bp{agent['behaviour_penalty']:g}")
    # to two digits: a model recalibrated on other posterior samples moves p99 by a percent or two
    reward_at_p99 = float(f"{agent.get('uncertainty_penalty', 0.0) * calibration['p99']:.2g}")
    if reward_at_p99 not in (0.0, 1.0):
        parts.append(f"mopo{reward_at_p99:g}")
    halt = agent.get("halt_threshold")
    if halt is not None and (halt, agent["halt_scale"], agent["halt_penalty"]) != ("max", 1.0, 100.0):
        parts.append(f"halt{halt}x{agent['halt_scale']:g}k{agent['halt_penalty']:g}")
    return "_".join(parts)


def _expected_variant(method: str, cfg: OfflineConfig, calibration: dict[str, float]) -> str:
    """The variant of ``method`` that this configuration asks for (see :func:`_run_key`)."""
    if method == "IQL":
        return f"u{cfg.iql_updates}"
    return _variant(_agent_config(method, cfg.seeds[0], cfg, calibration).to_dict(), calibration)


def _run_key(row: dict[str, Any], calibration: dict[str, float]) -> tuple[str, int, str]:
    """Identifies a run by its method, seed and settings, so runs of one variant never answer for another."""
    if row["method"] == "IQL":
        return row["method"], row["seed"], f"u{row['iql']['config']['updates']}"
    return row["method"], row["seed"], _variant(row["agent"], calibration)


def _policy_path(root: Path, method: str, seed: int, variant: str) -> Path:
    return root / f"{method}_{variant}_seed{seed}.zip"  # every run's variant names at least its budget


def _stored_runs(runs_path: Path) -> list[dict[str, Any]]:
    return json.loads(runs_path.read_text()) if runs_path.exists() else []


def update_runs(runs_path: Path, change: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
    """Applies ``change`` to the runs stored at ``runs_path`` and returns them all, safe for several processes.

    Two benchmark processes on one store (say IQL on one core, the dream methods on the other) would otherwise
    each write back the list they read at start, and the later write would drop the other's runs. Under an
    exclusive lock the file is read again, changed in place and written atomically.
    """
    from dreamgym.atomic import write_json_atomic

    with _exclusive(runs_path.with_suffix(".lock")):
        runs = _stored_runs(runs_path)
        change(runs)
        write_json_atomic(runs_path, runs)
    return runs


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Holds an exclusive advisory lock on ``lock_path`` (created if missing) for the body: one process at a time."""
    import fcntl

    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


DIAGNOSTIC_VERSION = 2
"""Version 1 also counted, after each ended dream, the disagreement of the step the reset discarded (the vector
env reported it until commit 96d0144); stored diagnostics of another version are recomputed from the saved policy."""


def _needs_diagnosis(row: dict[str, Any]) -> bool:
    """A dream-trained run whose stored diagnostic is missing or of an earlier :data:`DIAGNOSTIC_VERSION`."""
    return row["method"] not in MODEL_FREE and row.get("dream_uncertainty", {}).get("version") != DIAGNOSTIC_VERSION


def _require_matching_model(ckpt: Path, updates: int, has_runs: bool) -> None:
    """A store's runs all dream in one model: one trained longer than asked, or trained further after runs were
    made with it, would have them answer for a model they never saw (their keys do not name the model)."""
    from dreamgym.world_model import read_config

    if not (ckpt / "config.json").exists():
        return
    step = read_config(ckpt)["step"]
    if step > updates or (step < updates and has_runs):
        raise SystemExit(
            f"{ckpt} holds a world model after {step} updates{' and runs made with it' if has_runs else ''}; this "
            f"run asks for {updates} (--wm-updates). Pass another --out, or the matching --wm-updates."
        )


def _dream_uncertainty(policy: Any, task: str, ckpt: Path, calibration: dict[str, float], seed: int) -> dict:
    """How far the policy takes the plain dream from the data: its disagreement against the calibration."""
    from dreamgym.envs import DreamVectorEnv

    env = DreamVectorEnv(task, num_envs=32, checkpoint=ckpt)
    obs, _ = env.reset(seed=seed)
    values = []
    for _ in range(env.dreams.horizon):
        obs, _, _, _, info = env.step(np.asarray(policy(obs), dtype=np.float32))
        values.append(info["uncertainty"][info["_uncertainty"]])  # dreamed steps only, not reset steps
    u = np.concatenate(values)
    return {
        "version": DIAGNOSTIC_VERSION,
        "median": float(np.median(u)),
        "p99": float(np.quantile(u, 0.99)),
        "share_above_data_max": float((u > calibration["max"]).mean()),
        "share_above_data_p99": float((u > calibration["p99"]).mean()),
    }


def run_dataset(path: str, cfg: OfflineConfig, *, table_only: bool = False) -> dict[str, Any]:
    """World model, then every (method, seed) run on one data set; finished runs are read back, not redone.

    With ``table_only`` nothing is trained or run: the stored model and every stored run of the configured
    variants (whatever their seeds) are read back, so a benchmark run in pieces gives one table.
    """
    from agents.evaluation import evaluate_in_dream, evaluate_in_pybullet, sb3_policy
    from agents.sb3_dream import train_in_dream
    from dreamgym.data import load_episodes
    from dreamgym.tasks import get_task
    from dreamgym.world_model import make_config, read_config, stored_model_config
    from dreamgym.world_model.trainer import train_world_model

    raw = load_episodes(path)
    task = raw.metadata.get("task")
    if task is None:
        raise SystemExit(f"Data set {path!r} does not name its task in its dreamgym metadata.")
    spec = get_task(task)
    data = load_episodes(path, spec)
    name = _dataset_name(path, data.metadata)
    root = Path(cfg.out) / name
    if not table_only:
        root.mkdir(parents=True, exist_ok=True)
    runs_path = root / "runs.json"
    runs = _stored_runs(runs_path)
    tb = root / "tensorboard"
    print(
        f"[{name}] {len(data) - data.num_episodes} steps, {data.num_episodes} episodes; TensorBoard: {tb}", flush=True
    )

    ckpt = root / "world_model"
    timing_path = root / "world_model_seconds.json"
    started = time.perf_counter()
    model_cfg, train_cfg = make_config(
        "small",
        spec.obs_shape[0],
        spec.action_dim,
        steps=cfg.wm_updates,
        ensemble=cfg.ensemble,
        ensemble_heads=cfg.ensemble_heads,
        seed=cfg.wm_seed,
    )
    if table_only:
        if not timing_path.exists():
            raise SystemExit(f"No finished world model under {root}; run the benchmark on {path!r} first.")
    else:  # one process trains; another on the same store waits, then reads the finished model back
        with _exclusive(root / "world_model.lock"):
            _require_matching_model(ckpt, cfg.wm_updates, has_runs=bool(runs))
            train_world_model(data, ckpt, spec, model_cfg, train_cfg, logdir=tb / "world_model", progress=cfg.progress)
            if not timing_path.exists():  # a finished model read back on resume keeps the time its training took
                timing_path.write_text(json.dumps(time.perf_counter() - started))
    wm_seconds = json.loads(timing_path.read_text())
    stored = read_config(ckpt)
    stored_model = stored_model_config(stored, ckpt)
    if (stored_model.ensemble, stored_model.ensemble_heads) != (cfg.ensemble, cfg.ensemble_heads):
        raise SystemExit(
            f"{ckpt} holds a world model with {stored_model.ensemble} {stored_model.ensemble_heads} heads, but this "
            f"run asks for {cfg.ensemble} {cfg.ensemble_heads} heads; pass another --out (or the matching "
            "--ensemble/--ensemble-heads)."
        )
    calibration = stored["uncertainty_calibration"]
    references = _references(data, task, cfg)
    variants = {method: _expected_variant(method, cfg, calibration) for method in METHODS}

    def record(row: dict[str, Any]) -> None:
        def add(stored: list[dict[str, Any]]) -> None:  # unless another process stored this run meanwhile
            if _run_key(row, calibration) not in {_run_key(r, calibration) for r in stored}:
                stored.append(row)

        runs[:] = update_runs(runs_path, add)
        print(
            f"[{name}] {row['method']:<11} seed {row['seed']}: PyBullet {row['return']:8.1f} ± {row['return_std']:6.1f}"
            f"  (dream {row.get('dream_return', float('nan')):8.1f}, {row['seconds']:.0f}s)",
            flush=True,
        )

    diagnosed = {}  # runs recorded before the diagnostic existed, or under an earlier version, get it anew
    for row in [] if table_only else _configured(runs, calibration, variants):
        if _needs_diagnosis(row):
            key = _run_key(row, calibration)
            policy = sb3_policy(_policy_path(root, *key), deterministic=True)
            diagnosed[key] = _dream_uncertainty(policy, task, ckpt, calibration, cfg.eval_seed)
    if diagnosed:

        def fill(stored: list[dict[str, Any]]) -> None:
            for r in stored:
                if (key := _run_key(r, calibration)) in diagnosed:
                    r["dream_uncertainty"] = diagnosed[key]

        runs[:] = update_runs(runs_path, fill)

    for seed in [] if table_only else cfg.seeds:
        for method in (m for m in METHODS if m in cfg.methods):
            key = (method, seed, variants[method])
            if key in {_run_key(r, calibration) for r in _stored_runs(runs_path)}:
                continue  # run before, by this process or another on the same store
            started = time.perf_counter()
            row: dict[str, Any] = {"method": method, "seed": seed}
            if method == "IQL":
                from iql_torchrl import IQLConfig, train_iql

                policy, info = train_iql(
                    data,
                    IQLConfig(updates=cfg.iql_updates, seed=seed),
                    logdir=tb / f"iql_u{cfg.iql_updates}_seed{seed}",
                    progress=cfg.progress,
                    score=lambda p: evaluate_in_pybullet(p, task, cfg.eval_episodes, seed=cfg.eval_seed).mean,
                    score_every=cfg.iql_score_every,
                )
                row["iql"] = info
            else:  # BC is the cloned warm start with no dream step; the others train in dreams
                agent_cfg = _agent_config(method, seed, cfg, calibration)
                logdir = None if method in MODEL_FREE else tb / method
                model = train_in_dream(ckpt, task, agent_cfg, demonstrations=data, logdir=logdir, progress=cfg.progress)
                model.save(_policy_path(root, *key))
                policy = sb3_policy(model, deterministic=True)
                row["agent"] = agent_cfg.to_dict()
                if method not in MODEL_FREE:
                    dream = evaluate_in_dream(policy, task, ckpt, cfg.eval_episodes, seed=cfg.eval_seed)
                    row.update(dream_return=dream.mean, dream_std=dream.std)
                    row["dream_uncertainty"] = _dream_uncertainty(policy, task, ckpt, calibration, cfg.eval_seed)
            real = evaluate_in_pybullet(policy, task, cfg.eval_episodes, seed=cfg.eval_seed)
            row.update(
                **{"return": real.mean, "return_std": real.std, "returns": real.returns.tolist()},
                seconds=time.perf_counter() - started,
            )
            record(row)
    return {
        "name": name,
        "path": str(path),
        "task": task,
        "steps": len(data) - data.num_episodes,
        "episodes": data.num_episodes,
        "tier": data.metadata.get("tier"),
        "references": references,
        "world_model": {
            "updates": cfg.wm_updates,
            "ensemble": cfg.ensemble,
            "ensemble_heads": cfg.ensemble_heads,
            "seconds": wm_seconds,
        },
        "calibration": calibration,
        "runs": _table_runs(runs, calibration, variants, cfg.eval_episodes),
    }


def _configured(
    runs: list[dict[str, Any]], calibration: dict[str, float], variants: dict[str, str]
) -> list[dict[str, Any]]:
    """The stored runs of the configured variant of each method."""
    return [r for r in runs if _run_key(r, calibration)[2] == variants[r["method"]]]


def _table_runs(
    runs: list[dict[str, Any]], calibration: dict[str, float], variants: dict[str, str], episodes: int
) -> list[dict[str, Any]]:
    """The stored runs of the configured variants, each scored on the configured number of episodes."""
    chosen = _configured(runs, calibration, variants)
    other = sorted({(r["method"], r["seed"], len(r["returns"])) for r in chosen if len(r["returns"]) != episodes})
    if other:
        raise SystemExit(f"Runs {other} (method, seed, episodes) were scored on other than {episodes} episodes.")
    return chosen


def _uncertainty_summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    # Only the current definition: a --table-only read of a store not rerun since it changed has the older one.
    measured = [
        r["dream_uncertainty"] for r in runs if r.get("dream_uncertainty", {}).get("version") == DIAGNOSTIC_VERSION
    ]

    def mean(key: str) -> float:  # runs recorded before a statistic was measured are left out of its mean
        values = [m[key] for m in measured if key in m]
        return float(np.mean(values)) if values else float("nan")

    return {
        "dream_u_median": mean("median"),
        "dream_u_above_max": mean("share_above_data_max"),
        "dream_u_above_p99": mean("share_above_data_p99"),
    }


def _seeds(runs: list[dict[str, Any]]) -> str:
    """The seeds a data set was run with; per method when the methods were not all run with the same ones."""
    by_method = {m: sorted(r["seed"] for r in runs if r["method"] == m) for m in METHODS}
    by_method = {m: seeds for m, seeds in by_method.items() if seeds}
    if len({tuple(seeds) for seeds in by_method.values()}) <= 1:
        return str(next(iter(by_method.values()), []))
    return ", ".join(f"{m} {seeds}" for m, seeds in by_method.items())


def _share(value: float) -> str:
    return "not measured" if np.isnan(value) else f"{100 * value:.0f}%"


def _normalised(value: float, references: dict[str, Any]) -> float:
    return 100.0 * (value - references["random"]) / (references["expert"] - references["random"])


def summarise(datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (data set, method): normalised score over seeds (mean, std across seeds, each seed's)."""
    rows = []
    for ds in datasets:
        for method in METHODS:
            runs = [r for r in ds["runs"] if r["method"] == method]
            if not runs:
                continue
            scores = [_normalised(r["return"], ds["references"]) for r in runs]
            rows.append(
                {
                    "dataset": ds["name"],
                    "method": method,
                    "seeds": [r["seed"] for r in runs],
                    "score_mean": float(np.mean(scores)),
                    "score_std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,  # sample std
                    "scores": scores,
                    "return_mean": float(np.mean([r["return"] for r in runs])),
                    "dream_return_mean": float(np.mean([r["dream_return"] for r in runs]))
                    if "dream_return" in runs[0]
                    else None,
                    **_uncertainty_summary(runs),
                }
            )
    return rows


def safeguard_tests(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One-sided Welch t-tests of each safeguarded method's scores against each rival's, per data set.

    A mean above the rivals' is not enough to say a safeguard helps: seeds spread by several points, IQL's by ten
    or more. Welch's test does not assume equal spreads, and one-sided is the question asked (is it better?).
    """
    from scipy.stats import ttest_ind

    tests = []
    for row in rows:
        if row["method"] not in SAFEGUARDS:
            continue
        for rival in RIVALS:
            other = next((r for r in rows if r["dataset"] == row["dataset"] and r["method"] == rival), None)
            if other is None or min(len(row["scores"]), len(other["scores"])) < 2:
                continue  # a t-test needs a spread on both sides
            result = ttest_ind(row["scores"], other["scores"], equal_var=False, alternative="greater")
            tests.append(
                {
                    "dataset": row["dataset"],
                    "method": row["method"],
                    "rival": rival,
                    "lead": row["score_mean"] - other["score_mean"],
                    "t": float(result.statistic),
                    "p": float(result.pvalue),
                }
            )
    return tests


def _p_value(p: float) -> str:
    """Three significant digits, so 0.0497 never prints as a 0.050 beside a 'yes'."""
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def _significance_lines(rows: list[dict[str, Any]]) -> list[str]:
    tests = safeguard_tests(rows)
    if not tests:
        return []
    lines = [
        "",
        f"Does a safeguard beat both the unsafeguarded dream and IQL? One-sided Welch t-tests on the per-seed "
        f"scores; a lead counts at p < {SIGNIFICANCE}:",
        "",
        "| data set | safeguard | lead over dream (p) | lead over IQL (p) | beats both |",
        "|---|---|---|---|---|",
    ]
    for dataset, method in dict.fromkeys((t["dataset"], t["method"]) for t in tests):
        by_rival = {t["rival"]: t for t in tests if t["dataset"] == dataset and t["method"] == method}
        cells = [f"{by_rival[r]['lead']:+.1f} ({_p_value(by_rival[r]['p'])})" if r in by_rival else "—" for r in RIVALS]
        wins = len(by_rival) == len(RIVALS) and all(t["p"] < SIGNIFICANCE for t in by_rival.values())
        lines.append(f"| {dataset} | {method} | " + " | ".join(cells) + f" | {'yes' if wins else 'no'} |")
    return lines


def write_markdown(path: Path, cfg: OfflineConfig, datasets: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    lines = [
        "# Offline RL: dream-trained PPO (none / MOPO / HALT) against BC and IQL",
        "",
        "Normalised PyBullet return, 100 * (R - R_random) / (R_expert - R_random); mean ± sample std over the agent "
        "seeds each data set lists below (every seed run so far), each seed scored on "
        f"{cfg.eval_episodes} PyBullet episodes with seeds "
        f"{cfg.eval_seed}..{cfg.eval_seed + cfg.eval_episodes - 1}. World model: `small`, {cfg.ensemble} prior heads "
        f"({cfg.ensemble_heads}), "
        f"{cfg.wm_updates} updates; BC: PPO's actor cloned from the data set ({cfg.clone_updates} updates); "
        f"PPO: {cfg.agent_steps} dream steps"
        + (
            f", fine-tuning the BC policy of its seed (critic alone for the first {cfg.critic_warmup_steps})"
            if cfg.warm_start
            else ", from a random actor"
        )
        + (
            f", rewards minus {cfg.behaviour_penalty:g} x the squared distance to the BC actor's action"
            if cfg.behaviour_penalty
            else ""
        )
        + " in dreams of "
        f"{cfg.dream_horizon or 'the task default'} steps, gamma {cfg.gamma}; MOPO lambda = {cfg.mopo_reward_at_p99} / "
        "(the data set's p99 disagreement); HALT at "
        f"{cfg.halt_scale} x the data set's `{cfg.halt_threshold}` disagreement, penalty {cfg.halt_penalty}; "
        f"IQL (TorchRL IQLLoss): {cfg.iql_updates} updates. Dream returns are measured in the plain dream "
        "(no safeguard), up to the real episode limit.",
        "",
        "| data set | steps | " + " | ".join(METHODS) + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    for ds in datasets:
        cells = []
        for method in METHODS:
            row = next((r for r in rows if r["dataset"] == ds["name"] and r["method"] == method), None)
            cells.append("—" if row is None else f"{row['score_mean']:.1f} ± {row['score_std']:.1f}")
        lines.append(f"| {ds['name']} | {ds['steps']} | " + " | ".join(cells) + " |")
    lines += _significance_lines(rows)
    lines += ["", "Reference returns and dream-vs-PyBullet returns (mean over seeds):", ""]
    for ds in datasets:
        refs = ds["references"]
        lines.append(
            f"- {ds['name']}: random {refs['random']:.1f}, expert {refs['expert']:.1f} ({refs['source']}); "
            f"data-set disagreement p99 {ds['calibration']['p99']:.3f}, max {ds['calibration']['max']:.3f} nats; "
            f"seeds {_seeds(ds['runs'])}"
        )
        for run in (r for r in ds["runs"] if "curve" in r.get("iql", {})):
            points = ", ".join(f"{n // 1000}k: {_normalised(v, refs):.1f}" for n, v in run["iql"]["curve"])
            lines.append(f"  - IQL seed {run['seed']}, normalised score along training: {points}")
        for row in (r for r in rows if r["dataset"] == ds["name"] and r["dream_return_mean"] is not None):
            lines.append(
                f"  - {row['method']}: dream {row['dream_return_mean']:.1f}, PyBullet {row['return_mean']:.1f}; "
                f"median disagreement in the dream {row['dream_u_median']:.3f} nats, "
                f"dream steps above the data set's p99: {_share(row['dream_u_above_p99'])}, "
                f"above its max: {_share(row['dream_u_above_max'])}"
            )
    notes = path.with_suffix(".notes.md")  # the hand-written reading of the results, kept across reruns
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # for iql_torchrl
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = OfflineConfig()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, list):
            parser.add_argument(flag, nargs="+", type=int if name == "seeds" else str, default=value)
        elif isinstance(value, bool):  # a flag that flips the default
            flip = flag if not value else "--no-" + flag[2:]
            parser.add_argument(flip, dest=name, action="store_false" if value else "store_true")
        else:
            parser.add_argument(flag, type=type(value), default=value)
    parser.add_argument("--report-only", action="store_true", help="rewrite the table from the saved results JSON")
    parser.add_argument(
        "--table-only", action="store_true", help="table every run stored under --out; train and run nothing"
    )
    namespace = vars(parser.parse_args(argv))
    report_only, table_only = namespace.pop("report_only"), namespace.pop("table_only")
    if not namespace["datasets"] and not report_only:
        parser.error("--datasets is required (except with --report-only, which reads them from the results JSON)")
    cfg = OfflineConfig(**namespace)
    if report_only:  # the runs are in the JSON; only the summary and Markdown are recomputed
        payload = json.loads((RESULTS / f"{cfg.results_name}.json").read_text())
        cfg = OfflineConfig(**{"ensemble_heads": "linear"} | payload["config"])  # older results had linear heads
        payload["table"] = summarise(payload["datasets"])
        (RESULTS / f"{cfg.results_name}.json").write_text(json.dumps(payload, indent=2))
        write_markdown(RESULTS / f"{cfg.results_name}.md", cfg, payload["datasets"], payload["table"])
        print((RESULTS / f"{cfg.results_name}.md").read_text())
        return
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    datasets = [run_dataset(path, cfg, table_only=table_only) for path in cfg.datasets]
    rows = summarise(datasets)
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "config": asdict(cfg),
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "seconds": time.perf_counter() - started,
        "table": rows,
        "datasets": datasets,
    }
    (RESULTS / f"{cfg.results_name}.json").write_text(json.dumps(payload, indent=2))
    write_markdown(RESULTS / f"{cfg.results_name}.md", cfg, datasets, rows)
    print((RESULTS / f"{cfg.results_name}.md").read_text())


if __name__ == "__main__":
    main()
