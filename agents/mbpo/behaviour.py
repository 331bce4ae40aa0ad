"""MBPO-style SAC as the behaviour of an online run: SB3's SAC on real steps and rollouts branched off them.

After every world-model update, the posterior states of the update's replay batch (real states, filtered
through the model) start short rollouts under the current SAC policy; their transitions go into a FIFO
buffer, and SAC takes ``utd`` gradient steps per real step on batches that mix a few real transitions with
many imagined ones. SB3's own ``SAC.train`` makes the updates: only the buffer it samples from is ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.logger import configure

from agents.dreamer.replay import ReplayBuffer
from agents.evaluation import Policy, sb3_policy
from agents.mbpo.buffers import MixedReplay, ModelBuffer
from agents.mbpo.config import MBPOConfig
from agents.mbpo.rollouts import branched_rollouts
from dreamgym.atomic import atomic_directory
from dreamgym.tasks import TaskSpec
from dreamgym.world_model import RSSMState, WorldModel, save_checkpoint

__all__ = ["POLICY_FILE", "MBPOBehaviour"]

POLICY_FILE = "sac.zip"


class MBPOBehaviour:
    """Implements :class:`agents.online.Behaviour` with SB3's SAC acting on observations.

    The policy directory ``out/policy`` holds the world model checkpoint (so its dreams can be made with
    ``gymnasium.make(..., checkpoint=out/policy)``) and the SAC policy as SB3's own ``sac.zip``, which
    ``dreamgym evaluate --policy`` and the transfer ladder take like any SB3 policy.

    Args:
        world_model: the run's world model, to branch rollouts in.
        spec: the task.
        env: one of the run's envs; SB3 reads the spaces off it (SAC never steps it).
        replay: the run's real replay buffer.
        cfg: MBPO's settings.
        steps_per_update: real steps between two world-model updates, which sets SAC's steps per update.
        seed: seeds the batch sampling.
    """

    name = "sac"
    policy_dir = "policy"

    def __init__(
        self,
        world_model: WorldModel,
        spec: TaskSpec,
        env: gym.Env,
        replay: ReplayBuffer,
        cfg: MBPOConfig,
        steps_per_update: float,
        seed: int,
    ):
        self.cfg, self.spec, self.world_model = cfg, spec, world_model
        self.sac = SAC(
            "MlpPolicy",
            env,
            learning_rate=cfg.learning_rate,
            batch_size=cfg.batch_size,
            gamma=cfg.gamma,
            tau=cfg.tau,
            use_sde=cfg.use_sde,
            policy_kwargs=dict(net_arch=list(cfg.net_arch)),
            device="cpu",
            verbose=0,
        )
        self.sac.set_logger(configure(None, []))  # SB3 records its losses there; we read them off it
        self.model_buffer = ModelBuffer(cfg.model_capacity, spec.obs_shape[0], spec.action_dim)
        self.sac.replay_buffer = MixedReplay(replay, self.model_buffer, cfg.real_ratio, seed)
        self.gradient_steps = max(1, round(cfg.utd * steps_per_update))

    def _sample_actions(self, obs: torch.Tensor) -> torch.Tensor:
        return self.sac.actor(obs, deterministic=False)

    def act(self, obs: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self._sample_actions(torch.as_tensor(obs, dtype=torch.float32)).clamp(-1.0, 1.0).numpy()

    def update(
        self, world_model: WorldModel, batch: dict[str, torch.Tensor], posts: RSSMState, real_steps: int
    ) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        valid = ~batch["is_terminal"]
        valid[:, : cfg.context] = False
        starts = RSSMState(posts.deter.detach()[valid], posts.stoch.detach()[valid])
        length = cfg.rollout_length(real_steps)
        transitions = branched_rollouts(
            world_model,
            starts,
            batch["obs"][valid],
            self._sample_actions,
            length,
            self.spec.termination,
            trust_quantile=cfg.trust_quantile,
        )
        self.model_buffer.add(transitions)
        self.sac.train(self.gradient_steps, cfg.batch_size)
        logged = {k.split("/")[-1]: v for k, v in self.sac.logger.name_to_value.items() if k != "train/n_updates"}
        metrics = {f"sac/{k}": torch.tensor(float(v)) for k, v in logged.items()}
        self.sac.logger.dump()
        return metrics | {
            "mbpo/rollout_length": torch.tensor(float(length)),
            "mbpo/rollout_steps": torch.tensor(float(len(transitions["obs"]))),
            "mbpo/rollout_reward": transitions["reward"].mean(),
            "mbpo/model_buffer": torch.tensor(float(len(self.model_buffer))),
        }

    def evaluation_policy(self) -> Policy:
        return sb3_policy(self.sac, deterministic=True)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"sac_actor_optim": self.sac.actor.optimizer, "sac_critic_optim": self.sac.critic.optimizer}
        if self.sac.ent_coef_optimizer is not None:
            optimizers["sac_ent_coef_optim"] = self.sac.ent_coef_optimizer
        return optimizers

    def state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"sac.{k}": v for k, v in self.sac.policy.state_dict().items()}
        if self.sac.log_ent_coef is not None:
            tensors["sac_log_ent_coef"] = self.sac.log_ent_coef.detach()
        return tensors | self.model_buffer.state_dict()

    def state_json(self) -> dict[str, Any]:
        return {
            "sac_updates": self.sac._n_updates,
            "model_buffer_position": self.model_buffer.position,
            "sample_rng": self.sac.replay_buffer.rng.bit_generator.state,
        }

    def load_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.sac.policy.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("sac.")})
        if self.sac.log_ent_coef is not None:
            with torch.no_grad():
                self.sac.log_ent_coef.copy_(tensors["sac_log_ent_coef"])
        self.model_buffer.load_state_dict(tensors, state["model_buffer_position"])
        self.sac._n_updates = state["sac_updates"]
        self.sac.replay_buffer.rng.bit_generator.state = state["sample_rng"]

    def save_policy(self, out: Path, spec: TaskSpec, starts: dict[str, torch.Tensor], extra: dict[str, Any]) -> Path:
        extra = extra | {"mbpo": self.cfg.to_dict()}
        with atomic_directory(out / self.policy_dir, overwrite=True) as staging:
            save_checkpoint(
                staging,
                self.world_model,
                task=spec.name,
                observation_shape=spec.obs_shape,
                action_shape=(spec.action_dim,),
                starts=starts,
                extra=extra,
                spec=spec,
            )
            self.sac.save(staging / POLICY_FILE, exclude=["replay_buffer"])  # SB3's format, which its users load
        return out / self.policy_dir / POLICY_FILE
