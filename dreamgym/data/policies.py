"""Behaviour policies to collect data with: uniform random, an SB3 checkpoint, or any callable."""

from __future__ import annotations

import functools
import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dreamgym.errors import CheckpointError
from dreamgym.seeding import preserved_global_rngs
from dreamgym.tasks.goals import DictCodec
from dreamgym.tasks.registry import to_unit_actions

__all__ = [
    "POLICY_FORMATS_GROUP",
    "Policy",
    "ResolvedPolicy",
    "export_sb3_policy",
    "load_policy",
    "load_sb3_model",
    "load_sb3_policy",
    "policy_digest",
    "proprioceptive",
    "reset_policy",
    "resolve_policy",
    "sb3_algorithm_for",
    "sb3_predictor",
]

POLICY_FORMATS_GROUP = "dreamgym.policy_formats"
"""Entry-point group of the loaders of policy directories, by the ``format`` their ``policy.json`` names.

Agents that live above this package (``agents.dreamer``'s latent policy) register their loader here from
``pyproject.toml``, so evaluation and collection load them without importing upwards."""
_POLICY_MANIFEST = "policy.json"

Policy = Callable[[np.ndarray], np.ndarray]
"""Maps one observation to one action; the form every collection policy is reduced to."""


def proprioceptive(image_shape: tuple[int, ...] | None, policy: Policy) -> Policy:
    """``policy`` of the vector observation, acting on a pixel task's ``Dict`` observations through the
    proprioception beside the frame; a task without images (``image_shape`` ``None``) keeps it as it is.

    Agents trained on the dreams' flat view, and the scripted experts, read the proprioception alone; the real pixel
    env hands them the frame too.
    """
    if image_shape is None:
        return policy

    @functools.wraps(policy)  # the data set records the policy's own name
    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        return policy(obs["proprio"])

    return act


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


def sb3_algorithm_for(path: Path) -> str:
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
    return sb3_predictor(load_sb3_model(path, algorithm), deterministic)


def load_sb3_model(path: str | Path, algorithm: str | None = None) -> Any:
    """Loads a Stable-Baselines3 checkpoint on the CPU, its algorithm read from the file when not given; the
    global RNGs are left as they were.

    The model is loaded to act, not to go on training: an off-policy algorithm gets a one-transition plain replay
    buffer, because SB3 cannot rebuild a HER buffer without the training env, and a full-size one would allocate
    its whole capacity for nothing.

    Raises:
        CheckpointError: the file is missing or was not written by a supported SB3 algorithm.
    """
    import stable_baselines3 as sb3

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"SB3 checkpoint {str(path)!r} does not exist; expected a .zip from model.save().")
    name = (algorithm or sb3_algorithm_for(path)).upper()
    if name not in ("PPO", "A2C", "SAC", "TD3"):
        raise CheckpointError(f"Unsupported SB3 algorithm {algorithm!r}; expected PPO, A2C, SAC or TD3.")
    with preserved_global_rngs():  # SB3's load reseeds every global RNG with the checkpoint's training seed
        acting_only = {"replay_buffer_class": None, "replay_buffer_kwargs": {}, "buffer_size": 1}
        return getattr(sb3, name).load(
            path, device="cpu", custom_objects=acting_only if name in ("SAC", "TD3") else None
        )


def sb3_predictor(model: Any, deterministic: bool) -> Policy:
    """An SB3 model as a policy on dreamgym's flat observations and [-1, 1] actions.

    A model trained on a goal task's ``Dict`` observations (``MultiInputPolicy``, HER) gets them back from the
    flat vector (see :mod:`dreamgym.tasks.goals`), and one trained in an env's own action bounds (a user's task
    in its native dream) has its actions mapped onto [-1, 1], so it runs on the ladder like any other policy.
    """
    from gymnasium import spaces

    codec = DictCodec(model.observation_space) if isinstance(model.observation_space, spaces.Dict) else None
    low, high = model.action_space.low, model.action_space.high
    unit = bool(np.allclose(low, -1.0) and np.allclose(high, 1.0))

    def act(observation: np.ndarray) -> np.ndarray:
        obs = codec.to_dict(observation) if codec is not None else observation
        action, _ = model.predict(obs, deterministic=deterministic)
        action = np.asarray(action)
        return action if unit else to_unit_actions(action, low, high)

    return act


def export_sb3_policy(source: str | Path, target: str | Path) -> Path:
    """Writes an SB3 checkpoint without its optimisers' moments: what acting needs, at half a SAC zip's size.

    The weights are untouched, so the export acts exactly as ``source`` does; it loads with :func:`load_sb3_model`
    like any SB3 zip (training would start its optimisers afresh).
    """
    model = load_sb3_model(source)
    for name in model._get_torch_save_params()[0]:
        if name.endswith("optimizer"):
            owner = model
            for part in name.split("."):
                owner = getattr(owner, part)
            owner.state.clear()
    model.save(target)
    return Path(target)


def resolve_policy(
    policy: str | Path | Policy | None,
    action_space: gym.spaces.Space,
    seed: int,
    deterministic: bool = False,
    image_shape: tuple[int, ...] | None = None,
) -> ResolvedPolicy:
    """Turns the user's ``policy`` argument into a callable.

    Args:
        policy: ``None`` or ``"random"`` for uniform random actions, an SB3 checkpoint path, or a callable.
        action_space: the real env's action space; random actions are drawn from it.
        seed: seeds the random policy so the same seed gives the same data set.
        deterministic: passed to SB3 checkpoints (see :func:`load_sb3_policy`).
        image_shape: a pixel task's frame shape: an SB3 checkpoint trained on the vector observation (its vector
            twin's, or a dream's flat view) then acts on the proprioception beside the frame.

    Raises:
        TypeError: ``policy`` is none of the accepted kinds.
    """
    if policy is None or (isinstance(policy, str) and policy == "random"):
        action_space.seed(seed)
        return ResolvedPolicy(lambda _observation: action_space.sample(), "random", "uniform random actions")
    if isinstance(policy, (str, Path)):
        from gymnasium import spaces

        model = load_sb3_model(policy)
        act = sb3_predictor(model, deterministic)
        if not isinstance(model.observation_space, spaces.Dict) or "image" not in model.observation_space.spaces:
            act = proprioceptive(image_shape, act)  # a policy of the vector observation or the goal Dict
        return ResolvedPolicy(act, "sb3", f"SB3 checkpoint {Path(policy).name} (deterministic={deterministic})")
    if callable(policy):
        name = getattr(policy, "__qualname__", type(policy).__qualname__)
        return ResolvedPolicy(policy, "callable", f"callable {name}")
    raise TypeError(
        f"Expected `policy` to be None, 'random', a path to an SB3 checkpoint or a callable, "
        f"got {type(policy).__name__}."
    )


def load_policy(path: str | Path, deterministic: bool = True) -> Policy:
    """Loads a saved policy: an SB3 ``.zip``, or a policy directory whose ``policy.json`` names its format.

    Directory formats are looked up among the installed :data:`POLICY_FORMATS_GROUP` entry points (dreamgym
    installs ``dreamgym-dreamer-policy``, the Dreamer agent's latent policy). Returned policies are batched:
    (N, obs_dim) observations to (N, action_dim) actions; a recurrent one has a ``reset()`` that
    :func:`reset_policy` calls at the start of episodes.

    Raises:
        CheckpointError: the path holds neither, or a format no installed package loads.
    """
    from importlib.metadata import entry_points

    path = Path(path)
    if not path.is_dir():
        return load_sb3_policy(path, deterministic=deterministic)
    try:
        kind = json.loads((path / _POLICY_MANIFEST).read_text()).get("format")
    except (OSError, json.JSONDecodeError, AttributeError) as err:
        raise CheckpointError(
            f"Policy directory {str(path)!r} has no readable {_POLICY_MANIFEST}; expected an SB3 .zip or a directory "
            f"saved by a dreamgym agent ({err})."
        ) from err
    loaders = {ep.name: ep for ep in entry_points(group=POLICY_FORMATS_GROUP)}
    if kind not in loaders:
        raise CheckpointError(
            f"Policy {str(path)!r} has format {kind!r}, which no installed package loads; expected one of "
            f"{sorted(loaders)}."
        )
    return loaders[kind].load()(path, deterministic=deterministic)


def policy_digest(path: str | Path) -> str:
    """sha256 that changes whenever a saved policy does: of the file, or of a directory's manifests (which hold
    the sha256 of every weight file, checked when it loads)."""
    path = Path(path)
    if not path.is_dir():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for part in sorted(path.glob("*.json")):
        digest.update(part.name.encode() + b"\0" + part.read_bytes())
    return digest.hexdigest()


def reset_policy(policy: Policy) -> None:
    """Tells a recurrent policy that new episodes start (its ``reset()``); stateless policies have none."""
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset()
