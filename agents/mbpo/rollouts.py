"""MBPO's branched rollouts: short imagined continuations of real states, under the current policy."""

from __future__ import annotations

from collections.abc import Callable

import torch

from agents.mbpo.buffers import Transitions
from dreamgym.tasks import TerminationRule
from dreamgym.world_model import RSSMState, WorldModel
from dreamgym.world_model.uncertainty import ensemble_disagreement

__all__ = ["branched_rollouts"]

# Heads that agree still differ in float rounding (about 1e-7 nats); disagreement within this of the trusted level
# counts as agreement, so a tight quantile over agreeing heads does not stop rollouts at random.
_DISAGREEMENT_TOLERANCE = 1e-5


def branched_rollouts(
    world_model: WorldModel,
    start: RSSMState,
    start_obs: torch.Tensor,
    act: Callable[[torch.Tensor], torch.Tensor],
    length: int,
    termination: TerminationRule | None,
    continue_threshold: float = 0.5,
    trust_quantile: float | None = None,
) -> Transitions:
    """Imagines ``length`` steps from every start state (N,) and returns every transition taken before its rollout
    ended.

    The first transition of each rollout starts from the real observation the posterior was filtered from, so
    a length-1 rollout is a real state with an imagined consequence. A rollout ends where the task's own rule
    says the dreamed state ends an episode (the continue head where the task has no observable rule); the
    transition into that state is kept, marked done.

    With several prior heads (``cfg.ensemble > 1``) each step samples its head at random for every rollout, as
    MBPO samples a member of its ensemble, so no single head's mistakes are followed for a whole rollout. With
    ``trust_quantile`` a rollout also stops (that step's transition dropped) once the heads disagree more than
    the given quantile of their disagreement on the first steps, which leave real states: a rollout goes on only
    while the model is about as sure of it as of a step from the data, so errors cannot compound where the
    model has never been.

    Args:
        world_model: the model to imagine in.
        start: posterior states (N,) of real steps.
        start_obs: the real observations (N, obs_dim) they were filtered from.
        act: the policy, from observations (N, obs_dim) to actions in [-1, 1].
        length: imagined steps per rollout.
        termination: the task's termination rule, or ``None``.
        continue_threshold: the continue probability under which a rollout ends when there is no rule.
        trust_quantile: quantile in (0, 1] of the first steps' head disagreement above which a later step is
            not trusted; ``None`` (or a single head) trusts every step.
    """
    if trust_quantile is not None and not 0.0 < trust_quantile <= 1.0:
        raise ValueError(f"Expected `trust_quantile` in (0, 1], got {trust_quantile}.")
    heads = world_model.cfg.ensemble
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("obs", "action", "reward", "next_obs", "done")}
    state, obs = start, start_obs
    alive = torch.ones(len(start_obs), dtype=torch.bool)
    trusted_disagreement = None
    with torch.inference_mode():
        for step in range(length):
            action = act(obs).clamp(-1.0, 1.0)
            member = torch.randint(heads, (len(obs),)) if heads > 1 else None
            state, prior = world_model.rssm.img_step(state, action, member)
            if trust_quantile is not None and heads > 1:
                disagreement = ensemble_disagreement(prior)
                if step == 0:
                    trusted_disagreement = torch.quantile(disagreement, trust_quantile)
                else:
                    alive = alive & (disagreement <= trusted_disagreement + _DISAGREEMENT_TOLERANCE)
                    if not alive.any():
                        break
            decoded = world_model.decode(state, previous=obs)
            done = termination(decoded.obs) if termination is not None else decoded.cont < continue_threshold
            for name, value in zip(parts, (obs, action, decoded.reward, decoded.obs, done.float()), strict=True):
                parts[name].append(value[alive])
            alive = alive & ~done
            if not alive.any():
                break
            obs = decoded.obs
    return {name: torch.cat(values) for name, values in parts.items()}
