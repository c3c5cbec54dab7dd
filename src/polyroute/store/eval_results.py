"""Evaluation results in SQL, next to the arena's votes: one row per run, one per model and run.

`polyroute eval` writes a run when it finishes (the files under --out stay the full record);
the leaderboard reads the newest MT-Bench score of each model (polyroute.eval.leaderboard).
`metric` says what `score` measures: "mt-bench" (single grading, 1-10), "win-rate" (pairwise,
adjusted win rate 0-1) or "arena-hard" (modelled win rate against the baseline, percent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, insert
from sqlalchemy.orm import Mapped, mapped_column

from polyroute.store.database import Database
from polyroute.store.models import Base, UtcDateTime

METRIC_BY_MODE = {
    "single": "mt-bench",
    "pairwise-baseline": "win-rate",
    "pairwise-all": "win-rate",
    "arena-hard": "arena-hard",
}


class EvalRunRow(Base):
    __tablename__ = "polyroute_eval_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(32))
    judge: Mapped[str] = mapped_column(String(256))
    baseline: Mapped[str | None] = mapped_column(String(256), nullable=True)
    questions: Mapped[int] = mapped_column(Integer)
    judge_prompt_tokens: Mapped[int] = mapped_column(Integer)
    judge_completion_tokens: Mapped[int] = mapped_column(Integer)
    judge_cost: Mapped[float] = mapped_column(Float)
    spend: Mapped[float] = mapped_column(Float)
    errors: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UtcDateTime)


class EvalScoreRow(Base):
    __tablename__ = "polyroute_eval_scores"
    __table_args__ = (Index("ix_polyroute_eval_scores_model_metric_created", "model", "metric", "created"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("polyroute_eval_runs.run_id"), index=True)
    model: Mapped[str] = mapped_column(String(256))
    metric: Mapped[str] = mapped_column(String(32))
    judge: Mapped[str] = mapped_column(String(256))
    score: Mapped[float] = mapped_column(Float)
    turn1: Mapped[float | None] = mapped_column(Float, nullable=True)
    turn2: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)


def score_rows(summary: dict[str, Any], created: datetime) -> list[dict[str, Any]]:
    """One row per evaluated model of a run's summary (polyroute.eval.summary)."""
    metric = METRIC_BY_MODE[summary["mode"]]
    base = {"run_id": summary["run_id"], "metric": metric, "judge": summary["judge"], "created": created}
    rows = []
    for model, s in summary.get("scores", {}).items():
        rows.append(
            {
                **base,
                "model": model,
                "score": s["score"],
                "turn1": s["turn1"],
                "turn2": s["turn2"],
                "ci_low": s["ci_low"],
                "ci_high": s["ci_high"],
            }
        )
    for model, s in summary.get("arena", {}).items():
        rows.append(
            {
                **base,
                "model": model,
                "score": s["score"],
                "turn1": None,
                "turn2": None,
                "ci_low": s["ci_low"],
                "ci_high": s["ci_high"],
            }
        )
    for model, r in summary.get("win_rates", {}).items():
        rows.append(
            {
                **base,
                "model": model,
                "score": r["win_rate_adjusted"],
                "turn1": None,
                "turn2": None,
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
            }
        )
    return rows


async def save_eval_run(database: Database, summary: dict[str, Any], created: datetime) -> None:
    """Writes a finished run and its per-model scores in one transaction."""
    judge = summary["judge_usage"]
    run = {
        "run_id": summary["run_id"],
        "mode": summary["mode"],
        "judge": summary["judge"],
        "baseline": summary.get("baseline"),
        "questions": summary["questions"],
        "judge_prompt_tokens": judge["prompt_tokens"],
        "judge_completion_tokens": judge["completion_tokens"],
        "judge_cost": judge["cost"],
        "spend": summary["spend"],
        "errors": len(summary["errors"]),
        "summary": summary,
        "created": created,
    }
    async with database.session() as session, session.begin():
        await session.execute(insert(EvalRunRow), [run])
        rows = score_rows(summary, created)
        if rows:
            await session.execute(insert(EvalScoreRow), rows)
