"""The run's results for people: a table in the terminal and a markdown report beside the files."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _interval(low: float | None, high: float | None, digits: int = 2) -> str:
    return "-" if low is None or high is None else f"[{low:.{digits}f}, {high:.{digits}f}]"


def result_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Column names and rows of the main result, whatever the mode."""
    if "scores" in summary:
        header = ["model", "score", "turn 1", "turn 2", "95% CI", "verdicts"]
        rows = [
            [
                m,
                _num(s["score"]),
                _num(s["turn1"]),
                _num(s["turn2"]),
                _interval(s["ci_low"], s["ci_high"]),
                str(s["judged"]),
            ]
            for m, s in sorted(summary["scores"].items(), key=lambda i: -i[1]["score"])
        ]
    elif "arena" in summary:
        header = ["model", "win rate vs baseline %", "95% CI", "raw weighted %", "battles"]
        rows = [
            [
                m,
                _num(s["score"], 1),
                _interval(s["ci_low"], s["ci_high"], 1),
                _num(s["raw_win_rate"], 1),
                str(s["battles"]),
            ]
            for m, s in summary["arena"].items()
        ]
    else:
        header = ["model", "win", "loss", "tie", "win rate", "loss rate", "adjusted", "95% CI"]
        rows = [
            [
                m,
                str(r["win"]),
                str(r["loss"]),
                str(r["tie"]),
                _num(r["win_rate"], 3),
                _num(r["loss_rate"], 3),
                _num(r["win_rate_adjusted"], 3),
                _interval(r["ci_low"], r["ci_high"], 3),
            ]
            for m, r in summary["win_rates"].items()
        ]
    return header, rows


def category_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    categories = summary.get("categories", [])
    scores = summary.get("scores", {})
    header = ["model", *categories]
    rows = [[m, *(_num(s["categories"].get(c)) for c in categories)] for m, s in scores.items()]
    return header, rows


def print_results(summary: dict[str, Any], console: Console) -> None:
    header, rows = result_rows(summary)
    table = Table(title=f"{summary['mode']} - judge {summary['judge']} - {summary['questions']} questions")
    for name in header:
        table.add_column(name, justify="left" if name == "model" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    judge = summary["judge_usage"]
    console.print(
        f"judge: {judge['requests']} requests, {judge['prompt_tokens']} prompt + "
        f"{judge['completion_tokens']} completion tokens, ${judge['cost']:.6f}; "
        f"gateway spend for the run: ${summary['spend']:.6f}"
    )
    if summary["errors"]:
        console.print(f"[bold red]{len(summary['errors'])} errors[/] (rerun the command to retry them):")
        for error in summary["errors"]:
            where = ", ".join(
                f"{k}={error[k]}"
                for k in ("model", "model_1", "model_2", "question_id", "turn")
                if error.get(k) is not None
            )
            console.print(f"  {error['phase']}: {where}: {error['error']}")


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def clean(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(clean(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return lines


def markdown_report(summary: dict[str, Any], charts: list[str]) -> str:
    lines = [
        f"# Evaluation {summary['run_id']}",
        "",
        f"- mode: {summary['mode']}; judge: `{summary['judge']}`"
        + (f"; baseline: `{summary['baseline']}`" if summary.get("baseline") else ""),
        f"- {summary['questions']} questions; {summary['judgments']} judgments; created {summary['created']}",
        "",
        "## Results",
        "",
        *_markdown_table(*result_rows(summary)),
        "",
    ]
    if summary.get("scores"):
        lines += ["## Per category", "", *_markdown_table(*category_rows(summary)), ""]
    judge = summary["judge_usage"]
    lines += [
        "## Cost",
        "",
        f"- judge: {judge['requests']} requests, {judge['prompt_tokens']} prompt tokens, "
        f"{judge['completion_tokens']} completion tokens, ${judge['cost']:.6f}",
    ]
    for model, usage in summary["answer_usage"].items():
        lines.append(f"- answers of `{model}`: {usage['requests']} requests, ${usage['cost']:.6f}")
    lines += [f"- gateway spend for the run: ${summary['spend']:.6f}", ""]
    if charts:
        lines += ["## Charts", "", *(f"![{name}](charts/{name})" for name in charts), ""]
    lines += ["## Errors", ""]
    if summary["errors"]:
        lines += [
            f"- {e['phase']} {e.get('model') or e.get('model_1')} question {e['question_id']}: {e['error']}"
            for e in summary["errors"]
        ]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"
