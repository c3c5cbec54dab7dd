"""What the leaderboard shows beside the arena's ratings: each model's newest MT-Bench score."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from polyroute.store.database import Database
from polyroute.store.eval_results import EvalScoreRow

MT_BENCH_METRIC = "mt-bench"


async def load_latest_scores(database: Database) -> dict[str, dict[str, Any]]:
    """model -> {score, turn1, turn2, ci_low, ci_high, judge, run_id, created} of the newest
    single-grading run that scored the model (ties on time: the later row)."""
    query = (
        select(EvalScoreRow)
        .where(EvalScoreRow.metric == MT_BENCH_METRIC)
        .order_by(EvalScoreRow.model, EvalScoreRow.created.desc(), EvalScoreRow.id.desc())
    )
    latest: dict[str, dict[str, Any]] = {}
    async with database.session() as session:
        for row in (await session.execute(query)).scalars():
            if row.model in latest:
                continue
            latest[row.model] = {
                "score": row.score,
                "turn1": row.turn1,
                "turn2": row.turn2,
                "ci_low": row.ci_low,
                "ci_high": row.ci_high,
                "judge": row.judge,
                "run_id": row.run_id,
                "created": row.created,
            }
    return latest
