"""Dream throughput against PyBullet, measured in one run on one machine, with FLOP and memory accounting.

Usage: ``python benchmarks/throughput.py [--quick]``. Writes ``benchmarks/results/throughput.{json,md}``.

Every figure is a ratio against a baseline measured in the same run: dream steps/s over PyBullet Hopper
single-env steps/s, and achieved FLOP/s over the machine's measured matmul FLOP/s. Each dream measurement
runs in a fresh process so its peak resident memory is its own. Two diagnostics say where the time goes
and whether compilation pays: a torch-profiler breakdown of one dream step by operator group, and an
eager-against-``torch.compile`` A/B of the step's model function (compile time reported separately).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import queue as queue_lib
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
TASK = "Hopper"
# (dynamics heads, head design) of the `small` model: each design with one head and with five.
ENSEMBLE_DESIGNS = ((1, "linear"), (1, "mlp"), (5, "linear"), (5, "mlp"))


def pybullet_steps_per_second(seconds: float, task: str = TASK) -> float:
    """Random single-env steps per second of ``env.step`` alone, after a warm-up (``benchmarks/pixels.py`` times a
    pixel task's, each step drawing its frame).

    Resets and action sampling are left out of the time, as the dreams measured against this step fixed actions
    and never end: a random Hopper falls every dozen steps, and counting both made PyBullet look 1.2-1.4 times
    slower in side-by-side trials.
    """
    from dreamgym.tasks import get_task

    env = get_task(task).make_env()
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, stepping, start = 0, 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        action = env.action_space.sample()
        before = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        stepping += time.perf_counter() - before
        steps += 1
        if terminated or truncated:
            env.reset()
    env.close()
    return steps / stepping


def _make_bullet_env():
    from dreamgym.tasks import get_task

    return get_task(TASK).make_env()


def subproc_steps_per_second(seconds: float, num_envs: int) -> float:
    from stable_baselines3.common.vec_env import SubprocVecEnv

    venv = SubprocVecEnv([_make_bullet_env] * num_envs)
    venv.seed(0)
    venv.reset()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        venv.step(np.random.uniform(-1, 1, size=(num_envs, 3)).astype(np.float32))
        steps += num_envs
    rate = steps / (time.perf_counter() - start)
    venv.close()
    return rate


def matmul_flops(seconds: float, size: int = 2048) -> float:
    """Peak the machine reaches on a large float32 matmul, the ceiling for our MLP-bound forward pass."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    return 2 * size**3 * reps / (time.perf_counter() - start)


def make_checkpoint(preset: str, directory: Path, name: str | None = None, **overrides: object) -> Path:
    """A checkpoint of an untrained model: throughput does not depend on the weights."""
    from dreamgym.data import collect, load_episodes
    from dreamgym.tasks import get_task
    from dreamgym.world_model import WorldModel, make_config, save_checkpoint
    from dreamgym.world_model.starts import sample_context_windows

    spec = get_task(TASK)
    data_dir = directory / "data"
    if not data_dir.exists():
        collect(spec, 400, data_dir, seed=0, progress=False)
    data = load_episodes(data_dir, spec)
    model_cfg, _ = make_config(preset, spec.obs_shape[0], spec.action_dim, **overrides)
    starts = sample_context_windows(data, 256, 16, np.random.default_rng(0))
    return save_checkpoint(
        directory / (name or preset),
        WorldModel(model_cfg),
        task=TASK,
        observation_shape=spec.obs_shape,
        action_shape=(spec.action_dim,),
        starts=starts,
    )


def _dream_worker(checkpoint: str, batch: int, seconds: float, queue: mp.Queue) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from dreamgym.envs.dream_vector_env import DreamVectorEnv

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    env = DreamVectorEnv(TASK, num_envs=batch, checkpoint=checkpoint, horizon=10**9, termination_threshold=0.0)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(batch, 3)).astype(np.float32)
    with FlopCounterMode(display=False) as counter:
        env.step(actions)
    flops_per_step = counter.get_total_flops()
    for _ in range(3):
        env.step(actions)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 3:
        env.step(actions)
        steps += 1
    elapsed = time.perf_counter() - start
    queue.put(
        {
            "batch": batch,
            "env_steps_per_s": steps * batch / elapsed,
            "flops_per_env_step": flops_per_step / batch,
            "achieved_flops": flops_per_step * steps / elapsed,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_above_import_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024,
            "torch_threads": torch.get_num_threads(),
        }
    )


def dream_throughput(checkpoint: Path, batch: int, seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_dream_worker, args=(str(checkpoint), batch, seconds, queue))
    proc.start()
    while True:  # a worker that dies (out of memory at a large batch, say) must fail the run, not hang it
        try:
            result = queue.get(timeout=5.0)
            break
        except queue_lib.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"The dream worker for batch {batch} died (exit code {proc.exitcode}).") from None
    proc.join()
    return result


_OP_GROUPS = {
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm"),
    "layer_norm": ("aten::native_layer_norm",),
    "activations": ("aten::silu", "aten::sigmoid", "aten::tanh", "aten::_softmax", "aten::log", "aten::exp"),
    "latent_sampling": ("aten::cumsum", "aten::lt", "aten::scatter_", "aten::sum", "aten::bitwise_xor"),
}


def profile_dream_step(checkpoint: Path, batch: int, steps: int = 10) -> dict:
    """Share of one dream step's wall time per operator group; what is left is Python and copies."""
    from torch.profiler import ProfilerActivity, profile

    from dreamgym.envs.dream_vector_env import DreamVectorEnv

    env = DreamVectorEnv(TASK, num_envs=batch, checkpoint=checkpoint, horizon=10**9, termination_threshold=0.0)
    env.reset(seed=0)
    actions = np.zeros((batch, 3), dtype=np.float32)
    for _ in range(3):
        env.step(actions)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            env.step(actions)
        wall_us = (time.perf_counter() - start) * 1e6
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    shares = {group: sum(self_us.get(op, 0.0) for op in ops) / wall_us for group, ops in _OP_GROUPS.items()}
    shares["everything_else"] = 1.0 - sum(shares.values())
    return {"batch": batch, "wall_ms_per_step": wall_us / steps / 1e3, "share": shares}


def compile_speedup(preset: str, batch: int, seconds: float) -> dict:
    """Eager against ``torch.compile`` on the function a dream step runs: RSSM transition and all heads."""
    import torch

    from dreamgym.world_model import WorldModel, make_config
    from dreamgym.world_model.rssm import RSSMState

    cfg, _ = make_config(preset, 15, 3)
    model = WorldModel(cfg).eval()

    def step(deter: torch.Tensor, stoch: torch.Tensor, action: torch.Tensor, uniform: torch.Tensor):
        state, _ = model.rssm.img_step(RSSMState(deter, stoch), action, None, uniform)
        return state, model.decode(state)

    inputs = (
        torch.zeros(batch, cfg.deter),
        torch.zeros(batch, cfg.stoch, cfg.classes),
        torch.rand(batch, 3) * 2 - 1,
        torch.rand(batch, cfg.stoch),
    )

    def rate(fn) -> float:
        for _ in range(3):
            fn(*inputs)
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or calls < 3:
            fn(*inputs)
            calls += 1
        return calls * batch / (time.perf_counter() - start)

    compiled = torch.compile(step, dynamic=False)
    with torch.inference_mode():
        start = time.perf_counter()
        compiled(*inputs)
        compile_seconds = time.perf_counter() - start
        # Interleaved repeats, so a change in machine load hits both sides alike.
        eager, fast = zip(*[(rate(step), rate(compiled)) for _ in range(3)], strict=True)
    return {
        "preset": preset,
        "batch": batch,
        "eager_steps_per_s": float(np.median(eager)),
        "compiled_steps_per_s": float(np.median(fast)),
        "speedup": float(np.median(fast) / np.median(eager)),
        "compile_seconds": compile_seconds,
    }


def training_speed(preset: str, seconds: float, batch_size: int = 16, seq_len: int = 64) -> dict:
    import torch

    from dreamgym.world_model import WorldModel, make_config

    model_cfg, train_cfg = make_config(preset, 15, 3)
    model = WorldModel(model_cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    batch = {
        "obs": torch.randn(batch_size, seq_len, 15),
        "prev_action": torch.rand(batch_size, seq_len, 3) * 2 - 1,
        "reward": torch.randn(batch_size, seq_len),
        "is_first": torch.zeros(batch_size, seq_len, dtype=torch.bool),
        "is_terminal": torch.zeros(batch_size, seq_len, dtype=torch.bool),
    }
    updates, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or updates < 2:
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        updates += 1
    rate = updates / (time.perf_counter() - start)
    return {
        "preset": preset,
        "batch": [batch_size, seq_len],
        "updates_per_s": rate,
        "samples_per_s": rate * batch_size * seq_len,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings and fewer batch sizes")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile A/B (about 1 min/preset)")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    batches = [1, 16, 256] if args.quick else [1, 16, 256, 1024, 4096]
    presets = ["small"] if args.quick else ["small", "default"]

    results: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()}
    }
    results["pybullet_single_steps_per_s"] = pybullet_steps_per_second(seconds)
    print(f"PyBullet {TASK} single env: {results['pybullet_single_steps_per_s']:.0f} steps/s", flush=True)
    results["pybullet_subproc_steps_per_s"] = subproc_steps_per_second(seconds, os.cpu_count() or 1)
    print(f"PyBullet {TASK} SubprocVecEnv x{os.cpu_count()}: {results['pybullet_subproc_steps_per_s']:.0f} steps/s")
    results["matmul_flops_peak"] = matmul_flops(seconds)
    print(f"measured float32 matmul peak: {results['matmul_flops_peak'] / 1e9:.1f} GFLOP/s", flush=True)

    results["dream"], results["profile"] = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            checkpoint = make_checkpoint(preset, Path(tmp))
            profile_batch = 1024 if 1024 in batches else batches[-1]
            results["profile"].append({"preset": preset, **profile_dream_step(checkpoint, profile_batch)})
            shares = ", ".join(f"{k} {v:.0%}" for k, v in results["profile"][-1]["share"].items())
            print(f"profile of one {preset} dream step at batch {profile_batch}: {shares}", flush=True)
            for batch in batches:
                row = {"preset": preset, **dream_throughput(checkpoint, batch, seconds)}
                row["x_pybullet_single"] = row["env_steps_per_s"] / results["pybullet_single_steps_per_s"]
                row["x_pybullet_subproc"] = row["env_steps_per_s"] / results["pybullet_subproc_steps_per_s"]
                row["flop_utilisation"] = row["achieved_flops"] / results["matmul_flops_peak"]
                results["dream"].append(row)
                print(
                    f"dream {preset:>7} batch {batch:>5}: {row['env_steps_per_s']:>10.0f} steps/s "
                    f"({row['x_pybullet_single']:6.1f}x PyBullet, {row['flop_utilisation']:6.1%} of peak FLOP/s, "
                    f"peak RSS {row['peak_rss_mib']:.0f} MiB)",
                    flush=True,
                )
        # What uncertainty costs: every dream step evaluates all heads' priors for the disagreement.
        results["ensemble"] = []
        batch = 1024 if 1024 in batches else batches[-1]
        for ensemble, heads in ENSEMBLE_DESIGNS:
            name = f"small_e{ensemble}_{heads}"
            checkpoint = make_checkpoint("small", Path(tmp), name, ensemble=ensemble, ensemble_heads=heads)
            row = {"ensemble": ensemble, "heads": heads, **dream_throughput(checkpoint, batch, seconds)}
            row["x_pybullet_single"] = row["env_steps_per_s"] / results["pybullet_single_steps_per_s"]
            results["ensemble"].append(row)
            print(
                f"dream small, {ensemble} {heads} head(s), batch {batch}: {row['env_steps_per_s']:.0f} steps/s "
                f"({row['x_pybullet_single']:.1f}x PyBullet)",
                flush=True,
            )
    results["compile"] = []
    if not args.no_compile:
        for preset in presets:
            row = compile_speedup(preset, 1024, seconds)
            results["compile"].append(row)
            print(
                f"torch.compile {preset} batch 1024: {row['speedup']:.2f}x eager "
                f"({row['compile_seconds']:.0f}s to compile)",
                flush=True,
            )
    results["training"] = [training_speed(p, seconds) for p in presets]
    for row in results["training"]:
        print(
            f"world-model training {row['preset']}: {row['updates_per_s']:.2f} updates/s, "
            f"{row['samples_per_s']:.0f} samples/s (batch 16 x 64)"
        )

    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "throughput_quick" if args.quick else "throughput"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    lines = [
        f"# Dream throughput ({TASK}, {results['machine']['cpus']} CPUs)",
        "",
        f"- PyBullet single env: {results['pybullet_single_steps_per_s']:.0f} steps/s",
        f"- PyBullet SubprocVecEnv: {results['pybullet_subproc_steps_per_s']:.0f} steps/s",
        f"- matmul peak: {results['matmul_flops_peak'] / 1e9:.1f} GFLOP/s",
        "",
        "| preset | batch | steps/s | x PyBullet | x Subproc | MFLOP/step | % peak FLOP | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["dream"]:
        lines.append(
            f"| {r['preset']} | {r['batch']} | {r['env_steps_per_s']:.0f} | {r['x_pybullet_single']:.1f} | "
            f"{r['x_pybullet_subproc']:.1f} | {r['flops_per_env_step'] / 1e6:.2f} | "
            f"{r['flop_utilisation']:.1%} | {r['peak_rss_mib']:.0f} |"
        )
    lines += ["", "Share of a dream step's wall time (torch profiler):", ""]
    groups = [*_OP_GROUPS, "everything_else"]
    lines += ["| preset | batch | ms/step | " + " | ".join(groups) + " |", "|---" * (3 + len(groups)) + "|"]
    for r in results["profile"]:
        shares = " | ".join(f"{r['share'][g]:.0%}" for g in groups)
        lines.append(f"| {r['preset']} | {r['batch']} | {r['wall_ms_per_step']:.2f} | {shares} |")
    base = results["ensemble"][0]["env_steps_per_s"]
    lines += ["", "Dynamics heads (`small`, every head's prior computed each step for the disagreement):", ""]
    lines += ["| heads | design | batch | steps/s | x PyBullet | vs first row | MFLOP/step |", "|---" * 7 + "|"]
    for r in results["ensemble"]:
        lines.append(
            f"| {r['ensemble']} | {r['heads']} | {r['batch']} | {r['env_steps_per_s']:.0f} | "
            f"{r['x_pybullet_single']:.1f} | {r['env_steps_per_s'] / base:.2f} | {r['flops_per_env_step'] / 1e6:.2f} |"
        )
    if results["compile"]:
        lines += ["", "| torch.compile preset | batch | eager steps/s | compiled steps/s | speedup | compile s |"]
        lines.append("|---|---|---|---|---|---|")
        for r in results["compile"]:
            lines.append(
                f"| {r['preset']} | {r['batch']} | {r['eager_steps_per_s']:.0f} | {r['compiled_steps_per_s']:.0f} | "
                f"{r['speedup']:.2f} | {r['compile_seconds']:.0f} |"
            )
    lines += ["", "| training preset | updates/s | samples/s |", "|---|---|---|"]
    lines += [f"| {r['preset']} | {r['updates_per_s']:.2f} | {r['samples_per_s']:.0f} |" for r in results["training"]]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / name}.json and .md")


if __name__ == "__main__":
    main()
