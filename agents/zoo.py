"""Recipes of the bundled models: how each task's world model and reference policy are built from scratch.

A recipe is recorded in the model card of what it built, so ``benchmarks/zoo.py`` can build it again and compare
the new card with the shipped one. Four methods:

- ``"dyna"``: Dyna rounds (:func:`agents.dyna.run_dyna`): random real steps, a world model, PPO in its dreams,
  then real steps collected by that agent, so the last model has seen the states a policy reaches. The reference
  policy is the last round's agent, which learned only in dreams.
- ``"goal"``: a goal-conditioned task: the noisy scripted expert's real steps, one world model, HER-SAC trained
  only in its dream (random actions almost never touch the block, so Dyna's random start would not either).
- ``"offline"``: a behaviour policy trained by PPO in PyBullet; its stochastic and deterministic episodes and
  random ones are the data, as an offline data set would be; one world model; PPO only in its dream, its actor
  warm-started from the data. The behaviour policy's own episodes, deterministic ones included, show the model
  how a policy that walks moves and falls, which random data and Dyna's first rounds rarely reach.
- ``"policy"``: the task's bundled world model is kept as it is (it was built elsewhere, e.g. by the demo); only
  its reference policy is trained, with PPO in its dreams.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from dreamgym.atomic import write_json_atomic

__all__ = ["METHODS", "RECIPES", "BuildResult", "ZooRecipe", "build"]

METHODS = ("dyna", "goal", "offline", "policy")


@dataclass(frozen=True)
class ZooRecipe:
    """How one bundled model and its reference policy are built.

    Attributes:
        task: dreamgym task name.
        method: ``"dyna"``, ``"goal"``, ``"offline"`` or ``"policy"`` (see the module docstring).
        seed: seeds collection, world model and agent.
        preset: world-model size preset.
        ensemble: dynamics heads (>= 2 gives ``info["uncertainty"]`` and the MOPO and HALT safeguards).
        data_steps: real steps before the first world model (random; the scripted expert's for ``"goal"``; for
            ``"offline"`` split equally between random actions and the behaviour policy's stochastic and
            deterministic episodes).
        behaviour_steps: ``"offline"`` only: PyBullet steps of the behaviour policy's PPO training.
        rounds: Dyna rounds (``"dyna"`` only).
        steps_per_round: real steps the agent collects after each round but the last (``"dyna"`` only).
        wm_updates: world-model updates of the first (or only) model.
        wm_updates_per_round: further updates in each later Dyna round.
        agent_steps: dream steps of the reference policy.
        early_agent_steps: dream steps of the agents of earlier Dyna rounds, which only collect data.
        uncertainty_penalty: MOPO penalty of the PPO agents' dream rewards (0 for HER, whose relabelled rewards
            come from the task's ``compute_reward``).
        eval_episodes: PyBullet and dream episodes of the Dyna rounds' own evaluations.
        warm_start: ``"policy"`` and ``"offline"`` only: before its dream steps, PPO's actor is cloned from the
            real windows the checkpoint carries (the slice of its training data dreams start from), and the first
            ``critic_warmup_steps`` train the critic alone, as the offline benchmark's warm start does: a policy from
            scratch finds an offline model's errors before it finds the task.
        critic_warmup_steps: dream steps, counted in ``agent_steps``, that train the critic alone after cloning.
        cloning_updates: gradient updates of the warm start's behaviour cloning.
        clone_from: what the warm start clones: ``"windows"``, the real windows the checkpoint carries, or
            ``"behaviour"`` (``"offline"`` only), the behaviour policy's own episodes of the data. The windows are
            cut from all of the data, a third of it random actions, and a clone of them kept 263 of a Walker2D
            behaviour policy's 632 in PyBullet where a clone of its own episodes kept 632
            (``benchmarks/results/zoo_Walker2D.notes.md``).
        stop_at_success: ``"dyna"`` only: stop after the round whose PyBullet return reaches the task's success
            return, as ``dreamgym demo`` does; that round's world model and agent are the bundle.
        start_windows: dream start windows kept in the bundled export (see
            :func:`~dreamgym.world_model.checkpoint.export_checkpoint`): a bundle stays under 5 MB.
        model_overrides: further fields of the world model's preset (a pixel task's ``cnn_depth``, ``batch_size``
            and ``seq_len``, sized to what 2 CPU cores train in minutes).
        weights_dtype: how the bundled export stores its weights: ``"float16"`` (the default) halves them, so a
            camera model stays under 5 MB and the 15 bundles within the 60 MB package; the export is checked against
            the float32 model (see :func:`~dreamgym.world_model.checkpoint.export_checkpoint`), and moves the decoded
            observations 20-90x less than resampling the latents does (``benchmarks/results/zoo_reexport.notes.md``).
    """

    task: str
    method: str = "dyna"
    seed: int = 0
    preset: str = "small"
    ensemble: int = 5
    data_steps: int = 10_000
    behaviour_steps: int = 100_000
    rounds: int = 2
    steps_per_round: int = 10_000
    wm_updates: int = 1500
    wm_updates_per_round: int = 1000
    agent_steps: int = 500_000
    early_agent_steps: int = 300_000
    uncertainty_penalty: float = 1.0
    eval_episodes: int = 5
    start_windows: int = 512
    warm_start: bool = False
    critic_warmup_steps: int = 100_000
    cloning_updates: int = 10_000
    clone_from: str = "windows"
    stop_at_success: bool = False
    model_overrides: dict[str, Any] = field(default_factory=dict)
    weights_dtype: str = "float16"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"Unknown zoo recipe method {self.method!r}; expected one of {list(METHODS)}.")
        if self.clone_from not in ("windows", "behaviour") or (
            self.clone_from == "behaviour" and self.method != "offline"
        ):
            raise ValueError(
                f"Expected `clone_from` 'windows', or 'behaviour' with method 'offline'; got {self.clone_from!r} "
                f"with method {self.method!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _offline(task: str, **changes: Any) -> ZooRecipe:
    """The offline recipe of the locomotion robots: PPO in PyBullet for 300k steps as the behaviour policy, 75k real
    steps, a third each random and its sampled and deterministic episodes; the reference policy cloned from the
    behaviour policy's own episodes, 100k dream steps of critic alone, then 100k of both."""
    base = dict(
        method="offline",
        data_steps=75_000,
        behaviour_steps=300_000,
        wm_updates=3000,
        agent_steps=200_000,
        start_windows=1024,
        warm_start=True,
        clone_from="behaviour",
    )
    return ZooRecipe(task, **{**base, **changes})


# Sized for 2 CPU cores shared by several jobs: small models, two Dyna rounds, a few hundred thousand dream steps
# per policy. The cards say how good the results are; bigger budgets are a field away.
RECIPES: dict[str, ZooRecipe] = {
    # What `dreamgym demo --seed 0` builds, run through all five Dyna rounds: stopped at the first round whose policy
    # reaches the success return, its world model has seen as little as 20k real steps.
    "InvertedPendulum": ZooRecipe(
        "InvertedPendulum",
        data_steps=5000,
        rounds=5,
        steps_per_round=15_000,
        wm_updates=1000,
        wm_updates_per_round=500,
        agent_steps=1_000_000,
        early_agent_steps=800_000,
        eval_episodes=20,
        start_windows=2048,
    ),
    # The locomotion robots and the double pendulum: the offline recipe (see _offline). MOPO's lambda as the offline
    # benchmark sets it, 1 / the p99 disagreement of each exported model on its data (Hopper 0.0565 nats, Walker2D
    # 0.0404, HalfCheetah 0.108, Ant 0.0481, InvertedDoublePendulum 0.0131). HalfCheetah's model flips the cheetah in
    # every dream at 3000 updates, not at 8000; Ant's 28-dim bundle takes 5 MB with 1024 start windows, so it keeps 768.
    "Hopper": _offline("Hopper", uncertainty_penalty=17.7),
    "Walker2D": _offline("Walker2D", uncertainty_penalty=24.8),
    "HalfCheetah": _offline("HalfCheetah", wm_updates=8000, uncertainty_penalty=9.2),
    "Ant": _offline("Ant", uncertainty_penalty=20.8, start_windows=768),
    "InvertedDoublePendulum": _offline("InvertedDoublePendulum", uncertainty_penalty=76.3),
    # World models as benchmarks/manipulation.py's: after 1000 updates PandaReach's predictions one step ahead were
    # worse than the data's mean (1.03) and PandaPush's block sank and jumped on 74.5 % of dreamed steps.
    "PandaReach": ZooRecipe(
        "PandaReach", method="goal", data_steps=20_000, wm_updates=3000, agent_steps=10_000, uncertainty_penalty=0.0
    ),
    "PandaPush": ZooRecipe(
        "PandaPush", method="goal", data_steps=20_000, wm_updates=3000, agent_steps=30_000, uncertainty_penalty=0.0
    ),
}

# pixels.py's policy stage: the demo's Dyna rounds on a camera model sized for 2 cores (batches of 16 x 16 steps,
# CNN depth 8; a step of the small preset's 32 x 32 batch takes 1.8 s), 8 rounds of agents of one size, and a few
# start windows, so the bundle stays under 5 MB.
RECIPES["InvertedPendulumPixels"] = replace(
    RECIPES["InvertedPendulum"],
    task="InvertedPendulumPixels",
    rounds=8,
    agent_steps=800_000,
    stop_at_success=True,
    start_windows=4,
    model_overrides=dict(cnn_depth=8, batch_size=16, seq_len=16),
)


def _pixel_twin(task: str, **changes: Any) -> ZooRecipe:
    """A locomotion robot's pixel twin: its vector twin's offline recipe (the same behaviour policy, which acts on the
    proprioception beside the frame) with a camera model sized as InvertedPendulumPixels' and, as it does, 4 start
    windows (16 frames each, 0.2 MB): a bundle of about 4 MB."""
    overrides = dict(cnn_depth=8, batch_size=16, seq_len=16)
    camera = dict(start_windows=4, model_overrides=overrides)
    return replace(RECIPES[task], task=f"{task}Pixels", **{**camera, **changes})


# MOPO's lambda as for the vector twins, 1 / the camera model's p99 disagreement (HopperPixels 0.0858 nats,
# Walker2DPixels 0.0791, AntPixels 0.1965, HalfCheetahPixels 0.1676).
RECIPES["HopperPixels"] = _pixel_twin("Hopper", uncertainty_penalty=11.7)
RECIPES["Walker2DPixels"] = _pixel_twin("Walker2D", uncertainty_penalty=12.6)
RECIPES["AntPixels"] = _pixel_twin("Ant", uncertainty_penalty=5.1)
RECIPES["HalfCheetahPixels"] = _pixel_twin("HalfCheetah", uncertainty_penalty=6.0)
# The manipulation twins: the scripted expert's frames, a camera model trained for 3000 updates (its batches hold a
# quarter of the vector model's steps), HER-SAC on the goal Dict beside the frame, for 30k dream steps: after 10k a
# PandaReachPixels policy succeeded in half its PyBullet episodes.
RECIPES["PandaReachPixels"] = _pixel_twin("PandaReach", agent_steps=30_000)
RECIPES["PandaPushPixels"] = _pixel_twin("PandaPush")


@dataclass
class BuildResult:
    """What a recipe built: an inference-only world model, the reference policy, and how they were made."""

    checkpoint: Path
    policy: Path
    info: dict[str, Any] = field(default_factory=dict)


def build(
    recipe: ZooRecipe, work: str | Path, checkpoint: str | Path | None = None, progress: bool = True
) -> BuildResult:
    """Builds ``recipe``'s world model and reference policy under ``work`` (resuming what is there).

    Args:
        recipe: what to build.
        work: working directory; the bundle lands in ``work/bundle`` (``model.safetensors``, ``starts.safetensors``,
            ``config.json``, ``policy.zip``) and how it was built in ``work/build.json``, so a finished build of
            the same recipe is returned as it is.
        checkpoint: the world model a ``"policy"`` recipe keeps (the task's bundled one if ``None``).
        progress: show progress bars.
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    bundle, record = work / "bundle", work / "build.json"
    if record.exists() and (bundle / "policy.zip").exists():
        info = json.loads(record.read_text())
        if ZooRecipe(**info["recipe"]) == recipe:  # built already: its record keeps the real wall time
            return BuildResult(checkpoint=bundle, policy=bundle / "policy.zip", info=info)
    builder = {"dyna": _build_dyna, "goal": _build_goal, "offline": _build_offline, "policy": _build_policy}
    builder = builder[recipe.method]
    started = time.perf_counter()
    model_dir, policy, info = builder(recipe, work, checkpoint, progress)
    from dreamgym.data.policies import export_sb3_policy
    from dreamgym.world_model import export_checkpoint

    if Path(model_dir).resolve() != bundle.resolve():
        export_checkpoint(model_dir, bundle, recipe.start_windows, recipe.weights_dtype)
    export_sb3_policy(policy, bundle / "policy.zip")  # the weights, without the optimisers' moments
    info = {"recipe": recipe.to_dict(), **info, "wall_seconds": time.perf_counter() - started}
    write_json_atomic(record, info)
    return BuildResult(checkpoint=bundle, policy=bundle / "policy.zip", info=info)


def _build_dyna(recipe: ZooRecipe, work: Path, _checkpoint: Any, progress: bool) -> tuple[Path, Path, dict]:
    from agents.dyna import DynaConfig, run_dyna
    from agents.sb3_dream import DreamAgentConfig
    from dreamgym.tasks import get_task

    config = DynaConfig(
        task=recipe.task,
        out=str(work / "dyna"),
        seed=recipe.seed,
        rounds=recipe.rounds,
        initial_steps=recipe.data_steps,
        steps_per_round=recipe.steps_per_round,
        preset=recipe.preset,
        ensemble=recipe.ensemble,
        wm_updates_first=recipe.wm_updates,
        wm_updates_per_round=recipe.wm_updates_per_round,
        agent=DreamAgentConfig(steps=recipe.agent_steps, uncertainty_penalty=recipe.uncertainty_penalty),
        early_agent_steps=recipe.early_agent_steps,
        eval_episodes=recipe.eval_episodes,
        target_return=get_task(recipe.task).success_return if recipe.stop_at_success else None,
        model_overrides=recipe.model_overrides,
        progress=progress,
    )
    rows = run_dyna(config)
    seconds: dict[str, float] = {}
    for row in rows:
        for stage, value in row.seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + value
    info = {"rounds": [asdict(row) for row in rows], "seconds": seconds}
    return work / "dyna" / "world_model", work / "dyna" / "agent" / f"policy_round{rows[-1].round}.zip", info


def _build_goal(recipe: ZooRecipe, work: Path, _checkpoint: Any, progress: bool) -> tuple[Path, Path, dict]:
    import gymnasium as gym

    import dreamgym  # noqa: F401  (registers the dream ids)
    from agents.her import her_sac
    from dreamgym.data import collect, load_episodes
    from dreamgym.tasks import get_task

    spec = get_task(recipe.task)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    data_dir, model_dir, policy = work / "data", work / "world_model", work / "policy.zip"
    if not data_dir.exists():
        collect(spec, recipe.data_steps, data_dir, policy="scripted", seed=recipe.seed, progress=progress)
    data = load_episodes(data_dir, spec)
    seconds["collect"] = time.perf_counter() - started
    started = time.perf_counter()
    _train_world_model(recipe, data, model_dir, progress)
    seconds["world_model"] = time.perf_counter() - started
    started = time.perf_counter()
    if not policy.exists():  # a pixel task's policy acts on the goal Dict beside the frame, as its twin's does
        env = gym.make(f"dreamgym/{spec.name}-dream-v0", checkpoint=model_dir, frames=False)
        agent = her_sac(env, recipe.seed)
        agent.learn(recipe.agent_steps, progress_bar=progress)
        agent.save(policy)
        env.close()
    seconds["agent"] = time.perf_counter() - started
    return model_dir, policy, {"seconds": seconds}


def _build_offline(recipe: ZooRecipe, work: Path, _checkpoint: Any, progress: bool) -> tuple[Path, Path, dict]:
    from agents.pybullet_ppo import train_pybullet_ppo
    from dreamgym.data import SequenceData, collect, load_episodes
    from dreamgym.tasks import get_task
    from dreamgym.world_model import export_checkpoint

    spec = get_task(recipe.task)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    behaviour = train_pybullet_ppo(  # a pixel task's behaviour acts on its vector twin's observation
        spec.vector_task.name, recipe.behaviour_steps, work / "behaviour.zip", recipe.seed, progress=progress
    )
    seconds["behaviour"] = time.perf_counter() - started
    started = time.perf_counter()
    paths = []
    for offset, name in enumerate(("random", "stochastic", "deterministic")):
        path = work / f"data_{name}"
        if not path.exists():
            policy, kind = (None, "random") if name == "random" else (str(behaviour), f"behaviour-{name}")
            steps, deterministic = recipe.data_steps // 3, name == "deterministic"
            collect(spec, steps, path, policy, recipe.seed + offset, progress, deterministic=deterministic, name=kind)
        paths.append(path)
    episodes = [load_episodes(path, spec) for path in paths]
    data = SequenceData.concatenate(episodes)
    seconds["collect"] = time.perf_counter() - started
    started = time.perf_counter()
    _train_world_model(recipe, data, work / "world_model", progress)
    export_checkpoint(work / "world_model", work / "bundle", recipe.start_windows, recipe.weights_dtype)
    seconds["world_model"] = time.perf_counter() - started
    started = time.perf_counter()
    own = SequenceData.concatenate(episodes[1:]) if recipe.clone_from == "behaviour" else None
    policy = _train_reference_policy(recipe, work / "bundle", work / "policy.zip", progress, own)
    seconds["agent"] = time.perf_counter() - started
    return work / "bundle", policy, {"seconds": seconds}


def _build_policy(recipe: ZooRecipe, work: Path, checkpoint: Any, progress: bool) -> tuple[Path, Path, dict]:
    from dreamgym.envs.loading import BUNDLED_CHECKPOINTS
    from dreamgym.world_model import export_checkpoint

    source = Path(checkpoint) if checkpoint is not None else BUNDLED_CHECKPOINTS / recipe.task
    bundle = work / "bundle"
    if source.resolve() != bundle.resolve():
        export_checkpoint(source, bundle, recipe.start_windows)
    started = time.perf_counter()
    policy = _train_reference_policy(recipe, bundle, work / "policy.zip", progress)
    return bundle, policy, {"seconds": {"agent": time.perf_counter() - started}}


def _train_world_model(recipe: ZooRecipe, data: Any, out: Path, progress: bool) -> None:
    """The recipe's world model on ``data`` (resuming a killed training at ``out``)."""
    from dreamgym.tasks import get_task
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    spec = get_task(recipe.task)
    model_cfg, train_cfg = make_config(
        recipe.preset,
        spec.obs_shape[0],
        spec.action_dim,
        steps=recipe.wm_updates,
        seed=recipe.seed,
        ensemble=recipe.ensemble,
        **recipe.model_overrides,
    )
    train_world_model(data, out, spec, model_cfg, train_cfg, progress=progress)


def _train_reference_policy(
    recipe: ZooRecipe, bundle: Path, policy: Path, progress: bool, behaviour_episodes: Any = None
) -> Path:
    """PPO in the dreams of ``bundle`` (the exported model), warm-started if the recipe says: cloned from the
    ``behaviour_episodes`` where given, else from the bundle's windows."""
    from agents.sb3_dream import DreamAgentConfig, train_in_dream

    if policy.exists():
        return policy
    demonstrations = None
    config = DreamAgentConfig(
        steps=recipe.agent_steps, uncertainty_penalty=recipe.uncertainty_penalty, seed=recipe.seed
    )
    if recipe.warm_start:
        from agents.behaviour_cloning import CloningConfig
        from dreamgym.transfer.evaluate import training_windows
        from dreamgym.world_model import load_checkpoint

        demonstrations = behaviour_episodes
        if demonstrations is None:
            demonstrations = training_windows(load_checkpoint(bundle))
        config = replace(
            config,
            cloning=CloningConfig(updates=recipe.cloning_updates, seed=recipe.seed),
            critic_warmup_steps=recipe.critic_warmup_steps,
        )
    train_in_dream(bundle, recipe.task, config, demonstrations=demonstrations, progress=progress).save(policy)
    return policy
