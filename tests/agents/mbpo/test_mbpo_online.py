"""MBPO in the online loop: a tiny run end to end, kill and resume, the command line and the policy it writes."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from agents.evaluation import evaluate_in_pybullet, sb3_policy
from agents.mbpo import MBPOConfig
from agents.online import OnlineConfig, OnlineTrainer, train_online
from dreamgym.cli import main
from dreamgym.errors import CheckpointError
from dreamgym.world_model import load_checkpoint

# 160 steps after the prefill at 16 replayed steps per real step give 40 updates of the debug world model, each
# followed by rollouts of growing length and 4 SAC steps (utd 1 x 4 real steps per update).
TINY = OnlineConfig(
    task="InvertedPendulum",
    agent="mbpo",
    steps=240,
    num_envs=2,
    preset="debug",
    prefill=80,
    train_ratio=16.0,
    eval_every=120,
    eval_episodes=2,
    checkpoint_every=120,
    log_every=40,
    seed=0,
    mbpo=MBPOConfig(utd=1.0, batch_size=32, rollout_schedule=(80, 240, 1, 3), model_capacity=2000),
)


@pytest.fixture(scope="module")
def mbpo_run(tmp_path_factory: pytest.TempPathFactory) -> OnlineTrainer:
    trainer = OnlineTrainer(TINY, Path(tmp_path_factory.mktemp("mbpo")) / "run", progress=False)
    trainer.run()
    trainer.close()
    return trainer


def test_a_run_branches_rollouts_trains_sac_and_writes_its_policy(mbpo_run: OnlineTrainer) -> None:
    assert mbpo_run.updates == 40
    behaviour = mbpo_run.behaviour
    assert behaviour.sac._n_updates == 40 * 4
    assert 0 < len(behaviour.model_buffer) <= TINY.mbpo.model_capacity
    assert mbpo_run._metrics["mbpo/rollout_length"] == 3  # the schedule's end was reached
    assert [e["step"] for e in mbpo_run.evaluations] == [120, 240]
    assert mbpo_run.seconds["sac"] > 0
    policy_dir = mbpo_run.out / "policy"
    assert load_checkpoint(policy_dir, task="InvertedPendulum").model.cfg.obs_dim == 5
    # The saved SAC is the one that was evaluated: the same returns on the same seeds.
    again = evaluate_in_pybullet(sb3_policy(policy_dir / "sac.zip"), "InvertedPendulum", 2, TINY.eval_seed)
    assert list(again.returns) == mbpo_run.evaluations[-1]["returns"]


def test_a_killed_run_resumes_to_the_state_of_an_uninterrupted_one(
    mbpo_run: OnlineTrainer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = OnlineTrainer.checkpoint

    def checkpoint_then_die(self: OnlineTrainer) -> None:
        original(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(OnlineTrainer, "checkpoint", checkpoint_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_online(TINY, tmp_path / "run", progress=False)
    monkeypatch.undo()
    resumed = train_online(TINY, tmp_path / "run", progress=False)
    assert resumed.evaluations == mbpo_run.evaluations
    killed = load_file(tmp_path / "run" / "state" / "state.safetensors")
    full = load_file(mbpo_run.out / "state" / "state.safetensors")
    assert killed.keys() == full.keys() and any(k.startswith("model_buffer.") for k in full)
    for key, value in full.items():
        assert (killed[key] == value).all(), key
    stored = json.loads((tmp_path / "run" / "state" / "state.json").read_text())
    assert stored["behaviour"] == json.loads((mbpo_run.out / "state" / "state.json").read_text())["behaviour"]


def test_a_resume_with_other_mbpo_settings_is_refused(mbpo_run: OnlineTrainer, tmp_path: Path) -> None:
    train_online(dataclasses.replace(TINY, steps=120), tmp_path / "run", progress=False)
    other = dataclasses.replace(TINY, mbpo=dataclasses.replace(TINY.mbpo, utd=2.0))
    with pytest.raises(CheckpointError, match=r"other settings \(mbpo differ\)"):
        OnlineTrainer(other, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="Unknown online agent 'ppo'"):
        dataclasses.replace(TINY, agent="ppo")


def test_a_run_recorded_with_one_hidden_width_resumes(tmp_path: Path) -> None:
    """Runs recorded before ``net_arch`` stored ``hidden``: two layers of that width, the same settings."""
    train_online(dataclasses.replace(TINY, steps=120), tmp_path / "run", progress=False)
    path = tmp_path / "run" / "state" / "state.json"
    state = json.loads(path.read_text())
    del state["config"]["mbpo"]["net_arch"], state["config"]["mbpo"]["use_sde"]
    state["config"]["mbpo"]["hidden"] = 256
    path.write_text(json.dumps(state))
    assert OnlineTrainer(TINY, tmp_path / "run", progress=False).steps == 120
    state["config"]["mbpo"]["hidden"] = 64
    path.write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match=r"mbpo differ"):
        OnlineTrainer(TINY, tmp_path / "run", progress=False)


def test_a_run_keeps_the_inference_sampling_it_was_recorded_with(tmp_path: Path) -> None:
    """A resumed run must not switch its world model's inference latents mid-run: runs recorded before the
    setting existed drew them from the mixed categoricals, and go on doing so."""
    train_online(dataclasses.replace(TINY, steps=120), tmp_path / "run", progress=False)
    path = tmp_path / "run" / "state" / "state.json"
    state = json.loads(path.read_text())
    assert state["world_model"] == {"inference_unimix": False}
    assert not OnlineTrainer(TINY, tmp_path / "run", progress=False).world_model.rssm.cfg.inference_unimix
    del state["world_model"]
    path.write_text(json.dumps(state))
    resumed = OnlineTrainer(TINY, tmp_path / "run", progress=False)
    assert resumed.steps == 120 and resumed.world_model.cfg.inference_unimix
    assert resumed.world_model.rssm.cfg.inference_unimix


def test_sac_explores_with_gsde_where_asked(tmp_path: Path) -> None:
    config = dataclasses.replace(
        TINY, steps=100, eval_every=0, mbpo=dataclasses.replace(TINY.mbpo, use_sde=True, net_arch=(32, 16))
    )
    trainer = OnlineTrainer(config, tmp_path / "run", progress=False)
    trainer.run()
    trainer.close()
    actor = trainer.behaviour.sac.actor
    widths = [layer.out_features for layer in actor.latent_pi if isinstance(layer, torch.nn.Linear)]
    assert actor.use_sde and widths == [32, 16]
    assert trainer.behaviour.sac._n_updates > 0


def test_cli_trains_mbpo_and_evaluates_its_policy(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    flags = ["--task", "InvertedPendulum", "--agent", "mbpo", "--steps", "120", "--num-envs", "2"]
    flags += ["--preset", "debug", "--prefill", "60", "--train-ratio", "16", "--utd", "0.5"]
    flags += ["--rollout-schedule", "0", "120", "1", "2", "--eval-episodes", "2", "--out", str(run), "--no-progress"]
    flags += ["--ensemble", "2", "--trust-quantile", "0.9"]  # MBPO's head sampling and trusted rollouts
    flags += ["--sac-gamma", "0.98", "--sac-tau", "0.02", "--sac-lr", "7.3e-4", "--sde"]  # rl-zoo3's SAC
    assert main(["train-online", *flags]) == 0
    assert "sac.zip" in capsys.readouterr().out
    assert load_checkpoint(run / "policy").model.cfg.ensemble == 2
    mbpo = json.loads((run / "state" / "state.json").read_text())["config"]["mbpo"]
    assert mbpo["trust_quantile"] == 0.9
    assert (mbpo["gamma"], mbpo["tau"], mbpo["learning_rate"], mbpo["use_sde"]) == (0.98, 0.02, 7.3e-4, True)
    quick = ["--episodes", "2", "--gaps", "none", "--robustness", "none", "--no-video", "--no-audit", "--no-fidelity"]
    policy = ["--checkpoint", str(run / "policy"), "--policy", str(run / "policy" / "sac.zip")]
    assert main(["evaluate", *policy, *quick, "--no-progress"]) == 0
    assert "dream-trained policy in PyBullet" in capsys.readouterr().out
