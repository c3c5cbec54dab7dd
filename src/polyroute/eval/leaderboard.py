"""What the leaderboard shows beside the arena's ratings: each model's newest MT-Bench score."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from polyroute.store.database import Database
from polyroute.store.eval_results import EvalScoreRow

MT_BENCH_METRIC = "mt-bench"


async def load_latest_scores(database: Database) -> dict[str, dict[str, Any]]:
    """model -> {score, turn1, turn2, ci_low, ci_high, judge, run_id, created} of the newest
    single-grading run that scored the model (on equal times, the row written last)."""
    newest_first = func.row_number().over(
        partition_by=EvalScoreRow.model, order_by=(EvalScoreRow.created.desc(), EvalScoreRow.id.desc())
    )
    ranked = (
        select(EvalScoreRow.id, newest_first.label("rank"))
        .where(EvalScoreRow.metric == MT_BENCH_METRIC)
        .subquery()
    )
    query = select(EvalScoreRow).join(ranked, ranked.c.id == EvalScoreRow.id).where(ranked.c.rank == 1)
    async with database.session() as session:
        rows = (await session.execute(query)).scalars().all()
    return {
        row.model: {
            "score": row.score,
            "turn1": row.turn1,
            "turn2": row.turn2,
            "ci_low": row.ci_low,
            "ci_high": row.ci_high,
            "judge": row.judge,
            "run_id": row.run_id,
            "created": row.created,
        }
        for row in rows
    }
