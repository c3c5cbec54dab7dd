"""The `polyroute` command."""

from __future__ import annotations

from typing import Annotated

import typer

from polyroute import __version__
from polyroute.cli import controller as controller_commands
from polyroute.cli import eval as eval_commands
from polyroute.cli import serve as serve_commands
from polyroute.cli import ui as ui_commands
from polyroute.cli import worker as worker_commands

app = typer.Typer(
    help="polyroute: one OpenAI-compatible endpoint in front of many LLM providers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's plain help: it wraps to the terminal (80 columns at most) and never cuts an
    # option's name, as rich's boxed tables did in an 80-column terminal.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"polyroute {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """polyroute: one OpenAI-compatible endpoint in front of many LLM providers."""
app.command("serve")(serve_commands.serve)
app.command("check-config")(serve_commands.check_config)
app.command("worker")(worker_commands.worker)
app.command("controller")(controller_commands.controller)
app.add_typer(eval_commands.app, name="eval")
app.command("ui")(ui_commands.ui)


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
