"""Agents that learn inside dreams (Stable-Baselines3 PPO/SAC) and their evaluation on the real simulator."""

from agents.behaviour_cloning import CloningConfig, clone_behaviour
from agents.behaviour_penalty import BehaviourPenalty
from agents.evaluation import EvalResult, evaluate_in_dream, evaluate_in_pybullet, random_policy, sb3_policy
from agents.sb3_dream import DreamAgentConfig, train_in_dream

__all__ = [
    "BehaviourPenalty",
    "CloningConfig",
    "DreamAgentConfig",
    "EvalResult",
    "clone_behaviour",
    "evaluate_in_dream",
    "evaluate_in_pybullet",
    "random_policy",
    "sb3_policy",
    "train_in_dream",
]
