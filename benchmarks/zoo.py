"""Builds a bundled model and its reference policy from scratch with its recorded recipe, and compares the new
card with the shipped one.

Usage::

    python benchmarks/zoo.py --task Walker2D --work runs/zoo            # rebuild, measure, compare
    python benchmarks/zoo.py --task Walker2D --work runs/zoo --ship     # ... and replace the bundled files

For each task:

1. The recipe: the one recorded in the shipped card (``build.recipe``); with ``--ship``, or for a task without a
   card yet, the one in ``agents.zoo.RECIPES``. A ``"policy"`` recipe keeps the bundled world model (it was built
   outside the zoo) and trains only the reference policy again.
2. :func:`agents.zoo.build` under ``--work/<task>`` (collection, world model, agent; a killed run resumes).
3. The card of the new bundle, measured with the shipped card's settings (:func:`dreamgym.zoo.measure_card`).
4. The comparison, figure by figure, in ``benchmarks/results/zoo_<task>.md`` (and ``.json``), where a shipped card
   exists. The same seed on the same thread count repeats the data; a world model trained on another thread count
   or CPU differs in float rounding, which training amplifies, so compare the figures, not the bytes.
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
    from dreamgym.zoo import CardConfig, compare_cards, comparison_table, measure_card, read_card, write_card

    shipped_dir = BUNDLED_CHECKPOINTS / task
    shipped = read_card(shipped_dir) if (shipped_dir / "card.json").exists() else None
    recorded = (shipped or {}).get("build") or {}
    # A rebuild repeats what was shipped; shipping builds what the code's recipe says now.
    recipe = ZooRecipe(**recorded["recipe"]) if recorded.get("recipe") and not ship else RECIPES[task]
    stored = (shipped or {}).get("measurement", {}).get("config")
    # A goal task's reference policy ends its episodes at the goal within a few steps, too soon for an open-loop
    # prediction: its evaluation set is random actions, which run the whole episode.
    goal_task = get_task(task).goal is not None
    config = CardConfig.from_dict(stored) if stored else CardConfig(eval_policy="random" if goal_task else "reference")
    started = time.perf_counter()
    result = build(recipe, work / task, progress=progress)
    card = measure_card(result.checkpoint, config, build=result.info, progress=progress)
    write_card(result.checkpoint, card)
    command = "python benchmarks/zoo.py " + " ".join(sys.argv[1:])
    minutes = (time.perf_counter() - started) / 60
    print(f"{task}: built and measured in {minutes:.1f} min; bundle in {result.checkpoint}")
    if shipped is not None:
        rows = compare_cards(shipped, card)
        table = comparison_table(rows, ("shipped card", "rebuilt"))
        text = f"# Zoo rebuild: {task}\n\nCommand: `{command}`\n\nRecipe: `{json.dumps(recipe.to_dict())}`\n\n{table}\n"
        (RESULTS / f"zoo_{task}.md").write_text(text)
        (RESULTS / f"zoo_{task}.json").write_text(json.dumps({"command": command, "shipped": shipped, "rebuilt": card}))
        print(table)
    if ship:
        shipped_dir.mkdir(parents=True, exist_ok=True)
        for stale in shipped_dir.iterdir():
            stale.unlink()
        for path in result.checkpoint.iterdir():
            shutil.copyfile(path, shipped_dir / path.name)
        print(f"shipped to {shipped_dir}")
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", required=True, help="tasks to rebuild")
    parser.add_argument("--work", default="runs/zoo", help="working directory (resumes what is there)")
    parser.add_argument("--ship", action="store_true", help="replace the bundled files with the rebuilt ones")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    for task in args.task:
        rebuild(task, Path(args.work), args.ship, args.progress)


if __name__ == "__main__":
    main()
