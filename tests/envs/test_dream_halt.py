"""HALT (MOReL): dreams end with a penalty where ensemble disagreement exceeds a threshold set on the data set."""

from __future__ import annotations

import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from dreamgym.data import SequenceData
from dreamgym.envs import DreamEnv
from dreamgym.envs.sb3_vec_env import DreamSB3VecEnv
from dreamgym.errors import CheckpointError
from dreamgym.world_model import load_checkpoint, read_config, save_checkpoint
from dreamgym.world_model.uncertainty import CALIBRATION_KEY, calibrate_checkpoint, calibrate_disagreement

ENV_ID = "dreamgym/InvertedPendulum-dream-v0"
ACTION = np.array([0.3], dtype=np.float32)


def _first_step(checkpoint: Path, **kwargs) -> tuple[float, bool, dict]:
    env = gym.make(ENV_ID, checkpoint=checkpoint, **kwargs).unwrapped
    env.reset(seed=3)
    _, reward, terminated, _, info = env.step(ACTION)
    return reward, terminated, info


def test_training_stores_the_disagreement_calibration(
    trained_ensemble_checkpoint: Path, wm_sequences: SequenceData
) -> None:
    stored = read_config(trained_ensemble_checkpoint)[CALIBRATION_KEY]
    assert 0 < stored["p50"] <= stored["p90"] <= stored["p99"] <= stored["max"]
    assert stored["rows"] > 100 and stored["fingerprint"] == wm_sequences.fingerprint()
    # the stored numbers are the model's disagreement on the data, recomputed here from the saved weights
    recomputed = calibrate_disagreement(load_checkpoint(trained_ensemble_checkpoint).model, wm_sequences)
    assert recomputed.pop("fingerprint") == stored.pop("fingerprint")
    assert recomputed == pytest.approx(stored, rel=1e-5)


def test_a_single_model_is_not_calibrated(trained_checkpoint: Path) -> None:
    assert CALIBRATION_KEY not in read_config(trained_checkpoint)


def test_named_threshold_is_read_back_from_the_calibration(trained_ensemble_checkpoint: Path) -> None:
    calibration = read_config(trained_ensemble_checkpoint)[CALIBRATION_KEY]
    env = DreamEnv("InvertedPendulum", checkpoint=trained_ensemble_checkpoint, halt_threshold="p99", halt_scale=1.5)
    assert env.dreams.halt_threshold == pytest.approx(1.5 * calibration["p99"])
    env = DreamEnv("InvertedPendulum", checkpoint=trained_ensemble_checkpoint, halt_threshold=0.25)
    assert env.dreams.halt_threshold == 0.25


def test_disagreement_above_the_threshold_halts_with_the_penalty(trained_ensemble_checkpoint: Path) -> None:
    reward, terminated, info = _first_step(trained_ensemble_checkpoint)
    u = info["uncertainty"]
    assert u > 0 and not terminated and info["halted"] is False
    reward, terminated, info = _first_step(trained_ensemble_checkpoint, halt_threshold=u * 0.99, halt_penalty=7.0)
    assert terminated and info["halted"] is True and reward == -7.0
    assert info["uncertainty"] == pytest.approx(u)
    _, terminated, info = _first_step(trained_ensemble_checkpoint, halt_threshold=u * 1.01, halt_penalty=7.0)
    assert not terminated and info["halted"] is False


def test_an_infinite_threshold_never_halts(trained_ensemble_checkpoint: Path) -> None:
    plain = gym.make(ENV_ID, checkpoint=trained_ensemble_checkpoint, horizon=40).unwrapped
    guarded = gym.make(ENV_ID, checkpoint=trained_ensemble_checkpoint, horizon=40, halt_threshold=float("inf"))
    guarded = guarded.unwrapped
    for env in (plain, guarded):
        env.reset(seed=5)
    for _ in range(40):
        a, b = plain.step(ACTION), guarded.step(ACTION)
        assert a[1] == b[1] and a[2] == b[2] and not b[4]["halted"]
        if a[2] or a[3]:
            break


def test_vector_and_sb3_envs_report_halts(trained_ensemble_checkpoint: Path) -> None:
    venv = gym.make_vec(ENV_ID, num_envs=3, checkpoint=trained_ensemble_checkpoint, halt_threshold=1e-9)
    venv.reset(seed=0)
    _, reward, terminated, truncated, info = venv.step(np.zeros((3, 1), np.float32))
    assert terminated.all() and not truncated.any() and info["halted"].all() and info["_halted"].all()
    assert (reward == -100.0).all()
    venv.close()
    sb3 = DreamSB3VecEnv("InvertedPendulum", 3, checkpoint=trained_ensemble_checkpoint, halt_threshold=1e-9)
    sb3.reset()
    _, _, dones, infos = sb3.step(np.zeros((3, 1), np.float32))
    assert dones.all() and all(i["halted"] and not i["TimeLimit.truncated"] for i in infos)


def test_a_halt_is_reported_once_in_either_autoreset_mode(trained_ensemble_checkpoint: Path) -> None:
    from gymnasium.vector import AutoresetMode

    from dreamgym.envs import DreamVectorEnv

    zeros = np.zeros((3, 1), np.float32)
    venv = DreamVectorEnv("InvertedPendulum", 3, checkpoint=trained_ensemble_checkpoint, halt_threshold=1e-9)
    venv.reset(seed=0)
    assert venv.step(zeros)[4]["halted"].all()
    _, reward, terminated, _, info = venv.step(zeros)  # NEXT_STEP: this step only resets
    assert not terminated.any() and (reward == 0).all()
    assert not info["_halted"].any() and not info["_uncertainty"].any()  # a reset has no step to report

    venv = DreamVectorEnv(
        "InvertedPendulum",
        3,
        checkpoint=trained_ensemble_checkpoint,
        halt_threshold=1e-9,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    venv.reset(seed=0)
    _, _, terminated, _, info = venv.step(zeros)
    final = info["final_info"]
    assert terminated.all() and final["halted"].all() and final["_halted"].all() and (final["uncertainty"] > 0).all()
    assert not info["_halted"].any()  # the returned observation is the reset's


def test_halt_needs_an_ensemble(trained_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match=r"HALT \(halt_threshold='max'\) needs an ensemble world model"):
        DreamEnv("InvertedPendulum", checkpoint=trained_checkpoint, halt_threshold="max")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"uncertainty_penalty": float("nan")}, r"finite `uncertainty_penalty` >= 0, got nan"),
        ({"uncertainty_penalty": -1.0}, r"finite `uncertainty_penalty` >= 0, got -1.0"),
        ({"halt_threshold": "p99", "halt_scale": float("nan")}, r"positive, finite `halt_scale`, got nan"),
        ({"halt_threshold": "max", "halt_penalty": -50.0}, r"`halt_penalty` >= 0 .* pays the agent"),
        ({"termination_threshold": float("nan")}, r"finite `termination_threshold`, got nan"),
        ({"horizon": 0}, r"positive dream `horizon`, got 0"),
    ],
)
def test_bad_dream_settings_are_refused_at_construction(
    trained_ensemble_checkpoint: Path, kwargs: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        DreamEnv("InvertedPendulum", checkpoint=trained_ensemble_checkpoint, **kwargs)
    with pytest.raises(ValueError, match=match):
        gym.make_vec(ENV_ID, num_envs=2, checkpoint=trained_ensemble_checkpoint, **kwargs)


def test_unknown_threshold_name_lists_the_known_ones(trained_ensemble_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match=r"Unknown halt_threshold 'p95'.*\['p50', 'p90', 'p99', 'max'\]"):
        DreamEnv("InvertedPendulum", checkpoint=trained_ensemble_checkpoint, halt_threshold="p95")


def test_uncalibrated_checkpoint_refuses_a_named_threshold_until_calibrated(
    trained_ensemble_checkpoint: Path, wm_sequences: SequenceData, tmp_path: Path
) -> None:
    ckpt = load_checkpoint(trained_ensemble_checkpoint)
    bare = save_checkpoint(  # as an older dreamgym wrote it: weights and starts, no calibration
        tmp_path / "bare",
        ckpt.model,
        task="InvertedPendulum",
        observation_shape=(5,),
        action_shape=(1,),
        starts=ckpt.starts,
    )
    with pytest.raises(CheckpointError, match=r"has no disagreement calibration.*calibrate_checkpoint"):
        DreamEnv("InvertedPendulum", checkpoint=bare, halt_threshold="max")
    DreamEnv("InvertedPendulum", checkpoint=bare, halt_threshold=0.5)  # an absolute threshold needs none
    calibration = calibrate_checkpoint(bare, wm_sequences)
    assert load_checkpoint(bare).config[CALIBRATION_KEY] == calibration  # manifest still verifies
    assert not list(bare.glob("*.tmp"))
    env = DreamEnv("InvertedPendulum", checkpoint=bare, halt_threshold="max")
    assert env.dreams.halt_threshold == pytest.approx(calibration["max"])


def test_update_config_refuses_to_touch_what_defines_the_checkpoint(
    trained_ensemble_checkpoint: Path, tmp_path: Path
) -> None:
    from dreamgym.world_model.checkpoint import update_config

    ckpt = Path(
        shutil.copytree(trained_ensemble_checkpoint, tmp_path / "c", ignore=shutil.ignore_patterns("tensorboard"))
    )
    before = (ckpt / "config.json").read_bytes()
    with pytest.raises(ValueError, match=r"\['files'\]"):
        update_config(ckpt, {"files": {}})
    assert (ckpt / "config.json").read_bytes() == before


def test_planted_disagreement_in_one_head_halts_at_the_calibrated_threshold(trained_ensemble_checkpoint: Path) -> None:
    env = DreamEnv("InvertedPendulum", checkpoint=trained_ensemble_checkpoint, halt_threshold="max", halt_penalty=5.0)
    env.reset(seed=1)
    _, _, terminated, _, info = env.step(ACTION)
    assert not info["halted"] and info["uncertainty"] <= env.dreams.halt_threshold  # the real model stays in range
    env.reset(seed=1)
    output_bias = env.dreams.model.rssm.prior_net.out_bias  # (heads, logits): each MLP head's last layer
    width = env.dreams.cfg.stoch_flat
    with torch.no_grad():  # plant: head 1 now predicts other classes than heads 0 and 2
        output_bias[1] += 20.0 * torch.randn(width, generator=torch.Generator().manual_seed(0))
    _, reward, terminated, _, info = env.step(ACTION)
    assert info["uncertainty"] > env.dreams.halt_threshold
    assert terminated and info["halted"] and reward == -5.0
