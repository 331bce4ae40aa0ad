"""Recurrent state-space model (DreamerV3): a GRU state h plus categorical latents z with straight-through gradients.

The RSSM only knows embeddings and actions; encoding and decoding observations live in ``model.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from dreamgym.world_model.config import WorldModelConfig
from dreamgym.world_model.networks import MLP, EnsembleMLP, NormGRUCell

__all__ = ["RSSM", "RSSMState", "categorical_kl"]


class RSSMState(NamedTuple):
    """Latent state of a batch of dreams. ``stoch`` is one-hot over classes: shape (..., stoch, classes)."""

    deter: torch.Tensor
    stoch: torch.Tensor

    @property
    def features(self) -> torch.Tensor:
        """The vector every head reads: h and the flattened z side by side."""
        return torch.cat([self.deter, self.stoch.flatten(-2)], -1)

    def index(self, idx) -> RSSMState:
        return RSSMState(self.deter[idx], self.stoch[idx])


def categorical_kl(p_logp: torch.Tensor, q_logp: torch.Tensor) -> torch.Tensor:
    """KL(p || q) of factorised categoricals given log-probabilities (..., stoch, classes), summed over latents."""
    return (p_logp.exp() * (p_logp - q_logp)).sum((-2, -1))


class RSSM(nn.Module):
    """Batched RSSM with one API for every caller: :meth:`observe` real data, :meth:`imagine` forward.

    With ``cfg.ensemble > 1`` the prior has several heads on the shared GRU state; they are trained
    together in one matmul, and their disagreement measures where the model does not know the dynamics.
    ``cfg.ensemble_heads`` says whether the heads are output layers of one MLP or MLPs of their own.
    """

    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        self.cfg = cfg
        self.img_in = MLP(cfg.stoch_flat + cfg.action_dim, cfg.hidden, 1)
        self.gru = NormGRUCell(cfg.hidden, cfg.deter)
        if cfg.ensemble_heads == "mlp":
            self.prior_net: nn.Module = EnsembleMLP(cfg.deter, cfg.hidden, 1, cfg.stoch_flat, cfg.ensemble)
        else:  # "linear": one MLP whose output layer holds every head's logits side by side
            self.prior_net = MLP(cfg.deter, cfg.hidden, 1, out_dim=cfg.ensemble * cfg.stoch_flat)
        self.post_net = MLP(cfg.deter + cfg.hidden, cfg.hidden, 1, out_dim=cfg.stoch_flat)
        self.batch_shard: tuple[slice, int] | None = None
        """Set by data-parallel training (:mod:`~dreamgym.world_model.distributed`): ``(rows, global_batch)`` makes
        :meth:`observe` draw the posterior noise of the whole global batch and keep ``rows``, so the ranks together
        draw exactly what one process training on the global batch would. ``None`` (the default) draws for the
        batch at hand."""

    def initial(self, batch_shape: tuple[int, ...], device: torch.device | None = None) -> RSSMState:
        cfg = self.cfg
        return RSSMState(
            torch.zeros(*batch_shape, cfg.deter, device=device),
            torch.zeros(*batch_shape, cfg.stoch, cfg.classes, device=device),
        )

    def _log_probs(self, raw: torch.Tensor, unimix: bool = True) -> torch.Tensor:
        """Mixes 1% uniform into softmax(raw) (``unimix``) and returns log-probabilities (..., stoch, classes)."""
        cfg = self.cfg
        raw = raw.unflatten(-1, (cfg.stoch, cfg.classes))
        if not unimix:
            return torch.log_softmax(raw, -1)
        return torch.log((1.0 - cfg.unimix) * torch.softmax(raw, -1) + cfg.unimix / cfg.classes)

    def _prior_logits(self, deter: torch.Tensor) -> torch.Tensor:
        """Every ensemble member's prior logits: (..., ensemble, stoch * classes)."""
        raw = self.prior_net(deter)
        if self.cfg.ensemble_heads == "linear":
            raw = raw.unflatten(-1, (self.cfg.ensemble, self.cfg.stoch_flat))
        return raw

    def prior_log_probs(self, deter: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of every ensemble member's prior: (..., ensemble, stoch, classes)."""
        return self._log_probs(self._prior_logits(deter))

    @staticmethod
    def sample(logp: torch.Tensor, uniform: torch.Tensor | None = None) -> torch.Tensor:
        """One-hot sample (..., S, C) with straight-through gradients.

        Inverse-CDF sampling needs one uniform per latent, not one per class, which keeps the counter-based
        noise of reproducible dreams cheap; pass ``uniform`` (..., S) to make the draw reproducible.
        """
        probs = logp.exp()
        if uniform is None:
            uniform = torch.rand(probs.shape[:-1], device=probs.device)
        cdf = probs.cumsum(-1)
        index = (cdf < uniform.unsqueeze(-1) * cdf[..., -1:]).sum(-1).clamp(max=probs.shape[-1] - 1)
        # scatter, not F.one_hot: the same exact 0/1 tensor without one_hot's data-dependent range check, which
        # syncs on every call (3-4x slower on a dream batch) and fails under vmap-of-grad (ensemble_choice's designs)
        onehot = torch.zeros_like(probs).scatter(-1, index.unsqueeze(-1), 1.0)
        return onehot + probs - probs.detach()

    def _shard_noise(self, logp: torch.Tensor) -> torch.Tensor | None:
        """This shard's rows of the global batch's uniforms (see :attr:`batch_shard`); ``None`` outside DDP."""
        if self.batch_shard is None:
            return None
        rows, global_batch = self.batch_shard
        return torch.rand((global_batch, *logp.shape[1:-1]), device=logp.device)[rows]

    def advance(self, state: RSSMState, action: torch.Tensor) -> torch.Tensor:
        """The deterministic GRU transition h' = f(h, z, a), shared by filtering and imagination."""
        x = self.img_in(torch.cat([state.stoch.flatten(-2), action], -1))
        return self.gru(x, state.deter)

    def img_step(
        self,
        state: RSSMState,
        action: torch.Tensor,
        member: torch.Tensor | None = None,
        uniform: torch.Tensor | None = None,
    ) -> tuple[RSSMState, torch.Tensor]:
        """One imagined step: returns the next state (sampled from ``member``'s prior) and all members' priors.

        Args:
            state: current latent state, batch shape (B,).
            action: actions (B, action_dim).
            member: index (B,) of the ensemble member whose prior is sampled; member 0 by default.
            uniform: (B, stoch) uniform noise for the sample, for reproducible dreams.
        """
        deter = self.advance(state, action)
        logits = self._prior_logits(deter)
        prior = self._log_probs(logits)
        rows = (slice(None), 0) if member is None else (torch.arange(len(member)), member)
        chosen = prior[rows] if self.cfg.inference_unimix else self._log_probs(logits[rows], unimix=False)
        return RSSMState(deter, self.sample(chosen, uniform)), prior

    def observe(
        self,
        embed: torch.Tensor,
        prev_action: torch.Tensor,
        is_first: torch.Tensor,
        state: RSSMState | None = None,
        unimix: bool = True,
    ) -> tuple[RSSMState, torch.Tensor, torch.Tensor]:
        """Filters a batch of sequences: posterior states, posterior and prior log-probabilities.

        Args:
            embed: encoder output (B, T, hidden).
            prev_action: action that led into each step (B, T, action_dim).
            is_first: (B, T) bool; the state is reset to the initial one where it is set.
            state: state before the first step; the initial state if ``None``.
            unimix: draw the posterior states from the uniform-mixed categoricals (training) or from the
                network's own (see ``WorldModelConfig.inference_unimix``); the log-probabilities returned are the
                mixed ones either way.

        Returns:
            posts (batch shape (B, T)), post log-probs (B, T, S, C), prior log-probs (B, T, K, S, C).
        """
        batch, steps = embed.shape[:2]
        state = self.initial((batch,), embed.device) if state is None else state
        keep = (~is_first).to(embed.dtype)
        deters, stochs, post_logps = [], [], []
        for t in range(steps):
            k = keep[:, t, None]
            state = RSSMState(state.deter * k, state.stoch * k[..., None])
            deter = self.advance(state, prev_action[:, t] * k)
            raw = self.post_net(torch.cat([deter, embed[:, t]], -1))
            post_logp = self._log_probs(raw)
            drawn_from = post_logp if unimix else self._log_probs(raw, unimix=False)
            state = RSSMState(deter, self.sample(drawn_from, self._shard_noise(post_logp)))
            deters.append(deter)
            stochs.append(state.stoch)
            post_logps.append(post_logp)
        posts = RSSMState(torch.stack(deters, 1), torch.stack(stochs, 1))
        # The prior does not feed back into the filter, so it runs once over all steps instead of per step:
        # the sequential loop is what costs on CPU, not the FLOPs.
        return posts, torch.stack(post_logps, 1), self.prior_log_probs(posts.deter)

    def imagine(
        self,
        start: RSSMState,
        policy_or_actions: Callable[[RSSMState], torch.Tensor] | torch.Tensor,
        horizon: int,
    ) -> tuple[RSSMState, torch.Tensor]:
        """Rolls the prior forward from ``start`` (batch shape (B,)).

        ``policy_or_actions`` is either a function of the latent state returning actions (B, A), or a
        tensor of actions (B, horizon, A) played open loop. Returns the imagined states (B, horizon) and the
        actions taken (B, horizon, A).

        This is the differentiable path for agents that learn on latents (Dreamer's actor-critic): it follows
        ensemble member 0 and draws from torch's global RNG. Dream environments step through
        :class:`~dreamgym.envs.dream_batch.DreamBatch` instead, which picks members and noise per dream from
        counter-based seeds.
        """
        state, deters, stochs, actions = start, [], [], []
        for t in range(horizon):
            action = policy_or_actions(state) if callable(policy_or_actions) else policy_or_actions[:, t]
            state, _ = self.img_step(state, action)
            deters.append(state.deter)
            stochs.append(state.stoch)
            actions.append(action)
        return RSSMState(torch.stack(deters, 1), torch.stack(stochs, 1)), torch.stack(actions, 1)
