"""The online loop: act in PyBullet, store every step, train the world model and a behaviour on replay.

The behaviour is what learns to act (:class:`Behaviour`): Dreamer's latent actor-critic
(:mod:`agents.dreamer`), or MBPO-style SAC on rollouts branched off real states (:mod:`agents.mbpo`). Both share
everything else here, so they compare on the same acting, replay, world model and evaluation.

Each iteration every env takes one step (or starts its next episode), so real steps advance ``num_envs`` at a
time; whenever the replayed steps (updates x batch x sequence length) fall behind ``train_ratio`` times the real
steps after the prefill, one world-model update is made, and the behaviour learns from it. Every
``checkpoint_every`` steps the whole run is written (weights, optimisers, counters, RNG states, the replay
buffer, the behaviour's buffers and memory); a killed run
resumes from there. PyBullet's own state cannot be saved, so on resume each env's unfinished episode is replayed
from its recorded reset seed and actions, and the observations are checked against the recorded ones: the resumed
run continues exactly where the killed one was.

Layout of ``out``::

    out/
      policy/             the latest policy: a world-model checkpoint with the actor beside it (Dreamer's
                          actor.safetensors, or SAC's sac.zip)
      state/              everything a resume needs (state.safetensors, state.json)
      evaluations.json    the periodic PyBullet evaluations
      tensorboard/        curves: real and evaluation returns, losses, return scale, FPS
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from tqdm.auto import tqdm

from agents.dreamer.behaviour import DreamerBehaviour
from agents.dreamer.replay import ReplayBuffer
from agents.evaluation import Policy, evaluate_in_pybullet
from agents.mbpo.config import MBPOConfig
from dreamgym.atomic import atomic_directory, write_json_atomic
from dreamgym.errors import CheckpointError
from dreamgym.seeding import seeded_torch
from dreamgym.tasks import TaskSpec, get_task
from dreamgym.world_model import RSSMState, WorldModel, make_config
from dreamgym.world_model.checkpoint import numpy_rng_state, restore_numpy_rng
from dreamgym.world_model.starts import sample_context_windows
from dreamgym.world_model.trainer import (
    START_CONTEXT,
    START_WINDOWS,
    optimizer_tensors,
    restore_optimizer,
    world_model_update,
)

__all__ = ["AGENTS", "Behaviour", "OnlineConfig", "OnlineResult", "OnlineTrainer", "train_online"]

_STATE_FORMAT = 2  # 2: the behaviour (Dreamer or MBPO) is a setting, its state under "behaviour"
AGENTS = ("dreamer", "mbpo")


@dataclass(frozen=True)
class OnlineConfig:
    """Settings of an online run; a resumed run must keep all of them but ``steps``.

    Attributes:
        task: dreamgym task name.
        agent: what learns to act: ``"dreamer"`` (the latent actor-critic) or ``"mbpo"`` (SAC on branched
            rollouts).
        steps: real environment steps in all (summed over the envs; an episode's reset counts as a step).
        num_envs: PyBullet envs acting together.
        preset: size preset of the world model and the actor-critic: ``debug``, ``small`` or ``default`` (S).
        train_ratio: replayed steps per real step (DreamerV3: 512); with a batch of B x T, one update every
            B * T / train_ratio real steps.
        prefill: real steps of uniform random actions before the first update.
        batch_size: sequences per update; the preset's if ``None``.
        seq_len: steps per sequence; the preset's if ``None``.
        ensemble: prior heads of the world model; more than one lets MBPO sample a head per imagined step and
            stop rollouts where the heads disagree (``MBPOConfig.trust_quantile``).
        actor_gradient: Dreamer's ``"reinforce"`` or ``"dynamics"`` (see
            :class:`~agents.dreamer.config.ActorCriticConfig`).
        horizon: imagination horizon of Dreamer's actor-critic.
        termination: where Dreamer's imagined episodes end: ``"task"`` (the task's rule on decoded states),
            ``"model"`` (the continue head) or ``"either"``; see :class:`~agents.dreamer.config.ActorCriticConfig`.
        mbpo: MBPO's settings (used with ``agent="mbpo"``).
        eval_every: real steps between PyBullet evaluations of the deterministic policy (0: only at the end).
        eval_episodes: episodes per evaluation, seeded ``eval_seed, eval_seed + 1, ...`` every time.
        eval_seed: seed of the first evaluation episode.
        checkpoint_every: real steps between checkpoints.
        log_every: real steps between TensorBoard points of the losses and rates.
        seed: seeds the networks, the envs' episode seeds, the random prefill and replay sampling.
    """

    task: str = "Hopper"
    agent: str = "dreamer"
    steps: int = 100_000
    num_envs: int = 4
    preset: str = "small"
    train_ratio: float = 512.0
    prefill: int = 5000
    batch_size: int | None = None
    seq_len: int | None = None
    ensemble: int = 1
    actor_gradient: str = "reinforce"
    horizon: int = 15
    termination: str = "task"
    mbpo: MBPOConfig = dataclasses.field(default_factory=MBPOConfig)
    eval_every: int = 10_000
    eval_episodes: int = 5
    eval_seed: int = 1_000_000
    checkpoint_every: int = 10_000
    log_every: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        get_task(self.task)  # an unknown task fails here, with a suggestion
        if self.agent not in AGENTS:
            raise ValueError(f"Unknown online agent {self.agent!r}; expected one of {list(AGENTS)}.")
        for name in ("steps", "num_envs", "eval_episodes", "checkpoint_every", "log_every", "horizon", "ensemble"):
            if getattr(self, name) < 1:
                raise ValueError(f"Expected a positive `{name}` for online training, got {getattr(self, name)}.")
        for name in ("prefill", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"Expected a non-negative `{name}` for online training, got {getattr(self, name)}.")
        if not self.train_ratio > 0:
            raise ValueError(f"Expected a positive `train_ratio`, got {self.train_ratio}.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Behaviour(Protocol):
    """What learns to act in an online run; the loop owns the envs, the replay and the world model.

    Attributes:
        name: the behaviour's stage in the run's timings (``seconds``).
    """

    name: str

    def act(self, obs: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        """Training actions (sampled) for the envs' observations; ``is_first`` marks envs that just reset."""

    def update(
        self, world_model: WorldModel, batch: dict[str, torch.Tensor], posts: RSSMState, real_steps: int
    ) -> dict[str, torch.Tensor]:
        """Learns after a world-model update on ``batch`` with its posterior states; returns scalars to log."""

    def evaluation_policy(self) -> Policy:
        """The deterministic policy the run is scored with."""

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers by the prefix their state is stored under."""

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Weights, buffers and memory a resume needs (optimisers apart)."""

    def state_json(self) -> dict[str, Any]:
        """Counters and RNG states a resume needs."""

    def load_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_tensors` and :meth:`state_json`."""

    def save_policy(self, out: Path, spec: TaskSpec, starts: dict[str, torch.Tensor], extra: dict[str, Any]) -> Path:
        """Writes the policy with its world model under ``out``; returns the path a user evaluates."""


@dataclass
class OnlineResult:
    """What a run produced: where its policy is, how far it got, its evaluations and where the time went."""

    policy_path: Path
    steps: int
    updates: int
    evaluations: list[dict[str, Any]]
    seconds: dict[str, float]


class OnlineTrainer:
    """One online run in ``out``, fresh or resumed from ``out/state`` (see the module docstring).

    Args:
        config: the run's settings.
        out: the run directory.
        logdir: TensorBoard directory; ``out/tensorboard`` by default.
        progress: show a progress bar.
    """

    def __init__(self, config: OnlineConfig, out: str | Path, logdir: str | Path | None = None, progress: bool = True):
        self.config, self.out, self.progress = config, Path(out), progress
        self.logdir = Path(logdir) if logdir is not None else self.out / "tensorboard"
        self.spec = spec = get_task(config.task)
        sizes = {k: v for k, v in (("batch_size", config.batch_size), ("seq_len", config.seq_len)) if v is not None}
        model_cfg, self.wm_train = make_config(
            config.preset, spec.obs_shape[0], spec.action_dim, seed=config.seed, ensemble=config.ensemble, **sizes
        )
        # No data exists yet to say how far the simulator pushes joints past their limits, so the structured
        # decoder keeps angle pairs, hard bounds and contacts and leaves joints unbounded.
        self.model_cfg = model_cfg.with_task_layout(
            spec.layout, floor=spec.kinematic_chain(), table=spec.decoder_table()
        )
        state_file = self.out / "state" / "state.json"
        if state_file.exists():
            # A run keeps the inference sampling it started with; runs recorded before the setting existed drew
            # their inference latents from the mixed categoricals.
            recorded = json.loads(state_file.read_text()).get("world_model", {"inference_unimix": True})
            self.model_cfg = dataclasses.replace(self.model_cfg, inference_unimix=recorded["inference_unimix"])
        torch.manual_seed(config.seed)
        self.world_model = WorldModel(self.model_cfg)
        self.wm_optimizer = torch.optim.Adam(self.world_model.parameters(), lr=self.wm_train.lr, eps=self.wm_train.eps)
        self.replay = ReplayBuffer(
            config.num_envs, math.ceil(config.steps / config.num_envs), spec.obs_shape[0], spec.action_dim
        )
        self.envs = [spec.make_env() for _ in range(config.num_envs)]
        self.behaviour: Behaviour
        self.policy_path = self.out / "policy"
        if config.agent == "dreamer":
            self.behaviour = DreamerBehaviour(
                self.world_model, spec, config.preset, config.actor_gradient, config.horizon, config.termination
            )
        else:
            from agents.mbpo.behaviour import MBPOBehaviour  # SB3's SAC is imported only where it is used

            steps_per_update = self.wm_train.batch_size * self.wm_train.seq_len / config.train_ratio
            self.behaviour = MBPOBehaviour(
                self.world_model, spec, self.envs[0], self.replay, config.mbpo, steps_per_update, config.seed
            )
        self.rng = np.random.default_rng(config.seed)
        self.steps = self.updates = 0
        self.episodes_started = [0] * config.num_envs
        self.need_reset = [True] * config.num_envs
        self.episode_return = [0.0] * config.num_envs
        self.episode_length = [0] * config.num_envs
        self.episodes: list[dict[str, float]] = []  # every finished training episode: step, return, length
        self.evaluations: list[dict[str, Any]] = []
        self.seconds = {"acting": 0.0, "world_model": 0.0, self.behaviour.name: 0.0, "evaluation": 0.0}
        self._metrics: dict[str, torch.Tensor] = {}
        if state_file.exists():
            self._resume()

    # -- acting ---------------------------------------------------------------------------------------------

    def _episode_seed(self, env: int, episode: int) -> int:
        return int(np.random.SeedSequence([self.config.seed, env, episode]).generate_state(1)[0])

    def _act(self) -> np.ndarray:
        """Actions for the envs' current observations: uniform random during the prefill, else the policy's."""
        if self.steps < self.config.prefill:
            return self.rng.uniform(-1.0, 1.0, (self.config.num_envs, self.spec.action_dim)).astype(np.float32)
        n = self.replay.length - 1
        return self.behaviour.act(self.replay.obs[:, n], self.replay.is_first[:, n])

    def _env_step(self) -> None:
        """Every env steps once (or starts its next episode) and its row goes into the replay."""
        config = self.config
        actions = self._act() if self.replay.length else np.zeros((config.num_envs, self.spec.action_dim), np.float32)
        rows = [self._step_one(i, actions[i]) for i in range(config.num_envs)]  # PyBullet envs step one by one
        self.replay.add(*(np.stack(column) for column in zip(*rows, strict=True)))
        self.steps += config.num_envs

    def _step_one(self, i: int, action: np.ndarray) -> tuple:
        zero = np.zeros(self.spec.action_dim, np.float32)
        if self.need_reset[i]:
            obs, _ = self.envs[i].reset(seed=self._episode_seed(i, self.episodes_started[i]))
            self.episodes_started[i] += 1
            self.need_reset[i], self.episode_return[i], self.episode_length[i] = False, 0.0, 0
            return obs, zero, 0.0, True, False
        obs, reward, terminated, truncated, _ = self.envs[i].step(action)
        self.episode_return[i] += float(reward)
        self.episode_length[i] += 1
        if terminated or truncated:
            self.need_reset[i] = True
            self.episodes.append(
                {"step": self.steps, "return": self.episode_return[i], "length": self.episode_length[i]}
            )
        return obs, action, float(reward), False, bool(terminated)

    # -- learning -------------------------------------------------------------------------------------------

    def _updates_due(self) -> int:
        replayed_per_update = self.wm_train.batch_size * self.wm_train.seq_len
        trained_steps = max(self.steps - self.config.prefill, 0)
        return int(trained_steps * self.config.train_ratio / replayed_per_update)

    def _train(self) -> None:
        while self.updates < self._updates_due() and self.replay.length >= self.wm_train.seq_len:
            batch = self.replay.sample(self.wm_train.batch_size, self.wm_train.seq_len, self.rng)
            started = time.perf_counter()
            try:
                wm_metrics, posts = world_model_update(self.world_model, self.wm_optimizer, batch, self.wm_train)
                middle = time.perf_counter()
                behaviour_metrics = self.behaviour.update(self.world_model, batch, posts, self.steps)
            except FloatingPointError as err:
                raise FloatingPointError(
                    f"Online training diverged at update {self.updates + 1} (step {self.steps}): {err}. The run in "
                    f"{str(self.out)!r} still holds its last checkpoint."
                ) from None
            self.seconds["world_model"] += middle - started
            self.seconds[self.behaviour.name] += time.perf_counter() - middle
            self.updates += 1
            self._metrics = wm_metrics | behaviour_metrics

    def _evaluate(self) -> dict[str, Any]:
        """The deterministic policy on fixed PyBullet seeds, drawing any noise (Dreamer's filter samples latents) from
        a private stream so the training run's RNG is the same with or without evaluations."""
        config = self.config
        started = time.perf_counter()
        policy = self.behaviour.evaluation_policy()
        with seeded_torch(config.eval_seed):
            result = evaluate_in_pybullet(policy, config.task, config.eval_episodes, config.eval_seed)
        self.seconds["evaluation"] += time.perf_counter() - started
        record = {"step": self.steps, "updates": self.updates, "mean": result.mean, "std": result.std}
        record["returns"] = [float(r) for r in result.returns]
        self.evaluations.append(record)
        return record

    # -- the loop -------------------------------------------------------------------------------------------

    def run(self) -> OnlineResult:
        """Runs until ``config.steps`` real steps, evaluates and checkpoints on the way and at the end."""
        from torch.utils.tensorboard import SummaryWriter

        config = self.config
        writer = SummaryWriter(str(self.logdir), purge_step=self.steps or None)
        bar = tqdm(
            total=config.steps,
            initial=self.steps,
            desc=f"{config.task} {config.agent}",
            unit="step",
            disable=not self.progress,
        )
        last_log, last_time, last_updates, logged_episodes = self.steps, time.perf_counter(), self.updates, 0
        try:
            while self.steps < config.steps:
                before, started = self.steps, time.perf_counter()
                self._env_step()
                self.seconds["acting"] += time.perf_counter() - started
                self._train()
                for episode in self.episodes[logged_episodes:]:
                    writer.add_scalar("episode/return", episode["return"], episode["step"])
                    writer.add_scalar("episode/length", episode["length"], episode["step"])
                logged_episodes = len(self.episodes)
                if self.steps - last_log >= config.log_every:
                    now = time.perf_counter()
                    for key, value in self._metrics.items():
                        writer.add_scalar(key, float(value), self.steps)
                    writer.add_scalar("rate/env_steps_per_s", (self.steps - last_log) / (now - last_time), self.steps)
                    writer.add_scalar(
                        "rate/updates_per_s", (self.updates - last_updates) / (now - last_time), self.steps
                    )
                    last_log, last_time, last_updates = self.steps, now, self.updates
                if config.eval_every and self.steps // config.eval_every > before // config.eval_every:
                    record = self._evaluate()
                    writer.add_scalar("eval/return", record["mean"], self.steps)
                if self.steps // config.checkpoint_every > before // config.checkpoint_every:
                    self.checkpoint()
                bar.update(self.steps - before)
                recent = [e["return"] for e in self.episodes[-10:]]
                bar.set_postfix(
                    ret=f"{np.mean(recent):.0f}" if recent else "-",
                    eval=f"{self.evaluations[-1]['mean']:.0f}" if self.evaluations else "-",
                    upd=self.updates,
                )
            if not self.evaluations or self.evaluations[-1]["step"] != self.steps:
                writer.add_scalar("eval/return", self._evaluate()["mean"], self.steps)
            self.checkpoint()
        finally:
            bar.close()
            writer.close()
        return OnlineResult(self.policy_path, self.steps, self.updates, self.evaluations, dict(self.seconds))

    def close(self) -> None:
        for env in self.envs:
            env.close()

    # -- checkpoints ----------------------------------------------------------------------------------------

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser of the run, by the prefix its tensors are stored under."""
        return {"wm_optim": self.wm_optimizer} | self.behaviour.optimizers()

    def checkpoint(self) -> None:
        """Writes the resumable state, then the policy and the evaluations; each write is atomic."""
        tensors: dict[str, torch.Tensor] = {}
        groups: dict[str, Any] = {}
        for name, optimizer in self._optimizers().items():
            optim_tensors, groups[name] = optimizer_tensors(optimizer, name)
            tensors |= optim_tensors
        tensors |= {f"world_model.{k}": v for k, v in self.world_model.state_dict().items()}
        tensors |= self.behaviour.state_tensors()
        tensors |= self.replay.state_dict()
        tensors["rng.torch"] = torch.get_rng_state()
        blob = save_tensors({k: v.detach().contiguous() for k, v in tensors.items()})
        state = {
            "format": "dreamgym-online",
            "format_version": _STATE_FORMAT,
            "config": self.config.to_dict(),
            "world_model": {"inference_unimix": self.model_cfg.inference_unimix},
            "steps": self.steps,
            "updates": self.updates,
            "episodes_started": self.episodes_started,
            "need_reset": self.need_reset,
            "episode_return": self.episode_return,
            "episode_length": self.episode_length,
            "episodes": self.episodes,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "optimizers": groups,
            "behaviour": self.behaviour.state_json(),
            "rng": numpy_rng_state(self.rng),
            "tensors_sha256": hashlib.sha256(blob).hexdigest(),
        }
        with atomic_directory(self.out / "state", overwrite=True) as staging:
            (staging / "state.safetensors").write_bytes(blob)
            (staging / "state.json").write_text(json.dumps(state))
        data = self.replay.to_sequence_data()
        starts = sample_context_windows(data, START_WINDOWS, START_CONTEXT, np.random.default_rng(self.config.seed))
        self.policy_path = self.behaviour.save_policy(
            self.out,
            self.spec,
            starts,
            {
                "online": {"config": self.config.to_dict(), "steps": self.steps, "updates": self.updates},
                "dataset": {"fingerprint": data.fingerprint(), "steps": len(data), "episodes": data.num_episodes},
            },
        )
        write_json_atomic(self.out / "evaluations.json", {"task": self.config.task, "evaluations": self.evaluations})

    def _resume(self) -> None:
        directory = self.out / "state"
        state = json.loads((directory / "state.json").read_text())
        blob = (directory / "state.safetensors").read_bytes()
        if state.get("format_version") != _STATE_FORMAT or hashlib.sha256(blob).hexdigest() != state["tensors_sha256"]:
            raise CheckpointError(
                f"The online run state in {str(directory)!r} is corrupt or of another format version; "
                "start a fresh run in a new directory."
            )
        stored = {k: v for k, v in state["config"].items() if k != "steps"}
        # Runs recorded before these settings existed ended imagination by the head and had one prior head.
        stored = {"termination": "model", "ensemble": 1} | stored
        stored["mbpo"] = json.loads(json.dumps(MBPOConfig.from_dict(stored.get("mbpo", {})).to_dict()))
        asked = {k: v for k, v in json.loads(json.dumps(self.config.to_dict())).items() if k != "steps"}
        if stored != asked:
            differ = sorted(k for k in asked if stored.get(k) != asked[k])
            raise CheckpointError(
                f"{str(self.out)!r} holds a run with other settings ({', '.join(differ)} differ); resume it with the "
                "same settings (only --steps may change) or use a new --out."
            )
        if state["steps"] > self.config.steps:
            raise CheckpointError(
                f"{str(self.out)!r} already ran {state['steps']} steps, more than the {self.config.steps} asked for."
            )
        tensors = load_tensors(blob)
        self.world_model.load_state_dict({k[12:]: v for k, v in tensors.items() if k.startswith("world_model.")})
        for name, optimizer in self._optimizers().items():
            restore_optimizer(optimizer, tensors, state["optimizers"][name], name)
        self.replay.load_state_dict(tensors)
        self.behaviour.load_state(tensors, state["behaviour"])
        torch.set_rng_state(tensors["rng.torch"])
        self.rng = restore_numpy_rng(state["rng"])
        for key in ("steps", "updates", "episodes_started", "need_reset", "episode_return", "episode_length"):
            setattr(self, key, state[key])
        self.episodes, self.evaluations, self.seconds = state["episodes"], state["evaluations"], state["seconds"]
        for i in range(self.config.num_envs):
            if not self.need_reset[i]:
                self._replay_episode(i)

    def _replay_episode(self, i: int) -> None:
        """Brings env ``i`` back into the state it had: its episode's reset seed, then its recorded actions."""
        rows = self.replay.episode_rows(i)
        obs, _ = self.envs[i].reset(seed=self._episode_seed(i, self.episodes_started[i] - 1))
        recorded = self.replay.obs[i, rows]
        for k, action in enumerate(self.replay.prev_action[i, rows][1:], start=1):
            if not np.allclose(obs, recorded[k - 1], atol=1e-5):
                break
            obs, *_ = self.envs[i].step(action)
        else:
            if np.allclose(obs, recorded[-1], atol=1e-5):
                return
        raise CheckpointError(
            f"Replaying env {i}'s unfinished episode did not reproduce its recorded observations, so the simulator "
            "cannot be put back where the run stopped (another PyBullet version?); start a fresh run."
        )


def train_online(
    config: OnlineConfig, out: str | Path, logdir: str | Path | None = None, progress: bool = True
) -> OnlineResult:
    """Runs (or resumes) an online run; see :class:`OnlineTrainer`.

    Example:
        >>> result = train_online(OnlineConfig(task="Hopper", steps=100_000), "runs/hopper")  # doctest: +SKIP
        >>> result.evaluations[-1]["mean"]  # doctest: +SKIP
    """
    trainer = OnlineTrainer(config, out, logdir=logdir, progress=progress)
    try:
        return trainer.run()
    finally:
        trainer.close()
