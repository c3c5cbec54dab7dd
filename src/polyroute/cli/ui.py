"""`polyroute ui`: the chat web UI, arena and leaderboard, as a client of a gateway; and the
child process `polyroute serve --ui` starts beside the gateway."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from polyroute.cli.log_options import LogDirOption, LogFormatOption, LogLevelOption, start_logging

log = logging.getLogger("polyroute.cli")

DEFAULT_UI_PORT = 7860  # FastChat's gradio web server port
# With no gateway config the gateway lists one mock model; the arena needs two. mock/<name>
# always resolves, so the offline demo's arena (this file) battles two of those.
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "ui" / "demo.yaml"


def ui(
    gateway_url: Annotated[
        str, typer.Option(help="The gateway's base URL; the UI calls only its public /v1 API.")
    ] = "http://127.0.0.1:4000",
    key_env: Annotated[
        str | None,
        typer.Option(
            help="Environment variable holding a key for the 'local user' sign-in, which is offered to "
            "browsers on this machine's loopback only. Without it, that sign-in is offered only when the "
            "gateway serves the UI without a key (no master key, loopback)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on (FastChat's web server port).")
    ] = DEFAULT_UI_PORT,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="UI YAML: arena sampling_weights, battle_targets, models (docs/ui.md)."
        ),
    ] = None,
    extra_model: Annotated[
        list[str] | None, typer.Option(help="A model to offer besides what /v1/models lists (repeatable).")
    ] = None,
    turn_limit: Annotated[
        int | None,
        typer.Option(
            min=1, help="Turns per conversation (default: POLYROUTE_ARENA_MAX_TURNS, FastChat's 50)."
        ),
    ] = None,
    session_expiry: Annotated[
        int, typer.Option(min=60, help="Seconds a session lives after its last use (FastChat's 3600).")
    ] = 3600,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            help="Mark the session cookie Secure (browsers then send it over HTTPS and to localhost only)."
        ),
    ] = True,
    log_level: LogLevelOption = "info",
    log_format: LogFormatOption = "json",
    log_dir: LogDirOption = None,
) -> None:
    """Serve the chat web UI, the arena (battle and side-by-side) and the leaderboard. It talks to
    the gateway only through its public API with each signed-in user's key. Environment:
    FASTCHAT_INPUT_CHAR_LEN_LIMIT, FASTCHAT_BLIND_MODE_INPUT_CHAR_LEN_LIMIT, LOGDIR, DATABASE_URL,
    POLYROUTE_DATA_DIR, POLYROUTE_UI_SECRET, COPILOT_ARENA_LEADERBOARD_URL."""
    import uvicorn

    from polyroute.arena.settings import ArenaSettings, ArenaSettingsError
    from polyroute.ui.app import create_ui_app
    from polyroute.ui.settings import UISettingsError, settings_from

    start_logging(log_level, log_format, log_dir, "ui")
    try:
        arena = ArenaSettings.from_env(os.environ)  # a bad arena variable stops start-up here, named
        settings = settings_from(
            os.environ,
            gateway_url,
            key_env=key_env,
            config_path=config,
            conversation_turn_limit=turn_limit or arena.max_turns,
            session_expiration_s=session_expiry,
            secure_cookies=secure_cookies,
        )
    except (UISettingsError, ArenaSettingsError) as exc:
        typer.echo(f"polyroute ui: {exc}", err=True)
        raise typer.Exit(2) from None
    if settings.service_key is not None:
        from polyroute.logs import protect_secrets

        protect_secrets(values=[settings.service_key.reveal()])  # masked in every log line
    if extra_model:
        arena = settings.arena.model_copy(update={"models": [*settings.arena.models, *extra_model]})
        settings = settings.model_copy(update={"arena": arena})
    typer.echo(f"polyroute ui: web UI on http://{host}:{port}/ (gateway {settings.gateway_url})", err=True)
    uvicorn.run(
        create_ui_app(settings),
        host=host,
        port=port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        access_log=False,
        log_level=log_level.lower(),
        log_config=None,
        lifespan="on",
        server_header=False,
    )


def _exit_with_parent() -> Callable[[], None] | None:
    """A preexec function asking Linux to send SIGTERM to the child when its parent dies.
    libc is loaded here, before the fork: the child only calls the loaded function."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def arm() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return arm


@contextlib.contextmanager
def ui_child(gateway_port: int, ui_port: int, demo_models: bool, database_url: str | None) -> Iterator[None]:
    """`polyroute ui` as a child of `polyroute serve --ui`, on loopback, stopped with the gateway.
    The database URL travels in the child's environment, never on its command line."""
    command = [
        sys.executable,
        "-m",
        "polyroute",
        "ui",
        "--gateway-url",
        f"http://127.0.0.1:{gateway_port}",
        "--port",
        str(ui_port),
    ]
    if demo_models:
        command += ["--config", str(DEMO_CONFIG)]
    env = dict(os.environ)
    if database_url:
        env["DATABASE_URL"] = database_url
    # uvicorn ends `serve` on SIGTERM by raising the signal again, which kills the process
    # before this context exits: on Linux the kernel then stops the child (PR_SET_PDEATHSIG).
    child = subprocess.Popen(command, env=env, preexec_fn=_exit_with_parent())  # noqa: S603
    log.info("web UI (chat, arena, leaderboard) on http://127.0.0.1:%d/", ui_port)
    try:
        yield
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
