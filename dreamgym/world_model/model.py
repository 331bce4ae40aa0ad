"""The world model: symlog MLP encoder (and CNN for images), RSSM, and decoders, reward and continue heads, with the
DreamerV3 loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from dreamgym.world_model.config import WorldModelConfig
from dreamgym.world_model.decoder import ObservationDecoder
from dreamgym.world_model.functional import symlog, twohot_bins, twohot_decode, twohot_encode
from dreamgym.world_model.image_nets import ImageDecoder, ImageEncoder, image_loss
from dreamgym.world_model.networks import MLP
from dreamgym.world_model.rssm import RSSM, RSSMState, categorical_kl

__all__ = ["Decoded", "WorldModel"]


class Decoded(NamedTuple):
    """What the heads read off a latent state: observation, reward, probability that the episode goes on, and
    the probability of each binary observation dimension (``None`` where the layout has none)."""

    obs: torch.Tensor
    reward: torch.Tensor
    cont: torch.Tensor
    binary_prob: torch.Tensor | None = None


class WorldModel(nn.Module):
    """DreamerV3-style world model for vector observations.

    Example:
        >>> from dreamgym.world_model import WorldModel, make_config
        >>> cfg, _ = make_config("debug", obs_dim=5, action_dim=1)
        >>> model = WorldModel(cfg)
        >>> obs, act = torch.zeros(2, 8, 5), torch.zeros(2, 8, 1)
        >>> first = torch.zeros(2, 8, dtype=torch.bool)
        >>> posts = model.observe(obs, act, first)
        >>> model.decode(posts).obs.shape
        torch.Size([2, 8, 5])
    """

    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = MLP(cfg.obs_dim, cfg.hidden, cfg.mlp_layers)
        self.rssm = RSSM(cfg)
        self.decoder = ObservationDecoder(cfg)
        self.reward_head = MLP(cfg.feature_dim, cfg.hidden, cfg.mlp_layers, out_dim=cfg.reward_bins, zero_out=True)
        self.cont_head = MLP(cfg.feature_dim, cfg.hidden, cfg.mlp_layers, out_dim=1)
        self.register_buffer("bins", twohot_bins(cfg.reward_bins, cfg.reward_limit), persistent=False)
        if cfg.image_shape is not None:
            # The image's CNN features and the vector's MLP features are fused into the one embedding the RSSM
            # reads, so the RSSM is the same with or without a camera.
            self.image_encoder = ImageEncoder(cfg.image_shape, cfg.cnn_depth)
            self.image_fuse = MLP(cfg.hidden + self.image_encoder.out_dim, cfg.hidden, 1)
            self.image_decoder = ImageDecoder(cfg.feature_dim, cfg.image_shape, cfg.cnn_depth)
            if cfg.image_foreground_weight:
                # Set from the training frames before the first update (:meth:`set_image_background`) and saved
                # with the weights, so a resumed or reloaded model weighs the same pixels.
                self.register_buffer("image_background", torch.zeros(cfg.image_shape, dtype=torch.uint8))

    def embed(self, obs: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        embed = self.encoder(symlog(obs))
        if self.cfg.image_shape is None:
            return embed
        if image is None:
            raise ValueError(
                f"This world model sees {self.cfg.image_shape} camera images beside the vector observation; "
                "pass them as `image` (uint8, (..., H, W, C))."
            )
        return self.image_fuse(torch.cat([embed, self.image_encoder(image)], -1))

    def observe(
        self,
        obs: torch.Tensor,
        prev_action: torch.Tensor,
        is_first: torch.Tensor,
        state: RSSMState | None = None,
        image: torch.Tensor | None = None,
    ) -> RSSMState:
        """Posterior states (batch shape (B, T)) of observed sequences (with their camera images (B, T, H, W, C)
        where the model sees images), drawn as ``cfg.inference_unimix`` says; see :meth:`RSSM.observe`."""
        embed = self.embed(obs, image)
        posts, _, _ = self.rssm.observe(embed, prev_action, is_first, state, unimix=self.cfg.inference_unimix)
        return posts

    def imagine(
        self,
        start: RSSMState,
        policy_or_actions: Callable[[RSSMState], torch.Tensor] | torch.Tensor,
        horizon: int,
    ) -> tuple[RSSMState, torch.Tensor]:
        """Imagined states (B, horizon) and the actions taken; see :meth:`RSSM.imagine`."""
        return self.rssm.imagine(start, policy_or_actions, horizon)

    def decode(
        self, state: RSSMState, binary_draw: torch.Tensor | None = None, previous: torch.Tensor | None = None
    ) -> Decoded:
        """Decodes observation, reward and continue probability from any batch shape of states.

        ``binary_draw`` (uniform numbers, one per binary dimension) samples binary dimensions instead of taking
        their mode; ``previous``, the observation one step before in a dream, steps integrated positions from it;
        see :meth:`ObservationDecoder.observation`.
        """
        feat = state.features
        raw = self.decoder(feat)
        obs, binary_prob = self.decoder.observation(raw, binary_draw, previous)
        return Decoded(obs, *self._reward_and_continue(feat), binary_prob)

    def set_image_background(self, background: torch.Tensor) -> None:
        """Sets the static background (uint8 (H, W, C), e.g. ``image_nets.static_background`` of the training
        frames) that the image loss weighs foreground pixels against (``cfg.image_foreground_weight``)."""
        if not self.cfg.image_foreground_weight:
            raise ValueError("This world model weighs every pixel alike (`image_foreground_weight` is 0).")
        if background.shape != self.image_background.shape or background.dtype != torch.uint8:
            raise ValueError(
                f"Expected a uint8 background of shape {tuple(self.image_background.shape)}, got "
                f"{background.dtype} {tuple(background.shape)}."
            )
        self.image_background.copy_(background)

    def decode_image(self, state: RSSMState) -> torch.Tensor:
        """The camera image a state predicts, (..., H, W, C) in [0, 1] (``image_nets.to_uint8`` makes frames)."""
        if self.cfg.image_shape is None:
            raise ValueError("This world model has no image decoder: it was built without `image_shape`.")
        return self.image_decoder(state.features)

    def reward_and_continue(self, state: RSSMState) -> tuple[torch.Tensor, torch.Tensor]:
        """Reward and continue probability alone: what an agent learning on latents needs, without paying for the
        observation decoder."""
        return self._reward_and_continue(state.features)

    def _reward_and_continue(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return twohot_decode(self.reward_head(feat), self.bins), torch.sigmoid(self.cont_head(feat).squeeze(-1))

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """DreamerV3 world-model loss on a batch of sequences (B, T).

        ``batch`` holds obs, prev_action, reward, is_first and is_terminal in the convention of
        :mod:`dreamgym.data`: the reward and terminal flag of the transition that led into each step.
        Returns the scalar loss and a dict of its detached parts for logging.
        """
        total, metrics, _ = self.loss_and_posts(batch)
        return total, metrics

    def loss_and_posts(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor], RSSMState]:
        """:meth:`loss`, and the posterior states (B, T) it filtered, which Dreamer's actor-critic imagines from
        (filtering the batch a second time would double the sequential part of an update)."""
        cfg = self.cfg
        posts, post_logp, prior_logp = self.rssm.observe(
            self.embed(batch["obs"], batch.get("image")), batch["prev_action"], batch["is_first"]
        )
        feat = posts.features
        recon = self.decoder.loss(self.decoder(feat), batch["obs"])
        if cfg.image_shape is not None:
            background = self.image_background if cfg.image_foreground_weight else None
            image = image_loss(self.image_decoder(feat), batch["image"], background, cfg.image_foreground_weight)
            recon = recon + image
        reward_logits = self.reward_head(feat)
        reward = -(twohot_encode(batch["reward"], self.bins) * torch.log_softmax(reward_logits, -1)).sum(-1)
        cont_target = 1.0 - batch["is_terminal"].to(feat.dtype)
        cont = nn.functional.binary_cross_entropy_with_logits(
            self.cont_head(feat).squeeze(-1), cont_target, reduction="none"
        )
        post_logp_k = post_logp.unsqueeze(2)  # broadcast the posterior against every ensemble member
        dyn = categorical_kl(post_logp_k.detach(), prior_logp).mean(2)
        rep = categorical_kl(post_logp_k, prior_logp.detach()).mean(2)
        total = (
            recon
            + reward
            + cont
            + cfg.dyn_scale * dyn.clamp(min=cfg.free_bits)
            + cfg.rep_scale * rep.clamp(min=cfg.free_bits)
        ).mean()
        metrics = {
            "loss/total": total,
            "loss/recon": recon.mean(),
            **({"loss/image": image.mean()} if cfg.image_shape is not None else {}),
            "loss/reward": reward.mean(),
            "loss/cont": cont.mean(),
            "loss/kl_dyn": dyn.mean(),
            "loss/kl_rep": rep.mean(),
            "stats/prior_entropy": -(prior_logp.exp() * prior_logp).sum(-1).mean(),
            "stats/reward_mae": (twohot_decode(reward_logits, self.bins) - batch["reward"]).abs().mean(),
        }
        return total, {k: v.detach() for k, v in metrics.items()}, posts
