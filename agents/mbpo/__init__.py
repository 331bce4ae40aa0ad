"""MBPO-style SAC (Janner et al. 2019) on dreamgym's world model: SB3's SAC learning mostly from short rollouts
branched off real states.

:mod:`~agents.mbpo.config` (settings), :mod:`~agents.mbpo.rollouts` (branched rollouts),
:mod:`~agents.mbpo.buffers` (imagined and real transitions mixed into SAC's batches) and
:mod:`~agents.mbpo.behaviour` (the agent in :mod:`agents.online`'s loop).
"""

from agents.mbpo.buffers import MixedReplay, ModelBuffer
from agents.mbpo.config import MBPOConfig
from agents.mbpo.rollouts import branched_rollouts

__all__ = ["MBPOConfig", "MixedReplay", "ModelBuffer", "branched_rollouts"]
