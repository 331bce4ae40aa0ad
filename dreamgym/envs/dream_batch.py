"""A batch of dreams in pure torch: the one engine behind DreamEnv, DreamVectorEnv and the SB3 adapter.

Keeping every env adapter a thin layer over this class means one code path for single, vector and SB3
envs, so their trajectories agree and their speed is the speed of one batched forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from dreamgym.envs.counter_rng import STREAM_BINARY, STREAM_MEMBER, STREAM_RESET, STREAM_STOCH, counter_uniform
from dreamgym.errors import CheckpointError
from dreamgym.seeding import seeded_torch
from dreamgym.tasks import TASKS
from dreamgym.world_model.checkpoint import Checkpoint
from dreamgym.world_model.image_nets import to_uint8
from dreamgym.world_model.uncertainty import CALIBRATION_KEY, CALIBRATION_KEYS, ensemble_disagreement

__all__ = ["BINARY_SAMPLING", "FRAME_DTYPES", "TERMINATIONS", "DreamBatch", "DreamStep", "resolve_halt_threshold"]

TERMINATIONS = ("task", "model", "either")
BINARY_SAMPLING = ("mode", "sample")
FRAME_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class DreamStep(NamedTuple):
    """One batched dream step; all arrays have the batch as their first axis.

    The arrays are views of the batch's tensors, not copies (a copy per step is what the env adapters make once):
    ``obs`` is the batch's current observation, which :meth:`DreamBatch.reset` overwrites in place, so copy what
    must outlive a reset. ``success`` is set for goal tasks only: the dreamed achieved goal within the task's
    distance of the desired one. ``image`` is set for camera models only: the dreamed frames, uint8 (N, H, W, C).
    """

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    uncertainty: np.ndarray
    halted: np.ndarray
    binary_prob: np.ndarray | None = None
    success: np.ndarray | None = None
    image: np.ndarray | None = None


def resolve_halt_threshold(checkpoint: Checkpoint, threshold: float | str | None, scale: float = 1.0) -> float:
    """The absolute disagreement above which a dream halts (``inf`` when HALT is off).

    Args:
        checkpoint: the world model; a named threshold is read from its data-set calibration.
        threshold: ``None`` (no HALT), an absolute disagreement in nats, or the name of a calibration
            statistic (``"p50"``, ``"p90"``, ``"p99"``, ``"max"``) of the model's disagreement on its own
            training data. MOReL halts past the largest disagreement seen on the data: ``"max"``.
        scale: multiplies a named threshold (``scale=1.5`` with ``"p99"`` halts 50% above the 99th percentile).

    Raises:
        ValueError: the model is no ensemble, the name is unknown or the number is not positive.
        CheckpointError: a named threshold is asked of a checkpoint without a calibration.
    """
    if threshold is None:
        return float("inf")
    ensemble = checkpoint.model.cfg.ensemble
    if ensemble < 2:
        raise ValueError(
            f"HALT (halt_threshold={threshold!r}) needs an ensemble world model (ensemble >= 2) to measure "
            f"disagreement; this checkpoint has ensemble={ensemble}. Train with --ensemble 5."
        )
    if isinstance(threshold, str):
        if threshold not in CALIBRATION_KEYS:
            raise ValueError(
                f"Unknown halt_threshold {threshold!r}; expected a number (nats) or one of {list(CALIBRATION_KEYS)}."
            )
        calibration = checkpoint.config.get(CALIBRATION_KEY)
        if not calibration:
            raise CheckpointError(
                f"Checkpoint {str(checkpoint.path)!r} has no disagreement calibration, so halt_threshold="
                f"{threshold!r} has nothing to read. Checkpoints get one when training ends; calibrate an older one "
                "with dreamgym.world_model.uncertainty.calibrate_checkpoint(path, data), or pass a number."
            )
        if not 0 < scale < math.inf:  # NaN fails too: it would switch HALT off without a word
            raise ValueError(f"Expected a positive, finite `halt_scale`, got {scale!r}.")
        return float(calibration[threshold]) * scale
    if not float(threshold) > 0:
        raise ValueError(f"Expected a positive halt_threshold (nats of disagreement), got {threshold!r}.")
    return float(threshold)


class DreamBatch:
    """Steps ``num_envs`` dreams of one world model with one forward pass per step.

    Start states are computed once at construction by filtering the checkpoint's real context windows, so
    a reset is a gather rather than a fresh filtering pass.

    Args:
        checkpoint: a loaded world-model checkpoint.
        num_envs: number of dreams in the batch.
        horizon: dream steps before ``truncated`` is set.
        termination_threshold: a step is terminal when the continue head's probability falls below this.
        uncertainty_penalty: MOPO-style penalty; the reward becomes ``reward - uncertainty_penalty * u`` with
            ``u`` the ensemble disagreement, so an agent is not paid for exploiting what the model does not know.
        halt_threshold: MOReL-style HALT: a dream whose disagreement ``u`` exceeds this terminates with reward
            ``-halt_penalty``. An absolute number of nats, or a calibration statistic of the data set
            (``"p50"``, ``"p90"``, ``"p99"``, ``"max"``; see :func:`resolve_halt_threshold`). ``None``: no HALT.
        halt_scale: multiplies a named ``halt_threshold``.
        halt_penalty: MOReL's kappa: the (negated) reward of the halting step. Large enough that leaving the
            data costs more than the return gained there; the default, 100, is some 30-100 steps of locomotion reward.
        termination: ``"task"``: a dream ends where the task's own termination rule
            (:class:`~dreamgym.tasks.TerminationRule`) says the dreamed state ends the episode, as the simulator
            would judge it; tasks without an observable rule fall back to the continue head. ``"model"``: the
            continue head alone (below ``termination_threshold``), whatever the dreamed state.
        binary_sampling: how binary observation dimensions (contacts) of a structured decoder are dreamed:
            ``"mode"`` (1 where the probability exceeds one half) or ``"sample"`` (a Bernoulli draw from each
            dream's own seeded stream). The probabilities themselves are in :attr:`DreamStep.binary_prob`.
        frames: a camera model's dreams decode their frames at every step. ``False`` skips the image decoder, most
            of a pixel dream's step, where nothing shows the frames (an agent on the flat proprioception).
        compile_frames: decode frames through ``torch.compile`` (inductor), which fuses the decoder's channel
            LayerNorms, SiLUs and the conversion to uint8 around its convolutions: about 1.5x faster frames on
            CPU (``benchmarks/results/pixels.md``), for a one-off compilation of tens of seconds and a C++
            compiler on the machine. Frames may differ from the eager decoder's by one intensity level where
            rounding falls differently; a compiled batch is as deterministic as an eager one.
        frame_dtype: ``"float32"`` or ``"bfloat16"``: the precision the frame decoder computes in. bfloat16 (CPU
            autocast) runs the decoder's convolutions on the bfloat16 units of CPUs that have them (AVX512-BF16,
            AMX): with ``compile_frames``, which fuses the conversions between dtypes, 512 dreams step 1.6x faster
            there than compiled in float32 (eagerly, barely faster); CPUs without them convert in software, which
            is expected to be slower (not measured here).
            Only the frames change, by a few intensity levels (``benchmarks/results/pixels.md``): they are not fed
            back, so the dreamed states, observations and rewards are the float32 ones bit for bit.

    A goal task's dreams keep the goal where the episode set it (the desired goal of the start observation,
    whatever the decoder makes of it: a target does not move), and their reward is the task's own function of
    the dreamed achieved and desired goals, as the simulator computes it, not the reward head's estimate.
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        num_envs: int,
        horizon: int,
        termination_threshold: float = 0.5,
        uncertainty_penalty: float = 0.0,
        halt_threshold: float | str | None = None,
        halt_scale: float = 1.0,
        halt_penalty: float = 100.0,
        termination: str = "task",
        binary_sampling: str = "mode",
        frames: bool = True,
        compile_frames: bool = False,
        frame_dtype: str = "float32",
    ):
        if termination not in TERMINATIONS:
            raise ValueError(f"Unknown termination {termination!r}; expected one of {list(TERMINATIONS)}.")
        if binary_sampling not in BINARY_SAMPLING:
            raise ValueError(f"Unknown binary_sampling {binary_sampling!r}; expected one of {list(BINARY_SAMPLING)}.")
        if frame_dtype not in FRAME_DTYPES:
            raise ValueError(f"Unknown frame_dtype {frame_dtype!r}; expected one of {list(FRAME_DTYPES)}.")
        if not isinstance(num_envs, int | np.integer) or num_envs <= 0:
            raise ValueError(f"Expected `num_envs` to be a positive integer, got {num_envs!r}.")
        if horizon <= 0:
            raise ValueError(f"Expected a positive dream `horizon`, got {horizon!r}.")
        # NaN passes every comparison-free path below and would surface thousands of steps later as a NaN reward.
        if not math.isfinite(termination_threshold):  # above 1 always ends a dream, below 0 never: both allowed
            raise ValueError(f"Expected a finite `termination_threshold`, got {termination_threshold!r}.")
        if not 0.0 <= uncertainty_penalty < math.inf:
            raise ValueError(f"Expected a finite `uncertainty_penalty` >= 0, got {uncertainty_penalty!r}.")
        if not 0.0 <= halt_penalty < math.inf:
            raise ValueError(
                f"Expected a finite `halt_penalty` >= 0 (it is subtracted: a negative one pays the agent to leave the "
                f"data), got {halt_penalty!r}."
            )
        self.model = checkpoint.model.eval()
        self.cfg = self.model.cfg
        self.num_envs = int(num_envs)
        self.horizon = int(horizon)
        self.termination_threshold = termination_threshold
        if uncertainty_penalty and self.cfg.ensemble < 2:
            raise ValueError(
                f"uncertainty_penalty={uncertainty_penalty} needs an ensemble world model (ensemble >= 2); this "
                f"checkpoint has ensemble={self.cfg.ensemble}. Train with --ensemble 5."
            )
        self.uncertainty_penalty = uncertainty_penalty
        self.halt_threshold = resolve_halt_threshold(checkpoint, halt_threshold, halt_scale)
        self.halt_penalty = float(halt_penalty)
        task = TASKS.get(checkpoint.task)
        self.termination_rule = task.termination if termination != "model" and task is not None else None
        self.goal = task.goal if task is not None else None
        self.desired_dims = list(self.goal.dims("desired_goal")) if self.goal is not None else []
        # Without an observable rule every mode falls back to the continue head.
        self.use_continue_head = termination != "task" or self.termination_rule is None
        layout = self.cfg.obs_layout
        # Draws are made only where there is something to sample: contacts of a structured decoder.
        self.binary_draws = len(layout.binary) if binary_sampling == "sample" and layout is not None else 0
        # Filtering samples posterior latents; a fixed private seed makes start states a pure function of the
        # checkpoint, so every env made from it dreams alike, and the caller's torch RNG is left untouched.
        with torch.inference_mode(), seeded_torch(0):
            starts = checkpoint.starts
            posts = self.model.observe(
                starts["obs"], starts["prev_action"], starts["is_first"].bool(), image=starts.get("image")
            )
            self.start_states = posts.index((slice(None), -1))
            self.start_obs = starts["obs"][:, -1].clone()
            # A camera model's dreams start from the real frame of their start, and then show decoded ones.
            self.start_image = starts["image"][:, -1].clone() if "image" in starts else None
            if not frames:
                self.start_image = None
            self.image = None if self.start_image is None else self.start_image[torch.zeros(self.num_envs).long()]
            self.state = self.start_states.index(torch.zeros(self.num_envs, dtype=torch.long))
            self.obs = self.start_obs[torch.zeros(self.num_envs, dtype=torch.long)].clone()
        self._decode_frames = (
            None if self.image is None else _frame_decoder(self.model, compile_frames, FRAME_DTYPES[frame_dtype])
        )
        entropy = np.random.SeedSequence().generate_state(self.num_envs, dtype=np.uint64)
        self.seeds = torch.as_tensor(entropy.astype(np.int64))
        self.episodes = torch.full((self.num_envs,), -1, dtype=torch.int64)
        self.steps = torch.zeros(self.num_envs, dtype=torch.int64)
        self.action_low, self.action_high = -1.0, 1.0

    @property
    def num_starts(self) -> int:
        return len(self.start_obs)

    def set_seeds(self, indices: torch.Tensor, seeds: torch.Tensor) -> None:
        """Re-seeds dreams; their next reset is episode 0 of the new seed."""
        self.seeds[indices] = seeds.to(torch.int64)
        self.episodes[indices] = -1

    def reset(self, mask: torch.Tensor) -> np.ndarray:
        """Starts a new dream in every env where ``mask`` is set; returns the whole batch's observations."""
        idx = torch.nonzero(mask).squeeze(-1)
        if len(idx) == 0:
            return self.obs.numpy()
        with torch.inference_mode():
            self.episodes[idx] += 1
            self.steps[idx] = 0
            u = counter_uniform(self.seeds[idx], self.episodes[idx], self.steps[idx], STREAM_RESET, 1)[:, 0]
            pick = (u * self.num_starts).long().clamp(max=self.num_starts - 1)
            self.state.deter[idx] = self.start_states.deter[pick]
            self.state.stoch[idx] = self.start_states.stoch[pick]
            self.obs[idx] = self.start_obs[pick]
            if self.image is not None:
                self.image[idx] = self.start_image[pick]
        return self.obs.numpy()

    def _goal_step(self, obs: torch.Tensor, reward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Holds a goal task's desired goal where it was and recomputes the reward from the goals; returns the
        reward and the success flags (``None`` for other tasks)."""
        if self.goal is None:
            return reward, None
        obs[:, self.desired_dims] = self.obs[:, self.desired_dims]
        achieved, desired = self.goal.split(obs)
        return self.goal.reward(achieved, desired).to(reward.dtype), self.goal.is_success(achieved, desired)

    def step(self, actions: np.ndarray) -> DreamStep:
        """Advances every dream one imagined step with validated (num_envs, action_dim) ``actions``.

        Actions are clipped to the action bounds as the real PyBullet envs do, so both see the same command.
        """
        cfg = self.cfg
        with torch.inference_mode():
            # nan_to_num: envs that are being autoreset may carry ignored, unchecked actions.
            actions = torch.as_tensor(actions).nan_to_num().clamp(self.action_low, self.action_high)
            self.steps += 1
            member = None
            if cfg.ensemble > 1:
                u_member = counter_uniform(self.seeds, self.episodes, self.steps, STREAM_MEMBER, 1)[:, 0]
                member = (u_member * cfg.ensemble).long().clamp(max=cfg.ensemble - 1)
            u_stoch = counter_uniform(self.seeds, self.episodes, self.steps, STREAM_STOCH, cfg.stoch)
            self.state, prior = self.model.rssm.img_step(self.state, actions, member, u_stoch)
            draw = None
            if self.binary_draws:
                draw = counter_uniform(self.seeds, self.episodes, self.steps, STREAM_BINARY, self.binary_draws)
            decoded = self.model.decode(self.state, draw, previous=self.obs)
            model_reward, success = self._goal_step(decoded.obs, decoded.reward)
            if self.image is not None:
                self.image = self._decode_frames(self.state.features)
            self.obs = decoded.obs
            uncertainty = ensemble_disagreement(prior) if cfg.ensemble > 1 else torch.zeros(self.num_envs)
            reward = model_reward - self.uncertainty_penalty * uncertainty
            # HALT (MOReL): past the threshold the model is outside its data; the dream ends in an absorbing
            # state worth -kappa instead of whatever the model would make up there.
            halted = uncertainty > self.halt_threshold
            reward = torch.where(halted, torch.full_like(reward, -self.halt_penalty), reward)
            ended = torch.zeros(self.num_envs, dtype=torch.bool)
            if self.termination_rule is not None:
                ended |= self.termination_rule(decoded.obs)
            if self.use_continue_head:
                ended |= decoded.cont < self.termination_threshold
            terminated = ended | halted
            truncated = (self.steps >= self.horizon) & ~terminated
        return DreamStep(
            obs=decoded.obs.numpy(),
            reward=reward.numpy(),
            terminated=terminated.numpy(),
            truncated=truncated.numpy(),
            uncertainty=uncertainty.numpy(),
            halted=halted.numpy(),
            binary_prob=None if decoded.binary_prob is None else decoded.binary_prob.numpy(),
            success=None if success is None else success.numpy(),
            image=None if self.image is None else self.image.numpy(),
        )


def _frame_decoder(
    model: torch.nn.Module, compiled: bool, dtype: torch.dtype
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Latent features (N, F) -> uint8 frames (N, H, W, C) of a camera world model, eagerly or compiled, its
    layers computed in ``dtype``."""
    decoder = model.image_decoder

    def frames(features: torch.Tensor) -> torch.Tensor:
        with torch.autocast(features.device.type, dtype=dtype, enabled=dtype != torch.float32):
            image = decoder(features)
        return to_uint8(image.float())

    # A batch steps at one size: static shapes compile once, without the guards of dynamic ones.
    return torch.compile(frames, dynamic=False) if compiled else frames
