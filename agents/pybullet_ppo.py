"""SB3 PPO trained directly in PyBullet: the behaviour policy whose episodes become a world model's data."""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["train_pybullet_ppo"]


def train_pybullet_ppo(
    task: str, steps: int, out: str | Path, seed: int = 0, num_envs: int = 8, progress: bool = True
) -> Path:
    """Trains PPO for ``steps`` PyBullet steps (rounded up to whole rollouts) and saves it at ``out`` (an SB3 zip),
    unless ``out`` exists.

    The envs run in one process (PPO is cheap per step; the simulator is the cost, and one core is what a
    benchmark beside others gets). Rewards are normalised for PPO's value targets only; observations stay raw,
    so the saved zip acts on PyBullet's own observations, as :func:`dreamgym.data.collect` and the transfer
    ladder give them.
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from dreamgym.tasks import get_task

    out = Path(out)
    if out.exists():
        return out
    spec = get_task(task)
    torch.manual_seed(seed)
    venv = DummyVecEnv([spec.make_env for _ in range(num_envs)])
    venv.seed(seed)
    venv = VecNormalize(venv, norm_obs=False, norm_reward=True)
    model = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, seed=seed, device="cpu", verbose=0)
    rollout = model.n_steps * num_envs  # PPO only stops after whole rollouts: the bar's total says so
    model.learn(-(-steps // rollout) * rollout, progress_bar=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial.zip")  # SB3 appends .zip to a name without it
    model.save(partial)
    partial.replace(out)
    venv.close()
    return out
