"""Transfer table: a dream-trained policy on every rung of the evaluation ladder, and which gap hurts it most.

Usage::

    python benchmarks/transfer.py --task Hopper --checkpoint demo_hopper/world_model \\
        --policy demo_hopper/agent/policy_round1.zip --episodes 10

A checkpoint and policy come from ``dreamgym demo --task Hopper --out demo_hopper`` (or the same for
InvertedPendulum); training them takes tens of minutes, so this script evaluates given ones rather than training.

Writes ``benchmarks/results/transfer_<task>.json`` (every episode return, the ladder, the robustness curve, the
one-factor-at-a-time table, how it was run) and ``benchmarks/results/transfer_<task>/`` (the Markdown and HTML
report with its figures), then rebuilds ``benchmarks/results/transfer.md`` from every task's JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

from dreamgym.data import load_sb3_policy
from dreamgym.tasks import get_task
from dreamgym.transfer.gaps import GAP_PRESETS, GapConfig, parse_gap
from dreamgym.transfer.ladder import DreamRung, LadderResult, PyBulletRung, RobotRung, run_ladder
from dreamgym.transfer.report import ReportSection, write_report

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
    nominal = next(r for r in ladder.rungs if r.kind == "pybullet")
    rows = []
    for name, rung in factors.items():
        r = results[name]
        rows.append(
            {
                "factor": name,
                "gap": rung.gap.describe(),
                "return (mean ± std)": f"{r.mean:.1f} ± {r.std:.1f}",
                "ratio to nominal": r.mean / nominal.mean if nominal.mean > 0 else None,
            }
        )
    return rows


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
            f"Checkpoint `{run['checkpoint']}`, policy `{run['policy']}`, {ladder['episodes']} episodes per rung "
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
            ratio = to_nominal.get(r["name"])
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
        lines += ["", f"One factor of the {run['factor_preset']} gap at a time:", ""]
        lines += ["| factor | gap | return (mean ± std) | ratio to nominal |", "|---|---|---|---|"]
        for row in data["factors"]:
            ratio = "-" if row["ratio to nominal"] is None else f"{row['ratio to nominal']:.2f}"
            lines.append(f"| {row['factor']} | {row['gap']} | {row['return (mean ± std)']} | {ratio} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, help="dreamgym task the checkpoint and policy are for")
    parser.add_argument("--checkpoint", required=True, help="world-model checkpoint directory")
    parser.add_argument("--policy", required=True, help="SB3 policy (.zip) trained in that world model's dreams")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per rung and per curve point")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--gaps", nargs="+", default=["mild", "moderate", "harsh", "random"], help="gap rungs")
    parser.add_argument("--factor-preset", default="harsh", help="preset whose factors are tried one at a time")
    parser.add_argument("--robot", default=None, help="robot address (none here: the rung reports not connected)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args()

    spec = get_task(args.task)
    policy = load_sb3_policy(args.policy, deterministic=True)
    start = time.perf_counter()
    rungs = [
        DreamRung(args.checkpoint),
        PyBulletRung(None, "PyBullet nominal"),
        *(PyBulletRung(parse_gap(name), f"PyBullet + {name} gap") for name in args.gaps),
        RobotRung(args.robot),
    ]
    ladder = run_ladder(policy, spec, rungs, args.episodes, args.seed, progress=not args.no_progress)
    factors = {name: PyBulletRung(gap, f"{name} only") for name, gap in one_factor_gaps(args.factor_preset).items()}
    factor_results = {
        name: rung.run(policy, spec, args.episodes, args.seed, not args.no_progress) for name, rung in factors.items()
    }
    seconds = time.perf_counter() - start
    rows = factor_rows(ladder, factors, factor_results)
    print(ladder.table())
    for row in rows:
        print(f"{row['factor']:<10} {row['return (mean ± std)']:>18}  ratio {row['ratio to nominal']}")

    slug = spec.name.lower()
    section = ReportSection(
        f"One factor of the {args.factor_preset} gap at a time",
        "Each factor of the preset alone, the others nominal, same seeds: which difference costs the return.",
        rows,
        data={name: r.to_dict() for name, r in factor_results.items()},
    )
    write_report(RESULTS / f"transfer_{slug}", ladder, sections=[section], tensorboard=False)
    out = RESULTS / f"transfer_{slug}.json"
    run = {
        "checkpoint": str(args.checkpoint),
        "policy": str(args.policy),
        "factor_preset": args.factor_preset,
        "seconds": seconds,
        "machine": f"{platform.machine()} {platform.system()}, {platform.python_version()}",
    }
    out.write_text(
        json.dumps(
            {
                "run": run,
                "ladder": ladder.to_dict(),
                "factors": rows,
                "factor_results": section.data,
            },
            indent=1,
        )
    )
    summary = RESULTS / "transfer.md"
    summary.write_text(markdown_summary(sorted(RESULTS.glob("transfer_*.json"))))
    print(f"wrote {out}, {summary} and the report in {RESULTS / f'transfer_{slug}'} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
