"""`polyroute controller`: the controller on its own (FastChat's `fastchat.serve.controller`).

It is the gateway's app on FastChat's controller port: workers register with it and, since it
carries the router too, it also serves /v1 for the models of its config and its workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from polyroute.cli.log_options import LogDirOption, LogFormatOption, LogLevelOption
from polyroute.cli.serve import DEFAULT_GRACEFUL_SHUTDOWN_S, ConfigOption, GracefulShutdownOption, serve


def controller(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (FastChat's controller default).")] = 21001,
    dispatch_method: Annotated[
        str | None, typer.Option(help="lottery or shortest_queue (overrides controller_settings).")
    ] = None,
    allow_unauthenticated: Annotated[bool, typer.Option(help="As for `polyroute serve`.")] = False,
    log_level: LogLevelOption = "info",
    log_format: LogFormatOption = "auto",
    log_dir: LogDirOption = None,
    timeout_graceful_shutdown: GracefulShutdownOption = DEFAULT_GRACEFUL_SHUTDOWN_S,
) -> None:
    """Run the controller (and the gateway with it) on FastChat's controller port."""
    import os

    if dispatch_method is not None:
        if dispatch_method not in ("lottery", "shortest_queue"):
            typer.echo("polyroute controller: --dispatch-method must be lottery or shortest_queue", err=True)
            raise typer.Exit(2)
        os.environ["POLYROUTE_DISPATCH_METHOD"] = dispatch_method
    serve(
        config=Path(config) if config else None,
        endpoint_file=None,
        host=host,
        port=port,
        workers=1,
        allow_unauthenticated=allow_unauthenticated,
        log_level=log_level,
        log_format=log_format,
        log_dir=log_dir,
        log_component="controller",
        timeout_graceful_shutdown=timeout_graceful_shutdown,
    )
