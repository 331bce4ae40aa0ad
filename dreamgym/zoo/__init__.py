"""The model zoo: bundled world models, reference policies trained only in their dreams, and measured model cards.

``dreamgym zoo list | info TASK | eval TASK`` on the command line; :func:`load_bundle` and :func:`policy_path`
from code.
"""

from dreamgym.zoo.card import CardConfig, failure_modes, measure_card, open_loop_at, render_card, write_card
from dreamgym.zoo.catalog import (
    Bundle,
    bundle_dir,
    bundled_tasks,
    load_bundle,
    load_eval_set,
    policy_path,
    read_card,
    save_eval_set,
)
from dreamgym.zoo.compare import README_HEADER, card_figures, compare_cards, comparison_table, readme_row, summary_row

__all__ = [
    "README_HEADER",
    "Bundle",
    "CardConfig",
    "bundle_dir",
    "bundled_tasks",
    "card_figures",
    "compare_cards",
    "comparison_table",
    "failure_modes",
    "load_bundle",
    "load_eval_set",
    "measure_card",
    "open_loop_at",
    "policy_path",
    "read_card",
    "readme_row",
    "render_card",
    "save_eval_set",
    "summary_row",
    "write_card",
]
