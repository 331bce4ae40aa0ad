"""Dream environments: a world model behind the Gymnasium single-env, vector-env and SB3 VecEnv APIs.

Classes load lazily so ``import dreamgym`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dreamgym.envs.registration import dream_env_id, register_dream_envs

if TYPE_CHECKING:
    from dreamgym.envs.dream_env import DreamEnv
    from dreamgym.envs.dream_vector_env import DreamVectorEnv
    from dreamgym.envs.sb3_vec_env import DreamSB3VecEnv

__all__ = ["DreamEnv", "DreamSB3VecEnv", "DreamVectorEnv", "dream_env_id", "register_dream_envs"]

_LAZY = {
    "DreamEnv": "dreamgym.envs.dream_env",
    "DreamVectorEnv": "dreamgym.envs.dream_vector_env",
    "DreamSB3VecEnv": "dreamgym.envs.sb3_vec_env",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dreamgym.envs' has no attribute {name!r}")
