"""Cards side by side: a shipped card against a measurement made now (``dreamgym zoo eval``) or a rebuild."""

from __future__ import annotations

from typing import Any

__all__ = ["README_HEADER", "card_figures", "compare_cards", "comparison_table", "readme_row", "summary_row"]


def card_figures(card: dict[str, Any]) -> dict[str, float | None]:
    """The card's headline figures by name, in a fixed order."""
    figures: dict[str, float | None] = {
        f"open-loop error, {h} steps": e for h, e in card["open_loop_error"]["obs"].items()
    }
    for where in ("dream", "pybullet"):
        result = card["policy"][where]
        figures[f"policy return, {where}"] = result["mean"]
        if result.get("success_rate") is not None:
            figures[f"policy success, {where}"] = result["success_rate"]
    figures["audit: dream steps breaking a fact"] = card["audit"]["dream_step_rate"]
    figures["audit: PyBullet steps breaking a fact"] = card["audit"]["pybullet_step_rate"]
    return figures


def compare_cards(shipped: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """(figure, shipped value, new value) for every headline figure either card has."""
    old, now = card_figures(shipped), card_figures(new)
    return [(name, old.get(name), now.get(name)) for name in dict.fromkeys([*old, *now])]


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def comparison_table(rows: list[tuple[str, float | None, float | None]], labels: tuple[str, str]) -> str:
    """A Markdown table of :func:`compare_cards`' rows, with the two columns named by ``labels``."""
    lines = [f"| figure | {labels[0]} | {labels[1]} |", "|---|---|---|"]
    lines += [f"| {name} | {_num(a)} | {_num(b)} |" for name, a, b in rows]
    return "\n".join(lines)


def summary_row(card: dict[str, Any]) -> str:
    """One line of ``dreamgym zoo list``: the task, its model and the reference policy's returns."""
    wm, policy = card["world_model"], card["policy"]
    h1 = card["open_loop_error"]["obs"].get("1")
    success = policy["pybullet"].get("success_rate") if policy.get("goal_task") else None
    real = f"{policy['pybullet']['mean']:.1f}" + (f" ({100 * success:.0f} % success)" if success is not None else "")
    return (
        f"{card['task']:<24} {wm['preset']:<7} {wm['updates']:>7} {_num(h1):>8} {policy['algorithm']:>5} "
        f"{policy['dream']['mean']:>9.1f}  {real}"
    )


README_HEADER = (
    "| task | world model | real steps | open-loop error 1 / 25 / 100 steps | policy | dream return | PyBullet return "
    "| random actions in PyBullet |"
)


def readme_row(card: dict[str, Any]) -> str:
    """The README's row of a bundled model, formatted from its card (a test checks the README against it)."""
    wm, policy, errors = card["world_model"], card["policy"], card["open_loop_error"]["obs"]

    def ret(result: dict[str, Any]) -> str:
        success = result.get("success_rate") if card["policy"].get("goal_task") else None
        text = f"{result['mean']:.1f} ± {result['std']:.1f}"
        return text + (f" ({100 * success:.0f} % success)" if success is not None else "")

    error = " / ".join("n/a" if errors.get(h) is None else f"{errors[h]:.2f}" for h in ("1", "25", "100"))
    return (
        f"| {card['task']} | {wm['preset']}, {wm['updates']} updates | {card['data']['steps']:,} | {error} | "
        f"{policy['algorithm']} | {ret(policy['dream'])} | {ret(policy['pybullet'])} | "
        f"{ret(policy['random_pybullet'])} |"
    )
