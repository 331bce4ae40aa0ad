"""Transfer table: a dream-trained policy up the evaluation ladder, how faithful its world model is, and which gap
hurts it most.

Usage (from the directory holding the ``dreamgym demo`` outputs, so the recorded paths are relative)::

    cd /path/to/demos && python /path/to/benchmarks/transfer.py --task Hopper --checkpoint hopper_dyna/world_model \\
        --policy hopper_dyna/agent/policy_round1.zip --episodes 10

A checkpoint and policy come from ``dreamgym demo --task Hopper --out hopper_dyna`` (or the same for
InvertedPendulum); training them takes tens of minutes, so this script evaluates given ones rather than training.

The ladder, random baseline, fidelity, physics audit and side-by-side video come from
:func:`dreamgym.transfer.evaluate.evaluate_transfer`, exactly as ``dreamgym evaluate`` runs them; what is
benchmark-specific is the one-factor-at-a-time table. Writes ``benchmarks/results/transfer_<task>.json`` (every
number, how it was run) and ``benchmarks/results/transfer_<task>/`` (the one Markdown/HTML report with figures
and the video), then rebuilds ``benchmarks/results/transfer.md`` from every task's JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

from dreamgym.data import load_policy
from dreamgym.tasks import get_task
from dreamgym.transfer.evaluate import TransferConfig, evaluate_transfer
from dreamgym.transfer.gaps import GAP_PRESETS, GapConfig
from dreamgym.transfer.ladder import LadderResult, PyBulletRung
from dreamgym.transfer.report import ReportSection

RESULTS = Path(__file__).resolve().parent / "results"


def one_factor_gaps(preset: str) -> dict[str, GapConfig]:
    """The preset's gap split into its factors, each alone, so the table says which one costs the return."""
    full = GAP_PRESETS[preset]
    nominal = GapConfig()
    return {
        f.name: dataclasses.replace(nominal, **{f.name: getattr(full, f.name)})
        for f in dataclasses.fields(GapConfig)
        if getattr(full, f.name) != getattr(nominal, f.name)
    }


def factor_rows(ladder: LadderResult, factors: dict[str, PyBulletRung], results: dict) -> list[dict]:
    rows = []
    for name, rung in factors.items():
        r = results[name]
        rows.append(
            {
                "factor": name,
                "gap": rung.gap.describe(),
                # A factor the task's simulator cannot take (PyBullet physics on a user's env) says so instead.
                "return (mean ± std)": f"{r.mean:.1f} ± {r.std:.1f}" if r.ok else f"{r.status}: {r.detail}",
                "ratio to nominal": ladder.ratio_to_nominal(r),
            }
        )
    return rows


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def markdown_summary(paths: list[Path]) -> str:
    lines = [
        "# Transfer: dream-trained policies up the evaluation ladder",
        "",
        "Produced by `python benchmarks/transfer.py`; one section per task, from `transfer_<task>.json`.",
        "",
    ]
    for path in paths:
        data = json.loads(path.read_text())
        ladder, run = data["ladder"], data["run"]
        lines += [
            f"## {ladder['task']}",
            "",
            f"Checkpoint `{run['checkpoint']}`, policy `{run['policy']}` ({run.get('paths', 'as given')}), "
            f"{ladder['episodes']} episodes per rung "
            f"(seeds {ladder['seed']}..{ladder['seed'] + ladder['episodes'] - 1}), {run['seconds']:.0f} s on "
            f"{run['machine']}.",
            "",
            "| rung | return (mean ± std) | success | ratio to nominal | detail |",
            "|---|---|---|---|---|",
        ]
        to_nominal = {row["to"]: row["ratio_to_nominal"] for row in ladder["ratios"]}
        for r in ladder["rungs"]:
            value = f"{r['mean']:.1f} ± {r['std']:.1f}" if r["status"] == "ok" else r["status"]
            success = f"{100 * r['success_rate']:.0f}%" if r["success_rate"] is not None else "-"
            # Ladders written since the dream rung got its ratio store it per rung; older ones only per step.
            ratio = r["ratio_to_nominal"] if "ratio_to_nominal" in r else to_nominal.get(r["name"])
            lines.append(
                f"| {r['name']} | {value} | {success} | {'-' if ratio is None else f'{ratio:.2f}'} | {r['detail']} |"
            )
        curve = ladder["robustness"]
        if curve:
            points = " | ".join(f"{m:.1f} ± {d:.1f}" for m, d in zip(curve["mean"], curve["std"], strict=True))
            lines += [
                "",
                "Robustness curve (return at each strength of the harsh gap):",
                "",
                "| strength | " + " | ".join(f"{s:g}" for s in curve["strengths"]) + " |",
                "|---|" + "---|" * len(curve["strengths"]),
                f"| return | {points} |",
            ]
        baseline = data.get("baseline")
        if baseline:
            lines += [
                "",
                f"Random policy on nominal PyBullet, same seeds: {baseline['mean']:.1f} ± {baseline['std']:.1f}.",
            ]
        fidelity = data.get("fidelity")
        if fidelity:
            errors = data["fidelity_errors"]
            shown = ", ".join(f"{h} step{'s' * (h != '1')} ahead {_num(e)}" for h, e in errors.items())
            rewards = {str(h): fidelity["reward_rmse"][int(h) - 1] for h in errors}
            lines += [
                "",
                f"World-model fidelity on {len(fidelity['real_returns'])} held-out PyBullet episodes (open-loop "
                f"observation RMSE / training-data std): {shown}; reward RMSE "
                + ", ".join(f"{_num(r)} at {h}" for h, r in rewards.items())
                + f". Same policy from the same start: dream {fidelity['dream_return_mean']:.1f}, PyBullet "
                f"{fidelity['real_return_mean']:.1f}.",
            ]
        rates = data.get("audit_rates")
        if rates:
            audit = data["audit"]
            step_rate = audit["dream"]["step_rate"]
            worst = max((c for c in audit["checks"] if c != "any" and step_rate[c] is not None), key=step_rate.get)
            lines += [
                "",
                f"Physics audit: **{_num(rates['dream_step_rate'])}** of dreamed steps break a physical fact "
                f"({_num(rates['dream_trajectory_rate'])} of {audit['dream']['trajectories']} dreams, "
                f"{audit['horizon']} steps each), against {_num(rates['pybullet_step_rate'])} of PyBullet control "
                f"steps; most often `{worst}` ({_num(step_rate[worst])} of steps).",
            ]
        if data.get("video"):
            video = data["video"]
            lines += ["", f"Side-by-side video: [`{video['path']}`]({video['path']}) ({video['frames']} frames)."]
        lines += ["", f"One factor of the {run['factor_preset']} gap at a time:", ""]
        lines += ["| factor | gap | return (mean ± std) | ratio to nominal |", "|---|---|---|---|"]
        for row in data["factors"]:
            ratio = "-" if row["ratio to nominal"] is None else f"{row['ratio to nominal']:.2f}"
            lines.append(f"| {row['factor']} | {row['gap']} | {row['return (mean ± std)']} | {ratio} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--task", required=True, help="dreamgym task the checkpoint and policy are for (a name or module:ATTRIBUTE)"
    )
    parser.add_argument("--checkpoint", required=True, help="world-model checkpoint directory")
    parser.add_argument("--policy", required=True, help="SB3 policy (.zip) trained in that world model's dreams")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per rung and per curve point")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--gaps", nargs="+", default=["mild", "moderate", "harsh", "random"], help="gap rungs")
    parser.add_argument(  # checked here: the factors are tried only after the whole evaluation ran
        "--factor-preset",
        default="harsh",
        choices=sorted(GAP_PRESETS),
        help="preset whose factors are tried one at a time",
    )
    parser.add_argument("--robot", default=None, help="robot address (none here: the rung reports not connected)")
    parser.add_argument("--video-steps", type=int, default=200, help="most steps in the side-by-side video")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args()

    spec = get_task(args.task)
    slug = spec.name.lower()
    config = TransferConfig(
        episodes=args.episodes, seed=args.seed, gaps=tuple(args.gaps), robot=args.robot, video_steps=args.video_steps
    )
    start = time.perf_counter()
    report = evaluate_transfer(args.checkpoint, args.policy, config, progress=not args.no_progress, task=spec.name)
    policy = load_policy(args.policy, deterministic=True)
    factors = {name: PyBulletRung(gap, f"{name} only") for name, gap in one_factor_gaps(args.factor_preset).items()}
    factor_results = {
        name: rung.run(policy, spec, args.episodes, args.seed, not args.no_progress) for name, rung in factors.items()
    }
    seconds = time.perf_counter() - start
    rows = factor_rows(report.ladder, factors, factor_results)
    section = ReportSection(
        f"One factor of the {args.factor_preset} gap at a time",
        "Each factor of the preset alone, the others nominal, same seeds: which difference costs the return.",
        rows,
        data={name: r.to_dict() for name, r in factor_results.items()},
    )
    report.write(RESULTS / f"transfer_{slug}", extra_sections=[section], tensorboard=False)
    print(report.ladder.table(baselines=[report.baseline] if report.baseline else []))
    for row in rows:
        print(f"{row['factor']:<10} {row['return (mean ± std)']:>18}  ratio {row['ratio to nominal']}")
    for line in report.summary_lines():
        print(line)

    relative = not (Path(args.checkpoint).is_absolute() or Path(args.policy).is_absolute())
    run = {
        "checkpoint": str(args.checkpoint),
        "policy": str(args.policy),
        "paths": "relative to the directory holding the `dreamgym demo` outputs" if relative else "absolute",
        "factor_preset": args.factor_preset,
        "seconds": seconds,
        "machine": f"{platform.machine()} {platform.system()}, {platform.python_version()}",
    }
    result = report.to_dict()
    result["video"] = {**result["video"], "path": f"transfer_{slug}/{report.video.path.name}"} if report.video else None
    out = RESULTS / f"transfer_{slug}.json"
    out.write_text(json.dumps({"run": run, **result, "factors": rows, "factor_results": section.data}, indent=1))
    summary = RESULTS / "transfer.md"
    summary.write_text(markdown_summary(sorted(RESULTS.glob("transfer_*.json"))))
    print(f"wrote {out}, {summary} and the report in {RESULTS / f'transfer_{slug}'} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
