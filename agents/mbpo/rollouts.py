"""MBPO's branched rollouts: short imagined continuations of real states, under the current policy."""

from __future__ import annotations

from collections.abc import Callable

import torch

from agents.mbpo.buffers import Transitions
from dreamgym.tasks import TerminationRule
from dreamgym.world_model import RSSMState, WorldModel

__all__ = ["branched_rollouts"]


def branched_rollouts(
    world_model: WorldModel,
    start: RSSMState,
    start_obs: torch.Tensor,
    act: Callable[[torch.Tensor], torch.Tensor],
    length: int,
    termination: TerminationRule | None,
    continue_threshold: float = 0.5,
) -> Transitions:
    """Imagines ``length`` steps from every start state (N,) and returns every transition taken before its rollout
    ended.

    The first transition of each rollout starts from the real observation the posterior was filtered from, so
    a length-1 rollout is a real state with an imagined consequence. A rollout ends where the task's own rule
    says the dreamed state ends an episode (the continue head where the task has no observable rule); the
    transition into that state is kept, marked done.

    Args:
        world_model: the model to imagine in.
        start: posterior states (N,) of real steps.
        start_obs: the real observations (N, obs_dim) they were filtered from.
        act: the policy, from observations (N, obs_dim) to actions in [-1, 1].
        length: imagined steps per rollout.
        termination: the task's termination rule, or ``None``.
        continue_threshold: the continue probability under which a rollout ends when there is no rule.
    """
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("obs", "action", "reward", "next_obs", "done")}
    state, obs = start, start_obs
    alive = torch.ones(len(start_obs), dtype=torch.bool)
    with torch.inference_mode():
        for _ in range(length):
            action = act(obs).clamp(-1.0, 1.0)
            state, _ = world_model.rssm.img_step(state, action)
            decoded = world_model.decode(state)
            done = termination(decoded.obs) if termination is not None else decoded.cont < continue_threshold
            for name, value in zip(parts, (obs, action, decoded.reward, decoded.obs, done.float()), strict=True):
                parts[name].append(value[alive])
            alive = alive & ~done
            if not alive.any():
                break
            obs = decoded.obs
    return {name: torch.cat(values) for name, values in parts.items()}
