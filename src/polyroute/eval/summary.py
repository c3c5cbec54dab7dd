"""The run's results, computed from the files (so a resumed run counts the earlier parts too):
scores, win rates, what the judge and the answers cost, the gateway's spend and the errors."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from polyroute.eval.arena_hard import arena_scores, battles_from, style_of
from polyroute.eval.client import Usage
from polyroute.eval.journal import Journal
from polyroute.eval.questions import Question
from polyroute.eval.run import EvalOptions, EvalRun, RunState
from polyroute.eval.scoring import single_scores, win_rates


def _usage_of(records: list[dict[str, Any]]) -> Usage:
    total = Usage()
    for record in records:
        figures = record.get("polyroute_usage") or {}
        total.add(
            Usage(
                int(figures.get("requests", 0)),
                int(figures.get("prompt_tokens", 0)),
                int(figures.get("completion_tokens", 0)),
                float(figures.get("cost", 0.0)),
            )
        )
    return total


def _in_scope(run: EvalRun, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of this run's questions and models (the files may hold more)."""
    questions = {q.question_id for q in run.questions}
    models = set(run.options.answering_models)
    kept = []
    for record in records:
        if record["question_id"] not in questions:
            continue
        named = [record.get(k) for k in ("model", "model_1", "model_2", "baseline") if record.get(k)]
        if all(name in models for name in named):
            kept.append(record)
    return kept


def build_summary(run: EvalRun, state: RunState, created: datetime) -> dict[str, Any]:
    options: EvalOptions = run.options
    questions: list[Question] = run.questions
    categories = {q.question_id: q.category for q in questions}
    judgments = _in_scope(run, Journal(run.layout.judgments(options.judgment_kind)).read())
    # Failed items cost too: their requests (retries, unreadable verdicts) count in the spend.
    failed = _in_scope(run, Journal(run.layout.errors).read())
    failed_answers = {
        m: [e for e in failed if e["phase"] == "answers" and e.get("model") == m]
        for m in options.answering_models
    }
    failed_verdicts = [
        e
        for e in failed
        if e["phase"] == "judgments" and e.get("judge") == options.judge and e.get("mode") == options.mode
    ]
    ids = set(categories)
    answers = {
        m: [r for qid, r in run.answers.get(m, {}).items() if qid in ids] for m in options.answering_models
    }
    answer_usage = {m: _usage_of(records + failed_answers[m]).as_dict() for m, records in answers.items()}
    judge_usage = _usage_of(judgments + failed_verdicts)
    summary: dict[str, Any] = {
        "run_id": state.run_id,
        "created": created.isoformat(),
        "mode": options.mode,
        "judge": options.judge,
        "baseline": options.baseline,
        "models": options.models,
        "questions": len(questions),
        "categories": sorted(set(categories.values())),
        "judgments": len(judgments),
        "judge_usage": judge_usage.as_dict(),
        "answer_usage": answer_usage,
        "spend": round(judge_usage.cost + sum(u["cost"] for u in answer_usage.values()), 10),
        "this_invocation": {
            "new_answers": state.new_answers,
            "new_judgments": state.new_judgments,
            "answer_usage": state.answer_usage.as_dict(),
            "judge_usage": state.judge_usage.as_dict(),
        },
        "errors": state.errors,
    }
    rounds = options.bootstrap_rounds
    if options.mode == "single":
        scores = single_scores(judgments, categories, rounds=rounds)
        summary["scores"] = {m: asdict(s) for m, s in scores.items()}
    elif options.mode == "arena-hard":
        styles = {
            (model, qid): style_of(record["choices"][0]["turns"])
            for model, records in answers.items()
            for record in records
            for qid in [record["question_id"]]
        }
        battles = battles_from(judgments, styles)
        scores = arena_scores(battles, style_control=options.style_control, rounds=rounds)
        summary["arena"] = {m: asdict(s) for m, s in scores.items()}
        summary["style_control"] = options.style_control
    else:
        baseline = options.baseline if options.mode == "pairwise-baseline" else None
        rates = win_rates(judgments, baseline, rounds=rounds)
        summary["win_rates"] = {
            m: {
                "win": r.win,
                "loss": r.loss,
                "tie": r.tie,
                "win_rate": r.win_rate,
                "loss_rate": r.loss_rate,
                "win_rate_adjusted": r.adjusted,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
            }
            for m, r in rates.items()
        }
    return summary
