"""`polyroute eval`: MT-Bench and pairwise LLM-as-judge evaluation through a gateway (docs/eval.md).

The command is a client of a running gateway (its public /v1 API, with a key), never an
in-process shortcut: routes, keys, budgets and spend apply. Results land under --out in
FastChat's layout and, unless --no-store, in the SQL database beside the arena's votes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the command's modules load only when it runs (rich, matplotlib)
    from polyroute.eval.run import EvalOptions
    from polyroute.eval.session import Source

app = typer.Typer(help="Evaluate the models behind a gateway with an LLM judge.", no_args_is_help=True)

GatewayOption = Annotated[
    str, typer.Option("--gateway-url", envvar="POLYROUTE_URL", help="The gateway to evaluate through.")
]
KeyOption = Annotated[
    str,
    typer.Option(
        "--api-key",
        envvar="POLYROUTE_API_KEY",
        show_default=False,
        help="A key the gateway accepts (a virtual key or the master key).",
    ),
]
ModelsOption = Annotated[str, typer.Option("--models", help="Comma-separated models to evaluate.")]
JudgeOption = Annotated[str, typer.Option("--judge", help="The judge model (any model the key may use).")]
OutOption = Annotated[Path, typer.Option("--out", help="Output directory (FastChat's data/<bench> layout).")]
ParallelOption = Annotated[int, typer.Option("--parallel", help="Requests in flight at once.")]
QuestionsOption = Annotated[
    Path | None, typer.Option("--questions", help="A question file in MT-Bench's format (default: the 80).")
]
ReferencesOption = Annotated[
    Path | None,
    typer.Option(
        "--references", help="Reference answers for math/reasoning/coding (FastChat answer format)."
    ),
]
IdsOption = Annotated[
    str | None, typer.Option("--question-ids", help="Comma-separated question ids to run (others skipped).")
]
LimitOption = Annotated[int | None, typer.Option("--limit", help="Run only the first N questions.")]
ChoicesOption = Annotated[int, typer.Option("--num-choices", help="Answers per question and model.")]
MaxTokensOption = Annotated[int, typer.Option("--max-tokens", help="Max tokens per answer turn.")]
RetriesOption = Annotated[
    int, typer.Option("--judge-retries", help="Asks again this many times when a verdict cannot be read.")
]
RoundsOption = Annotated[int, typer.Option("--bootstrap-rounds", help="Bootstrap samples for the intervals.")]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        show_default=False,
        help="Where results are stored (default: the local gateway's SQLite file).",
    ),
]
NoStoreOption = Annotated[bool, typer.Option("--no-store", help="Do not write results to the database.")]
RequestRetriesOption = Annotated[
    int, typer.Option("--max-retries", help="Retries of a request the gateway refuses with 408/409/429/5xx.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]


def _run(options: EvalOptions, source: Source, database_url: str | None, no_store: bool, quiet: bool) -> None:
    from rich.console import Console

    from polyroute.eval.questions import EvalInputError
    from polyroute.eval.session import run_eval
    from polyroute.store.database import Database, DatabaseConfigError

    database = None
    try:
        if not no_store:
            database = Database.from_settings(database_url, dict(os.environ), pool_size=1)
    except DatabaseConfigError as exc:
        typer.echo(f"polyroute eval: --database-url: {exc}", err=True)
        raise typer.Exit(2) from None

    async def main() -> None:
        try:
            await run_eval(options, source, database, Console(), quiet=quiet)
        finally:
            if database is not None:
                await database.close()

    try:
        asyncio.run(main())
    except EvalInputError as exc:
        typer.echo(f"polyroute eval: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo(
            f"polyroute eval: interrupted; every finished answer and verdict is in {options.out}. "
            "Run the same command again to continue.",
            err=True,
        )
        raise typer.Exit(130) from None


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@app.command("mt-bench")
def mt_bench(
    models: ModelsOption,
    judge: JudgeOption = "gpt-4",
    mode: Annotated[
        str, typer.Option("--mode", help="single, pairwise-baseline or pairwise-all (FastChat's modes).")
    ] = "single",
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="The baseline model of pairwise-baseline.")
    ] = None,
    out: OutOption = Path("data/mt_bench"),
    parallel: ParallelOption = 8,
    questions: QuestionsOption = None,
    references: ReferencesOption = None,
    question_ids: IdsOption = None,
    limit: LimitOption = None,
    num_choices: ChoicesOption = 1,
    max_tokens: MaxTokensOption = 1024,
    judge_retries: RetriesOption = 2,
    bootstrap_rounds: RoundsOption = 1000,
    gateway_url: GatewayOption = "http://127.0.0.1:4000",
    api_key: KeyOption = "none",
    max_retries: RequestRetriesOption = 4,
    database_url: DatabaseOption = None,
    no_store: NoStoreOption = False,
    quiet: QuietOption = False,
) -> None:
    """MT-Bench: answers from every model, then the judge's grades, in FastChat's file layout."""
    from polyroute.eval.run import EvalOptions
    from polyroute.eval.session import Source

    if mode not in ("single", "pairwise-baseline", "pairwise-all"):
        typer.echo(
            "polyroute eval mt-bench: --mode must be single, pairwise-baseline or pairwise-all", err=True
        )
        raise typer.Exit(2)
    options = EvalOptions(
        models=_split(models),
        judge=judge,
        mode=mode,
        out=out,
        baseline=baseline,
        parallel=parallel,
        num_choices=num_choices,
        max_tokens=max_tokens,
        judge_retries=judge_retries,
        bootstrap_rounds=bootstrap_rounds,
    )
    source = Source(
        gateway_url, api_key, questions, references, _split(question_ids) or None, limit, max_retries
    )
    _run(options, source, database_url, no_store, quiet)


@app.command("arena-hard")
def arena_hard(
    models: ModelsOption,
    baseline: Annotated[str, typer.Option("--baseline", help="The model every other one is compared with.")],
    judge: JudgeOption = "gpt-4",
    style_control: Annotated[
        bool, typer.Option("--style-control", help="Hold answer length and markdown equal in the fit.")
    ] = False,
    out: OutOption = Path("data/arena_hard"),
    parallel: ParallelOption = 8,
    questions: QuestionsOption = None,
    question_ids: IdsOption = None,
    limit: LimitOption = None,
    max_tokens: MaxTokensOption = 1024,
    judge_retries: RetriesOption = 2,
    bootstrap_rounds: RoundsOption = 1000,
    gateway_url: GatewayOption = "http://127.0.0.1:4000",
    api_key: KeyOption = "none",
    max_retries: RequestRetriesOption = 4,
    database_url: DatabaseOption = None,
    no_store: NoStoreOption = False,
    quiet: QuietOption = False,
) -> None:
    """Pairwise five-way verdicts against a baseline, scored by the Arena-Hard-Auto method."""
    from polyroute.eval.run import EvalOptions
    from polyroute.eval.session import Source

    options = EvalOptions(
        models=_split(models),
        judge=judge,
        mode="arena-hard",
        out=out,
        baseline=baseline,
        parallel=parallel,
        max_tokens=max_tokens,
        judge_retries=judge_retries,
        style_control=style_control,
        bootstrap_rounds=bootstrap_rounds,
    )
    source = Source(gateway_url, api_key, questions, None, _split(question_ids) or None, limit, max_retries)
    _run(options, source, database_url, no_store, quiet)
