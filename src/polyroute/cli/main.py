"""The `polyroute` command."""

from __future__ import annotations

import typer

from polyroute import __version__
from polyroute.cli import serve as serve_commands

app = typer.Typer(
    help="polyroute: one OpenAI-compatible endpoint in front of many LLM providers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_commands.serve)
app.command("check-config")(serve_commands.check_config)


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
