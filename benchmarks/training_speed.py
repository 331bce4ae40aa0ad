"""One full Dreamer update (world model + actor-critic) against SheepRL's DreamerV3, timed on the same machine.

Usage: ``python benchmarks/training_speed.py [--threads 2] [--updates 5] [--no-sheeprl]``. Writes
``benchmarks/results/training_speed.{json,md}``.

The update is the one ``dreamgym train-online`` makes: the DreamerV3 world-model loss on 16 sequences x 64 steps
of vector observations (Hopper's sizes: 15 observations, 3 actions), then one actor and one critic step on
trajectories imagined 15 steps ahead from all 1024 posterior states, at the paper's S size (our ``default``
preset). SheepRL is timed in a virtual environment of its own (``.venv-sheeprl``: it pins another gymnasium),
built on first use with the commands in :data:`SHEEPRL_INSTALL`, by ``benchmarks/sheeprl_dreamer_update.py``
calling SheepRL's own ``train``. Both run in the same invocation, one after the other, on the same thread
count, so the ratio holds even though this shared host's speed varies between runs. A torch-profiler table of
our update says where its time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SHEEPRL_VENV = ROOT / ".venv-sheeprl"
SHEEPRL_INSTALL: list[list[str]] = [
    [sys.executable, "-m", "venv", str(SHEEPRL_VENV)],
    [str(SHEEPRL_VENV / "bin" / "pip"), "install", "-q", "torch==2.13.0", "sheeprl==0.8.4"],
]
"""How ``.venv-sheeprl`` is built (torch pinned on the same line, so SheepRL cannot pull a CUDA build)."""
OBS_DIM, ACTION_DIM, BATCH, SEQ_LEN, HORIZON = 15, 3, 16, 64, 15


def _batch(generator: torch.Generator) -> dict[str, torch.Tensor]:
    shape = (BATCH, SEQ_LEN)
    return {
        "obs": torch.randn(*shape, OBS_DIM, generator=generator),
        "prev_action": torch.rand(*shape, ACTION_DIM, generator=generator) * 2 - 1,
        "reward": torch.randn(*shape, generator=generator),
        "is_first": torch.zeros(shape, dtype=torch.bool),
        "is_terminal": torch.rand(shape, generator=generator) < 0.01,
    }


def _dreamgym_update(preset: str, actor_gradient: str):
    """The online loop's update on a fresh S-size (or ``preset``) model, as a function timing its two parts."""
    from agents.dreamer import ActorCritic, make_actor_critic_config
    from dreamgym.world_model import WorldModel, make_config
    from dreamgym.world_model.trainer import world_model_update

    torch.manual_seed(0)
    model_cfg, train_cfg = make_config(preset, OBS_DIM, ACTION_DIM, batch_size=BATCH, seq_len=SEQ_LEN)
    model = WorldModel(model_cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, eps=train_cfg.eps)
    ac_cfg = make_actor_critic_config(preset, actor_gradient=actor_gradient, horizon=HORIZON)
    learner = ActorCritic(model_cfg.feature_dim, ACTION_DIM, ac_cfg)
    generator = torch.Generator().manual_seed(0)

    def update() -> tuple[float, float]:
        batch = _batch(generator)
        start = time.perf_counter()
        _, posts = world_model_update(model, optimizer, batch, train_cfg)
        middle = time.perf_counter()
        learner.update(model, posts, 1.0 - batch["is_terminal"].float())
        return middle - start, time.perf_counter() - middle

    return update


def time_dreamgym(preset: str, actor_gradient: str, updates: int, warmup: int = 2) -> dict[str, float]:
    """Seconds per full update, and per world-model and actor-critic part, of the online loop's update."""
    update = _dreamgym_update(preset, actor_gradient)
    for _ in range(warmup):
        update()
    wm_seconds, ac_seconds = (sum(part) for part in zip(*(update() for _ in range(updates)), strict=True))
    return {
        "full_update_s": (wm_seconds + ac_seconds) / updates,
        "world_model_s": wm_seconds / updates,
        "actor_critic_s": ac_seconds / updates,
    }


def profile_dreamgym(preset: str, actor_gradient: str, rows: int = 12) -> str:
    """The profiler's operator table of one full update, after a warm-up update."""
    from torch.profiler import ProfilerActivity, profile

    update = _dreamgym_update(preset, actor_gradient)
    update()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        update()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def time_sheeprl(threads: int, updates: int) -> dict | None:
    """SheepRL's figures from its own venv (built here on first use), or ``None`` where it cannot run."""
    script = ROOT / "benchmarks" / "sheeprl_dreamer_update.py"
    python = SHEEPRL_VENV / "bin" / "python"
    if not python.exists():
        for command in SHEEPRL_INSTALL:
            print("setting up SheepRL:", " ".join(command), flush=True)
            subprocess.run(command, check=True)
    done = subprocess.run(
        [str(python), str(script), "--threads", str(threads), "--updates", str(updates)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        print(f"SheepRL failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _markdown(result: dict) -> str:
    ours = result["dreamgym"]
    lines = [
        "# Training speed: one full Dreamer update against SheepRL's DreamerV3",
        "",
        f"Command: `{result['command']}` ({result['date']}, {result['threads']} threads, torch {torch.__version__}).",
        f"Update: world-model loss on {BATCH} x {SEQ_LEN} vector steps ({OBS_DIM} obs, {ACTION_DIM} actions), then "
        f"one actor and one critic step on {HORIZON}-step imagination from all {BATCH * SEQ_LEN} posterior states; "
        "S size (deter 512, 32 x 32 latents, 512-unit MLPs). Times are seconds per update, averaged over "
        f"{result['updates']} updates after 2 of warm-up.",
        "",
        "| implementation | full update (s) | world model (s) | actor-critic (s) | full updates/s vs SheepRL | "
        "world-model updates/s vs SheepRL |",
        "|---|---|---|---|---|---|",
    ]
    sheeprl = result.get("sheeprl")
    for name, row in ours.items():
        full = f"{sheeprl['full_update_s'] / row['full_update_s']:.2f}x" if sheeprl else "-"
        wm = f"{sheeprl['world_model_s'] / row['world_model_s']:.2f}x" if sheeprl else "-"
        lines.append(
            f"| dreamgym, actor gradient {name} | {row['full_update_s']:.3f} | {row['world_model_s']:.3f} | "
            f"{row['actor_critic_s']:.3f} | {full} | {wm} |"
        )
    if sheeprl:
        lines.append(
            f"| SheepRL {sheeprl['sheeprl_version']} | {sheeprl['full_update_s']:.3f} | {sheeprl['world_model_s']:.3f} "
            f"| {sheeprl['actor_critic_s']:.3f} | 1.00x | 1.00x |"
        )
    else:
        lines.append("| SheepRL | not measured in this run | | | | |")
    lines += ["", "Where our update's time goes (torch profiler, one update, sorted by self CPU time):", "", "```"]
    lines += [result["profile"], "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--preset", default="default", help="dreamgym preset timed (default: the S size)")
    parser.add_argument("--no-sheeprl", action="store_true", help="time dreamgym alone")
    parser.add_argument("--name", default="training_speed", help="results file name")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict = {
        "command": "python benchmarks/training_speed.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "threads": args.threads,
        "updates": args.updates,
        "preset": args.preset,
        "sheeprl": None if args.no_sheeprl else time_sheeprl(args.threads, args.updates),
        "dreamgym": {g: time_dreamgym(args.preset, g, args.updates) for g in ("reinforce", "dynamics")},
        "profile": profile_dreamgym(args.preset, "reinforce"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"{args.name}.md").write_text(_markdown(result))
    print(_markdown(result))


if __name__ == "__main__":
    main()
