"""A Dreamer policy that acts on real observations: filter them through the world model, act from the latent.

On disk a policy is a world-model checkpoint directory with the actor beside it, so the same directory serves
``gymnasium.make("dreamgym/<Task>-dream-v0", checkpoint=...)``, ``dreamgym evaluate --policy`` and a robot::

    policy/
      config.json, model.safetensors, starts.safetensors   the world model (see dreamgym.world_model.checkpoint)
      actor.safetensors                                     the actor's weights
      policy.json                                           actor sizes, sha256 of the actor and of the world
                                                            model it was trained with
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from agents.dreamer.actor import Actor
from dreamgym.atomic import atomic_directory
from dreamgym.errors import CheckpointError
from dreamgym.tasks import TaskSpec
from dreamgym.world_model import RSSMState, WorldModel, load_checkpoint, save_checkpoint

__all__ = ["POLICY_FORMAT", "DreamerPolicy", "load_dreamer_policy", "save_dreamer_policy"]

POLICY_FORMAT = "dreamgym-dreamer-policy"
POLICY_FILE = "policy.json"
ACTOR_FILE = "actor.safetensors"
_FORMAT_VERSION = 1


class DreamerPolicy:
    """Batched, recurrent: ``policy(obs)`` maps observations (N, obs_dim) to actions (N, action_dim).

    Each call filters the observations into the RSSM posterior (the same :meth:`WorldModel.observe` the model
    was trained with, one step at a time, with the policy's own previous actions) and acts from the posterior's
    features. The latent state is the policy's memory: :meth:`reset` starts every episode afresh (the
    evaluation loops call it), :meth:`reset_where` restarts some envs of a batch, and a call with another batch
    size starts afresh too.

    Example:
        >>> policy = load_dreamer_policy("run/policy")  # doctest: +SKIP
        >>> policy.reset(); action = policy(obs[None])[0]  # doctest: +SKIP
    """

    def __init__(self, world_model: WorldModel, actor: Actor, deterministic: bool = True):
        self.world_model, self.actor, self.deterministic = world_model.eval(), actor.eval(), deterministic
        self.obs_dim, self.action_dim = world_model.cfg.obs_dim, world_model.cfg.action_dim
        self._state: RSSMState | None = None
        self._prev_action = torch.zeros(0, self.action_dim)
        self._is_first = torch.zeros(0, dtype=torch.bool)

    def reset(self) -> None:
        """Forgets the latent state: the next call starts new episodes in every env."""
        self._state = None

    def reset_where(self, mask: np.ndarray) -> None:
        """Restarts the envs where ``mask`` (N,) is set at the next call; the others keep their memory."""
        if self._state is not None:
            self._is_first |= torch.as_tensor(np.asarray(mask, dtype=bool))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        if obs_t.ndim != 2 or obs_t.shape[1] != self.obs_dim:
            raise ValueError(f"Expected observations of shape (N, {self.obs_dim}), got {tuple(obs_t.shape)}.")
        if not torch.isfinite(obs_t).all():
            raise ValueError("Expected finite observations, got NaN or inf.")
        if self._state is None or len(self._is_first) != len(obs_t):
            self._state = self.world_model.rssm.initial((len(obs_t),))
            self._prev_action = torch.zeros(len(obs_t), self.action_dim)
            self._is_first = torch.ones(len(obs_t), dtype=torch.bool)
        with torch.inference_mode():
            post = self.world_model.observe(
                obs_t[:, None], self._prev_action[:, None], self._is_first[:, None], self._state
            )
            state = post.index((slice(None), 0))
            action = self.actor.act(state.features, self.deterministic)
        self._state, self._prev_action = state, action
        self._is_first = torch.zeros_like(self._is_first)
        return action.numpy()

    def memory(self) -> dict[str, torch.Tensor]:
        """The latent memory as tensors, so an online run can checkpoint and resume mid-episode."""
        if self._state is None:
            return {}
        return {
            "deter": self._state.deter,
            "stoch": self._state.stoch,
            "prev_action": self._prev_action,
            "is_first": self._is_first,
        }

    def restore_memory(self, memory: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`memory`."""
        if not memory:
            self._state = None
            return
        self._state = RSSMState(memory["deter"].clone(), memory["stoch"].clone())
        self._prev_action, self._is_first = memory["prev_action"].clone(), memory["is_first"].clone()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_dreamer_policy(
    directory: str | Path,
    world_model: WorldModel,
    actor: Actor,
    *,
    task: TaskSpec,
    starts: dict[str, torch.Tensor],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Writes the world model and the actor as one policy directory, replacing an earlier one whole.

    Args:
        directory: the policy directory.
        world_model: the model the actor was trained in and filters through.
        actor: the trained actor.
        task: the task both were trained for; its spaces are recorded and checked on load.
        starts: real context windows the world model's dreams start from.
        extra: further JSON fields for the world model's config.json (training settings, counters).
    """
    actor_blob = save_tensors({k: v.detach().contiguous() for k, v in actor.state_dict().items()})
    with atomic_directory(directory, overwrite=True) as staging:
        save_checkpoint(
            staging,
            world_model,
            task=task.name,
            observation_shape=task.obs_shape,
            action_shape=(task.action_dim,),
            starts=starts,
            extra=extra,
            spec=task,
        )
        model_sha = json.loads((staging / "config.json").read_text())["files"]["model.safetensors"]
        (staging / ACTOR_FILE).write_bytes(actor_blob)
        manifest = {
            "format": POLICY_FORMAT,
            "format_version": _FORMAT_VERSION,
            "task": task.name,
            "actor": actor.sizes,
            "files": {ACTOR_FILE: _sha256(actor_blob)},
            "world_model_sha256": model_sha,
        }
        (staging / POLICY_FILE).write_text(json.dumps(manifest, indent=2))
    return Path(directory)


def load_dreamer_policy(directory: str | Path, deterministic: bool = True) -> DreamerPolicy:
    """Loads a policy directory written by :func:`save_dreamer_policy`, checking every file's sha256.

    Raises:
        CheckpointError: a file is missing, corrupt or tampered with, or the actor was trained with another
            world model than the one beside it.
    """
    directory = Path(directory)
    try:
        manifest = json.loads((directory / POLICY_FILE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"No readable Dreamer policy at {str(directory)!r}: expected {POLICY_FILE} beside a world model ({err})."
        ) from err
    if manifest.get("format") != POLICY_FORMAT or manifest.get("format_version") != _FORMAT_VERSION:
        raise CheckpointError(
            f"{str(directory / POLICY_FILE)!r} is not a version-{_FORMAT_VERSION} {POLICY_FORMAT} manifest."
        )
    checkpoint = load_checkpoint(directory, task=manifest["task"])
    if checkpoint.config["files"]["model.safetensors"] != manifest["world_model_sha256"]:
        raise CheckpointError(
            f"The actor in {str(directory)!r} was trained with another world model than the one beside it "
            "(model.safetensors' sha256 differs from the one recorded in policy.json)."
        )
    blob = (directory / ACTOR_FILE).read_bytes() if (directory / ACTOR_FILE).exists() else b""
    if _sha256(blob) != manifest["files"][ACTOR_FILE]:
        raise CheckpointError(
            f"{str(directory / ACTOR_FILE)!r} is missing, truncated or modified: its sha256 does not match "
            f"{POLICY_FILE}."
        )
    try:
        actor = Actor(**manifest["actor"])
        actor.load_state_dict(load_tensors(blob))
    except (TypeError, RuntimeError, SafetensorError) as err:
        raise CheckpointError(f"Actor weights in {str(directory)!r} do not fit policy.json: {err}") from err
    return DreamerPolicy(checkpoint.model, actor, deterministic=deterministic)
