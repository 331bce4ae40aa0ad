"""A world model that sees the camera: it learns real Hopper frames, needs them to filter, and saves and loads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dreamgym.tasks import get_task
from dreamgym.tasks.pixels import make_pixel_env
from dreamgym.world_model import WorldModel, load_checkpoint, make_config, save_checkpoint
from dreamgym.world_model.image_nets import to_uint8
from dreamgym.world_model.trainer import world_model_update

HOPPER = get_task("Hopper")


@pytest.fixture(scope="module")
def frames() -> dict[str, torch.Tensor]:
    """Two sequences of 16 real HopperPixels steps under random actions, in the world model's batch layout."""
    env = make_pixel_env("Hopper")
    env.action_space.seed(0)
    rows: dict[str, list] = {"obs": [], "image": [], "prev_action": [], "is_first": []}
    obs, _ = env.reset(seed=0)
    action = np.zeros(3, np.float32)
    first = True
    while len(rows["obs"]) < 32:
        rows["obs"].append(obs["proprio"])
        rows["image"].append(obs["image"])
        rows["prev_action"].append(action)
        rows["is_first"].append(first)
        action = env.action_space.sample()
        obs, _, terminated, truncated, _ = env.step(action)
        first = False
        if terminated or truncated:
            obs, _ = env.reset()
            action, first = np.zeros(3, np.float32), True
    env.close()
    batch = {k: torch.as_tensor(np.stack(v)).reshape(2, 16, *np.shape(v[0])) for k, v in rows.items()}
    batch["is_first"][:, 0] = True
    batch["reward"] = torch.zeros(2, 16)
    batch["is_terminal"] = torch.zeros(2, 16, dtype=torch.bool)
    return batch


def _model() -> tuple[WorldModel, object]:
    torch.manual_seed(0)
    cfg, train = make_config("debug", 15, 3, image_shape=(64, 64, 3))
    return WorldModel(cfg), train


def test_the_image_loss_falls_as_the_model_learns_real_frames(frames) -> None:
    model, train = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = [float(world_model_update(model, optimizer, frames, train)[0]["loss/image"]) for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0]  # from a noisy decoder to the frames' background and robot
    posts = model.observe(frames["obs"], frames["prev_action"], frames["is_first"], image=frames["image"])
    decoded = to_uint8(model.decode_image(posts))
    assert decoded.shape == (2, 16, 64, 64, 3) and decoded.dtype == torch.uint8


def test_a_camera_model_needs_its_images_and_a_vector_model_has_no_camera(frames) -> None:
    model, _ = _model()
    with pytest.raises(ValueError, match=r"sees \(64, 64, 3\) camera images"):
        model.observe(frames["obs"], frames["prev_action"], frames["is_first"])
    vector_cfg, _ = make_config("debug", 15, 3)
    vector = WorldModel(vector_cfg)
    assert not any(k.startswith("image") for k in vector.state_dict())  # old checkpoints keep their parameters
    with pytest.raises(ValueError, match="no image decoder"):
        vector.decode_image(vector.rssm.initial((1,)))


def test_a_camera_model_round_trips_through_a_checkpoint(frames, tmp_path: Path) -> None:
    model, _ = _model()
    starts = {k: frames[k][:, :4] for k in ("obs", "prev_action", "is_first")}
    save_checkpoint(tmp_path / "ckpt", model, task="Hopper", observation_shape=(15,), action_shape=(3,), starts=starts)
    loaded = load_checkpoint(tmp_path / "ckpt", task="Hopper").model
    assert loaded.cfg.image_shape == (64, 64, 3) and loaded.cfg.cnn_depth == model.cfg.cnn_depth
    state = model.rssm.initial((2,))
    torch.testing.assert_close(loaded.decode_image(state), model.decode_image(state))
