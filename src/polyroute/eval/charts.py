"""Charts of a run, as PNG and SVG (matplotlib's Agg backend: no display needed): a radar of
scores per category (single grading) and a bar chart of each model's result with its interval."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  # the backend must be chosen first

from polyroute.eval.journal import atomic_path  # noqa: E402

FORMATS = ("png", "svg")


def _save(figure: Any, directory: Path, stem: str) -> list[str]:
    names = []
    for fmt in FORMATS:
        target = directory / f"{stem}.{fmt}"
        with atomic_path(target) as temporary:
            figure.savefig(temporary, format=fmt, bbox_inches="tight", dpi=120)
        names.append(target.name)
    plt.close(figure)
    return names


def radar_chart(summary: dict[str, Any], directory: Path) -> list[str]:
    categories = summary.get("categories", [])
    scores = summary.get("scores", {})
    if len(categories) < 3 or not scores:
        return []  # a radar needs three axes
    angles = [2 * math.pi * i / len(categories) for i in range(len(categories))]
    figure = plt.figure(figsize=(6, 6))
    axes = figure.add_subplot(projection="polar")
    for model, score in scores.items():
        values = [score["categories"].get(c, 0.0) for c in categories]
        axes.plot([*angles, angles[0]], [*values, values[0]], label=model)
        axes.fill([*angles, angles[0]], [*values, values[0]], alpha=0.1)
    axes.set_xticks(angles)
    axes.set_xticklabels(categories)
    axes.set_ylim(0, 10)
    axes.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1))
    axes.set_title(f"MT-Bench score per category (judge {summary['judge']})")
    return _save(figure, directory, "radar")


def _bars(summary: dict[str, Any]) -> tuple[str, list[tuple[str, float, float | None, float | None]]]:
    if "scores" in summary:
        return "score (1-10)", [
            (m, s["score"], s["ci_low"], s["ci_high"]) for m, s in summary["scores"].items()
        ]
    if "arena" in summary:
        return "win rate vs baseline (%)", [
            (m, s["score"], s["ci_low"], s["ci_high"]) for m, s in summary["arena"].items()
        ]
    return "adjusted win rate", [
        (m, r["win_rate_adjusted"], r["ci_low"], r["ci_high"]) for m, r in summary["win_rates"].items()
    ]


def bar_chart(summary: dict[str, Any], directory: Path) -> list[str]:
    label, bars = _bars(summary)
    if not bars:
        return []
    figure, axes = plt.subplots(figsize=(max(4, 1.2 * len(bars) + 2), 4))
    names = [b[0] for b in bars]
    values = [b[1] for b in bars]
    below = [max(0.0, b[1] - b[2]) if b[2] is not None else 0.0 for b in bars]
    above = [max(0.0, b[3] - b[1]) if b[3] is not None else 0.0 for b in bars]
    axes.bar(names, values, yerr=[below, above], capsize=6, color="#4c72b0")
    axes.set_ylabel(label)
    axes.set_title(f"{summary['mode']} (judge {summary['judge']}), 95% bootstrap intervals")
    axes.tick_params(axis="x", rotation=20)
    return _save(figure, directory, "scores")


def draw_charts(summary: dict[str, Any], directory: Path) -> list[str]:
    """Every chart of the run; the file names written under `directory`."""
    return radar_chart(summary, directory) + bar_chart(summary, directory)
