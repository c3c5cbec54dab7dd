"""Evaluation results in SQL (SQLite and PostgreSQL, real servers): the 0003_eval tables, and
the newest MT-Bench score per model for the leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from polyroute.eval import load_latest_scores
from polyroute.store.database import Database, head_revision
from polyroute.store.eval_results import EvalRunRow, EvalScoreRow, save_eval_run


def summary(run_id: str, mode: str, scores: dict[str, float]) -> dict:
    body = {
        "run_id": run_id,
        "mode": mode,
        "judge": "gpt-4",
        "baseline": None,
        "questions": 80,
        "spend": 0.5,
        "judge_usage": {"requests": 160, "prompt_tokens": 1000, "completion_tokens": 500, "cost": 0.25},
        "errors": [],
    }
    if mode == "single":
        body["scores"] = {
            m: {"score": s, "turn1": s + 0.5, "turn2": s - 0.5, "ci_low": s - 1, "ci_high": s + 1}
            for m, s in scores.items()
        }
    else:
        body["win_rates"] = {
            m: {"win_rate_adjusted": s, "ci_low": None, "ci_high": None} for m, s in scores.items()
        }
    return body


def test_the_eval_migration_is_in_the_history() -> None:
    assert head_revision() in ("0003_eval", "0004_responses")


async def test_latest_mt_bench_score_per_model(database: Database) -> None:
    early, late = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
    await save_eval_run(database, summary("run-2", "single", {"a": 8.0}), late)
    await save_eval_run(database, summary("run-1", "single", {"a": 6.0, "b": 5.0}), early)
    await save_eval_run(
        database, summary("run-3", "pairwise-all", {"a": 0.9}), datetime(2026, 12, 3, tzinfo=UTC)
    )

    latest = await load_latest_scores(database)
    assert set(latest) == {"a", "b"}
    assert latest["a"] == {
        "score": 8.0,
        "turn1": 8.5,
        "turn2": 7.5,
        "ci_low": 7.0,
        "ci_high": 9.0,
        "judge": "gpt-4",
        "run_id": "run-2",
        "created": late,
    }
    assert latest["b"]["run_id"] == "run-1"
    # Two runs stamped alike (a coarse clock): the one written last is the newer.
    await save_eval_run(database, summary("run-4", "single", {"a": 9.0}), late)
    assert (await load_latest_scores(database))["a"]["run_id"] == "run-4"

    async with database.session() as session:
        run = await session.get(EvalRunRow, "run-3")
        assert (run.judge_cost, run.judge_prompt_tokens, run.mode) == (0.25, 1000, "pairwise-all")
        metrics = await session.execute(
            select(EvalScoreRow.metric, func.count()).group_by(EvalScoreRow.metric)
        )
        assert dict(metrics.all()) == {"mt-bench": 4, "win-rate": 1}


async def test_a_run_id_is_written_once(database: Database) -> None:
    await save_eval_run(database, summary("same", "single", {"a": 8.0}), datetime(2026, 12, 1, tzinfo=UTC))
    with pytest.raises(Exception):  # noqa: B017  # the primary key refuses it, on either backend
        await save_eval_run(
            database, summary("same", "single", {"a": 1.0}), datetime(2026, 12, 2, tzinfo=UTC)
        )
    assert (await load_latest_scores(database))["a"]["score"] == 8.0
