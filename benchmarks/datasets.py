"""D4RL-style quality tiers from our own collection: ``random``, ``medium``, ``expert`` and ``medium-replay``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/datasets.py --task Hopper --out /work/artifacts/datasets \\
        --train-steps 500000 --collect-steps 50000 --seed 0

What it does, and why:

1. Trains an "expert" with SB3 PPO in PyBullet (8 envs in one process, so it runs on one core), saving and
   scoring a checkpoint every ``--eval-every`` steps. PPO, not SAC: on our shared 2-core machine SB3 SAC
   runs at about 40 env steps/s (one gradient step per env step), PPO at about 1000, so within a budget of
   minutes PPO gets much further. "Expert" therefore means *the best policy this budget trained*; its return
   is recorded next to every data set and in the results file, so nobody mistakes it for D4RL's expert.
2. ``medium`` is the checkpoint whose return is closest to a third of the expert's, as in D4RL.
3. ``random``, ``medium`` and ``expert`` record ``--collect-steps`` steps of their policy (sampling from the
   PPO Gaussian, like D4RL's stochastic SAC policies) with :func:`dreamgym.data.collect`.
4. ``medium-replay`` is every training episode PPO finished before the medium checkpoint was saved, recorded
   by a wrapper on the training envs: the replay stream of a learner up to medium quality, as in D4RL.

Every data set carries dreamgym metadata: tier, policy, policy return (deterministic evaluation), the
random and expert reference returns used to normalise scores, the training step of the checkpoint, seeds
and step counts. A summary goes to ``benchmarks/results/datasets_<task>.json``. The data sets themselves stay
outside git (``--out``). Stages resume: a finished training run or data set is not redone.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
TIERS = ("random", "medium", "expert", "medium-replay")
TRAINING_FIELDS = ("task", "train_steps", "eval_every", "eval_episodes", "num_envs", "seed")  # what shapes the expert


@dataclass(frozen=True)
class TierConfig:
    """Settings of one tier-generation run.

    Attributes:
        task: dreamgym task name (Hopper, HalfCheetah, ...).
        out: root directory; data sets go to ``out/<task>/<tier>`` and the PPO run to ``out/<task>/expert_run``.
        train_steps: PPO environment steps for the expert.
        eval_every: steps between saved and scored checkpoints (candidates for ``medium``).
        eval_episodes: deterministic PyBullet episodes per checkpoint score.
        collect_steps: steps recorded for each of ``random``, ``medium`` and ``expert``.
        num_envs: PPO training envs (one process).
        medium_fraction: the medium policy's target return, as a fraction of the way from random to expert.
        seed: seeds PPO, its envs, the evaluations and the collections.
    """

    task: str = "Hopper"
    out: str = "/work/artifacts/datasets"
    train_steps: int = 500_000
    eval_every: int = 25_000
    eval_episodes: int = 5
    collect_steps: int = 50_000
    num_envs: int = 8
    medium_fraction: float = 1 / 3
    seed: int = 0


class EpisodeRecorder(gym.Wrapper):
    """Records every finished episode of a training env, tagged with the global step it ended at.

    ``clock`` is a one-element list shared by all recorders of a vector env and advanced by the training
    callback, so episodes can be cut at the exact step a checkpoint was saved. The callback runs after each
    vector step, so an episode ending inside a step sees the clock of the step before: ``tick`` (the number of
    envs) is added to tag it with the step count it really ended at.
    """

    def __init__(self, env: gym.Env, sink: list[dict[str, Any]], clock: list[int], tick: int):
        super().__init__(env)
        self.sink, self.clock, self.tick = sink, clock, tick
        self._episode: dict[str, list] | None = None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._episode = {k: [] for k in ("observations", "actions", "rewards", "terminations", "truncations")}
        self._episode["observations"].append(np.asarray(obs, np.float32))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        episode = self._episode
        assert episode is not None, "step() before reset()"
        episode["observations"].append(np.asarray(obs, np.float32))
        episode["actions"].append(np.clip(np.asarray(action, np.float32), -1.0, 1.0))
        episode["rewards"].append(float(reward))
        episode["terminations"].append(bool(terminated))
        episode["truncations"].append(bool(truncated))
        if terminated or truncated:
            end_step = self.clock[0] + self.tick
            self.sink.append({**{k: np.asarray(v) for k, v in episode.items()}, "end_step": end_step})
            self._episode = None
        return obs, reward, terminated, truncated, info


def train_expert(cfg: TierConfig, run_dir: Path) -> dict[str, Any]:
    """Trains PPO, scoring a checkpoint every ``eval_every`` steps; returns the scores and recorded episodes."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from agents.evaluation import evaluate_in_pybullet, sb3_policy
    from dreamgym.atomic import write_json_atomic
    from dreamgym.tasks import get_task

    spec = get_task(cfg.task)
    if cfg.train_steps < cfg.eval_every:
        raise SystemExit(
            f"--train-steps {cfg.train_steps} is below --eval-every {cfg.eval_every}: no checkpoint would be scored, "
            "so there would be no expert or medium policy to choose."
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    summary_path = run_dir / "training.json"
    settings = {k: v for k, v in asdict(cfg).items() if k in TRAINING_FIELDS}
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        _require_same_settings("The expert run", run_dir, summary.get("config"), settings)
        return summary
    torch.manual_seed(cfg.seed)
    episodes: list[dict[str, Any]] = []
    clock = [0]

    def make(i: int):
        def thunk() -> gym.Env:
            return EpisodeRecorder(spec.make_env(), episodes, clock, tick=cfg.num_envs)

        return thunk

    venv = DummyVecEnv([make(i) for i in range(cfg.num_envs)])
    venv.seed(cfg.seed)
    # Reward normalisation only rescales PPO's value targets; observations stay raw so a saved policy acts on
    # PyBullet observations directly (no statistics file to carry around).
    venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=0.99)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=256,
        batch_size=256,
        n_epochs=10,
        learning_rate=3e-4,
        gamma=0.99,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.0,
        policy_kwargs=dict(net_arch=[128, 128]),
        seed=cfg.seed,
        device="cpu",
        verbose=0,
        tensorboard_log=str(run_dir / "tensorboard"),
    )
    evals: list[dict[str, Any]] = []

    class Checkpoints(BaseCallback):
        def _on_step(self) -> bool:
            clock[0] = self.num_timesteps
            if self.num_timesteps % cfg.eval_every < cfg.num_envs:
                path = run_dir / f"ppo_{self.num_timesteps}.zip"
                self.model.save(path)
                score = evaluate_in_pybullet(
                    sb3_policy(self.model, deterministic=True), cfg.task, cfg.eval_episodes, seed=10_000 + cfg.seed
                )
                evals.append({"step": self.num_timesteps, "path": path.name, "return": score.mean, "std": score.std})
                self.logger.record("eval/return", score.mean)
                print(f"  step {self.num_timesteps}: deterministic return {score}", flush=True)
            return True

    started = time.perf_counter()
    model.learn(cfg.train_steps, callback=Checkpoints(), progress_bar=True, tb_log_name="expert")
    venv.close()
    np.savez_compressed(
        run_dir / "episodes.npz",
        **{f"{i}_{k}": v for i, ep in enumerate(episodes) for k, v in ep.items()},
        count=len(episodes),
    )
    summary = {
        "config": settings,
        "evals": evals,
        "train_seconds": time.perf_counter() - started,
        "episodes": len(episodes),
    }
    write_json_atomic(summary_path, summary)  # written last: its presence means training finished
    return summary


def _require_same_generator(what: str, out: Path, cfg: TierConfig) -> None:
    """A stored tier must come from these settings; ``out`` may differ (a moved data root is the same data)."""
    from dreamgym.data import dataset_metadata

    stored = dataset_metadata(out).get("generator")
    if stored is not None:
        stored = {k: v for k, v in stored.items() if k != "out"}
    _require_same_settings(what, out, stored, {k: v for k, v in asdict(cfg).items() if k != "out"})


def _require_same_settings(what: str, path: Path, stored: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    """Stops a resumed run from reusing a stage made with other settings and then describing it with these."""
    stored = stored or {}
    changed = sorted(k for k in stored.keys() | expected.keys() if stored.get(k) != expected.get(k))
    if changed:
        differences = ", ".join(f"{k} {stored.get(k)!r} (asked {expected.get(k)!r})" for k in changed)
        raise SystemExit(
            f"{what} in {str(path)!r} was made with other settings: {differences}. Pass another --out, or delete "
            f"{str(path)!r} to redo it."
        )


def _load_training_episodes(run_dir: Path) -> list[dict[str, Any]]:
    with np.load(run_dir / "episodes.npz") as blob:
        keys = ("observations", "actions", "rewards", "terminations", "truncations", "end_step")
        return [{k: blob[f"{i}_{k}"] for k in keys} for i in range(int(blob["count"]))]


def make_tiers(cfg: TierConfig) -> dict[str, Any]:
    """Runs every stage (resuming finished ones) and returns the summary written to the results directory."""
    from agents.evaluation import evaluate_in_pybullet, random_policy, sb3_policy
    from dreamgym.data import collect, load_episodes, write_episodes
    from dreamgym.tasks import get_task

    spec = get_task(cfg.task)
    root = Path(cfg.out) / cfg.task
    run_dir = root / "expert_run"
    print(f"[{cfg.task}] training the expert with PPO for {cfg.train_steps} steps in {run_dir}", flush=True)
    training = train_expert(cfg, run_dir)
    evals = training["evals"]
    eval_seed, ref_episodes = 20_000 + cfg.seed, 10
    best = max(evals, key=lambda e: e["return"])
    # Re-score the chosen checkpoints on more episodes, with seeds no candidate score used.
    random_return = evaluate_in_pybullet(random_policy(spec.action_dim, cfg.seed), cfg.task, ref_episodes, eval_seed)
    expert_return = evaluate_in_pybullet(sb3_policy(run_dir / best["path"]), cfg.task, ref_episodes, eval_seed)
    target = random_return.mean + cfg.medium_fraction * (expert_return.mean - random_return.mean)
    medium = min(evals, key=lambda e: abs(e["return"] - target))
    medium_return = evaluate_in_pybullet(sb3_policy(run_dir / medium["path"]), cfg.task, ref_episodes, eval_seed)
    references = {"random": random_return.mean, "expert": expert_return.mean}
    print(
        f"[{cfg.task}] random {random_return}, expert {expert_return} (step {best['step']}), "
        f"medium {medium_return} (step {medium['step']}, target {target:.1f})",
        flush=True,
    )
    common = {"reference_returns": references, "expert_train_steps": cfg.train_steps, "generator": asdict(cfg)}
    policies = {
        "random": (None, random_return, None),
        "medium": (run_dir / medium["path"], medium_return, medium["step"]),
        "expert": (run_dir / best["path"], expert_return, best["step"]),
    }
    tiers: dict[str, Any] = {}
    for offset, (tier, (policy, score, step)) in enumerate(policies.items()):
        out = root / tier
        if out.exists():
            _require_same_generator(f"Data set {tier!r}", out, cfg)
        else:
            collect(
                spec,
                cfg.collect_steps,
                out,
                policy=str(policy) if policy else None,
                seed=cfg.seed + 100 * (offset + 1),
                name=tier,
                extra_metadata={
                    **common,
                    "tier": tier,
                    "policy_return": score.mean,
                    "policy_return_std": score.std,
                    "policy_checkpoint_step": step,
                },
            )
        tiers[tier] = _describe(load_episodes(out, spec), out)
        tiers[tier].update(policy_return=score.mean, policy_return_std=score.std, checkpoint_step=step)

    out = root / "medium-replay"
    if out.exists():
        _require_same_generator("Data set 'medium-replay'", out, cfg)
    else:
        replay = [ep for ep in _load_training_episodes(run_dir) if ep["end_step"] <= medium["step"]]
        write_episodes(
            spec,
            replay,
            out,
            name="medium-replay",
            policy=f"PPO training rollouts up to step {medium['step']} (the medium checkpoint)",
            seed=cfg.seed,
            extra_metadata={**common, "tier": "medium-replay", "policy_checkpoint_step": medium["step"]},
        )
    tiers["medium-replay"] = _describe(load_episodes(out, spec), out)
    tiers["medium-replay"].update(checkpoint_step=medium["step"])
    summary = {
        "task": cfg.task,
        "config": asdict(cfg),
        "reference_returns": references,
        "reference_episodes": ref_episodes,
        "reference_seeds": [eval_seed, eval_seed + ref_episodes - 1],
        "expert_note": (
            f"'expert' is the best checkpoint of {cfg.train_steps} PPO steps (our compute budget), not a "
            "converged policy; scores normalised by it are relative to what this budget trained."
        ),
        "train_seconds": training["train_seconds"],
        "checkpoint_scores": evals,
        "tiers": tiers,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"datasets_{cfg.task.lower()}.json").write_text(json.dumps(summary, indent=2))
    return summary


def _describe(data: Any, path: Path) -> dict[str, Any]:
    """Step, episode and return statistics of a loaded data set, for the results file."""
    returns = np.add.reduceat(data.reward, np.flatnonzero(data.is_first))  # first rows carry reward 0
    return {
        "path": str(path),
        "steps": len(data) - data.num_episodes,
        "episodes": data.num_episodes,
        "episode_return_mean": float(returns.mean()),
        "episode_return_std": float(returns.std()),
        "seed": data.metadata.get("seed"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field, default in asdict(TierConfig()).items():
        parser.add_argument("--" + field.replace("_", "-"), type=type(default), default=default)
    cfg = TierConfig(**vars(parser.parse_args(argv)))
    summary = make_tiers(cfg)
    for tier, info in summary["tiers"].items():
        print(
            f"{tier:>14}: {info['steps']:>7} steps, {info['episodes']:>4} episodes, "
            f"return {info['episode_return_mean']:.1f} ± {info['episode_return_std']:.1f}"
        )


if __name__ == "__main__":
    main()
