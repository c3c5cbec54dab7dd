"""The logging options every command shares (--log-level, --log-format, --log-dir / LOGDIR)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from polyroute.logs import LogSetup, configure_logging

LogLevelOption = Annotated[str, typer.Option(help="debug, info, warning or error.")]
LogFormatOption = Annotated[
    str,
    typer.Option(
        envvar="POLYROUTE_LOG_FORMAT",
        help="auto (console when the log goes to a terminal, else json), json (one JSON object "
        "per line) or console (readable lines).",
    ),
]
LogDirOption = Annotated[
    Path | None,
    typer.Option(
        "--log-dir",
        envvar="LOGDIR",
        help="Also append JSON lines to <dir>/polyroute-<command>.log, made if missing (FastChat's LOGDIR).",
        show_default=False,
    ),
]


def start_logging(level: str, fmt: str, logdir: Path | None, component: str) -> LogSetup:
    """configure_logging, with a bad option or an unwritable LOGDIR reported in one line."""
    try:
        return configure_logging(level.lower(), fmt.lower(), logdir, component)
    except (ValueError, OSError) as exc:
        typer.echo(f"polyroute {component}: {exc}", err=True)
        raise typer.Exit(2) from None
