"""Robot bridge on loopback: request round-trip latency, and the highest control rate the robot holds.

Usage::

    python benchmarks/robot_bridge.py [--task HalfCheetah] [--rates 50 100 200 500 1000 2000] [--ticks 1000] \
        [--modes normal realtime]

Writes ``benchmarks/results/robot_bridge.{json,md}``. The robot is ``dreamgym robot-server`` in a process of its
own (as a robot's controller would be), the client a ``dreamgym/<Task>-robot-v0`` env in this one, both on this
machine's loopback interface; nothing is emulated (no added latency or loss).

What is measured, and why:

1. Round trip of a ``status`` request: client -> robot's connection thread -> robot's control thread -> reply,
   through the authenticated channel (MAC and sequence checks both ways). It is the floor of any request.
2. For each control rate: an episode loop of a policy that costs nothing (a constant zero action), so the
   figures are the bridge's and the simulator's, not a network's. The robot ticks at the rate whatever happens;
   a tick without a fresh command is a watchdog stop. Per rate: the share of ticks the watchdog had to stop,
   overruns of the period, and the latency from the robot applying a tick's command (its timestamp) to the
   client holding the resulting observation (one monotonic clock: same machine). A rate is *held* when at least
   99 % of its ticks applied a fresh command and the robot overran at most 1 % of its periods.

Each is measured twice: at normal scheduling priority, where on a shared machine every other process competes with
the robot and the policy, and at real-time priority (``SCHED_FIFO`` 10 for the robot's process and this one, which
needs root), as a robot's controller would run. The control loop sleeps between ticks, so the priority shortens
its wake-ups rather than taking CPU time from others.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HELD_FRESH, HELD_OVERRUNS = 0.99, 0.01


def start_server(task: str, period: float, token_file: Path, seed: int) -> tuple[subprocess.Popen, str]:
    """``dreamgym robot-server`` on a free port; the process and the address it printed."""
    command = [sys.executable, "-m", "dreamgym.cli", "robot-server", "--task", task, "--port", "0"]
    command += ["--period", str(period), "--token-file", str(token_file), "--seed", str(seed)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    line = server.stdout.readline()
    if " at tcp://" not in line:
        server.kill()
        raise RuntimeError(f"the robot server did not start: {line!r}")
    return server, line.split(" at ")[1].split(": period")[0]


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and the maximum, in milliseconds."""
    array = 1e3 * np.asarray(values)
    return {f"p{q}": float(np.percentile(array, q)) for q in (50, 90, 99)} | {"max": float(array.max())}


def request_round_trips(env: Any, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        env.unwrapped.status()
        times.append(time.perf_counter() - start)
    return times


def control_run(env: Any, ticks: int, seed: int) -> dict[str, Any]:
    """Episodes of a zero-action policy until the robot has ticked ``ticks`` times in episodes."""
    robot = env.unwrapped
    zero = np.zeros(robot.action_space.shape, np.float32)
    before = robot.status()["counts"]
    latencies, done_ticks, episode = [], 0, 0
    while done_ticks < ticks:
        env.reset(seed=seed + episode)
        finished = False
        while not finished:
            _, _, terminated, truncated, info = env.step(zero)
            latencies.append(time.monotonic() - info["robot_time"])
            done_ticks += info["ticks"]
            finished = terminated or truncated or done_ticks >= ticks
        episode += 1
    after = robot.status()["counts"]
    counts = {name: after[name] - before[name] for name in ("ticks", "commands", "watchdog_stops", "overruns")}
    fresh = 1.0 - counts["watchdog_stops"] / max(counts["ticks"], 1)
    overrun = counts["overruns"] / max(counts["ticks"] + counts["overruns"], 1)
    return {
        **counts,
        "episodes": episode,
        "fresh_command_share": fresh,
        "overrun_share": overrun,
        "held": fresh >= HELD_FRESH and overrun <= HELD_OVERRUNS,
        "tick_to_observation_ms": percentiles(latencies),
    }


def set_priority(mode: str) -> None:
    """Normal or real-time (``SCHED_FIFO``) scheduling for this process and the robot servers it starts next."""
    if mode == "realtime":
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    else:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def write_results(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    from dreamgym.atomic import write_json_atomic

    write_json_atomic(RESULTS / "robot_bridge.json", results)
    lines = [
        f"# Robot bridge on loopback ({results['task']}, {results['cpus']} CPUs)",
        "",
        f"Command: `{results['command']}` ({results['date']}, load average {results['load_before']:.1f} before and "
        f"{results['load_after']:.1f} after, on a machine shared with other work).",
        "",
        "Robot: `dreamgym robot-server` in its own process; client: `dreamgym/<Task>-robot-v0` in another; protocol "
        f"{results['protocol']} (msgpack frames, HMAC-SHA256 on every message), no emulated latency or loss. "
        "`normal`: default scheduling; `realtime`: SCHED_FIFO priority 10 for both processes, as a robot's "
        "controller would run.",
        "",
        f"## Request round trip (`status`, {results['rtt_samples']} requests)",
        "",
        "| scheduling | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for mode, rtt in results["request_round_trip_ms"].items():
        lines.append(
            f"| {mode} | {rtt['p50']:.3f} ms | {rtt['p90']:.3f} ms | {rtt['p99']:.3f} ms | {rtt['max']:.2f} ms |"
        )
    lines += [
        "",
        f"## Control rates ({results['ticks']} ticks each, zero-action policy)",
        "",
        "A rate is held when at least 99 % of ticks applied a fresh command (the rest were watchdog stops) and at "
        "most 1 % of periods overran. Latency: from the robot applying a tick's command to the client holding "
        "that tick's observation (the simulator's step included).",
        "",
        "| scheduling | rate | period | fresh commands | watchdog stops | overruns | tick -> observation p50 / p90 / "
        "p99 | held |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rates"]:
        latency = row["tick_to_observation_ms"]
        lines.append(
            f"| {row['mode']} | {row['rate_hz']:g} Hz | {1e3 / row['rate_hz']:g} ms | "
            f"{100 * row['fresh_command_share']:.2f} % | {row['watchdog_stops']} | {row['overruns']} | "
            f"{latency['p50']:.2f} / {latency['p90']:.2f} / {latency['p99']:.2f} ms | "
            f"{'yes' if row['held'] else 'no'} |"
        )
    lines.append("")
    for mode, held in results["highest_rate_held_hz"].items():
        lines.append(
            f"Highest control rate held, {mode} scheduling: **{held:g} Hz**." if held else f"{mode}: none held."
        )
    lines.append("")
    (RESULTS / "robot_bridge.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="HalfCheetah", help="a task whose episodes run their full length")
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 100, 200, 500, 1000, 2000])
    parser.add_argument("--ticks", type=int, default=1000, help="robot ticks measured per rate")
    parser.add_argument("--rtt-samples", type=int, default=2000)
    parser.add_argument("--modes", nargs="+", default=["normal", "realtime"], choices=["normal", "realtime"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import gymnasium as gym

    import dreamgym  # noqa: F401  (registers the robot envs)
    from dreamgym.robots.protocol import PROTOCOL_VERSION

    results: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/robot_bridge.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "task": args.task,
        "cpus": os.cpu_count(),
        "protocol": PROTOCOL_VERSION,
        "ticks": args.ticks,
        "rtt_samples": args.rtt_samples,
        "load_before": os.getloadavg()[0],
        "rates": [],
    }
    results["request_round_trip_ms"], results["highest_rate_held_hz"] = {}, {}
    with tempfile.TemporaryDirectory() as directory:
        token_file = Path(directory) / "robot.token"
        token_file.touch(mode=0o600)
        token_file.write_text(secrets.token_hex(32))
        for mode in args.modes:
            set_priority(mode)
            for index, rate in enumerate(args.rates):
                server, address = start_server(args.task, 1.0 / rate, token_file, args.seed)
                try:
                    env = gym.make(f"dreamgym/{args.task}-robot-v0", address=address, token_file=token_file)
                    if index == 0:
                        results["request_round_trip_ms"][mode] = percentiles(request_round_trips(env, args.rtt_samples))
                        print(f"{mode}: status round trip {results['request_round_trip_ms'][mode]}", flush=True)
                    row = {"mode": mode, "rate_hz": rate, **control_run(env, args.ticks, args.seed)}
                    env.close()
                finally:
                    stop_server(server)
                results["rates"].append(row)
                print(
                    f"{mode} {rate:g} Hz: fresh {100 * row['fresh_command_share']:.2f} %, overruns {row['overruns']}, "
                    f"latency {row['tick_to_observation_ms']}",
                    flush=True,
                )
            held = [row["rate_hz"] for row in results["rates"] if row["held"] and row["mode"] == mode]
            results["highest_rate_held_hz"][mode] = max(held) if held else None
        set_priority("normal")
    results["load_after"] = os.getloadavg()[0]
    write_results(results)
    print(f"highest rates held: {results['highest_rate_held_hz']} Hz; results in {RESULTS / 'robot_bridge.md'}")


if __name__ == "__main__":
    main()
