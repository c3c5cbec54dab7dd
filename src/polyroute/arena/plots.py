"""Leaderboard plots as SVG or PNG bytes: ratings with their 95% intervals, and the win-fraction
heat map (row model's share of wins against the column model, ties left out, as FastChat's).

The UI calls `await render_plot(board, "ratings"|"win_fraction", "svg"|"png")`. Drawing runs in a
worker thread on matplotlib's Agg canvas through `Figure` objects (never pyplot, whose global state
is not for servers), one drawing at a time (matplotlib is not thread-safe).
"""

from __future__ import annotations

import asyncio
import io
import threading

from polyroute.arena.leaderboard import Leaderboard
from polyroute.errors import InvalidRequestError

KINDS = ("ratings", "win_fraction")
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
MAX_MODELS_SHOWN = 25  # FastChat's limit for its plots: the rest are in the table
_DRAWING = threading.Lock()


async def render_plot(board: Leaderboard, kind: str, fmt: str) -> bytes:
    if kind not in KINDS:
        raise InvalidRequestError(f"plot must be one of {', '.join(KINDS)}", param="plot")
    if fmt not in FORMATS:
        raise InvalidRequestError(f"format must be one of {', '.join(FORMATS)}", param="format")
    return await asyncio.to_thread(draw, board, kind, fmt)


def draw(board: Leaderboard, kind: str, fmt: str) -> bytes:
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A fixed salt for the SVG's element ids: the same table draws the same bytes.
    with _DRAWING, rc_context({"svg.hashsalt": "polyroute-arena"}):
        figure = Figure(figsize=(8, 5) if kind == "ratings" else (8, 7), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        if kind == "ratings":
            _ratings(axes, board)
        else:
            _win_fraction(figure, axes, board)
        figure.tight_layout()
        buffer = io.BytesIO()
        # No creation date in the metadata: the same table draws the same bytes.
        metadata = {"Date": None} if fmt == "svg" else {}
        figure.savefig(buffer, format=fmt, metadata=metadata)
        return buffer.getvalue()


def _ratings(axes, board: Leaderboard) -> None:  # type: ignore[no-untyped-def]
    rows = [r for r in board.rows if r["rating"] is not None][:MAX_MODELS_SHOWN]
    title = f"Bradley-Terry ratings ({board.view}, {board.category}), 95% bootstrap intervals"
    axes.set_title(title, fontsize=10)
    if not rows:
        axes.text(0.5, 0.5, "no votes yet", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    positions = range(len(rows))
    ratings = [r["rating"] for r in rows]
    below = [r["rating"] - (r["ci_lower"] if r["ci_lower"] is not None else r["rating"]) for r in rows]
    above = [(r["ci_upper"] if r["ci_upper"] is not None else r["rating"]) - r["rating"] for r in rows]
    axes.errorbar(positions, ratings, yerr=[below, above], fmt="o", capsize=4)
    for x, rating in zip(positions, ratings, strict=True):
        axes.annotate(f"{rating:.0f}", (x, rating), textcoords="offset points", xytext=(6, 0), fontsize=8)
    axes.set_xticks(list(positions), [r["model"] for r in rows], rotation=45, ha="right", fontsize=8)
    axes.set_ylabel("rating")
    axes.grid(axis="y", alpha=0.3)


def _win_fraction(figure, axes, board: Leaderboard) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    models = board.win_models[:MAX_MODELS_SHOWN]
    axes.set_title("Fraction of wins of the row model against the column model (no ties)", fontsize=10)
    if not models:
        axes.text(0.5, 0.5, "no votes yet", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    n = len(models)
    matrix = np.array(
        [[np.nan if v is None else v for v in row[:n]] for row in board.win_matrix[:n]], dtype=float
    )
    # Cells as vector shapes (pcolormesh), not imshow's embedded PNG: the SVG stays all vector and
    # needs no data: URI inside it.
    image = axes.pcolormesh(np.ma.masked_invalid(matrix), cmap="RdBu", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            if not np.isnan(matrix[i, j]):
                axes.text(j + 0.5, i + 0.5, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    centres = [k + 0.5 for k in range(n)]
    axes.set_xticks(centres, models, rotation=45, ha="left", fontsize=8)
    axes.set_yticks(centres, models, fontsize=8)
    axes.set_xlim(0, n)
    axes.set_ylim(n, 0)  # the first model on top, as a table reads
    axes.set_aspect("equal")
    axes.xaxis.tick_top()
    axes.set_xlabel("model B")
    axes.set_ylabel("model A")
    bar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    if bar.solids is not None:
        bar.solids.set_rasterized(False)  # matplotlib rasterizes a long colour ramp by default
