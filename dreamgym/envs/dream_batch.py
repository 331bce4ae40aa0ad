"""A batch of dreams in pure torch: the one engine behind DreamEnv, DreamVectorEnv and the SB3 adapter.

Keeping every env adapter a thin layer over this class means one code path for single, vector and SB3
envs, so their trajectories agree and their speed is the speed of one batched forward pass.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from dreamgym.envs.counter_rng import STREAM_MEMBER, STREAM_RESET, STREAM_STOCH, counter_uniform
from dreamgym.world_model.checkpoint import Checkpoint

__all__ = ["DreamBatch", "DreamStep"]


class DreamStep(NamedTuple):
    """One batched dream step; all arrays have the batch as their first axis."""

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    uncertainty: np.ndarray


class DreamBatch:
    """Steps ``num_envs`` dreams of one world model with one forward pass per step.

    Start states are computed once at construction by filtering the checkpoint's real context windows, so
    a reset is a gather rather than a fresh filtering pass.

    Args:
        checkpoint: a loaded world-model checkpoint.
        num_envs: number of dreams in the batch.
        horizon: dream steps before ``truncated`` is set.
        termination_threshold: a step is terminal when the continue head's probability falls below this.
        uncertainty_penalty: MOPO-style penalty; the reward becomes ``reward - uncertainty_penalty * u`` with
            ``u`` the ensemble disagreement, so an agent is not paid for exploiting what the model does not know.
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        num_envs: int,
        horizon: int,
        termination_threshold: float = 0.5,
        uncertainty_penalty: float = 0.0,
    ):
        if not isinstance(num_envs, int | np.integer) or num_envs <= 0:
            raise ValueError(f"Expected `num_envs` to be a positive integer, got {num_envs!r}.")
        if horizon <= 0:
            raise ValueError(f"Expected a positive dream `horizon`, got {horizon!r}.")
        self.model = checkpoint.model.eval()
        self.cfg = self.model.cfg
        self.num_envs = int(num_envs)
        self.horizon = int(horizon)
        self.termination_threshold = termination_threshold
        if uncertainty_penalty and self.cfg.ensemble < 2:
            raise ValueError(
                f"uncertainty_penalty={uncertainty_penalty} needs an ensemble world model (ensemble >= 2); this "
                f"checkpoint has ensemble={self.cfg.ensemble}. Train with --ensemble 5."
            )
        self.uncertainty_penalty = uncertainty_penalty
        # Filtering samples posterior latents; a fixed private seed makes start states a pure function of the
        # checkpoint, so every env made from it dreams alike, and the caller's torch RNG is left untouched.
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            starts = checkpoint.starts
            posts = self.model.observe(starts["obs"], starts["prev_action"], starts["is_first"].bool())
            self.start_states = posts.index((slice(None), -1))
            self.start_obs = starts["obs"][:, -1].clone()
            self.state = self.start_states.index(torch.zeros(self.num_envs, dtype=torch.long))
            self.obs = self.start_obs[torch.zeros(self.num_envs, dtype=torch.long)].clone()
        entropy = np.random.SeedSequence().generate_state(self.num_envs, dtype=np.uint64)
        self.seeds = torch.as_tensor(entropy.astype(np.int64))
        self.episodes = torch.full((self.num_envs,), -1, dtype=torch.int64)
        self.steps = torch.zeros(self.num_envs, dtype=torch.int64)
        self.action_low, self.action_high = -1.0, 1.0

    @property
    def num_starts(self) -> int:
        return len(self.start_obs)

    def set_seeds(self, indices: torch.Tensor, seeds: torch.Tensor) -> None:
        """Re-seeds dreams; their next reset is episode 0 of the new seed."""
        self.seeds[indices] = seeds.to(torch.int64)
        self.episodes[indices] = -1

    def reset(self, mask: torch.Tensor) -> np.ndarray:
        """Starts a new dream in every env where ``mask`` is set; returns the whole batch's observations."""
        idx = torch.nonzero(mask).squeeze(-1)
        if len(idx) == 0:
            return self.obs.numpy()
        with torch.inference_mode():
            self.episodes[idx] += 1
            self.steps[idx] = 0
            u = counter_uniform(self.seeds[idx], self.episodes[idx], self.steps[idx], STREAM_RESET, 1)[:, 0]
            pick = (u * self.num_starts).long().clamp(max=self.num_starts - 1)
            self.state.deter[idx] = self.start_states.deter[pick]
            self.state.stoch[idx] = self.start_states.stoch[pick]
            self.obs[idx] = self.start_obs[pick]
        return self.obs.numpy()

    def step(self, actions: np.ndarray) -> DreamStep:
        """Advances every dream one imagined step with validated (num_envs, action_dim) ``actions``.

        Actions are clipped to the action bounds as the real PyBullet envs do, so both see the same command.
        """
        cfg = self.cfg
        with torch.inference_mode():
            # nan_to_num: envs that are being autoreset may carry ignored, unchecked actions.
            actions = torch.as_tensor(actions).nan_to_num().clamp(self.action_low, self.action_high)
            self.steps += 1
            member = None
            if cfg.ensemble > 1:
                u_member = counter_uniform(self.seeds, self.episodes, self.steps, STREAM_MEMBER, 1)[:, 0]
                member = (u_member * cfg.ensemble).long().clamp(max=cfg.ensemble - 1)
            u_stoch = counter_uniform(self.seeds, self.episodes, self.steps, STREAM_STOCH, cfg.stoch)
            self.state, prior = self.model.rssm.img_step(self.state, actions, member, u_stoch)
            decoded = self.model.decode(self.state)
            self.obs = decoded.obs
            uncertainty = self._disagreement(prior) if cfg.ensemble > 1 else torch.zeros(self.num_envs)
            terminated = decoded.cont < self.termination_threshold
            truncated = (self.steps >= self.horizon) & ~terminated
        return DreamStep(
            obs=decoded.obs.numpy(),
            reward=(decoded.reward - self.uncertainty_penalty * uncertainty).numpy(),
            terminated=terminated.numpy(),
            truncated=truncated.numpy(),
            uncertainty=uncertainty.numpy(),
        )

    @staticmethod
    def _disagreement(prior_logp: torch.Tensor) -> torch.Tensor:
        """Jensen-Shannon divergence among ensemble priors (B, K, S, C), summed over latents, in nats."""
        probs = prior_logp.exp()
        mean = probs.mean(1)
        entropy_of_mean = -(mean * torch.log(mean)).sum(-1)
        mean_entropy = -(probs * prior_logp).sum(-1).mean(1)
        return (entropy_of_mean - mean_entropy).sum(-1)
