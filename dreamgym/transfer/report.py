"""Reports of a transfer evaluation: Markdown, self-contained HTML, PNG figures, their data as JSON, TensorBoard.

The ladder's tables and figures come first; any further result (world-model fidelity, a physics audit, a video
still) joins as a :class:`ReportSection` of title, text, table rows, figure files, JSON data and scalars, so a
new analysis needs no change here.

Example:
    >>> files = write_report("report", ladder_result)  # doctest: +SKIP
    >>> files.html  # one file, images embedded, opens anywhere  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dreamgym.atomic import atomic_directory
from dreamgym.transfer.ladder import LadderResult

__all__ = ["EMBED_LIMIT", "PARTIAL_DIR", "ReportFiles", "ReportSection", "check_report_directory", "write_report"]


@dataclass
class ReportSection:
    """A generic block of a report.

    Attributes:
        title: heading.
        text: paragraph(s) of plain text (Markdown passes it through; HTML escapes it).
        table: rows as dicts sharing their keys; the first row's keys are the columns.
        figures: image files (PNG) to include; they are copied into the report directory.
        data: JSON-serialisable data behind the section's figures, stored in ``figures.json`` under the title.
        scalars: TensorBoard scalars, tag -> [(step, value), ...].
        media: video or animation files (``.webm``, ``.mp4``, ``.gif``), copied into the report directory,
            linked from the Markdown and shown in the HTML (a gif or a file under :data:`EMBED_LIMIT` bytes is
            embedded, so the page stays self-contained; a larger one plays from the file next to the page).
    """

    title: str
    text: str = ""
    table: list[dict[str, Any]] = field(default_factory=list)
    figures: list[str | Path] = field(default_factory=list)
    data: dict[str, Any] | None = None
    scalars: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    media: list[str | Path] = field(default_factory=list)


EMBED_LIMIT = 8 * 2**20
"""Largest video embedded into ``report.html`` as a data URI; bigger ones are referenced by relative path."""

_MEDIA_TYPES = {".webm": "video/webm", ".mp4": "video/mp4", ".gif": "image/gif"}

PARTIAL_DIR = "partial"
"""Subdirectory of a report directory where :func:`~dreamgym.transfer.evaluate.evaluate_transfer` keeps each
finished stage (its JSON, figures and video) until the complete report replaces the directory."""


@dataclass(frozen=True)
class ReportFiles:
    """Where :func:`write_report` put each output."""

    directory: Path
    markdown: Path
    html: Path
    figures_json: Path
    figures: tuple[Path, ...]
    tensorboard: Path | None


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.2f}"
    return str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "section"


def _ladder_table(ladder: LadderResult) -> list[dict[str, Any]]:
    to_previous = {row["to"]: row["ratio"] for row in ladder.ratios()}
    rows = []
    for r in ladder.rungs:
        rows.append(
            {
                "rung": r.name,
                "return (mean ± std)": f"{r.mean:.1f} ± {r.std:.1f}" if r.ok else r.status,
                "success": f"{100 * r.success_rate:.0f}%" if r.success_rate is not None else "-",
                "ratio to previous": _fmt(to_previous.get(r.name)),
                "ratio to nominal": _fmt(ladder.ratio_to_nominal(r)),
                "episodes": len(r.returns),
                "detail": r.detail,
            }
        )
    return rows


def _ladder_figures(ladder: LadderResult, out: Path) -> tuple[dict[str, Path], dict[str, Any]]:
    """Return per rung, ratio to nominal, and the robustness curve, as PNGs and as data, both keyed by figure name
    (``return_per_rung``, ``ratio_to_nominal``, ``robustness``); a figure without data is left out of both."""
    import numpy as np
    from matplotlib.figure import Figure  # object API: no pyplot global state, no display backend needed

    paths: dict[str, Path] = {}
    data: dict[str, Any] = {}
    names = [r.name for r in ladder.rungs]
    x = np.arange(len(names))

    fig = Figure(figsize=(max(6.0, 1.3 * len(names)), 4.0), layout="constrained")
    ax = fig.subplots()
    for i, r in enumerate(ladder.rungs):
        if r.ok:
            ax.bar(i, r.mean, yerr=r.std, capsize=4, color="C0" if r.kind != "dream" else "C1", alpha=0.8)
            ax.scatter(np.full(len(r.returns), i), r.returns, s=8, color="k", zorder=3)
        else:
            ax.text(i, 0, r.status, ha="center", va="bottom", rotation=90, color="0.4")
    success = ladder.rungs[0].success_return if ladder.rungs else None
    if success is not None:
        ax.axhline(success, color="C2", linestyle="--", label=f"success return {success:g}")
        ax.legend(loc="best")
    ax.set_xticks(x, names, rotation=25, ha="right")
    ax.set_ylabel("episode return")
    ax.set_title(f"{ladder.task}: return per rung ({ladder.episodes} episodes, seeds from {ladder.seed})")
    paths["return_per_rung"] = out / "return_per_rung.png"
    fig.savefig(paths["return_per_rung"], dpi=100)
    data["return_per_rung"] = {
        "kind": "bar",
        "x": names,
        "status": [r.status for r in ladder.rungs],
        "mean": [r.mean for r in ladder.rungs],
        "std": [r.std for r in ladder.rungs],
        "returns": [list(r.returns) for r in ladder.rungs],
        "success_return": success,
    }

    ratios = [(r.name, ladder.ratio_to_nominal(r)) for r in ladder.rungs]
    labels, values = [name for name, x in ratios if x is not None], [x for _, x in ratios if x is not None]
    if values:
        fig = Figure(figsize=(max(6.0, 1.3 * len(values)), 3.5), layout="constrained")
        ax = fig.subplots()
        ax.bar(range(len(values)), values, color="C0", alpha=0.8)
        ax.axhline(1.0, color="k", linewidth=0.8)
        ax.set_xticks(range(len(values)), labels, rotation=25, ha="right")
        ax.set_ylabel("return / PyBullet nominal return")
        ax.set_title(f"{ladder.task}: return relative to PyBullet nominal")
        paths["ratio_to_nominal"] = out / "ratio_to_nominal.png"
        fig.savefig(paths["ratio_to_nominal"], dpi=100)
        data["ratio_to_nominal"] = {"kind": "bar", "x": labels, "y": values}

    curve = ladder.robustness
    if curve is not None:
        means, stds = np.asarray(curve.means), np.asarray(curve.stds)
        fig = Figure(figsize=(6.0, 4.0), layout="constrained")
        ax = fig.subplots()
        ax.plot(curve.strengths, means, marker="o", color="C0", label="mean return")
        ax.fill_between(curve.strengths, means - stds, means + stds, color="C0", alpha=0.2, label="± std")
        if success is not None:
            ax.axhline(success, color="C2", linestyle="--", label=f"success return {success:g}")
        ax.set_xlabel(textwrap.fill(f"gap strength (1 = {curve.gap.describe()})", 80), fontsize=8)
        ax.set_ylabel("episode return")
        ax.set_title(f"{ladder.task}: robustness curve")
        ax.legend(loc="best")
        paths["robustness"] = out / "robustness.png"
        fig.savefig(paths["robustness"], dpi=100)
        data["robustness"] = {"kind": "line", "x_label": "gap strength", **curve.to_dict()}
    return paths, data


def _markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c)).replace("|", "\\|") for c in columns) + " |")
    return "\n".join(lines)


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
    "th{background:#f3f3f3}img{max-width:100%;display:block;margin:1em 0}pre{white-space:pre-wrap}"
)


def write_report(
    out_dir: str | Path,
    ladder: LadderResult | None = None,
    sections: Sequence[ReportSection] = (),
    title: str | None = None,
    tensorboard: bool = True,
) -> ReportFiles:
    """Writes ``report.md``, ``report.html`` (self-contained), ``figures.json``, PNGs and TensorBoard scalars.

    The report is written into a staging directory next to ``out_dir`` that then replaces ``out_dir`` as a whole,
    so a run killed while writing leaves the earlier report untouched, never a mix of old and new files, and no
    earlier run's figures or TensorBoard events linger beside the new ones.

    Args:
        out_dir: report directory: created, or replaced if it holds an earlier report (see
            :func:`check_report_directory`).
        ladder: the ladder result; its table, ratios and figures open the report.
        sections: further sections, in order, after the ladder's; their figures and media may live anywhere,
            ``out_dir`` included (they are copied before the swap).
        title: report title; defaults to "<task> transfer report".
        tensorboard: also write scalars to ``out_dir/tensorboard`` (rung returns against rung index, the
            robustness curve against strength in percent, and every section's scalars).

    Raises:
        FileExistsError: ``out_dir`` holds something other than a report, which the swap would delete.
    """
    out = check_report_directory(out_dir)
    title = title or (f"{ladder.task} transfer report" if ladder else "Transfer report")
    with atomic_directory(out, overwrite=True) as staging:
        figures = _write_files(staging, ladder, sections, title, tensorboard)
    return ReportFiles(
        out,
        out / "report.md",
        out / "report.html",
        out / "figures.json",
        tuple(out / figure.name for figure in figures),
        out / "tensorboard" if tensorboard else None,
    )


def check_report_directory(out_dir: str | Path) -> Path:
    """``out_dir`` as a path, if a report may replace it: it is missing or empty, or holds an earlier report
    (``report.md``) or an unfinished one (:data:`PARTIAL_DIR`).

    Why: :func:`write_report` replaces the whole directory, so anything else in it (``--out .``, a folder of
    other results) would be deleted; this refuses that before any work is done.

    Raises:
        FileExistsError: ``out_dir`` is a file, or a directory holding anything else.
    """
    out = Path(out_dir)
    if not out.exists():
        return out
    if not out.is_dir():
        raise FileExistsError(f"Expected a report directory at {str(out)!r}; it is a file.")
    if any(out.iterdir()) and not ((out / "report.md").is_file() or (out / PARTIAL_DIR).is_dir()):
        raise FileExistsError(
            f"Expected the report directory {str(out)!r} to be new, empty or an earlier report (with report.md); it "
            "holds other files, which the report would delete, as it replaces the whole directory. Choose another "
            "directory."
        )
    return out


def _write_files(
    out: Path, ladder: LadderResult | None, sections: Sequence[ReportSection], title: str, tensorboard: bool
) -> list[Path]:
    """Writes every file of the report into the (staging) directory ``out``; the figures written."""
    blocks: list[ReportSection] = []
    figure_data: dict[str, Any] = {}
    figures: list[Path] = []
    if ladder is not None:
        ladder_figures, figure_data = _ladder_figures(ladder, out)
        figures += ladder_figures.values()
        intro = (
            f"The same policy on every rung, episodes seeded {ladder.seed}..{ladder.seed + ladder.episodes - 1}. "
            "Ratios are mean returns over the previous measured rung's and over PyBullet nominal's (undefined "
            "where that mean is not positive). A rung that could not run carries no numbers."
        )
        shown = [ladder_figures[name] for name in ("return_per_rung", "ratio_to_nominal") if name in ladder_figures]
        blocks.append(ReportSection("Evaluation ladder", intro, _ladder_table(ladder), shown))
        if ladder.robustness is not None:
            curve = ladder.robustness
            rows = [
                {"strength": s, "return (mean ± std)": f"{m:.1f} ± {d:.1f}"}
                for s, m, d in zip(curve.strengths, curve.means, curve.stds, strict=True)
            ]
            text = f"Return against the strength of one composed gap; strength 1 is {curve.gap.describe()}."
            blocks.append(ReportSection("Robustness curve", text, rows, [ladder_figures["robustness"]]))
        robot_rows = [{"rung": r.name, **r.extra["interventions"]} for r in ladder.rungs if "interventions" in r.extra]
        if robot_rows:
            text = (
                "How often the robot's own safety machinery acted over the rung's episodes: watchdog stops (ticks "
                "with no fresh command, where the robot applied its safe stop), emergency stops, protective stops "
                "(a joint past its limit), stops for a lost client, clipped and rate-limited commands, commands "
                "that came too late, control periods the robot overran, and refused messages (docs/robots.md)."
            )
            blocks.append(ReportSection("Robot interventions", text, robot_rows))
    for section in sections:
        copied = [_copy_into(Path(source), out) for source in section.figures]
        media = [_copy_into(Path(source), out) for source in section.media]
        figures += copied
        if section.data is not None:
            figure_data[_slug(section.title)] = section.data
        blocks.append(
            ReportSection(section.title, section.text, section.table, copied, section.data, section.scalars, media)
        )

    md = [f"# {title}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for block in blocks:
        md += [f"## {block.title}", ""]
        body.append(f"<h2>{html.escape(block.title)}</h2>")
        if block.text:
            md += [block.text, ""]
            body.append(f"<p>{html.escape(block.text)}</p>")
        if block.table:
            md += [_markdown_table(block.table), ""]
            body.append(_html_table(block.table))
        for fig in block.figures:
            fig = Path(fig)
            md += [f"![{fig.stem}]({fig.name})", ""]
            encoded = base64.b64encode(fig.read_bytes()).decode()
            body.append(f'<img alt="{html.escape(fig.stem)}" src="data:image/png;base64,{encoded}">')
        for item in block.media:
            md += [f"[{item.name}]({item.name})", ""]
            body.append(_html_media(Path(item)))

    (out / "report.md").write_text("\n".join(md))
    (out / "report.html").write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
    (out / "figures.json").write_text(json.dumps({"title": title, "figures": figure_data}, indent=1))
    if ladder is not None:
        (out / "ladder.json").write_text(json.dumps(ladder.to_dict(), indent=1))
    if tensorboard:
        _write_scalars(out / "tensorboard", ladder, blocks)
    return figures


def _copy_into(source: Path, out: Path) -> Path:
    """``source`` copied into ``out`` (the report's fresh staging directory); the copy's path."""
    if not source.exists():
        raise FileNotFoundError(f"Expected a report file at {str(source)!r}; it does not exist.")
    target = out / source.name
    shutil.copyfile(source, target)
    return target


def _html_media(path: Path) -> str:
    """A gif as an image, a video as a ``<video>`` element; embedded below :data:`EMBED_LIMIT`, else by path."""
    kind = _MEDIA_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"Expected a report video ending in {sorted(_MEDIA_TYPES)}, got {path.name!r}.")
    size = path.stat().st_size
    src = f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}" if size <= EMBED_LIMIT else path.name
    link = f'<p><a href="{html.escape(path.name)}">{html.escape(path.name)}</a> ({size / 2**20:.1f} MB)</p>'
    if kind == "image/gif":
        return f'<img alt="{html.escape(path.stem)}" src="{src}">{link}'
    return f'<video controls loop muted style="max-width:100%"><source src="{src}" type="{kind}"></video>{link}'


def _write_scalars(directory: Path, ladder: LadderResult | None, blocks: Sequence[ReportSection]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(directory)) as writer:
        if ladder is not None:
            for index, r in enumerate(ladder.rungs):
                if r.ok:
                    writer.add_scalar("ladder/return_mean", r.mean, index)
                    writer.add_scalar("ladder/return_std", r.std, index)
                    writer.add_scalar(f"ladder_rung/{_slug(r.name)}/return_mean", r.mean, 0)
                    if r.success_rate is not None:
                        writer.add_scalar("ladder/success_rate", r.success_rate, index)
            if ladder.robustness is not None:
                curve = ladder.robustness
                for s, m, d in zip(curve.strengths, curve.means, curve.stds, strict=True):
                    writer.add_scalar("robustness/return_mean", m, round(100 * s))
                    writer.add_scalar("robustness/return_std", d, round(100 * s))
        for block in blocks:
            for tag, points in block.scalars.items():
                for step, value in points:
                    writer.add_scalar(tag, value, step)
