"""Checkpoints: exact round trips, refusal of tampered or mismatched ones, and recovery of killed writes."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from dreamgym.errors import CheckpointError
from dreamgym.world_model import Checkpoint, WorldModel, load_checkpoint, read_config, save_checkpoint

FILES = ("config.json", "model.safetensors", "starts.safetensors", "trainer.safetensors", "trainer.json")


@pytest.fixture
def ckpt_copy(trained_checkpoint: Path, tmp_path: Path) -> Path:
    """A private copy of the trained checkpoint that a test may damage."""
    return Path(shutil.copytree(trained_checkpoint, tmp_path / "ckpt", ignore=shutil.ignore_patterns("tensorboard")))


def _save_like(ckpt: Checkpoint, directory: Path, **kwargs) -> Path:
    return save_checkpoint(
        directory,
        ckpt.model,
        task=ckpt.task,
        observation_shape=tuple(ckpt.config["observation_space"]["shape"]),
        action_shape=tuple(ckpt.config["action_space"]["shape"]),
        starts=ckpt.starts,
        **kwargs,
    )


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_trained_checkpoint_layout_and_config(trained_checkpoint: Path) -> None:
    for name in FILES:
        assert (trained_checkpoint / name).is_file(), name
    assert not list(trained_checkpoint.glob("*.tmp"))
    config = read_config(trained_checkpoint)
    assert config["task"] == "InvertedPendulum"
    assert config["observation_space"]["shape"] == [5]
    assert config["action_space"]["shape"] == [1]
    assert config["step"] == 30
    assert config["model"]["deter"] == 32
    assert set(config["files"]) == set(FILES) - {"config.json"}
    assert len(config["dataset"]["fingerprint"]) == 16


def test_load_gives_eval_model_and_starts(trained_checkpoint: Path) -> None:
    ckpt = load_checkpoint(trained_checkpoint, task="InvertedPendulum", observation_shape=(5,), action_shape=(1,))
    assert not ckpt.model.training
    assert ckpt.task == "InvertedPendulum"
    assert ckpt.path == trained_checkpoint
    windows = ckpt.starts["obs"].shape[0]
    assert ckpt.starts["obs"].shape == (windows, 16, 5)
    assert ckpt.starts["prev_action"].shape == (windows, 16, 1)
    assert ckpt.starts["is_first"][:, 0].all()


def test_save_load_round_trip_is_exact(trained_checkpoint: Path, tmp_path: Path) -> None:
    original = load_checkpoint(trained_checkpoint)
    path = _save_like(original, tmp_path / "copy")
    reloaded = load_checkpoint(path)
    _assert_same_weights(original.model, reloaded.model)
    assert reloaded.config["model"] == original.config["model"]
    for key, value in original.starts.items():
        assert torch.equal(reloaded.starts[key], value), key
    assert not (path / "trainer.json").exists()  # exported for inference only
    states = original.model.observe(
        original.starts["obs"][:4], original.starts["prev_action"][:4], original.starts["is_first"][:4]
    )
    with torch.no_grad():
        a, b = original.model.decode(states), reloaded.model.decode(states)
    assert a.binary_prob is None and b.binary_prob is None  # the fixture task has no contacts
    for x, y in zip(a[:3], b[:3], strict=True):
        assert torch.equal(x, y)


def test_save_drops_stale_trainer_state(ckpt_copy: Path) -> None:
    _save_like(load_checkpoint(ckpt_copy), ckpt_copy)
    assert not (ckpt_copy / "trainer.json").exists()
    assert not (ckpt_copy / "trainer.safetensors").exists()
    assert "trainer.json" not in read_config(ckpt_copy)["files"]
    load_checkpoint(ckpt_copy)


@pytest.mark.parametrize("name", ["model.safetensors", "starts.safetensors"])
def test_flipped_byte_is_refused(ckpt_copy: Path, name: str) -> None:
    path = ckpt_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=rf"{name}.*does not match the sha256 recorded in config\.json"):
        load_checkpoint(ckpt_copy)


def test_truncated_file_is_refused(ckpt_copy: Path) -> None:
    path = ckpt_copy / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated, corrupt or was modified"):
        load_checkpoint(ckpt_copy)


def test_missing_weights_are_refused(ckpt_copy: Path) -> None:
    (ckpt_copy / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"is missing model\.safetensors"):
        load_checkpoint(ckpt_copy)


def test_corrupt_config_is_refused(ckpt_copy: Path) -> None:
    (ckpt_copy / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        load_checkpoint(ckpt_copy)


def test_future_format_version_is_refused(ckpt_copy: Path) -> None:
    config = json.loads((ckpt_copy / "config.json").read_text())
    config["format_version"] = 99
    (ckpt_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="format version 99, this dreamgym reads version 1"):
        load_checkpoint(ckpt_copy)


def test_foreign_json_is_refused(ckpt_copy: Path) -> None:
    (ckpt_copy / "config.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(CheckpointError, match="is not a dreamgym world-model config"):
        load_checkpoint(ckpt_copy)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"No world-model checkpoint at .*nowhere.*dreamgym train"):
        load_checkpoint(tmp_path / "nowhere")


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="No world-model checkpoint"):
        load_checkpoint(tmp_path)


def test_wrong_task(trained_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match=r"trained on task 'InvertedPendulum'.*loaded for task 'Hopper'"):
        load_checkpoint(trained_checkpoint, task="Hopper")


def test_wrong_observation_shape(trained_checkpoint: Path) -> None:
    expected = r"observation shape \(5,\), but the env expects observation shape \(9,\)"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(trained_checkpoint, observation_shape=(9,))


def test_wrong_action_shape(trained_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match=r"action shape \(1,\), but the env expects action shape \(3,\)"):
        load_checkpoint(trained_checkpoint, action_shape=(3,))


def test_weights_that_do_not_fit_config(ckpt_copy: Path) -> None:
    # A consistent checkpoint (hashes match) whose config says a different width than the weights have.
    config = json.loads((ckpt_copy / "config.json").read_text())
    config["model"]["deter"] = 64
    (ckpt_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not fit the model config"):
        load_checkpoint(ckpt_copy)


def test_unknown_ensemble_heads_in_config_is_refused(ckpt_copy: Path) -> None:
    config = json.loads((ckpt_copy / "config.json").read_text())
    config["model"]["ensemble_heads"] = "deep"
    (ckpt_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"invalid model config: Unknown ensemble_heads 'deep'"):
        load_checkpoint(ckpt_copy)


def test_a_config_from_before_ensemble_heads_loads_as_linear_heads(ckpt_copy: Path, tmp_path: Path) -> None:
    # Checkpoints written before the setting existed have linear-head weights and no `ensemble_heads` field.
    ckpt = load_checkpoint(ckpt_copy)
    linear = WorldModel(replace(ckpt.model.cfg, ensemble=3, ensemble_heads="linear"))
    old = save_checkpoint(
        tmp_path / "old",
        linear,
        task=ckpt.task,
        observation_shape=tuple(ckpt.config["observation_space"]["shape"]),
        action_shape=tuple(ckpt.config["action_space"]["shape"]),
        starts=ckpt.starts,
    )
    config = json.loads((old / "config.json").read_text())
    del config["model"]["ensemble_heads"]
    (old / "config.json").write_text(json.dumps(config))
    loaded = load_checkpoint(old).model
    assert loaded.cfg.ensemble_heads == "linear"
    _assert_same_weights(loaded, linear)


def test_a_config_from_before_inference_unimix_imagines_from_the_mixed_categoricals(ckpt_copy: Path) -> None:
    assert not load_checkpoint(ckpt_copy).model.cfg.inference_unimix  # today's default
    config = json.loads((ckpt_copy / "config.json").read_text())
    del config["model"]["inference_unimix"]
    (ckpt_copy / "config.json").write_text(json.dumps(config))
    assert load_checkpoint(ckpt_copy).model.cfg.inference_unimix  # as it dreamed when it was measured


def _as_pending_write(source: Path, target: Path) -> None:
    """Copies every file of ``source`` into ``target`` under its ``.tmp`` name, as a killed save leaves them."""
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (source / name).exists():
            shutil.copyfile(source / name, target / (name + ".tmp"))


def test_roll_forward_of_complete_pending_write(trained_checkpoint: Path, tmp_path: Path) -> None:
    target = tmp_path / "killed"
    _as_pending_write(trained_checkpoint, target)
    assert not (target / "config.json").exists()
    ckpt = load_checkpoint(target)
    assert not list(target.glob("*.tmp"))
    for name in FILES:
        assert (target / name).read_bytes() == (trained_checkpoint / name).read_bytes(), name
    _assert_same_weights(ckpt.model, load_checkpoint(trained_checkpoint).model)


def test_roll_forward_after_kill_between_renames(trained_checkpoint: Path, tmp_path: Path) -> None:
    """Old checkpoint in place, new one half renamed: the loader finishes the rename and serves the new one."""
    old = load_checkpoint(trained_checkpoint)
    new_dir = tmp_path / "new"
    with torch.no_grad():
        for param in old.model.parameters():
            param.add_(1.0)
    _save_like(old, new_dir)  # the "new" checkpoint: weights shifted by one
    target = _save_like(load_checkpoint(trained_checkpoint), tmp_path / "target")  # the "old" one
    _as_pending_write(new_dir, target)
    shutil.move(target / "model.safetensors.tmp", target / "model.safetensors")  # first rename done, then killed
    ckpt = load_checkpoint(target)
    assert not list(target.glob("*.tmp"))
    _assert_same_weights(ckpt.model, load_checkpoint(new_dir).model)


def test_roll_back_of_incomplete_pending_write(trained_checkpoint: Path, tmp_path: Path) -> None:
    """Killed before config.json.tmp was written: the old checkpoint stays, the leftovers go."""
    target = _save_like(load_checkpoint(trained_checkpoint), tmp_path / "target")
    before = (target / "model.safetensors").read_bytes()
    (target / "model.safetensors.tmp").write_bytes(b"half a file")
    load_checkpoint(target)
    assert not list(target.glob("*.tmp"))
    assert (target / "model.safetensors").read_bytes() == before


def test_roll_back_when_pending_file_is_damaged(trained_checkpoint: Path, tmp_path: Path) -> None:
    target = _save_like(load_checkpoint(trained_checkpoint), tmp_path / "target")
    before = {name: (target / name).read_bytes() for name in ("config.json", "model.safetensors")}
    _as_pending_write(trained_checkpoint, target)
    tmp = target / "model.safetensors.tmp"
    tmp.write_bytes(tmp.read_bytes()[:-10])  # killed before the fsync finished
    load_checkpoint(target)
    assert not list(target.glob("*.tmp"))
    for name, data in before.items():
        assert (target / name).read_bytes() == data, name


def test_save_over_pending_write_recovers_first(trained_checkpoint: Path, tmp_path: Path) -> None:
    """A save into a directory with a killed save's leftovers ends with the new save, and nothing of the old."""
    target = tmp_path / "target"
    _as_pending_write(trained_checkpoint, target)
    new = load_checkpoint(trained_checkpoint)
    with torch.no_grad():
        for param in new.model.parameters():
            param.add_(1.0)
    _save_like(new, target)
    assert not list(target.glob("*.tmp"))
    _assert_same_weights(load_checkpoint(target).model, new.model)


def test_export_keeps_what_dreams_need_and_drops_trainer_state(
    trained_ensemble_checkpoint: Path, tmp_path: Path
) -> None:
    from dreamgym.world_model import export_checkpoint

    source = load_checkpoint(trained_ensemble_checkpoint)
    exported = load_checkpoint(export_checkpoint(trained_ensemble_checkpoint, tmp_path / "export"))
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [
        "config.json",
        "model.safetensors",
        "starts.safetensors",
    ]
    _assert_same_weights(source.model, exported.model)
    for name, tensor in source.starts.items():
        assert torch.equal(tensor, exported.starts[name]), name
    for key in ("task", "model", "dataset", "uncertainty_calibration"):
        assert exported.config[key] == source.config[key], key
    assert exported.config["exported_from"]["model_sha256"] == source.config["files"]["model.safetensors"]


def test_export_keeps_the_first_start_windows_when_asked(trained_checkpoint: Path, tmp_path: Path) -> None:
    from dreamgym.world_model import export_checkpoint

    source = load_checkpoint(trained_checkpoint)
    exported = load_checkpoint(export_checkpoint(trained_checkpoint, tmp_path / "export", start_windows=3))
    for name, tensor in source.starts.items():
        assert torch.equal(tensor[:3], exported.starts[name]), name
    assert len(exported.starts["obs"]) == 3 < len(source.starts["obs"])
    with pytest.raises(ValueError, match=r"Expected a positive integer `start_windows`, got 0"):
        export_checkpoint(trained_checkpoint, tmp_path / "zero", start_windows=0)


def test_a_float16_export_halves_the_weights_and_records_how_far_it_decodes_from_float32(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    from dreamgym.world_model import export_checkpoint
    from dreamgym.world_model.checkpoint import decoded_difference

    source = load_checkpoint(trained_checkpoint)
    full = export_checkpoint(trained_checkpoint, tmp_path / "full", start_windows=8)
    half = export_checkpoint(trained_checkpoint, tmp_path / "half", start_windows=8, weights_dtype="float16")
    sizes = [(path / "model.safetensors").stat().st_size for path in (full, half)]
    assert sizes[1] < 0.6 * sizes[0]
    exported = load_checkpoint(half)
    assert exported.config["weights_dtype"] == "float16"
    for name, tensor in exported.model.state_dict().items():  # loaded as float32, rounded to float16's values
        original = source.model.state_dict()[name]
        assert tensor.dtype == original.dtype
        if tensor.is_floating_point():
            assert torch.equal(tensor, original.half().to(original.dtype)), name
    check = exported.config["float16_check"]
    again = load_checkpoint(export_checkpoint(half, tmp_path / "again", weights_dtype="float16"))
    assert again.config["float16_check"] == check  # made once, from the float32 weights
    assert check["windows"] == 8
    assert check["float16_vs_float32"] == decoded_difference(source.model, exported.model, exported.starts)
    assert check["float32_sampling_noise"] == decoded_difference(source.model, source.model, exported.starts, (0, 1))
    # Rounding the weights moves what the model decodes less than drawing its latents anew does.
    assert 0.0 < check["float16_vs_float32"]["mean"] < check["float32_sampling_noise"]["mean"]
    with pytest.raises(ValueError, match=r"Unknown weights_dtype 'int8'; expected one of \['float16', 'float32'\]"):
        export_checkpoint(trained_checkpoint, tmp_path / "int8", weights_dtype="int8")


def test_an_export_can_change_how_its_inference_latents_are_drawn(trained_checkpoint: Path, tmp_path: Path) -> None:
    from dreamgym.world_model import export_checkpoint

    source = load_checkpoint(trained_checkpoint)
    assert not source.model.cfg.inference_unimix
    mixed = load_checkpoint(export_checkpoint(trained_checkpoint, tmp_path / "mixed", 8, inference_unimix=True))
    assert mixed.model.cfg.inference_unimix and mixed.model.rssm.cfg.inference_unimix
    assert mixed.config["model"]["inference_unimix"] is True
    for name, tensor in source.model.state_dict().items():  # sampling changes, not a weight
        assert torch.equal(mixed.model.state_dict()[name], tensor), name
    # An export of the mixed export with the setting off, or left as it is.
    plain = load_checkpoint(export_checkpoint(tmp_path / "mixed", tmp_path / "plain", inference_unimix=False))
    assert not plain.model.cfg.inference_unimix and not plain.model.rssm.cfg.inference_unimix
    kept = load_checkpoint(export_checkpoint(tmp_path / "mixed", tmp_path / "kept"))
    assert kept.model.cfg.inference_unimix


def test_export_refuses_a_tampered_source(ckpt_copy: Path, tmp_path: Path) -> None:
    from dreamgym.world_model import export_checkpoint

    data = bytearray((ckpt_copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (ckpt_copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        export_checkpoint(ckpt_copy, tmp_path / "export")
    assert not (tmp_path / "export" / "config.json").exists()
