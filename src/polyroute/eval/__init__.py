"""MT-Bench answer generation and LLM-as-judge, through the gateway's own API (docs/eval.md).

Importing this package loads nothing heavy: the command's modules need the `eval` extra (rich,
matplotlib); `load_latest_scores` (for the leaderboard) needs only SQLAlchemy.
"""

from __future__ import annotations

from typing import Any


async def load_latest_scores(database: Any) -> dict[str, dict[str, Any]]:
    """model -> newest MT-Bench score (see polyroute.eval.leaderboard.load_latest_scores)."""
    from polyroute.eval.leaderboard import load_latest_scores as load

    return await load(database)
