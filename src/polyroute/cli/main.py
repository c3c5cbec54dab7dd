"""The `polyroute` command."""

from __future__ import annotations

import typer

from polyroute import __version__
from polyroute.cli import controller as controller_commands
from polyroute.cli import serve as serve_commands
from polyroute.cli import ui as ui_commands
from polyroute.cli import worker as worker_commands

app = typer.Typer(
    help="polyroute: one OpenAI-compatible endpoint in front of many LLM providers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_commands.serve)
app.command("check-config")(serve_commands.check_config)
app.command("worker")(worker_commands.worker)
app.command("controller")(controller_commands.controller)
app.command("ui")(ui_commands.ui)


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
