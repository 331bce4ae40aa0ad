"""Model cards, measured, never written by hand: what a bundled model was trained on and how good it is.

A card holds the data set and how it was collected, the seeds, the size preset, the updates and the wall time of
training, the open-loop error at horizons 1, 5, 25 and 100 on a small evaluation set of held-out PyBullet episodes
shipped beside the model, the physics audit's rates, the reference policy's returns in the dream and in PyBullet,
and the failure modes those numbers show. Every number comes from :func:`measure_card`; :func:`render_card` only
formats them.
"""

from __future__ import annotations

import math
import platform
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from dreamgym.zoo.catalog import (
    CARD_FILE,
    CARD_FORMAT,
    CARD_MARKDOWN,
    EVAL_FILE,
    POLICY_FILE,
    file_sha256,
    load_eval_set,
    save_eval_set,
)

__all__ = ["CardConfig", "failure_modes", "measure_card", "open_loop_at", "render_card", "write_card"]

CARD_VERSION = 1


@dataclass(frozen=True)
class CardConfig:
    """How a card is measured.

    Attributes:
        eval_episodes: held-out PyBullet episodes in the shipped evaluation set.
        eval_policy: who acts in them: ``"reference"`` (the states the policy visits) or ``"random"`` (uniform
            actions), for tasks whose reference policy ends its episodes before an open-loop prediction can start
            (a PandaReach policy reaches its goal in about 4 steps; the error needs ``context`` observations first).
        eval_max_steps: each evaluation episode is cut after this many steps, which keeps the set small.
        eval_seed: reset seed of the first evaluation episode; far from the seeds any data set was collected on.
        context: real observations the model filters before each open-loop prediction.
        horizons: open-loop steps at which the error is reported.
        episodes: episodes of the reference policy in the dream and in PyBullet (seeds ``seed, seed + 1, ...``).
        audit_dreams: closed-loop dreams of the reference policy the physics audit checks.
        audit_horizon: steps per audited dream and per PyBullet control episode.
        bounds_episodes: PyBullet episodes of random actions and of the reference policy recorded to fit the
            audit's bounds, beside the bundle's start windows (see :func:`~dreamgym.transfer.evaluate.
            fit_audit_bounds`). A camera model keeps a few windows and a goal task's episodes are short: with 5,
            PandaReachPixels' bounds missed where its policy took the arm in PyBullet on 81 % of the control's steps.
        seed: seed of the returns, the audit and the open-loop predictions' dream noise.
    """

    eval_episodes: int = 3
    eval_policy: str = "reference"
    eval_max_steps: int = 300
    eval_seed: int = 1_000_000
    context: int = 5
    horizons: tuple[int, ...] = (1, 5, 25, 100)
    episodes: int = 10
    audit_dreams: int = 32
    audit_horizon: int = 200
    bounds_episodes: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "horizons", tuple(int(h) for h in self.horizons))
        if self.eval_policy not in ("reference", "random"):
            raise ValueError(f"Expected `eval_policy` 'reference' or 'random', got {self.eval_policy!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "horizons": list(self.horizons)}  # as JSON gives it back

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CardConfig:
        """The settings a card was measured with (its ``measurement.config``); fields it predates keep defaults."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def open_loop_at(checkpoint: Any, data: Any, config: CardConfig, horizons: tuple[int, ...] | None = None) -> dict:
    """Open-loop error (normalised RMSE, 1.0 = as wrong as the data's mean) and reward RMSE at ``horizons``, and
    the (start, step) pairs behind each; ``None`` where no episode of ``data`` lasted that long."""
    from dreamgym.transfer.fidelity import open_loop_errors

    horizons = horizons or config.horizons
    errors = open_loop_errors(checkpoint, data, max(horizons), config.context, config.seed)

    def at(values: np.ndarray, h: int) -> float | None:
        value = float(values[h - 1])
        return value if math.isfinite(value) else None

    return {
        "obs": {str(h): at(errors["total_error"], h) for h in horizons},
        "reward": {str(h): at(errors["reward_rmse"], h) for h in horizons},
        "pairs": {str(h): int(errors["pairs"][h - 1]) for h in horizons},
    }


def _preset(model: dict[str, Any]) -> str:
    """The size preset the model's RSSM and MLPs match; a camera model's CNN depth is reported on its own line."""
    from dreamgym.world_model.config import PRESETS

    for name, preset in PRESETS.items():
        if all(model.get(k) == v for k, v in preset.model.items() if k != "cnn_depth"):
            return name
    return "custom"


def _data_summary(config: dict[str, Any]) -> dict[str, Any]:
    """The data set of a checkpoint's config, and how each part of it was collected."""
    dataset = config.get("dataset", {})
    sources = dataset.get("sources") or [dataset]
    return {
        "steps": dataset.get("steps"),
        "episodes": dataset.get("episodes"),
        "fingerprint": dataset.get("fingerprint"),
        "sources": [
            {
                "dataset_id": s.get("dataset_id"),
                "policy": s.get("policy"),
                "steps": s.get("steps"),
                "episodes": s.get("episodes"),
                "seed": s.get("seed"),
                "tier": s.get("tier"),
                "gap": s.get("gap"),
                "dyna_round": s.get("dyna_round"),
            }
            for s in sources
        ],
    }


def measure_card(
    directory: str | Path,
    config: CardConfig | None = None,
    build: dict[str, Any] | None = None,
    record_eval_set: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Measures the card of the bundle in ``directory`` (a world-model checkpoint with ``policy.zip`` beside it).

    Args:
        directory: the bundle.
        config: what to measure; :class:`CardConfig` defaults if omitted.
        build: how the bundle was built (:class:`agents.zoo.BuildResult`'s ``info``), kept in the card.
        record_eval_set: record a new evaluation set with the reference policy and write it to
            ``directory/eval.safetensors``; ``False`` measures on the one already there.
        progress: show progress bars.
    """
    import torch

    from dreamgym import __version__
    from dreamgym.data import load_policy
    from dreamgym.tasks import get_task
    from dreamgym.transfer.evaluate import TransferConfig, evaluate_transfer
    from dreamgym.transfer.recording import record_pybullet
    from dreamgym.world_model import load_checkpoint

    directory = Path(directory)
    config = config or CardConfig()
    checkpoint = load_checkpoint(directory)
    spec = get_task(checkpoint.task)
    policy = directory / POLICY_FILE
    if record_eval_set:
        if config.eval_policy == "random":
            from dreamgym.transfer.recording import random_policy

            act = random_policy(spec.action_dim, config.eval_seed)
        else:
            act = load_policy(policy, deterministic=True)
        save_eval_set(
            directory / EVAL_FILE,
            record_pybullet(spec, act, config.eval_episodes, config.eval_seed, max_steps=config.eval_max_steps),
        )
    eval_set = load_eval_set(directory / EVAL_FILE)
    open_loop = open_loop_at(checkpoint, eval_set, config)
    transfer = TransferConfig(
        episodes=config.episodes,
        seed=config.seed,
        gaps=(),
        robustness=None,
        fidelity=False,
        audit_dreams=config.audit_dreams,
        audit_horizon=config.audit_horizon,
        bounds_episodes=config.bounds_episodes,
        video=False,
    )
    report = evaluate_transfer(directory, policy, transfer, out=None, progress=progress, task=spec.name)
    dream = next(r for r in report.ladder.rungs if r.kind == "dream")
    real = next(r for r in report.ladder.rungs if r.kind == "pybullet")
    # The checkpoint's own files were checked against config.json as it loaded; the policy and the evaluation set
    # are listed here so a bundle is checked whole.
    files = {name: checkpoint.config["files"][name] for name in ("model.safetensors", "starts.safetensors")}
    files |= {name: file_sha256(directory / name) for name in (POLICY_FILE, EVAL_FILE)}
    model = checkpoint.config["model"]
    card = {
        "format": CARD_FORMAT,
        "card_version": CARD_VERSION,
        "task": spec.name,
        "files": files,
        "world_model": {
            "preset": _preset(model),
            "parameters": sum(p.numel() for p in checkpoint.model.parameters()),
            "ensemble": model.get("ensemble", 1),
            "decoder": model.get("decoder", "plain"),
            "updates": checkpoint.config.get("step"),
            "train": checkpoint.config.get("train"),
            "start_windows": int(checkpoint.starts["obs"].shape[0]),
            "storage": checkpoint.config.get("weights_dtype", "float32"),
            "float16_check": checkpoint.config.get("float16_check"),
            "camera": {"image_shape": model["image_shape"], "cnn_depth": model["cnn_depth"]}
            if model.get("image_shape")
            else None,
            "exported_from": checkpoint.config.get("exported_from", {}).get("path"),
        },
        "data": _data_summary(checkpoint.config),
        "build": build,
        "measurement": {
            "config": config.to_dict(),
            "eval_set": {
                "episodes": int(eval_set.num_episodes),
                "rows": len(eval_set),
                "seeds": eval_set.metadata.get("seeds"),
            },
            "dreamgym_version": __version__,
            "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(),
        },
        "open_loop_error": open_loop,
        "audit": {
            **report.audit_rates(),
            "dream_checks": report.audit.dream.step_rate,
            "pybullet_checks": report.audit.real.step_rate,
            "dreams": report.audit.dream.trajectories,
            "pybullet_episodes": report.audit.real.trajectories,
        },
        "policy": {
            "file": POLICY_FILE,
            "algorithm": _algorithm(policy),
            "trained": "only in dreams of this world model",
            "episodes": config.episodes,
            "seeds": [config.seed, config.seed + config.episodes - 1],
            "dream": _rung(dream),
            "pybullet": _rung(real),
            "random_pybullet": _rung(report.baseline) if report.baseline is not None else None,
            "success_return": spec.success_return,
            "goal_task": spec.goal is not None,
        },
    }
    card["failure_modes"] = failure_modes(card)
    return card


def _algorithm(path: Path) -> str:
    from dreamgym.data.policies import sb3_algorithm_for

    return sb3_algorithm_for(path)


def _rung(rung: Any) -> dict[str, Any]:
    return {"mean": rung.mean, "std": rung.std, "success_rate": rung.success_rate}


def failure_modes(card: dict[str, Any]) -> list[str]:
    """What the card's numbers say the model and its policy get wrong, in words derived from those numbers."""
    modes = []
    policy, errors = card["policy"], card["open_loop_error"]["obs"]
    dream, real = policy["dream"]["mean"], policy["pybullet"]["mean"]
    # The gap counts against the returns' own size and against how far the policy is from random actions, so a
    # task whose returns are all near zero (a reach that succeeds within a few steps) is not flagged for a rounding.
    random = (policy.get("random_pybullet") or {}).get("mean")
    scale = max(abs(real), abs(dream), abs(real - random) if random is not None else 0.0, 1.0)
    if abs(dream - real) > 0.25 * scale:
        side = "overrates" if dream > real else "underrates"
        modes.append(
            f"The dream {side} the reference policy: {dream:.1f} dreamed against {real:.1f} in PyBullet, so a dream "
            "return alone does not rank policies on this task."
        )
    if random is not None and real < random:
        modes.append(
            f"The reference policy scores below random actions in PyBullet ({real:.1f} against {random:.1f}): it "
            "learned what the dream rewards, not what the task does."
        )
    success = policy.get("success_return")
    rate = policy["pybullet"].get("success_rate")
    if success is not None and real < success and not rate:
        modes.append(
            f"The reference policy does not solve the task: PyBullet return {real:.1f}, success at {success:g}."
        )
    elif rate is not None and rate < 0.5:
        modes.append(f"The reference policy succeeds in {100 * rate:.0f} % of PyBullet episodes.")
    far = [h for h, e in errors.items() if e is not None and e > 1.0]
    if far:
        modes.append(
            f"Open-loop predictions are worse than the data's mean from {min(far, key=int)} step(s) ahead "
            f"(normalised error {errors[min(far, key=int)]:.2f} > 1): dreams drift from PyBullet."
        )
    missing = [h for h, e in errors.items() if e is None]
    if missing:
        modes.append(
            f"No evaluation episode lasted {min(missing, key=int)} steps past its context (the episodes end first), "
            "so longer horizons are not measured."
        )
    audit = card["audit"]
    if audit["dream_step_rate"] > max(0.01, 2 * audit["pybullet_step_rate"]):
        worst = max(
            (k for k, v in audit["dream_checks"].items() if k != "any" and v is not None),
            key=lambda k: audit["dream_checks"][k],
        )
        modes.append(
            f"Dreams break audited physics on {100 * audit['dream_step_rate']:.1f} % of steps (PyBullet "
            f"{100 * audit['pybullet_step_rate']:.1f} %), most often `{worst}`."
        )
    policies = {s["policy"] for s in card["data"]["sources"]}
    if policies <= {"uniform random actions"}:
        modes.append(
            "Trained on random actions only: the states a good policy reaches are outside its data, and dreams of "
            "them are extrapolation."
        )
    return modes


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _ret(result: dict[str, Any] | None) -> str:
    if result is None or result["mean"] is None:
        return "n/a"
    success = f", success {100 * result['success_rate']:.0f} %" if result.get("success_rate") is not None else ""
    return f"{result['mean']:.1f} ± {result['std']:.1f}{success}"


def render_card(card: dict[str, Any]) -> str:
    """The card as Markdown (``CARD.md``): every figure formatted from ``card``."""
    wm, data, policy, audit = card["world_model"], card["data"], card["policy"], card["audit"]
    errors = card["open_loop_error"]
    measured = card["measurement"]
    horizons = list(errors["obs"])
    actors = "uniform random actions" if measured["config"].get("eval_policy") == "random" else "the reference policy"
    lines = [
        f"# {card['task']}: bundled world model and reference policy",
        "",
        "Generated by `dreamgym.zoo.measure_card`; every figure below is measured, none is written by hand.",
        "",
        "## World model",
        "",
        f"- preset `{wm['preset']}`, {wm['parameters']:,} parameters ({wm['storage']}), {wm['ensemble']} dynamics "
        f"head{'s' if wm['ensemble'] > 1 else ''}, `{wm['decoder']}` decoder, {wm['start_windows']} dream start "
        "windows",
        f"- {wm['updates']} updates (batch {wm['train']['batch_size']} x {wm['train']['seq_len']} steps, lr "
        f"{wm['train']['lr']:g}), training seed {wm['train']['seed']}",
    ]
    if wm.get("camera"):
        height, width, channels = wm["camera"]["image_shape"]
        lines.append(
            f"- sees {height}x{width}x{channels} camera frames beside the proprioception (CNN depth "
            f"{wm['camera']['cnn_depth']}); the reference policy acts on the proprioception it dreams"
        )
    if wm.get("float16_check"):
        check = wm["float16_check"]
        half, noise = check["float16_vs_float32"], check["float32_sampling_noise"]
        lines.append(
            f"- weights stored as float16: on its {check['windows']} start windows the decoded observations differ "
            f"from the float32 model's by {half['mean']:.2g} on average (at most {half['max']:.2g}), against "
            f"{noise['mean']:.2g} (at most {noise['max']:.2g}) between two sampling seeds of the float32 model"
        )
    build = card.get("build") or {}
    recipe = build.get("recipe")
    seconds = ", ".join(f"{k} {v:.0f} s" for k, v in build.get("seconds", {}).items())
    if recipe and recipe["method"] == "policy":
        lines += [
            f"- built outside the zoo (exported from `{wm['exported_from']}`); the wall time of its training was not "
            "recorded with it",
            f"- its reference policy was trained by the zoo recipe `policy` (seed {recipe['seed']}) in "
            f"{build['wall_seconds'] / 60:.1f} min; `python benchmarks/zoo.py --task {card['task']}` trains it again",
        ]
    elif recipe:
        lines.append(
            f"- built by the zoo recipe `{recipe['method']}` (seed {recipe['seed']}) in "
            f"{build['wall_seconds'] / 60:.1f} min of wall time ({seconds}; a resumed build counts its last run only); "
            f"`python benchmarks/zoo.py --task {card['task']}` builds it again"
        )
    else:
        lines.append("- wall time of training: not recorded with this model")
    lines += [
        "",
        "## Data",
        "",
        f"{data['steps']} real steps in {data['episodes']} episodes (fingerprint `{data['fingerprint']}`):",
        "",
    ]
    for s in data["sources"]:
        tier = f", tier {s['tier']}" if s.get("tier") else ""
        gap = f", reality gap {s['gap']}" if s.get("gap") else ""
        who = s["policy"] if not s.get("dyna_round") else f"the agent of Dyna round {s['dyna_round'] - 1}"
        lines.append(f"- `{s['dataset_id']}`: {s['steps']} steps, {who}, seed {s['seed']}{tier}{gap}")
    lines += [
        "",
        "## Open-loop error",
        "",
        f"On the shipped evaluation set (`{EVAL_FILE}`: {measured['eval_set']['episodes']} held-out PyBullet episodes "
        f"of {actors}, "
        f"seeds {measured['eval_set']['seeds']}, at most "
        f"{measured['config']['eval_max_steps']} steps, {measured['eval_set']['rows']} rows); error is the RMSE over "
        "the data's spread per dimension (1.0 = as wrong as the data's mean), after "
        f"{measured['config']['context']} real observations:",
        "",
        "| steps ahead | " + " | ".join(horizons) + " |",
        "|---|" + "---|" * len(horizons),
        "| observation error | " + " | ".join(_fmt(errors["obs"][h]) for h in horizons) + " |",
        "| reward RMSE | " + " | ".join(_fmt(errors["reward"][h]) for h in horizons) + " |",
        "| (start, step) pairs | " + " | ".join(str(errors["pairs"][h]) for h in horizons) + " |",
        "",
        "## Reference policy",
        "",
        f"`{policy['file']}`: SB3 {policy['algorithm']}, trained {policy['trained']}. Returns over "
        f"{policy['episodes']} episodes (seeds {policy['seeds'][0]}-{policy['seeds'][1]}):",
        "",
        "| where | return |",
        "|---|---|",
        f"| dream | {_ret(policy['dream'])} |",
        f"| PyBullet | {_ret(policy['pybullet'])} |",
        f"| PyBullet, random policy | {_ret(policy['random_pybullet'])} |",
        "",
        "## Physics audit",
        "",
        f"Steps breaking any audited fact: dream {100 * audit['dream_step_rate']:.2f} % ({audit['dreams']} dreams of "
        f"the reference policy), PyBullet control {100 * audit['pybullet_step_rate']:.2f} % "
        f"({audit['pybullet_episodes']} episodes).",
        "",
        "| check | dream | PyBullet |",
        "|---|---|---|",
    ]
    for name, rate in audit["dream_checks"].items():
        if rate is not None:
            lines.append(f"| {name} | {100 * rate:.2f} % | {100 * audit['pybullet_checks'][name]:.2f} % |")
    lines += ["", "## Known failure modes", ""]
    lines += [f"- {m}" for m in card["failure_modes"]] or ["- none the measurements show"]
    lines += [
        "",
        f"Measured with dreamgym {measured['dreamgym_version']}, torch {measured['torch_version']} on "
        f"{measured['torch_threads']} thread(s), {measured['machine']}.",
        "",
    ]
    return "\n".join(lines)


def write_card(directory: str | Path, card: dict[str, Any]) -> Path:
    """Writes ``card.json`` and its rendering ``CARD.md`` into the bundle directory, each atomically."""
    from dreamgym.atomic import write_bytes_atomic, write_json_atomic

    directory = Path(directory)
    write_json_atomic(directory / CARD_FILE, card)
    write_bytes_atomic(directory / CARD_MARKDOWN, render_card(card).encode())
    return directory / CARD_FILE
