"""The behaviour penalty: a dream reward charged for leaving the cloned actor's actions."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agents.behaviour_cloning import CloningConfig, actor_parameters
from agents.behaviour_penalty import BehaviourPenalty
from agents.sb3_dream import DreamAgentConfig, train_in_dream
from dreamgym.data import SequenceData
from dreamgym.envs import DreamSB3VecEnv

TINY = dict(num_envs=4, horizon=16, algo_kwargs=dict(n_steps=16, batch_size=32, n_epochs=1))


def _dreams(checkpoint: Path) -> DreamSB3VecEnv:
    env = DreamSB3VecEnv("InvertedPendulum", num_envs=4, checkpoint=checkpoint, horizon=3)  # steps cross resets
    env.seed(3)
    return env


def test_the_penalty_is_the_weighted_squared_distance_to_the_reference_action(trained_checkpoint: Path) -> None:
    reference = train_in_dream(
        trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY, steps=0), progress=False
    ).policy
    plain, penalised = _dreams(trained_checkpoint), BehaviourPenalty(_dreams(trained_checkpoint), reference, 2.0)
    obs, same_obs = plain.reset(), penalised.reset()
    np.testing.assert_array_equal(obs, same_obs)
    ended = np.zeros(4, bool)
    for offset in (0.0, 0.3, 0.0, 0.3, 0.3):  # the reference's own action costs nothing; 0.3 away, 2 * 0.09
        reference_actions = reference.predict(obs, deterministic=True)[0]  # already clipped to the action space
        actions = np.clip(reference_actions + offset, -1, 1)
        expected_gap = (actions - reference_actions) ** 2
        obs, reward, dones, _ = plain.step(actions)  # after a done, obs is the next dream's first observation
        same_obs, penalised_reward, *_ = penalised.step(actions)
        ended |= dones
        np.testing.assert_array_equal(obs, same_obs)  # the dream itself is untouched
        np.testing.assert_allclose(penalised_reward, reward - 2.0 * expected_gap.mean(-1), atol=1e-6)
        assert (penalised_reward < reward).any() == (offset > 0)
    assert ended.all()  # every dream was reset at least once: the reference then acted on the new dream's start


def test_the_penalty_needs_a_freshly_cloned_actor(trained_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="behaviour_penalty needs `cloning`"):
        train_in_dream(
            trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY, behaviour_penalty=1.0), progress=False
        )
    model = train_in_dream(trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY, steps=0), progress=False)
    config = DreamAgentConfig(**TINY, behaviour_penalty=1.0, cloning=CloningConfig(updates=10))
    with pytest.raises(ValueError, match="and a new agent"):
        train_in_dream(trained_checkpoint, "InvertedPendulum", config, model=model, progress=False)
    with pytest.raises(ValueError, match="weight >= 0"):
        BehaviourPenalty(_dreams(trained_checkpoint), model.policy, -1.0)


def test_a_warm_started_agent_fine_tunes_under_the_penalty(
    trained_checkpoint: Path, wm_sequences: SequenceData
) -> None:
    config = DreamAgentConfig(**TINY, steps=64, cloning=CloningConfig(updates=20), behaviour_penalty=1.0)
    model = train_in_dream(trained_checkpoint, "InvertedPendulum", config, demonstrations=wm_sequences, progress=False)
    penalty = model.get_env().venv  # reward normalisation wraps the penalty, which wraps the dreams
    assert isinstance(penalty, BehaviourPenalty) and penalty.weight == 1.0
    assert not any(p.requires_grad for p in penalty.reference.parameters())
    assert model.num_timesteps == 64

    only_cloned = replace(config, steps=0, behaviour_penalty=0.0)  # the same agent, cloned and not trained on
    cloned = train_in_dream(
        trained_checkpoint, "InvertedPendulum", only_cloned, demonstrations=wm_sequences, progress=False
    ).policy
    np.testing.assert_array_equal(_flat(penalty.reference.parameters()), _flat(cloned.parameters()))  # as cloned
    assert not np.array_equal(_flat(actor_parameters(model.policy)), _flat(actor_parameters(cloned)))  # fine-tuned


def _flat(parameters) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in parameters])
