"""Ensemble disagreement, and its calibration on the training data so dreams can tell "unlike the data" apart.

A raw disagreement value means nothing on its own: its scale depends on the latent size, the data and how long
the model trained. MOReL's HALT compares it with the disagreement the model shows on the data set itself, so
the model is asked, on real states, how much its heads disagree where it *does* know the dynamics; a dream
whose disagreement rises far above that has left the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from dreamgym.data import SequenceData
from dreamgym.seeding import seeded_torch
from dreamgym.world_model.checkpoint import load_checkpoint, update_config
from dreamgym.world_model.model import WorldModel

__all__ = [
    "CALIBRATION_KEY",
    "CALIBRATION_KEYS",
    "calibrate_checkpoint",
    "calibrate_disagreement",
    "ensemble_disagreement",
]

CALIBRATION_KEY = "uncertainty_calibration"
"""Field of a checkpoint's config.json that holds the calibration."""

CALIBRATION_KEYS = ("p50", "p90", "p99", "max")
"""Statistics of the data set's disagreement stored in a checkpoint; a HALT threshold may name any of them."""


def ensemble_disagreement(prior_logp: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence among ensemble priors (..., K, S, C), summed over latents, in nats.

    JS is the mutual information between the member index and the next latent: zero when every head predicts
    the same distribution, however uncertain that distribution is, so it measures what the model does not
    know (epistemic) and not the noise of the dynamics (aleatoric).
    """
    probs = prior_logp.exp()
    mean = probs.mean(-3)
    entropy_of_mean = -(mean * torch.log(mean)).sum(-1)
    mean_entropy = -(probs * prior_logp).sum(-1).mean(-2)
    return (entropy_of_mean - mean_entropy).sum(-1)


def calibrate_disagreement(
    model: WorldModel,
    data: SequenceData,
    *,
    window: int = 64,
    burn_in: int = 8,
    max_windows: int = 512,
    seed: int = 0,
) -> dict[str, Any]:
    """Disagreement of the model's own prior heads on real posterior states of ``data``.

    The data is cut into consecutive windows; each is filtered from a clean state and the first ``burn_in``
    steps (where the filter has not yet caught up) and episode starts (whose prior comes from the blank
    initial state) are left out. The prior at row t predicts z_t from the history up to a_{t-1}: exactly the
    prior a dream step draws from, so the numbers compare like with like.

    Args:
        model: an ensemble world model (``cfg.ensemble >= 2``).
        data: the data the model was trained on.
        window: steps per filtered window.
        burn_in: leading steps of each window left out.
        max_windows: windows used at most (a random subset, for a bounded cost on large data sets).
        seed: seeds the subset and the posterior samples; the caller's RNG state is left untouched.

    Returns:
        ``p50``, ``p90``, ``p99``, ``max`` and ``mean`` of the disagreement in nats, the number of ``rows`` they
        come from and the data set ``fingerprint``.
    """
    if model.cfg.ensemble < 2:
        raise ValueError(f"Calibrating disagreement needs an ensemble (ensemble >= 2), got {model.cfg.ensemble}.")
    if len(data) < window:
        window = len(data)
        burn_in = min(burn_in, window // 4)
    starts = np.arange(0, len(data) - window + 1, window)
    rng = np.random.default_rng(seed)
    if len(starts) > max_windows:
        starts = np.sort(rng.choice(starts, max_windows, replace=False))
    rows = starts[:, None] + np.arange(window)[None, :]
    is_first = data.is_first[rows].copy()
    keep = ~is_first
    keep[:, :burn_in] = False
    is_first[:, 0] = True
    was_training = model.training
    model.eval()
    with torch.inference_mode(), seeded_torch(seed):
        image = None if data.image is None else torch.as_tensor(data.image[rows])
        embed = model.embed(torch.as_tensor(data.obs[rows]), image)
        _, _, prior_logp = model.rssm.observe(embed, torch.as_tensor(data.prev_action[rows]), torch.as_tensor(is_first))
        u = ensemble_disagreement(prior_logp)[torch.as_tensor(keep)].numpy()
    model.train(was_training)
    if len(u) == 0:
        raise ValueError(f"No rows left to calibrate on: the data set has {len(data)} rows, burn-in is {burn_in}.")
    return {
        "p50": float(np.quantile(u, 0.5)),
        "p90": float(np.quantile(u, 0.9)),
        "p99": float(np.quantile(u, 0.99)),
        "max": float(u.max()),
        "mean": float(u.mean()),
        "rows": len(u),
        "fingerprint": data.fingerprint(),
    }


def calibrate_checkpoint(directory: str | Path, data: SequenceData, seed: int = 0) -> dict[str, Any]:
    """Calibrates a saved ensemble checkpoint on ``data`` and records the result in its config.json.

    Checkpoints trained by :func:`~dreamgym.world_model.trainer.train_world_model` are calibrated when
    training ends; this is for older ones, or to calibrate on another data set. Returns the calibration.
    """
    checkpoint = load_checkpoint(directory)
    calibration = calibrate_disagreement(checkpoint.model, data, seed=seed)
    update_config(directory, {CALIBRATION_KEY: calibration})
    return calibration
