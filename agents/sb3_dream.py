"""Training Stable-Baselines3 agents inside dreams: the agent never sees a real transition."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from agents.behaviour_cloning import CloningConfig, actor_parameters, clone_behaviour, frozen
from agents.behaviour_penalty import BehaviourPenalty
from dreamgym.data import SequenceData
from dreamgym.envs.sb3_vec_env import DreamSB3VecEnv

__all__ = ["ALGORITHMS", "DreamAgentConfig", "train_in_dream"]

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC}


@dataclass(frozen=True)
class DreamAgentConfig:
    """How an SB3 agent trains in dreams.

    Attributes:
        algo: ``"ppo"`` (many dreams, on-policy: the natural fit for cheap batched dreams) or ``"sac"``.
        steps: dream transitions the agent learns from, rounded up to whole rollouts (what SB3 collects anyway).
        num_envs: dreams stepped together; SAC works best with few, PPO with many.
        horizon: dream length before truncation; the task's dream horizon if ``None``. Short dreams started
            from real states (MBPO-style branches) limit how far model error can compound.
        uncertainty_penalty: MOPO-style reward penalty per unit of ensemble disagreement.
        halt_threshold: MOReL-style HALT: dreams end with reward ``-halt_penalty`` where the disagreement exceeds
            this (nats, or a calibration statistic of the data set: ``"p50"``, ``"p90"``, ``"p99"``, ``"max"``).
        halt_scale: multiplies a named ``halt_threshold``.
        halt_penalty: MOReL's kappa, the penalty of the halting step.
        normalize_reward: scale rewards by a running estimate of the discounted return's spread (SB3's
            ``VecNormalize``, rewards only) while training. With gamma 0.999 and a reward per step, values run
            into the hundreds and PPO's critic, starting near zero, explained almost none of the return
            (explained variance 0.0-0.3 over 2.5M steps), so advantages were mostly noise. Observations are left
            as they are, so the policy runs on raw observations in PyBullet with nothing else to carry.
        cloning: PPO only: before any dream step, clone a new agent's actor from the ``demonstrations`` passed
            to :func:`train_in_dream` (see :mod:`agents.behaviour_cloning`); a continued ``model`` keeps its own.
            The offline warm start: the policy begins where the model was trained instead of wherever a random
            actor wanders.
        critic_warmup_steps: PPO only: dream steps, counted in ``steps``, during which the actor is frozen and
            only the critic learns. A warm-started actor would otherwise be steered by the advantages of a
            random critic in its first updates and lose what it cloned.
        behaviour_penalty: with ``cloning``: reward penalty per unit of mean squared distance between the action
            taken and the cloned actor's (:class:`agents.behaviour_penalty.BehaviourPenalty`), so fine-tuning
            stays near the data's behaviour.
        seed: seeds the agent and the dreams.
        algo_kwargs: constructor kwargs for the SB3 algorithm, over the defaults below.
    """

    algo: Literal["ppo", "sac"] = "ppo"
    steps: int = 2_500_000
    num_envs: int = 256
    horizon: int | None = None
    uncertainty_penalty: float = 0.0
    halt_threshold: float | str | None = None
    halt_scale: float = 1.0
    halt_penalty: float = 100.0
    normalize_reward: bool = True
    cloning: CloningConfig | None = None
    critic_warmup_steps: int = 0
    behaviour_penalty: float = 0.0
    seed: int = 0
    algo_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Defaults for low-dimensional robot tasks on CPU. Dreams are cheap, so PPO takes large rollouts (256 dreams x
# 256 steps) and many epochs, and gamma 0.999 makes a failure several hundred steps ahead (a cart drifting to
# its track end) cost as much as one next step. Measured on InvertedPendulum with one 15k-step world model:
# 64 dreams x 128 steps, 5 epochs, gamma 0.99 reached a PyBullet return of 245; these settings with
# gamma 0.995 and 1M steps 330-595; with gamma 0.999 and 3M steps 1000 (the maximum).
DEFAULT_KWARGS: dict[str, dict[str, Any]] = {
    "ppo": dict(
        n_steps=256,
        batch_size=4096,
        n_epochs=10,
        learning_rate=3e-4,
        gamma=0.999,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.0,
        policy_kwargs=dict(net_arch=[64, 64]),
    ),
    "sac": dict(
        learning_rate=3e-4,
        buffer_size=300_000,
        batch_size=256,
        learning_starts=1000,
        train_freq=1,
        gradient_steps=1,
        policy_kwargs=dict(net_arch=[256, 256]),
    ),
}


def train_in_dream(
    checkpoint: str | Path,
    task: str,
    config: DreamAgentConfig,
    *,
    model: BaseAlgorithm | None = None,
    demonstrations: SequenceData | None = None,
    logdir: str | Path | None = None,
    progress: bool = True,
) -> BaseAlgorithm:
    """Trains (or continues training) an SB3 agent in dreams of the world model at ``checkpoint``.

    Passing ``model`` continues an earlier agent in a new dream, which is how Dyna rounds refine a policy
    after the world model has seen more real data. ``demonstrations`` are the data set that
    ``config.cloning`` clones the actor from.
    """
    if config.algo not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {config.algo!r}; expected one of {sorted(ALGORITHMS)}.")
    if (config.cloning or config.critic_warmup_steps) and config.algo != "ppo":
        raise ValueError(f"Behaviour cloning and critic warm-up need algo='ppo', got {config.algo!r}.")
    if config.behaviour_penalty and (not config.cloning or model is not None):
        raise ValueError(
            "DreamAgentConfig.behaviour_penalty needs `cloning` and a new agent: the freshly cloned actor is its "
            "reference."
        )
    if config.cloning and demonstrations is None:
        raise ValueError("DreamAgentConfig.cloning is set but no `demonstrations` data set was passed to clone.")
    if not 0 <= config.critic_warmup_steps <= config.steps:
        raise ValueError(
            f"Expected 0 <= critic_warmup_steps <= steps ({config.steps}), got {config.critic_warmup_steps}."
        )
    env = DreamSB3VecEnv(
        task,
        num_envs=config.num_envs,
        checkpoint=checkpoint,
        horizon=config.horizon,
        uncertainty_penalty=config.uncertainty_penalty,
        halt_threshold=config.halt_threshold,
        halt_scale=config.halt_scale,
        halt_penalty=config.halt_penalty,
    )
    env.seed(config.seed)
    if model is None:
        kwargs = {**DEFAULT_KWARGS[config.algo], **config.algo_kwargs}
        if config.algo == "ppo":
            kwargs["batch_size"] = min(kwargs["batch_size"], kwargs["n_steps"] * config.num_envs)
        model = ALGORITHMS[config.algo](
            "MlpPolicy",
            env,
            seed=config.seed,
            verbose=0,
            device="cpu",
            tensorboard_log=str(logdir) if logdir else None,
            **kwargs,
        )
        if config.cloning:
            clone_behaviour(model.policy, demonstrations, config.cloning, progress=progress)
        if config.behaviour_penalty:
            env = BehaviourPenalty(env, copy.deepcopy(model.policy), config.behaviour_penalty)
    else:  # a new agent is seeded by its constructor; a continued one draws from the process's RNGs unless reseeded
        model.set_random_seed(config.seed)
    # Wrapped after construction so the scale follows the algorithm's own discount.
    model.set_env(
        VecNormalize(env, norm_obs=False, norm_reward=True, gamma=model.gamma) if config.normalize_reward else env
    )
    learn = dict(reset_num_timesteps=False, progress_bar=progress, tb_log_name="agent")
    if config.critic_warmup_steps:
        with frozen(actor_parameters(model.policy)):
            model.learn(total_timesteps=_whole_rollouts(model, config.critic_warmup_steps), **learn)
    if config.steps > config.critic_warmup_steps:
        model.learn(total_timesteps=_whole_rollouts(model, config.steps - config.critic_warmup_steps), **learn)
    return model


def _whole_rollouts(model: BaseAlgorithm, steps: int) -> int:
    """``steps`` rounded up to whole rollouts of an on-policy algorithm, which only ever collects whole ones: the
    steps it is asked for are then the steps it takes, and its progress bar ends at its total."""
    rollout = getattr(model, "n_steps", 1) * model.n_envs
    return -(-steps // rollout) * rollout
