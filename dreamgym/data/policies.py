"""Behaviour policies to collect data with: uniform random, an SB3 checkpoint, or any callable."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from dreamgym.errors import CheckpointError
from dreamgym.seeding import preserved_global_rngs

__all__ = ["Policy", "ResolvedPolicy", "load_sb3_policy", "resolve_policy"]

Policy = Callable[[np.ndarray], np.ndarray]
"""Maps one observation to one action; the form every collection policy is reduced to."""


@dataclass(frozen=True)
class ResolvedPolicy:
    """A policy ready to act, with the words recorded in the data set about where it came from.

    Attributes:
        act: the policy itself.
        kind: ``"random"``, ``"sb3"`` or ``"callable"``; used as the default data set name.
        description: human-readable origin, stored in the data set metadata so a data set can be traced back.
    """

    act: Policy
    kind: str
    description: str


def _sb3_algorithm_for(path: Path) -> str:
    """Reads which SB3 algorithm saved a checkpoint from the module of its stored policy class.

    Trying ``PPO.load`` then ``SAC.load`` is not safe: loading a zip with the wrong class can fail deep inside
    torch or, worse, half-succeed. The zip's ``data`` entry names the policy's module, which is unambiguous.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"Cannot read SB3 checkpoint {str(path)!r}: expected a zip written by `model.save()` ({err})."
        ) from err
    module = str(data.get("policy_class", {}).get("__module__", ""))
    for fragment, algorithm in ((".sac.", "SAC"), (".td3.", "TD3"), (".common.policies", "PPO")):
        if fragment in module + ".":
            return algorithm
    raise CheckpointError(
        f"SB3 checkpoint {str(path)!r} holds a policy from module {module!r}; "
        "expected one saved by PPO, A2C, SAC or TD3."
    )


def load_sb3_policy(path: str | Path, deterministic: bool = False, algorithm: str | None = None) -> Policy:
    """Loads a Stable-Baselines3 checkpoint as an observation-to-action function.

    Args:
        path: the ``.zip`` written by ``model.save()``.
        deterministic: ``False`` (default) samples from the policy's action distribution, which gives the
            world model data around the policy's behaviour rather than a single trajectory tube.
        algorithm: ``"PPO"``, ``"A2C"``, ``"SAC"`` or ``"TD3"``; read from the checkpoint when ``None``.

    Returns:
        A function mapping one observation to one action (already clipped to the action space by SB3).

    Raises:
        CheckpointError: the file is missing or was not written by a supported SB3 algorithm.
    """
    import stable_baselines3 as sb3

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"SB3 checkpoint {str(path)!r} does not exist; expected a .zip from model.save().")
    name = (algorithm or _sb3_algorithm_for(path)).upper()
    if name not in ("PPO", "A2C", "SAC", "TD3"):
        raise CheckpointError(f"Unsupported SB3 algorithm {algorithm!r}; expected PPO, A2C, SAC or TD3.")
    with preserved_global_rngs():  # SB3's load reseeds every global RNG with the checkpoint's training seed
        model = getattr(sb3, name).load(path, device="cpu")

    def act(observation: np.ndarray) -> np.ndarray:
        action, _ = model.predict(observation, deterministic=deterministic)
        return np.asarray(action)

    return act


def resolve_policy(
    policy: str | Path | Policy | None, action_space: gym.spaces.Space, seed: int, deterministic: bool = False
) -> ResolvedPolicy:
    """Turns the user's ``policy`` argument into a callable.

    Args:
        policy: ``None`` or ``"random"`` for uniform random actions, an SB3 checkpoint path, or a callable.
        action_space: the real env's action space; random actions are drawn from it.
        seed: seeds the random policy so the same seed gives the same data set.
        deterministic: passed to SB3 checkpoints (see :func:`load_sb3_policy`).

    Raises:
        TypeError: ``policy`` is none of the accepted kinds.
    """
    if policy is None or (isinstance(policy, str) and policy == "random"):
        action_space.seed(seed)
        return ResolvedPolicy(lambda _observation: action_space.sample(), "random", "uniform random actions")
    if isinstance(policy, (str, Path)):
        return ResolvedPolicy(
            load_sb3_policy(policy, deterministic=deterministic),
            "sb3",
            f"SB3 checkpoint {Path(policy).name} (deterministic={deterministic})",
        )
    if callable(policy):
        name = getattr(policy, "__qualname__", type(policy).__qualname__)
        return ResolvedPolicy(policy, "callable", f"callable {name}")
    raise TypeError(
        f"Expected `policy` to be None, 'random', a path to an SB3 checkpoint or a callable, "
        f"got {type(policy).__name__}."
    )
