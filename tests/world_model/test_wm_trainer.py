"""The training loop: a resumed run ends exactly where an uninterrupted one does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from dreamgym.data import SequenceData
from dreamgym.errors import CheckpointError
from dreamgym.tasks import TaskSpec
from dreamgym.world_model import load_checkpoint, make_config, read_config, save_checkpoint
from dreamgym.world_model.trainer import train_world_model


def _train(data: SequenceData, task: TaskSpec, out: Path, steps: int, ensemble: int = 1, **kwargs):
    model_cfg, train_cfg = make_config("debug", 5, 1, steps=steps, ensemble=ensemble)
    return train_world_model(data, out, task, model_cfg, train_cfg, logdir=out.parent / "tb", progress=False, **kwargs)


@pytest.mark.parametrize("ensemble", [1, 3])
def test_resume_matches_uninterrupted_run(
    wm_sequences: SequenceData, pendulum_task: TaskSpec, tmp_path: Path, ensemble: int
) -> None:
    straight = _train(wm_sequences, pendulum_task, tmp_path / "straight" / "ckpt", 20, ensemble)
    _train(wm_sequences, pendulum_task, tmp_path / "resumed" / "ckpt", 10, ensemble)
    assert read_config(tmp_path / "resumed" / "ckpt")["step"] == 10
    halfway = load_checkpoint(tmp_path / "resumed" / "ckpt").model.state_dict()
    resumed = _train(wm_sequences, pendulum_task, tmp_path / "resumed" / "ckpt", 20, ensemble)
    assert straight.step == resumed.step == 20
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
    assert not all(torch.equal(halfway[key], b[key]) for key in b)  # the resumed run did train
    # and what was saved is what was returned
    saved = load_checkpoint(resumed.path).model.state_dict()
    for key in b:
        assert torch.equal(saved[key], b[key]), key


def test_a_diverging_run_stops_before_saving_non_finite_weights(
    wm_sequences: SequenceData, pendulum_task: TaskSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dreamgym.world_model.model import WorldModel

    out = tmp_path / "ckpt"
    _train(wm_sequences, pendulum_task, out, 10)
    good = load_checkpoint(out).model.state_dict()
    calls, loss = [0], WorldModel.loss_and_posts

    def diverging(self, batch):
        calls[0] += 1
        total, parts, posts = loss(self, batch)
        return (total * float("nan"), parts, posts) if calls[0] == 3 else (total, parts, posts)

    monkeypatch.setattr(WorldModel, "loss_and_posts", diverging)
    with pytest.raises(FloatingPointError, match=r"diverged at update 13: loss nan"):
        _train(wm_sequences, pendulum_task, out, 20)
    assert read_config(out)["step"] == 10
    for key, value in load_checkpoint(out).model.state_dict().items():
        assert torch.equal(value, good[key]), key


def test_resume_at_target_step_does_nothing(
    trained_checkpoint: Path, wm_sequences: SequenceData, pendulum_task: TaskSpec, tmp_path: Path
) -> None:
    out = Path(shutil.copytree(trained_checkpoint, tmp_path / "ckpt", ignore=shutil.ignore_patterns("tensorboard")))
    before = load_checkpoint(out).model.state_dict()
    result = _train(wm_sequences, pendulum_task, out, 30)
    assert result.step == 30
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_resuming_a_finished_ensemble_rewrites_nothing(
    trained_ensemble_checkpoint: Path, wm_sequences: SequenceData, pendulum_task: TaskSpec, tmp_path: Path
) -> None:
    out = Path(
        shutil.copytree(trained_ensemble_checkpoint, tmp_path / "c", ignore=shutil.ignore_patterns("tensorboard"))
    )
    config = read_config(out)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    model_cfg, train_cfg = make_config("debug", 5, 1, steps=config["step"], ensemble=3, seed=7)
    result = train_world_model(wm_sequences, out, pendulum_task, model_cfg, train_cfg, progress=False)
    assert result.step == config["step"]
    # another seed would have recalibrated the disagreement on other samples; the stored one stays
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before


def test_resume_from_inference_only_checkpoint_is_refused(
    trained_checkpoint: Path, wm_sequences: SequenceData, pendulum_task: TaskSpec, tmp_path: Path
) -> None:
    ckpt = load_checkpoint(trained_checkpoint)
    out = save_checkpoint(
        tmp_path / "export",
        ckpt.model,
        task="InvertedPendulum",
        observation_shape=(5,),
        action_shape=(1,),
        starts=ckpt.starts,
    )
    with pytest.raises(CheckpointError, match=r"holds no trainer state.*resume=False"):
        _train(wm_sequences, pendulum_task, out, 40)


def test_a_foreground_weight_on_a_vector_model_weighs_nothing(
    wm_sequences: SequenceData, pendulum_task: TaskSpec, tmp_path: Path
) -> None:
    cfg, train_cfg = make_config("debug", 5, 1, steps=1, image_foreground_weight=3.0)
    model = train_world_model(wm_sequences, tmp_path / "ckpt", pendulum_task, cfg, train_cfg, progress=False).model
    assert not hasattr(model, "image_background")
