"""Behaviour cloning into PPO's actor, and the critic warm-up that protects a cloned actor in dreams."""

from pathlib import Path

import numpy as np
import pytest
import torch

from agents.behaviour_cloning import CloningConfig, actor_parameters, clone_behaviour
from agents.sb3_dream import DreamAgentConfig, train_in_dream
from dreamgym.data import SequenceData

TINY = dict(num_envs=4, horizon=16, algo_kwargs=dict(n_steps=16, batch_size=32, n_epochs=1))
CLONE = CloningConfig(updates=300, learning_rate=3e-3)


@pytest.fixture(scope="module")
def demonstrations(wm_sequences: SequenceData) -> SequenceData:
    """The test data set with its actions replaced by a deterministic expert's: a = clip(-obs[1] - 0.5 obs[3])."""
    action = np.clip(-wm_sequences.obs[:, 1:2] - 0.5 * wm_sequences.obs[:, 3:4], -1, 1)
    prev_action = np.where(wm_sequences.is_first[:, None], 0.0, np.roll(action, 1, axis=0))
    return SequenceData(**{**vars(wm_sequences), "action": action, "prev_action": prev_action})


def _flat(parameters: list[torch.nn.Parameter]) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in parameters])


def _critic(model) -> np.ndarray:
    actor = {id(p) for p in actor_parameters(model.policy)}
    return _flat([p for p in model.policy.parameters() if id(p) not in actor])


def test_cloning_fits_the_demonstrated_actions(trained_checkpoint: Path, demonstrations: SequenceData) -> None:
    model = train_in_dream(
        trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY, steps=0), progress=False
    )  # an untrained PPO: the same construction the cloning starts from
    steps = demonstrations.transitions()
    before = np.abs(model.predict(steps["observation"], deterministic=True)[0] - steps["action"]).mean()
    info = clone_behaviour(model.policy, demonstrations, CLONE, progress=False)
    after = np.abs(model.predict(steps["observation"], deterministic=True)[0] - steps["action"]).mean()
    assert info["nll_after"] < info["nll_before"]
    assert after < 0.5 * before
    assert info["action_std"] < 1.0  # the spread shrank towards the deterministic expert's


def test_a_warm_start_clones_before_the_first_dream_step(
    trained_checkpoint: Path, demonstrations: SequenceData
) -> None:
    config = DreamAgentConfig(**TINY, steps=0, cloning=CLONE)
    cloned = train_in_dream(
        trained_checkpoint, "InvertedPendulum", config, demonstrations=demonstrations, progress=False
    )
    again = train_in_dream(
        trained_checkpoint, "InvertedPendulum", config, demonstrations=demonstrations, progress=False
    )
    np.testing.assert_array_equal(_flat(list(cloned.policy.parameters())), _flat(list(again.policy.parameters())))
    plain = train_in_dream(trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY, steps=0), progress=False)
    assert not np.array_equal(_flat(actor_parameters(cloned.policy)), _flat(actor_parameters(plain.policy)))


def test_critic_warmup_trains_the_critic_and_leaves_the_actor(
    trained_checkpoint: Path, demonstrations: SequenceData
) -> None:
    start = train_in_dream(
        trained_checkpoint,
        "InvertedPendulum",
        DreamAgentConfig(**TINY, steps=0, cloning=CLONE),
        demonstrations=demonstrations,
        progress=False,
    )
    actor, critic = _flat(actor_parameters(start.policy)), _critic(start)
    warmed = train_in_dream(
        trained_checkpoint,
        "InvertedPendulum",
        DreamAgentConfig(**TINY, steps=128, critic_warmup_steps=128, cloning=CLONE),
        demonstrations=demonstrations,
        progress=False,
    )
    np.testing.assert_array_equal(_flat(actor_parameters(warmed.policy)), actor)
    assert not np.array_equal(_critic(warmed), critic)
    assert all(p.requires_grad for p in warmed.policy.parameters())  # unfrozen afterwards


def test_cloning_without_demonstrations_or_with_sac_is_a_clear_error(trained_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="no `demonstrations`"):
        train_in_dream(trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY, cloning=CLONE), progress=False)
    with pytest.raises(ValueError, match="need algo='ppo'"):
        train_in_dream(
            trained_checkpoint, "InvertedPendulum", DreamAgentConfig(algo="sac", cloning=CLONE), progress=False
        )
    with pytest.raises(ValueError, match="critic_warmup_steps"):
        train_in_dream(trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY, steps=8, critic_warmup_steps=9))


def test_demonstrations_with_other_actions_are_refused(trained_checkpoint: Path, demonstrations: SequenceData) -> None:
    model = train_in_dream(trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY, steps=0), progress=False)
    wide = np.zeros((len(demonstrations), 2), np.float32)
    other = SequenceData(**{**vars(demonstrations), "action": wide, "prev_action": wide})
    with pytest.raises(ValueError, match=r"actions of shape \(1,\)"):
        clone_behaviour(model.policy, other, CLONE, progress=False)
