"""A whole `polyroute eval` invocation: run, then summary, report, charts, SQL and the table.

Ctrl-C stops the requests in flight; every record already written is whole (see journal.py),
the summary and report are not rewritten, and the same command continues the run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from polyroute.eval.charts import draw_charts
from polyroute.eval.client import GatewayClient
from polyroute.eval.journal import write_atomically
from polyroute.eval.progress import PhaseProgress
from polyroute.eval.questions import (
    load_judge_prompts,
    load_questions,
    load_reference_answers,
    select_questions,
)
from polyroute.eval.report import markdown_report, print_results
from polyroute.eval.run import EvalOptions, EvalRun, utc_now
from polyroute.eval.summary import build_summary
from polyroute.store.database import Database


@dataclass(frozen=True)
class Source:
    """Where the questions come from, and the gateway the eval talks to."""

    gateway_url: str
    api_key: str
    questions_file: Path | None = None
    references_file: Path | None = None
    question_ids: list[str] | None = None
    limit: int | None = None
    max_retries: int = 4
    timeout_s: float = 600.0


async def run_eval(
    options: EvalOptions, source: Source, database: Database | None, console: Console, quiet: bool = False
) -> dict[str, Any]:
    questions = select_questions(load_questions(source.questions_file), source.question_ids, source.limit)
    # A user's own question file has no references unless one is given: judged without.
    references = (
        load_reference_answers(source.references_file)
        if source.references_file or source.questions_file is None
        else {}
    )
    client = GatewayClient(
        source.gateway_url, source.api_key, max_retries=source.max_retries, timeout_s=source.timeout_s
    )
    progress = PhaseProgress(Console(stderr=True), quiet=quiet)
    run = EvalRun(options, client, questions, references, load_judge_prompts(), progress)
    try:
        state = await run.execute()
    finally:
        await client.close()
    created = utc_now()
    summary = await asyncio.to_thread(build_summary, run, state, created)
    charts = await asyncio.to_thread(draw_charts, summary, run.layout.charts)
    await asyncio.to_thread(
        write_atomically, run.layout.summary, orjson.dumps(summary, option=orjson.OPT_INDENT_2)
    )
    await asyncio.to_thread(write_atomically, run.layout.report, markdown_report(summary, charts).encode())
    if database is not None:
        from polyroute.store.eval_results import save_eval_run

        await database.migrate()
        await save_eval_run(database, summary, created)
    print_results(summary, console)
    return summary
