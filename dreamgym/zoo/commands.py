"""What ``dreamgym zoo list | info TASK | eval TASK`` print; the command line only prints these strings."""

from __future__ import annotations

from dreamgym.zoo.card import CardConfig, measure_card, open_loop_at
from dreamgym.zoo.catalog import CARD_MARKDOWN, bundle_dir, bundled_tasks, load_bundle, read_card
from dreamgym.zoo.compare import compare_cards, comparison_table, summary_row

__all__ = ["zoo_eval", "zoo_info", "zoo_list"]


def zoo_list() -> str:
    """One line per bundled model: preset, updates, open-loop error one step ahead, the policy's returns."""
    header = f"{'task':<24} {'preset':<7} {'updates':>7} {'error@1':>8} {'algo':>5} {'dream ret':>9}  PyBullet return"
    rows = [summary_row(read_card(bundle_dir(task))) for task in bundled_tasks()]
    hint = "dreamgym zoo info TASK shows a model card; dreamgym zoo eval TASK checks it."
    return "\n".join([header, *rows, "", hint])


def zoo_info(task: str) -> str:
    """The model card of ``task`` as Markdown, with where its files are."""
    directory = bundle_dir(task)
    return f"{(directory / CARD_MARKDOWN).read_text()}\nFiles: {directory}"


def zoo_eval(task: str, quick: bool = False, progress: bool = True) -> str:
    """Loads ``task``'s bundle with every check and measures its card again, next to the shipped one.

    ``quick`` measures only the open-loop error on the shipped evaluation set (seconds); otherwise the policy's
    returns and the physics audit are run again too (minutes), with the card's own settings.
    """
    bundle = load_bundle(task)
    config = CardConfig.from_dict(bundle.card["measurement"]["config"])
    if quick:
        now = {**bundle.card, "open_loop_error": open_loop_at(bundle.checkpoint, bundle.eval_set, config)}
        rows = [row for row in compare_cards(bundle.card, now) if row[0].startswith("open-loop")]
    else:
        now = measure_card(bundle.directory, config, record_eval_set=False, progress=progress)
        rows = compare_cards(bundle.card, now)
    checked = f"{task}: world model, policy and evaluation set match their checksums and the task's spaces."
    return f"{checked}\n\n{comparison_table(rows, ('card', 'now'))}"
