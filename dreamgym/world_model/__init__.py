"""DreamerV3-style world model: RSSM, heads, loss, training loop and checkpoint I/O."""

from dreamgym.world_model.checkpoint import (
    Checkpoint,
    checkpoint_task,
    export_checkpoint,
    load_checkpoint,
    read_config,
    save_checkpoint,
    stored_model_config,
)
from dreamgym.world_model.config import PRESETS, DecoderLayout, TrainConfig, WorldModelConfig, make_config
from dreamgym.world_model.model import Decoded, WorldModel
from dreamgym.world_model.rssm import RSSM, RSSMState

__all__ = [
    "PRESETS",
    "RSSM",
    "Checkpoint",
    "Decoded",
    "DecoderLayout",
    "RSSMState",
    "TrainConfig",
    "WorldModel",
    "WorldModelConfig",
    "checkpoint_task",
    "export_checkpoint",
    "load_checkpoint",
    "make_config",
    "read_config",
    "save_checkpoint",
    "stored_model_config",
]
