"""World-model fidelity against PyBullet: open-loop prediction error against horizon, and dream vs real return.

Open loop means the model is told the real actions but never sees another real observation: from each start
step of a held-out real episode the model filters the real history up to that step (its posterior), then
imagines ``horizon`` steps with the actions the real episode took, and the decoded observations and rewards
are compared with what PyBullet produced. Dreams are stepped by :class:`~dreamgym.envs.dream_batch.DreamBatch`,
the engine behind every dream env, so the error measured is the error of the dreams agents train in.

Observation error is a *normalised RMSE*: the RMSE of each dimension divided by that dimension's standard
deviation in the model's training data (floored at :data:`STD_FLOOR`), so dimensions of different units
compare and 1.0 means "as wrong as guessing the data mean". The training data's spread is read from the real
context windows stored in the checkpoint; the held-out episodes' own spread would make the unit depend on the
policy (a good pendulum policy barely moves the pole, and any error would look huge). The total is the root of
the mean over dimensions of the normalised squared error. Reward error is a plain RMSE in reward units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dreamgym.data import SequenceData
from dreamgym.data.policies import reset_policy
from dreamgym.envs.dream_batch import DreamBatch
from dreamgym.seeding import seeded_torch
from dreamgym.tasks import TaskSpec
from dreamgym.transfer.recording import BatchPolicy, episode_slices, load_for_task, record_pybullet
from dreamgym.world_model.checkpoint import Checkpoint
from dreamgym.world_model.model import WorldModel
from dreamgym.world_model.rssm import RSSMState

__all__ = [
    "STD_FLOOR",
    "FidelityResult",
    "dream_from_states",
    "dream_seeds",
    "dream_vs_real_returns",
    "filter_episodes",
    "image_reconstruction_error",
    "measure_fidelity",
    "obs_scale",
    "open_loop_errors",
]

STD_FLOOR = 0.01
"""Smallest per-dimension scale of the normalised error, in observation units. PyBullet holds some dimensions
constant (a planar Hopper's roll is exactly 0); dividing by their zero spread would turn any float noise into an
infinite error, and 0.01 is below what matters in observations that the simulators scale to about [-1, 1]."""


@dataclass(frozen=True)
class FidelityResult:
    """Open-loop error against horizon, and dream-predicted against real returns of the same policy.

    Attributes:
        task: the task name.
        horizon: number of open-loop steps measured.
        context: real observations filtered before a prediction starts (the start step is ``context - 1``).
        obs_scale: (obs_dim,) standard deviation of the training data per dimension that errors are divided by.
        obs_error: (horizon, obs_dim) normalised RMSE per horizon step (row ``k`` is ``k + 1`` steps ahead).
        total_error: (horizon,) normalised RMSE over all dimensions.
        reward_rmse: (horizon,) reward RMSE in reward units.
        pairs: (horizon,) number of (start, step) pairs behind each horizon step; fewer far ahead, where
            episodes end before the horizon.
        dream_returns: (episodes,) return of the policy closed-loop in the dream from each episode's start state.
        real_returns: (episodes,) PyBullet return of the same episodes counted from the same start step.
        seed: seed of the real episodes and of the dream noise.

    Example:
        >>> result = measure_fidelity("ckpt", "InvertedPendulum", policy, episodes=3, seed=0, horizon=20)
        ... # doctest: +SKIP
        >>> result.error_at(10), result.plot("fidelity.png")  # doctest: +SKIP
    """

    task: str
    horizon: int
    context: int
    obs_scale: np.ndarray
    obs_error: np.ndarray
    total_error: np.ndarray
    reward_rmse: np.ndarray
    pairs: np.ndarray
    dream_returns: np.ndarray
    real_returns: np.ndarray
    seed: int
    metric: str = field(default="normalised RMSE (RMSE / real std per dimension)")

    def error_at(self, steps_ahead: int) -> float:
        """Total normalised error ``steps_ahead`` steps (1-based) after the start."""
        if not 1 <= steps_ahead <= self.horizon:
            raise ValueError(f"Expected `steps_ahead` in [1, {self.horizon}], got {steps_ahead!r}.")
        return float(self.total_error[steps_ahead - 1])

    def to_dict(self) -> dict[str, Any]:
        """Every number behind the figure, JSON-serialisable (NaN, where no pair reached a step, becomes null)."""
        return {
            "task": self.task,
            "metric": self.metric,
            "horizon": self.horizon,
            "context": self.context,
            "seed": self.seed,
            "steps_ahead": list(range(1, self.horizon + 1)),
            "obs_scale": _json_list(self.obs_scale),
            "obs_error": _json_list(self.obs_error),
            "total_error": _json_list(self.total_error),
            "reward_rmse": _json_list(self.reward_rmse),
            "pairs": self.pairs.astype(int).tolist(),
            "dream_returns": _json_list(self.dream_returns),
            "real_returns": _json_list(self.real_returns),
            "dream_return_mean": float(np.mean(self.dream_returns)),
            "real_return_mean": float(np.mean(self.real_returns)),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FidelityResult:
        """The result :meth:`to_dict` wrote (``null`` back to NaN); how a resumed evaluation reads it back.

        Arrays come back in the dtypes :func:`measure_fidelity` makes them (float32 where they are observations
        or PyBullet rewards), so a mean of the read-back result is the same number as the original's.
        """
        return cls(
            task=data["task"],
            horizon=data["horizon"],
            context=data["context"],
            obs_scale=_array(data["obs_scale"], np.float32),
            obs_error=_array(data["obs_error"]),
            total_error=_array(data["total_error"]),
            reward_rmse=_array(data["reward_rmse"]),
            pairs=np.asarray(data["pairs"], dtype=np.int64),
            dream_returns=_array(data["dream_returns"]),
            real_returns=_array(data["real_returns"], np.float32),
            seed=data["seed"],
            metric=data["metric"],
        )

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def report_section(self, directory: str | Path):
        """The result as a :class:`~dreamgym.transfer.report.ReportSection` (figure written into ``directory``)."""
        from dreamgym.transfer.report import ReportSection

        shown = sorted({h for h in (1, 10, 50, self.horizon) if h <= self.horizon})
        figure = self.plot(Path(directory) / f"fidelity_{self.task}.png")
        return ReportSection(
            title=f"World-model fidelity ({self.task})",
            text=f"Open-loop {self.metric} against horizon on held-out PyBullet episodes after {self.context} "
            "real observations of context; reward RMSE in reward units; the same policy's return in the dream "
            "and in PyBullet from the same start.",
            table=[
                {"steps ahead": h, "obs error": self.error_at(h), "reward RMSE": float(self.reward_rmse[h - 1])}
                for h in shown
            ]
            + [
                {
                    "steps ahead": "return",
                    "obs error": f"dream {np.mean(self.dream_returns):.1f}",
                    "reward RMSE": f"PyBullet {np.mean(self.real_returns):.1f}",
                }
            ],
            figures=[figure],
            data={"fidelity": self.to_dict()},
        )

    def plot(self, path: str | Path) -> Path:
        """Saves error against horizon (total and per dimension), reward error, and dream vs real returns."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = np.arange(1, self.horizon + 1)
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        ax = axes[0]
        for d in range(self.obs_error.shape[1]):
            ax.plot(steps, self.obs_error[:, d], lw=0.8, alpha=0.6, label=f"obs[{d}]")
        ax.plot(steps, self.total_error, color="black", lw=2.5, label="total")
        ax.set(xlabel="steps ahead (open loop)", ylabel="RMSE / real std", title=f"{self.task}: observation error")
        ax.legend(fontsize=6, ncol=2)
        axes[1].plot(steps, self.reward_rmse, color="tab:red")
        axes[1].set(xlabel="steps ahead (open loop)", ylabel="RMSE", title="reward error")
        ax = axes[2]
        index = np.arange(len(self.real_returns))
        ax.bar(index - 0.2, self.real_returns, 0.4, label="PyBullet")
        ax.bar(index + 0.2, self.dream_returns, 0.4, label="dream")
        ax.set(xlabel="episode", ylabel="return", title="same policy, same start")
        ax.legend()
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _json_list(array: np.ndarray) -> list:
    return np.where(np.isfinite(array), array, None).tolist()


def _array(values: list, dtype: type = np.float64) -> np.ndarray:
    """The inverse of :func:`_json_list`: ``None`` (a NaN written as JSON null) back to NaN."""
    return np.asarray(values, dtype=dtype)


def obs_scale(checkpoint: Checkpoint) -> np.ndarray:
    """Per-dimension standard deviation of the checkpoint's stored real context windows, floored at STD_FLOOR."""
    obs = checkpoint.starts["obs"].flatten(0, -2).numpy()
    return np.maximum(obs.std(0), STD_FLOOR)


def filter_episodes(model: WorldModel, data: SequenceData, seed: int) -> tuple[RSSMState, list[slice]]:
    """Posterior states (E, T) of every row of every episode, filtered from the episode's first row.

    Episodes are padded to the longest one and filtered in one batch; the filter is causal, so padding after
    an episode's end never reaches its states.
    """
    slices = episode_slices(data)
    length = max(s.stop - s.start for s in slices)
    obs = torch.zeros(len(slices), length, *data.obs_shape)
    prev_action = torch.zeros(len(slices), length, data.action_dim)
    for e, rows in enumerate(slices):
        obs[e, : rows.stop - rows.start] = torch.from_numpy(data.obs[rows].copy())
        prev_action[e, : rows.stop - rows.start] = torch.from_numpy(data.prev_action[rows].copy())
    is_first = torch.zeros(len(slices), length, dtype=torch.bool)
    is_first[:, 0] = True
    images = _padded_images(data, slices, length)
    # Filtering samples posterior latents: a private seeded stream keeps the result reproducible and leaves
    # the caller's torch RNG untouched.
    with torch.inference_mode(), seeded_torch(seed):
        posts = model.observe(obs, prev_action, is_first, image=None if images is None else torch.from_numpy(images))
    return posts, slices


def _padded_images(data: SequenceData, slices: list[slice], length: int) -> np.ndarray | None:
    """A camera data set's frames as (E, length, H, W, C) uint8, episodes padded with black frames."""
    if data.image is None:
        return None
    images = np.zeros((len(slices), length, *data.image.shape[1:]), dtype=np.uint8)
    for e, rows in enumerate(slices):
        images[e, : rows.stop - rows.start] = data.image[rows]
    return images


def image_reconstruction_error(model: WorldModel, data: SequenceData, posts: RSSMState) -> float:
    """Mean absolute pixel error, in [0, 1], of a camera model's frames decoded from its posterior states ``posts``
    (:func:`filter_episodes`) against the real frames of ``data``: how well it sees what it is shown."""
    slices = episode_slices(data)
    images = _padded_images(data, slices, posts.deter.shape[1])
    if images is None:
        raise ValueError("Expected a data set with camera frames; this one has none.")
    total, count = 0.0, 0
    with torch.inference_mode():
        for e, rows in enumerate(slices):
            n = rows.stop - rows.start
            decoded = model.decode_image(posts.index((torch.full((n,), e), torch.arange(n))))
            total += float((decoded - torch.from_numpy(images[e, :n]).float() / 255.0).abs().mean((1, 2, 3)).sum())
            count += n
    return total / count


def dream_seeds(seed: int, count: int) -> np.ndarray:
    """One seed per dream, drawn from ``seed``: dream ``i`` gets the same seed however the dreams are batched."""
    return np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64).astype(np.int64)


def dream_from_states(
    checkpoint: Checkpoint,
    state: RSSMState,
    obs: torch.Tensor,
    seeds: np.ndarray,
    horizon: int,
    termination: str = "task",
    image: torch.Tensor | None = None,
) -> DreamBatch:
    """A :class:`DreamBatch` whose dreams start from the given latent states instead of the checkpoint's starts.

    ``seeds`` (one per dream, see :func:`dream_seeds`) seed each dream's own noise stream; ``termination`` is
    :class:`DreamBatch`'s; ``image`` (N, H, W, C) uint8 is a camera model's start frames, which the dreams show
    until their first step.
    """
    # DreamBatch filters its checkpoint's start windows on construction; one-step windows of the given
    # observations keep that cheap (the full set of stored windows takes seconds), and the states are then
    # replaced by the given ones.
    one_step = {
        "obs": obs[:, None].float(),
        "prev_action": torch.zeros(len(obs), 1, checkpoint.model.cfg.action_dim),
        "is_first": torch.ones(len(obs), 1, dtype=torch.bool),
    }
    if image is not None:
        one_step["image"] = torch.as_tensor(image)[:, None]
    batch = DreamBatch(
        replace(checkpoint, starts=one_step), num_envs=len(obs), horizon=horizon, termination=termination
    )
    batch.set_seeds(torch.arange(len(obs)), torch.as_tensor(seeds))
    batch.reset(torch.ones(len(obs), dtype=torch.bool))  # episode and step counters of a fresh dream
    batch.state = RSSMState(state.deter.clone(), state.stoch.clone())
    batch.obs = obs.clone().float()
    if image is not None:  # the reset drew random starts; each dream shows its own start frame
        batch.image = torch.as_tensor(image).clone()
    return batch


def _check_horizon_context(horizon: int, context: int) -> None:
    if not isinstance(horizon, int | np.integer) or horizon <= 0:
        raise ValueError(f"Expected a positive integer `horizon` (open-loop steps), got {horizon!r}.")
    if not isinstance(context, int | np.integer) or context <= 0:
        raise ValueError(f"Expected a positive integer `context` (real observations before a start), got {context!r}.")


def open_loop_errors(
    checkpoint: Checkpoint,
    data: SequenceData,
    horizon: int,
    context: int = 5,
    seed: int = 0,
    start_stride: int = 1,
    max_batch: int = 4096,
    posts: RSSMState | None = None,
) -> dict[str, np.ndarray]:
    """Open-loop errors of the model on held-out real ``data``, batched over all start steps.

    Every ``start_stride``-th step ``t0 >= context - 1`` of every episode is a start (with at least one real
    step after it); the prediction ``k`` steps ahead is compared with the real row ``t0 + k`` where the episode
    has one.

    Returns:
        ``obs_scale`` (d,), ``obs_error`` (horizon, d), ``total_error`` (horizon,), ``reward_rmse`` (horizon,) and
        ``pairs`` (horizon,), as described in :class:`FidelityResult`; for a camera model and data with frames also
        ``image_error`` (horizon,), the mean absolute pixel error of the dreamed frames in [0, 1].

    Raises:
        ValueError: ``horizon``, ``context`` or ``start_stride`` is not positive, or no episode has a real step
            after ``context`` observations.
    """
    _check_horizon_context(horizon, context)
    if start_stride <= 0:
        raise ValueError(f"Expected a positive `start_stride`, got {start_stride!r}.")
    slices = episode_slices(data)
    if posts is None:
        posts, _ = filter_episodes(checkpoint.model, data, seed)
    lengths = np.array([s.stop - s.start for s in slices])
    pad = lengths.max() + horizon
    obs = np.zeros((len(slices), pad, *data.obs_shape), dtype=np.float32)
    action = np.zeros((len(slices), pad, data.action_dim), dtype=np.float32)
    reward = np.zeros((len(slices), pad), dtype=np.float32)
    for e, rows in enumerate(slices):
        obs[e, : lengths[e]], action[e, : lengths[e]], reward[e, : lengths[e]] = (
            data.obs[rows],
            data.action[rows],
            data.reward[rows],
        )
    starts = [(e, t0) for e in range(len(slices)) for t0 in range(context - 1, lengths[e] - 1, start_stride)]
    if not starts:
        raise ValueError(
            f"No episode is long enough: with context={context} an episode needs more than {context} observations, "
            f"the longest has {lengths.max()}. Record longer episodes or lower `context`."
        )
    episode, t0 = (np.array(x) for x in zip(*starts, strict=True))
    ahead = np.arange(1, horizon + 1)
    rows = t0[:, None] + ahead[None, :]  # (n, H) real rows the predictions are compared with
    valid = rows < lengths[episode][:, None]
    sq_obs = np.zeros((horizon, *data.obs_shape))
    sq_reward = np.zeros(horizon)
    images = _padded_images(data, slices, pad) if checkpoint.model.cfg.image_shape is not None else None
    abs_image = np.zeros(horizon)
    seeds = dream_seeds(seed, len(starts))  # drawn once, so chunking by max_batch changes no result
    for chunk in np.array_split(np.arange(len(starts)), -(-len(starts) // max_batch)):
        e, t = torch.as_tensor(episode[chunk]), torch.as_tensor(t0[chunk])
        dreams = dream_from_states(
            checkpoint,
            posts.index((e, t)),
            torch.as_tensor(obs[episode[chunk], t0[chunk]]),
            seeds[chunk],
            horizon,
            image=None if images is None else torch.from_numpy(images[episode[chunk], t0[chunk]]),
        )
        for k in range(horizon):
            out = dreams.step(action[episode[chunk], t0[chunk] + k])
            m = valid[chunk, k]
            sq_obs[k] += ((out.obs[m] - obs[episode[chunk][m], rows[chunk, k][m]]) ** 2).sum(0)
            sq_reward[k] += ((out.reward[m] - reward[episode[chunk][m], rows[chunk, k][m]]) ** 2).sum()
            if images is not None:
                real = images[episode[chunk][m], rows[chunk, k][m]].astype(np.int16)
                abs_image[k] += (np.abs(out.image[m].astype(np.int16) - real).mean((1, 2, 3)) / 255.0).sum()
    pairs = valid.sum(0)
    scale = obs_scale(checkpoint)
    with np.errstate(invalid="ignore", divide="ignore"):  # steps no episode reached stay NaN
        mse = sq_obs / pairs[:, None]
        return {
            "obs_scale": scale,
            "obs_error": np.sqrt(mse) / scale,
            "total_error": np.sqrt((mse / scale**2).mean(1)),
            "reward_rmse": np.sqrt(sq_reward / pairs),
            "pairs": pairs,
            **({"image_error": abs_image / pairs} if images is not None else {}),
        }


def dream_vs_real_returns(
    checkpoint: Checkpoint,
    data: SequenceData,
    policy: BatchPolicy,
    context: int,
    seed: int,
    max_steps: int,
    posts: RSSMState | None = None,
    termination: str = "task",
    samples: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Dream-predicted and real returns of ``policy`` from the same start of each real episode.

    The dream starts from the model's posterior after the first ``context`` real observations and runs the
    policy closed loop until it terminates (``termination`` as in :class:`DreamBatch`) or the real episode's step
    limit ``max_steps`` is reached; the real return is counted from the same step, so the two compare directly.
    A dream samples its latents, so one dream is one draw of the return the model predicts: ``samples`` dreams
    per start (each with its own seed; the first ones those of ``samples=1``) are averaged into the start's
    dream return.
    """
    if not isinstance(samples, int | np.integer) or samples < 1:
        raise ValueError(f"Expected a positive integer `samples` (dreams per start), got {samples!r}.")
    _check_horizon_context(max_steps, context)
    slices = episode_slices(data)
    if posts is None:
        posts, _ = filter_episodes(checkpoint.model, data, seed)
    t0 = context - 1
    keep = [e for e, rows in enumerate(slices) if rows.stop - rows.start - 1 > t0]
    if not keep:
        raise ValueError(f"No episode has a step after its first context={context} observations; lower `context`.")
    real = np.array([data.reward[slices[e]][t0 + 1 :].sum() for e in keep])
    index = torch.as_tensor(keep).repeat(samples)  # sample k of every start, then sample k + 1
    start_obs = torch.from_numpy(np.stack([data.obs[slices[e]][t0] for e in keep])).repeat(samples, 1)
    budget = max_steps - t0
    dreams = dream_from_states(
        checkpoint,
        posts.index((index, torch.full_like(index, t0))),
        start_obs,
        dream_seeds(seed, len(index)),
        budget,
        termination,
    )
    returns = np.zeros(len(index))
    running = np.ones(len(index), dtype=bool)
    obs = start_obs.numpy()
    reset_policy(policy)
    for _ in range(budget):
        out = dreams.step(np.asarray(policy(obs), dtype=np.float32))
        returns += out.reward * running
        running &= ~out.terminated
        obs = out.obs
        if not running.any():
            break
    return returns.reshape(samples, len(keep)).mean(0), real


def measure_fidelity(
    checkpoint: Checkpoint | str | Path,
    task: str | TaskSpec,
    policy: BatchPolicy,
    episodes: int = 5,
    seed: int = 0,
    horizon: int = 50,
    context: int = 5,
    start_stride: int = 1,
    max_steps: int | None = None,
    termination: str = "task",
) -> FidelityResult:
    """Records ``episodes`` held-out PyBullet episodes with ``policy`` and measures the model against them.

    Args:
        checkpoint: world-model checkpoint (path or loaded) trained on ``task``.
        task: the task; a checkpoint of another task is refused.
        policy: batched policy, used in PyBullet and closed loop in the dream.
        episodes: real episodes, reset with ``seed``, ``seed + 1``, ...; use seeds the model was not trained on.
        seed: seed of the real episodes and of the dream noise; the same seed gives the same result.
        horizon: open-loop steps measured.
        context: real observations filtered before each prediction starts.
        start_stride: use every ``start_stride``-th step as an open-loop start (1: every step).
        max_steps: step limit of the real episodes and the dreams; the task's time limit by default.
        termination: how the closed-loop dreams end (see :class:`~dreamgym.envs.dream_batch.DreamBatch`).
    """
    _check_horizon_context(horizon, context)
    checkpoint, spec = load_for_task(checkpoint, task)
    max_steps = spec.max_episode_steps if max_steps is None else max_steps
    data = record_pybullet(spec, policy, episodes, seed, max_steps=max_steps)
    posts, _ = filter_episodes(checkpoint.model, data, seed)
    errors = open_loop_errors(checkpoint, data, horizon, context, seed, start_stride, posts=posts)
    dream_returns, real_returns = dream_vs_real_returns(
        checkpoint, data, policy, context, seed, max_steps, posts, termination
    )
    return FidelityResult(
        task=spec.name,
        horizon=horizon,
        context=context,
        dream_returns=dream_returns,
        real_returns=real_returns,
        seed=seed,
        **errors,
    )
