"""Dreaming in pixels: speed, image fidelity, object permanence and data size of a camera world model of PandaPush.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/pixels.py --work runs/pixels
    python benchmarks/pixels.py --table-only         # rewrite pixels.md from pixels.json

Stages, each resumed from ``--work`` (data sets and the checkpoint are kept; results land in
``benchmarks/results/pixels.json`` as each stage finishes):

1. ``data``: ``--data-steps`` steps of PandaPushPixels with the noisy scripted pusher (training data) and
   ``--heldout-episodes`` further episodes on other seeds (held out), frames stored exact and gzip-compressed;
   their size against raw uint8 and against Minari's JPEG, and the frames read back checked bit for bit.
2. ``train``: a camera world model (``--preset`` with ``--cnn-depth``, ``--batch-size`` x ``--seq-len``,
   ``--wm-steps`` updates) on the training data.
3. ``speed``: PyBullet's PandaPushPixels steps/s, each step drawing its 64x64 frame, against the pixel dream's
   steps/s at batch 1, 64 and 512 in the same run: ``DreamBatch``, the engine of every dream env, one batched
   forward pass per step under ``torch.inference_mode``, each step decoding every dream's frame; eagerly, then
   with the frame decoder compiled (``compile_frames=True``).
4. ``fidelity``: on the held-out episodes, the reconstruction error (frames decoded from the posterior) and the
   open-loop image error against horizon (mean absolute pixel error in [0, 1]).
5. ``permanence``: ``--rollouts`` episodes of the scripted pusher in PyBullet, and the dream from each start under
   the same actions; the colour locator's events (block vanished, moved untouched, blended into the gripper) on
   the real frames (the control) and the dreamed ones, and the state audit's tabletop checks on the proprioception
   beside them.
6. ``policy`` (run on its own with ``--stages policy``): Dyna rounds on ``--locomotion-task``: its camera world
   model on the real steps so far, PPO trained only in its dreams on the dreamed proprioception, scored in PyBullet,
   then more real steps with that agent, until PyBullet reaches the task's success return.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
TASK = "PandaPushPixels"
HELDOUT_SEED, ROLLOUT_SEED = 1_000, 2_000
BATCHES = (1, 64, 512)


def _save(store: dict[str, Any], name: str) -> None:
    from dreamgym.atomic import write_json_atomic

    write_json_atomic(RESULTS / f"{name}.json", store)
    (RESULTS / f"{name}.md").write_text(table(store))


def stage_data(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import h5py
    from minari.dataset._storages.hdf5_storage import encode_frame

    from dreamgym.data import collect, load_episodes
    from dreamgym.tasks import get_task

    spec = get_task(TASK)
    out: dict[str, Any] = {}
    for name, steps, seed in (
        ("train", args.data_steps, args.seed),
        ("heldout", args.heldout_episodes * spec.max_episode_steps, HELDOUT_SEED),
    ):
        path = work / f"data_{name}"
        start = time.perf_counter()
        if not path.exists():
            collect(spec, steps, path, policy="scripted", seed=seed, progress=True)
        seconds = time.perf_counter() - start
        data = load_episodes(path, spec)
        with h5py.File(path / "data" / "main_data.hdf5", "r") as file:
            stored = sum(
                file[f"{key}/observations/image"].id.get_storage_size() for key in file if key.startswith("episode_")
            )
            frames = np.concatenate(
                [file[f"{key}/observations/image"][()] for key in sorted(file, key=lambda k: int(k.split("_")[1]))]
            )
        assert np.array_equal(frames, data.image), "compressed frames did not read back bit for bit"
        jpeg = sum(len(encode_frame(frame)) for frame in data.image)
        out[name] = {
            "steps": steps,
            "rows": len(data),
            "episodes": data.num_episodes,
            "seed": seed,
            "collect_seconds": round(seconds, 1) if seconds > 1 else None,  # None: collected by an earlier run
            "frame_bytes_raw": int(data.image.nbytes),
            "frame_bytes_gzip": int(stored),
            "frame_bytes_jpeg": int(jpeg),
            "ratio_raw_to_gzip": data.image.nbytes / stored,
            "ratio_jpeg_to_gzip": jpeg / stored,
            "file_bytes": (path / "data" / "main_data.hdf5").stat().st_size,
            "read_back_bit_for_bit": True,
        }
    return out


def _configs(spec: Any, args: argparse.Namespace, steps: int) -> tuple[Any, Any]:
    """The camera world model's configs: ``--preset`` with the CNN depth and batch shape of the command line."""
    from dreamgym.world_model import make_config

    return make_config(
        args.preset,
        spec.obs_shape[0],
        spec.action_dim,
        cnn_depth=args.cnn_depth,
        image_foreground_weight=args.image_foreground_weight,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        steps=steps,
        seed=args.seed,
    )


def stage_train(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from dreamgym.data import load_episodes
    from dreamgym.tasks import get_task
    from dreamgym.world_model.checkpoint import load_checkpoint
    from dreamgym.world_model.trainer import train_world_model

    spec = get_task(TASK)
    data = load_episodes(work / "data_train", spec)
    model_cfg, train_cfg = _configs(spec, args, args.wm_steps)
    result = train_world_model(data, work / "ckpt", spec, model_cfg, train_cfg, progress=True)
    return {
        "preset": args.preset,
        "cnn_depth": args.cnn_depth,
        "image_foreground_weight": args.image_foreground_weight,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "updates": result.step,
        "seconds_this_run": round(result.seconds, 1),
        "final_losses": {k: float(v) for k, v in result.metrics.items()},
        "parameters": sum(p.numel() for p in load_checkpoint(result.path).model.parameters()),
    }


# How each speed variant builds its dreams: (compile_frames, frame_dtype).
SPEED_VARIANTS = {
    "eager": (False, "float32"),
    "compiled": (True, "float32"),
    "bfloat16": (False, "bfloat16"),
    "compiled bfloat16": (True, "bfloat16"),
}


def _dreams(checkpoint: Any, batch: int, compiled: bool = False, frame_dtype: str = "float32") -> Any:
    """``batch`` pixel dreams that never end, seeded 0..batch-1 and reset."""
    import torch

    from dreamgym.envs.dream_batch import DreamBatch

    dreams = DreamBatch(
        checkpoint,
        num_envs=batch,
        horizon=10**9,
        termination="model",
        termination_threshold=-1.0,
        compile_frames=compiled,
        frame_dtype=frame_dtype,
    )
    dreams.set_seeds(torch.arange(batch), torch.arange(batch))
    dreams.reset(torch.ones(batch, dtype=torch.bool))
    return dreams


def dream_steps_per_second(
    checkpoint: Any, batch: int, seconds: float, compiled: bool = False, frame_dtype: str = "float32"
) -> float:
    """Dream steps per second (env steps: batch x batched steps) of ``DreamBatch``, every frame decoded; with
    ``compiled``, its frames through ``torch.compile`` (compiled by the warm-up steps, outside the timing), in
    ``frame_dtype``."""
    dreams = _dreams(checkpoint, batch, compiled, frame_dtype)
    actions = np.random.default_rng(0).uniform(-1, 1, (batch, 3)).astype(np.float32)
    for _ in range(3):
        dreams.step(actions)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 3:
        out = dreams.step(actions)
        steps += 1
    assert out.image.shape == (batch, 64, 64, 3)
    return steps * batch / (time.perf_counter() - start)


def bfloat16_frame_difference(checkpoint: Any, batch: int = 64, steps: int = 20) -> dict[str, float]:
    """Intensity levels (of 255) between bfloat16 and float32 frames of the same dreams under the same actions:
    the mean over every pixel and the largest; the dreamed observations are checked to be identical."""
    dreams = [_dreams(checkpoint, batch, frame_dtype=dtype) for dtype in ("float32", "bfloat16")]
    actions = np.random.default_rng(1).uniform(-1, 1, (steps, batch, 3)).astype(np.float32)
    total, largest = 0.0, 0
    for action in actions:
        full, half = (d.step(action) for d in dreams)
        if not np.array_equal(full.obs, half.obs):
            raise AssertionError("bfloat16 frames changed the dreamed observations")
        diff = np.abs(full.image.astype(np.int16) - half.image.astype(np.int16))
        total, largest = total + float(diff.mean()), max(largest, int(diff.max()))
    return {"mean_levels": total / steps, "max_levels": largest, "batch": batch, "steps": steps}


def stage_speed(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from dreamgym.world_model.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(work / "ckpt")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import pybullet_steps_per_second  # env.step alone, resets left out of the time

    out: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "seconds_per_measurement": args.speed_seconds}
    # PyBullet before and after the dreams, so a change of machine load during the run shows as a spread.
    before = pybullet_steps_per_second(args.speed_seconds, TASK)
    dreams = {
        name: {str(b): dream_steps_per_second(checkpoint, b, args.speed_seconds, *how) for b in BATCHES}
        for name, how in SPEED_VARIANTS.items()
    }
    after = pybullet_steps_per_second(args.speed_seconds, TASK)
    pybullet = (before + after) / 2
    return out | {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "pybullet_steps_per_s": pybullet,
        "pybullet_before_after": [before, after],
        "variants": dreams,
        "speedup": {name: {b: v / pybullet for b, v in steps.items()} for name, steps in dreams.items()},
        "bfloat16_frames": bfloat16_frame_difference(checkpoint),
    }


def stage_fidelity(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from dreamgym.data import load_episodes
    from dreamgym.tasks import get_task
    from dreamgym.transfer.fidelity import filter_episodes, image_reconstruction_error, open_loop_errors
    from dreamgym.world_model.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(work / "ckpt")
    data = load_episodes(work / "data_heldout", get_task(TASK))
    posts, _ = filter_episodes(checkpoint.model, data, args.seed)
    errors = open_loop_errors(checkpoint, data, args.horizon, context=5, seed=args.seed, posts=posts)
    return {
        "heldout_rows": len(data),
        "context": 5,
        "reconstruction_error": image_reconstruction_error(checkpoint.model, data, posts),
        "open_loop_image_error": errors["image_error"].tolist(),
        "open_loop_state_error": errors["total_error"].tolist(),
        "pairs": errors["pairs"].tolist(),
        "metric": "mean |decoded - real| per pixel channel, in [0, 1]; state: normalised RMSE",
    }


def stage_permanence(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from dreamgym.tasks import get_task
    from dreamgym.transfer.locate import BLOCK, count_events, locate, permanence_events
    from dreamgym.transfer.objects import OBJECT_CHECKS, object_violations
    from dreamgym.transfer.pixel_rollout import load_pixel_policy, pixel_rollout
    from dreamgym.world_model.checkpoint import load_checkpoint

    spec = get_task(TASK)
    checkpoint = load_checkpoint(work / "ckpt")
    totals = {side: dict.fromkeys(("vanished", "moved_untouched", "overlaps_gripper"), 0) for side in ("real", "dream")}
    state = {side: dict.fromkeys(OBJECT_CHECKS, 0) for side in ("real", "dream")}
    steps = {"real": 0, "dream": 0}
    block_seen = {"real": 0, "dream": 0}
    frames_total = {"real": 0, "dream": 0}
    for i in range(args.rollouts):
        seed = ROLLOUT_SEED + i
        rollout = pixel_rollout(checkpoint, spec, load_pixel_policy("scripted", spec, seed), seed, 50)
        end = rollout.dream_terminated_at or len(rollout.actions)  # a dream that ended holds its last frame
        for side, frames, obs, upto in (
            ("real", rollout.real_frames, rollout.real_obs, len(rollout.actions)),
            ("dream", rollout.dream_frames, rollout.dream_obs, end),
        ):
            for name, count in count_events(permanence_events(frames[: upto + 1])).items():
                totals[side][name] += count
            valid = np.ones((1, upto), dtype=bool)
            for name, flags in object_violations(spec.scene, obs[None, : upto + 1], valid).items():
                state[side][name] += 0 if flags is None else int(flags.sum())
            steps[side] += upto
            block_seen[side] += int(locate(frames[: upto + 1], BLOCK).found.sum())
            frames_total[side] += upto + 1
    return {
        "rollouts": args.rollouts,
        "seeds": [ROLLOUT_SEED, ROLLOUT_SEED + args.rollouts - 1],
        "policy": "scripted pusher (noise 0.3, 20 % random actions), acting on the real observations",
        "steps": steps,
        "pixel_events": totals,
        "state_checks": state,
        "block_visible_share": {side: block_seen[side] / frames_total[side] for side in block_seen},
    }


def stage_policy(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """A locomotion task from pixels: Dyna rounds of a camera world model and PPO trained only in its dreams.

    Round 0 trains the camera model (``--preset`` with ``--cnn-depth``, ``--batch-size`` x ``--seq-len``) on
    ``--locomotion-steps`` uniform random real steps; each later round adds ``--locomotion-round-steps`` real steps
    of the last round's agent, so the model learns the states the agent reaches, as ``dreamgym demo`` does on
    vectors. The rounds stop once PyBullet reaches the task's success return. The agent acts on the proprioception
    it dreams (the dreams' flat view, which skips decoding frames), so the policy runs unchanged on the real task's
    observation and is scored on the vector task it renders: the same physics, without frames nobody reads.
    """
    from agents import DreamAgentConfig
    from agents.dyna import DynaConfig, run_dyna
    from dreamgym.tasks import get_task

    spec = get_task(args.locomotion_task)
    config = DynaConfig(
        task=spec.name,
        out=str(work / f"{spec.name}_dyna"),
        seed=args.seed,
        rounds=args.policy_rounds,
        initial_steps=args.locomotion_steps,
        steps_per_round=args.locomotion_round_steps,
        preset=args.preset,
        wm_updates_first=args.locomotion_wm_steps,
        wm_updates_per_round=args.locomotion_wm_steps // 2,
        agent=DreamAgentConfig(steps=args.policy_steps, uncertainty_penalty=1.0),
        early_agent_steps=args.policy_steps,
        eval_episodes=args.eval_episodes,
        target_return=spec.success_return,
        model_overrides=dict(cnn_depth=args.cnn_depth, batch_size=args.batch_size, seq_len=args.seq_len),
    )
    rounds = run_dyna(config)
    return {
        "task": spec.name,
        "evaluated_on": spec.pixels_of,
        "success_return": spec.success_return,
        "world_model": {"preset": args.preset, **config.model_overrides},
        "agent": f"SB3 PPO (MlpPolicy) on the dreamed proprioception, {args.policy_steps:,} dream steps per round",
        "eval_episodes": args.eval_episodes,
        "rounds": [asdict(r) for r in rounds],
    }


STAGES = {
    "data": stage_data,
    "train": stage_train,
    "speed": stage_speed,
    "fidelity": stage_fidelity,
    "permanence": stage_permanence,
    "policy": stage_policy,
}


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(store: dict[str, Any]) -> str:
    lines = [
        "# Dreaming in pixels: PandaPushPixels",
        "",
        *(f"Command: `{command}`" for command in store.get("commands", [store.get("command", "")])),
        f"Machine: {store.get('machine', '')}",
        "",
    ]
    data = store.get("data")
    if data:
        lines += [
            "## Frames on disk (uint8, gzip level 4, chunks of 64 frames)",
            "",
            "| data set | frames | raw uint8 | gzip | Minari JPEG | raw / gzip | JPEG / gzip | bit for bit |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, d in data.items():
            lines.append(
                f"| {name} ({d['episodes']} episodes) | {d['rows']:,} | {d['frame_bytes_raw'] / 2**20:.2f} MiB | "
                f"{d['frame_bytes_gzip'] / 2**20:.2f} MiB | {d['frame_bytes_jpeg'] / 2**20:.2f} MiB | "
                f"{d['ratio_raw_to_gzip']:.1f}x | {d['ratio_jpeg_to_gzip']:.2f}x | {d['read_back_bit_for_bit']} |"
            )
        lines.append("")
    train = store.get("train")
    if train:
        lines += [
            "## World model",
            "",
            f"`{train['preset']}` preset with CNN depth {train['cnn_depth']}, batches of {train['batch_size']} x "
            f"{train['seq_len']} steps, {train['updates']:,} updates"
            + (
                f", foreground pixels weighted {1 + train['image_foreground_weight']:g}x in the image loss"
                if train.get("image_foreground_weight")
                else ""
            )
            + "; final losses: "
            + ", ".join(f"{k} {v:.3g}" for k, v in train["final_losses"].items()),
            "",
        ]
    speed = store.get("speed")
    if speed:
        before, after = speed["pybullet_before_after"]
        lines += [
            "## Steps per second (same run, one process)",
            "",
            f"PyBullet PandaPushPixels (physics + 64x64 frame): {speed['pybullet_steps_per_s']:.1f} steps/s "
            f"(before the dreams {before:.1f}, after {after:.1f}); torch threads: {speed['torch_threads']}.",
            "",
            "Variants of the same dreams: `compiled` decodes the frames through `torch.compile` "
            '(`compile_frames=True`), `bfloat16` computes the frame decoder in bfloat16 (`frame_dtype="bfloat16"`'
            f", CPU capability {speed.get('cpu_capability', 'not recorded')}).",
            "",
            "| dream batch | " + " | ".join(f"{name} steps/s (x PyBullet)" for name in speed["variants"]) + " |",
            "|---:|" + "---:|" * len(speed["variants"]),
        ]
        for batch in next(iter(speed["variants"].values())):
            cells = [f"{v[batch]:,.0f} ({speed['speedup'][name][batch]:.1f}x)" for name, v in speed["variants"].items()]
            lines.append(f"| {batch} | " + " | ".join(cells) + " |")
        frames = speed.get("bfloat16_frames")
        if frames:
            lines += [
                "",
                f"bfloat16 frames against float32 ones ({frames['batch']} dreams, {frames['steps']} steps, same seeds "
                f"and actions): {frames['mean_levels']:.2f} intensity levels of 255 apart on average, at most "
                f"{frames['max_levels']}; the dreamed observations are identical.",
            ]
        lines.append("")
    fid = store.get("fidelity")
    if fid:
        horizon = len(fid["open_loop_image_error"])
        shown = [h for h in (1, 5, 10, 15, 20, 30, 40) if h <= horizon]
        lines += [
            "## Image error (held-out episodes)",
            "",
            f"Mean absolute pixel error in [0, 1] ({fid['heldout_rows']:,} held-out rows, {fid['context']} real steps "
            f"of context). Reconstruction (posterior): {fid['reconstruction_error']:.4f}.",
            "",
            "| steps ahead (open loop) | " + " | ".join(str(h) for h in shown) + " |",
            "|---|" + "---:|" * len(shown),
            "| image error | " + " | ".join(f"{fid['open_loop_image_error'][h - 1]:.4f}" for h in shown) + " |",
            "| state error (RMSE / std) | "
            + " | ".join(f"{fid['open_loop_state_error'][h - 1]:.3f}" for h in shown)
            + " |",
            "",
        ]
    perm = store.get("permanence")
    if perm:
        lines += [
            "## Object permanence and contact, dream against PyBullet",
            "",
            f"{perm['rollouts']} episodes (seeds {perm['seeds'][0]}-{perm['seeds'][1]}) of the {perm['policy']}; "
            "the dream starts from each real start and takes the same actions. Steps compared: PyBullet "
            f"{perm['steps']['real']}, dream {perm['steps']['dream']} (a dream ends where the goal rule ends it).",
            "",
            "| check | PyBullet (control) | dream |",
            "|---|---:|---:|",
        ]
        for name in perm["pixel_events"]["real"]:
            lines.append(
                f"| frames: {name} | {perm['pixel_events']['real'][name]} | {perm['pixel_events']['dream'][name]} |"
            )
        for name in perm["state_checks"]["real"]:
            lines.append(
                f"| state: {name} | {perm['state_checks']['real'][name]} | {perm['state_checks']['dream'][name]} |"
            )
        share = perm["block_visible_share"]
        lines += [
            "",
            f"Block found in {share['real']:.1%} of PyBullet frames and {share['dream']:.1%} of dreamed ones.",
            "",
        ]
    policy = store.get("policy")
    if policy:
        model = policy["world_model"]
        lines += [
            f"## A policy trained only in pixel dreams ({policy['task']})",
            "",
            f"Dyna rounds: camera world model (`{model['preset']}`, CNN depth {model['cnn_depth']}, batches of "
            f"{model['batch_size']} x {model['seq_len']} steps) on the real steps so far; {policy['agent']}; the "
            f"deterministic policy scored over {policy['eval_episodes']} episodes in the dream and in PyBullet "
            f"({policy['evaluated_on']}: the same physics and proprioception; success at "
            f"{policy['success_return']:g}).",
            "",
            "| round | real steps | world-model updates | dream return | PyBullet return | seconds |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in policy["rounds"]:
            lines.append(
                f"| {r['round']} | {r['real_steps']:,} | {r['wm_updates']:,} | {r['dream_return']:.1f} ± "
                f"{r['dream_std']:.1f} | {r['pybullet_return']:.1f} ± {r['pybullet_std']:.1f} | "
                f"{sum(r['seconds'].values()):,.0f} |"
            )
        lines.append("")
    notes = store.get("notes")
    if notes:
        lines += ["## Readings, and what was not reached", "", *[f"- {note}" for note in notes], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("runs/pixels"))
    parser.add_argument("--stages", nargs="+", default=[s for s in STAGES if s != "policy"], choices=list(STAGES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-steps", type=int, default=5000)
    parser.add_argument("--heldout-episodes", type=int, default=10)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--cnn-depth", type=int, default=8)
    parser.add_argument(
        "--image-foreground-weight", type=float, default=0.0, help="extra image-loss weight off the static background"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=16)
    parser.add_argument("--wm-steps", type=int, default=1000)
    parser.add_argument("--speed-seconds", type=float, default=10.0)
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--rollouts", type=int, default=20)
    parser.add_argument("--locomotion-task", default="InvertedPendulumPixels")
    parser.add_argument("--locomotion-steps", type=int, default=5000, help="random real steps of Dyna round 0")
    parser.add_argument("--locomotion-round-steps", type=int, default=15_000, help="agent's real steps per round")
    parser.add_argument("--locomotion-wm-steps", type=int, default=1000, help="updates of round 0 (half per round)")
    parser.add_argument("--policy-rounds", type=int, default=4)
    parser.add_argument("--policy-steps", type=int, default=800_000, help="dream steps of each round's agent")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--name", default="pixels")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    path = RESULTS / f"{args.name}.json"
    store = json.loads(path.read_text()) if path.exists() else {}
    if args.table_only:
        (RESULTS / f"{args.name}.md").write_text(table(store))
        return
    import platform

    import torch

    torch.set_num_threads(1)  # a shared 2-core machine; PyBullet is single-threaded too
    store["command"] = "OMP_NUM_THREADS=1 python " + " ".join(["benchmarks/pixels.py", *sys.argv[1:]])
    store["commands"] = [*store.get("commands", []), store["command"]]  # stages run in several invocations
    store["machine"] = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)"
    args.work.mkdir(parents=True, exist_ok=True)
    for name in args.stages:
        start = time.perf_counter()
        store[name] = STAGES[name](args.work, args)
        store.setdefault("stage_seconds", {})[name] = round(time.perf_counter() - start, 1)
        _save(store, args.name)
        print(f"{name}: done in {store['stage_seconds'][name]} s", flush=True)


if __name__ == "__main__":
    main()
