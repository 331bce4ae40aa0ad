"""The command line's ensemble, MOPO and HALT options, end to end with a tiny world model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamgym.cli import main


def test_train_an_ensemble_and_dream_with_halt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dreamgym.envs.dream_batch import DreamBatch

    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    assert main(["collect", "--steps", "300", "--out", str(data), "--seed", "2"]) == 0
    args = ["train", "--dataset", str(data), "--out", str(ckpt), "--preset", "debug", "--steps", "10"]
    assert main([*args, "--ensemble", "3", "--ensemble-heads", "deep"]) == 2
    assert "Unknown ensemble_heads 'deep'; expected one of ['linear', 'mlp']" in capsys.readouterr().err
    assert main([*args, "--ensemble", "3", "--ensemble-heads", "linear"]) == 0
    config = json.loads((ckpt / "config.json").read_text())
    assert config["model"]["ensemble"] == 3 and config["model"]["ensemble_heads"] == "linear"
    assert config["uncertainty_calibration"]["max"] > 0
    dream = ["dream", "--checkpoint", str(ckpt), "--steps", "64", "--num-envs", "8", "--logdir", str(tmp_path / "tb")]
    policy = tmp_path / "policy.zip"
    flags = ["--halt", "p99", "--halt-scale", "2", "--halt-penalty", "50", "--uncertainty-penalty", "0.5"]
    dreams, init = [], DreamBatch.__init__
    monkeypatch.setattr(DreamBatch, "__init__", lambda self, *a, **k: dreams.append(self) or init(self, *a, **k))
    assert main([*dream, "--out", str(policy), *flags]) == 0
    assert policy.exists()
    (batch,) = dreams  # the agent's dreams, with the safeguards the flags asked for
    assert batch.halt_threshold == pytest.approx(2 * config["uncertainty_calibration"]["p99"])
    assert (batch.halt_penalty, batch.uncertainty_penalty) == (50.0, 0.5)


def test_halt_on_a_single_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    main(["collect", "--steps", "300", "--out", str(data)])
    main(["train", "--dataset", str(data), "--out", str(ckpt), "--preset", "debug", "--steps", "5"])
    assert main(["dream", "--checkpoint", str(ckpt), "--steps", "64", "--num-envs", "8", "--halt", "0.5"]) == 2
    assert "dreamgym dream: error:" in (err := capsys.readouterr().err) and "needs an ensemble world model" in err
    assert main(["train", "--dataset", str(data), "--out", str(tmp_path / "zero"), "--steps", "0"]) == 2
    assert "Expected a positive `steps` for world-model training, got 0." in capsys.readouterr().err
    assert not (tmp_path / "zero").exists()


def test_dream_fine_tunes_an_actor_cloned_from_the_data_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.sb3_dream
    from dreamgym.data import load_episodes

    data, ckpt, policy = tmp_path / "data", tmp_path / "ckpt", tmp_path / "policy.zip"
    assert main(["collect", "--steps", "300", "--out", str(data), "--seed", "3"]) == 0
    assert main(["train", "--dataset", str(data), "--out", str(ckpt), "--preset", "debug", "--steps", "5"]) == 0
    dream = ["dream", "--checkpoint", str(ckpt), "--steps", "64", "--num-envs", "8", "--logdir", str(tmp_path / "tb")]
    warm = ["--warm-start", str(data), "--clone-updates", "20", "--critic-warmup", "32"]
    clones, clone = [], agents.sb3_dream.clone_behaviour
    monkeypatch.setattr(
        agents.sb3_dream, "clone_behaviour", lambda p, d, c, **k: clones.append((len(d), c)) or clone(p, d, c, **k)
    )
    assert main([*dream, *warm, "--behaviour-penalty", "0.5", "--out", str(policy)]) == 0
    assert policy.exists()
    ((rows, cloning),) = clones  # cloned once, from the whole data set, for the asked number of updates
    assert rows == len(load_episodes(data))
    assert cloning.updates == 20
    capsys.readouterr()
    assert main([*dream, *warm[:2], "--critic-warmup", "65", "--out", str(policy)]) == 2
    assert "critic_warmup_steps" in capsys.readouterr().err
    assert main([*dream, "--behaviour-penalty", "0.5", "--out", str(policy)]) == 2
    assert "behaviour_penalty needs `cloning`" in capsys.readouterr().err
