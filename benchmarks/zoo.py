"""Builds a bundled model and its reference policy from scratch with its recorded recipe, and compares the new
card with the shipped one.

Usage::

    python benchmarks/zoo.py --task Walker2D --work runs/zoo            # rebuild, measure, compare
    python benchmarks/zoo.py --task Walker2D --work runs/zoo --ship     # ... and replace the bundled files
    python benchmarks/zoo.py --task Walker2D --work runs/zoo --reexport # today's export of the shipped weights

For each task:

1. The recipe: the one recorded in the shipped card (``build.recipe``); with ``--ship``, or for a task without a
   card yet, the one in ``agents.zoo.RECIPES``. A ``"policy"`` recipe keeps the bundled world model (it was built
   outside the zoo) and trains only the reference policy again.
2. :func:`agents.zoo.build` under ``--work/<task>`` (collection, world model, agent; a killed run resumes).
3. The card of the new bundle, measured with the shipped card's settings (:func:`dreamgym.zoo.measure_card`).
4. The comparison, figure by figure, in ``benchmarks/results/zoo_<task>.md`` (and ``.json``), where a shipped card
   exists. The same seed on the same thread count repeats the data; a world model trained on another thread count
   or CPU differs in float rounding, which training amplifies, so compare the figures, not the bytes.

With ``--reexport`` nothing is trained: the shipped world model is exported again as today's recipes store it
(float16 weights, inference latents drawn from the network's own categoricals), beside the same reference policy
and evaluation set, and its card measured with the shipped card's settings and compared in
``benchmarks/results/zoo_<task>_reexport.md``: what the export alone changes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def rebuild(task: str, work: Path, ship: bool, progress: bool) -> dict:
    from agents.zoo import RECIPES, ZooRecipe, build
    from dreamgym.envs.loading import BUNDLED_CHECKPOINTS
    from dreamgym.tasks import get_task
    from dreamgym.zoo import CardConfig, measure_card, read_card, write_card

    shipped_dir = BUNDLED_CHECKPOINTS / task
    shipped = read_card(shipped_dir) if (shipped_dir / "card.json").exists() else None
    recorded = (shipped or {}).get("build") or {}
    # A rebuild repeats what was shipped; shipping builds what the code's recipe says now.
    recipe = ZooRecipe(**recorded["recipe"]) if recorded.get("recipe") and not ship else RECIPES[task]
    stored = (shipped or {}).get("measurement", {}).get("config")
    # A goal task's reference policy ends its episodes at the goal within a few steps, too soon for an open-loop
    # prediction: its evaluation set is random actions, which run the whole episode. Its audit's bounds need more
    # of those short episodes where a camera model ships only a few start windows.
    spec = get_task(task)
    goal_task = spec.goal is not None
    bounds_episodes = 50 if goal_task and spec.image_shape is not None else 5
    new = CardConfig(eval_policy="random" if goal_task else "reference", bounds_episodes=bounds_episodes)
    config = CardConfig.from_dict(stored) if stored else new
    started = time.perf_counter()
    result = build(recipe, work / task, progress=progress)
    card = measure_card(result.checkpoint, config, build=result.info, progress=progress)
    write_card(result.checkpoint, card)
    print(
        f"{task}: built and measured in {(time.perf_counter() - started) / 60:.1f} min; bundle in {result.checkpoint}"
    )
    _compare_and_ship(
        task, shipped, card, result.checkpoint, "rebuilt", f"Recipe: `{json.dumps(recipe.to_dict())}`", ship
    )
    return card


# What a re-export changes: how the weights are stored and how inference latents are drawn.
REEXPORT = {"weights_dtype": "float16", "inference_unimix": False}


def reexport(task: str, work: Path, ship: bool, progress: bool) -> dict:
    """Today's export of the shipped weights, its card measured on the shipped evaluation set."""
    from dreamgym.envs.loading import BUNDLED_CHECKPOINTS
    from dreamgym.world_model import export_checkpoint
    from dreamgym.zoo import CardConfig, measure_card, read_card, write_card

    shipped_dir = BUNDLED_CHECKPOINTS / task
    shipped = read_card(shipped_dir)
    started = time.perf_counter()
    bundle = work / task / "reexport"
    export_checkpoint(shipped_dir, bundle, **REEXPORT)
    for name in ("policy.zip", "eval.safetensors"):
        shutil.copyfile(shipped_dir / name, bundle / name)
    build = dict(shipped["build"] or {})
    # A rebuild from the card's recipe stores its weights as this export does (and trains with today's sampling).
    build["recipe"] = build.get("recipe", {}) | {"weights_dtype": REEXPORT["weights_dtype"]}
    build["reexport"] = REEXPORT | {"model_sha256": shipped["files"]["model.safetensors"]}
    config = CardConfig.from_dict(shipped["measurement"]["config"])
    card = measure_card(bundle, config, build=build, record_eval_set=False, progress=progress)
    write_card(bundle, card)
    print(f"{task}: exported and measured in {(time.perf_counter() - started) / 60:.1f} min; bundle in {bundle}")
    what = f"Export: `{json.dumps(REEXPORT)}` of the shipped weights; the same policy and evaluation set."
    _compare_and_ship(task, shipped, card, bundle, "re-exported", what, ship, suffix="_reexport")
    return card


def _compare_and_ship(
    task: str, shipped: dict | None, card: dict, bundle: Path, label: str, what: str, ship: bool, suffix: str = ""
) -> None:
    """Writes the comparison with the shipped card to ``zoo_<task><suffix>.md`` and ``.json``; with ``ship``,
    replaces the bundled files with ``bundle``'s."""
    from dreamgym.envs.loading import BUNDLED_CHECKPOINTS
    from dreamgym.zoo import compare_cards, comparison_table

    command = "python benchmarks/zoo.py " + " ".join(sys.argv[1:])
    if shipped is not None:
        table = comparison_table(compare_cards(shipped, card), ("shipped card", label))
        text = f"# Zoo {label}: {task}\n\nCommand: `{command}`\n\n{what}\n\n{table}\n"
        (RESULTS / f"zoo_{task}{suffix}.md").write_text(text)
        record = {"command": command, "shipped": shipped, label.replace("-", "_"): card}
        (RESULTS / f"zoo_{task}{suffix}.json").write_text(json.dumps(record))
        print(table)
    if ship:
        shipped_dir = BUNDLED_CHECKPOINTS / task
        shipped_dir.mkdir(parents=True, exist_ok=True)
        for stale in shipped_dir.iterdir():
            stale.unlink()
        for path in bundle.iterdir():
            shutil.copyfile(path, shipped_dir / path.name)
        print(f"shipped to {shipped_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", required=True, help="tasks to rebuild")
    parser.add_argument("--work", default="runs/zoo", help="working directory (resumes what is there)")
    parser.add_argument("--ship", action="store_true", help="replace the bundled files with the rebuilt ones")
    parser.add_argument("--reexport", action="store_true", help="export the shipped weights anew, train nothing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    for task in args.task:
        (reexport if args.reexport else rebuild)(task, Path(args.work), args.ship, args.progress)


if __name__ == "__main__":
    main()
