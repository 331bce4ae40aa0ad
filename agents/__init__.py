"""Agents that learn inside dreams (Stable-Baselines3 PPO/SAC) and their evaluation on the real simulator."""

from agents.evaluation import EvalResult, evaluate_in_dream, evaluate_in_pybullet, random_policy, sb3_policy
from agents.sb3_dream import DreamAgentConfig, train_in_dream

__all__ = [
    "DreamAgentConfig",
    "EvalResult",
    "evaluate_in_dream",
    "evaluate_in_pybullet",
    "random_policy",
    "sb3_policy",
    "train_in_dream",
]
