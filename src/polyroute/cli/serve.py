"""`polyroute serve` and `polyroute check-config`."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from polyroute.auth.master_key import is_loopback
from polyroute.cli.log_options import LogDirOption, LogFormatOption, LogLevelOption, start_logging
from polyroute.config.loader import ConfigError, GatewayConfig, load_config
from polyroute.logs import export_to_env, protect_secrets
from polyroute.observability.multiprocess import ENV_VAR as METRICS_DIR_ENV
from polyroute.server.process import can_exec, exec_serving_process
from polyroute.server.shutdown import DEFAULT_GRACE_S as DEFAULT_GRACEFUL_SHUTDOWN_S
from polyroute.server.shutdown import ENV_VAR as GRACE_ENV
from polyroute.state.worker_files import ENV_VAR as REGISTRY_DIR_ENV

log = logging.getLogger("polyroute.cli")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="LiteLLM-style config.yaml (or a FastChat API-endpoint JSON file)."),
]
GracefulShutdownOption = Annotated[
    float,
    typer.Option(
        "--timeout-graceful-shutdown",
        envvar="POLYROUTE_TIMEOUT_GRACEFUL_SHUTDOWN",
        min=0.1,
        help="On SIGTERM, seconds to let requests in flight finish (readiness answers 503 "
        "meanwhile) before they end with an error (billed for what they produced); keep it below "
        "half your supervisor's kill timeout.",
    ),
]
WORKER_START_TIMEOUT_S = 90  # seconds (uvicorn takes an int)
EndpointOption = Annotated[
    Path | None,
    typer.Option("--register-api-endpoint-file", help="FastChat API-endpoint JSON file to load as models."),
]


AllowUnknownOption = Annotated[
    bool,
    typer.Option(
        "--allow-unknown",
        help="Accept config keys neither polyroute nor LiteLLM knows (each is still reported); "
        "without it such a key, usually a typo, stops the command.",
    ),
]


def _load_or_exit(config: Path | None, endpoint_file: Path | None) -> GatewayConfig:
    try:
        return load_config(config, os.environ, endpoint_file)
    except ConfigError as exc:
        typer.echo(f"polyroute: config error: {exc}", err=True)
        raise typer.Exit(2) from None


def _describe(loaded: GatewayConfig) -> list[str]:
    lines = []
    for deployment in loaded.models.deployments:
        d = deployment.describe()
        lines.append(
            f"  {d['model_name']:<28} -> {d['provider']}/{d['model']}"
            + (f" at {d['api_base']}" if d["api_base"] else "")
        )
    return lines


def _redis_configured(loaded: GatewayConfig) -> bool:
    from polyroute.config.env_refs import MissingCredentialError
    from polyroute.state.factory import redis_settings

    try:
        return bool(redis_settings(loaded.state_settings, loaded.env))
    except MissingCredentialError as exc:
        typer.echo(f"polyroute: config error: {exc}", err=True)
        raise typer.Exit(2) from None


def unknown_keys_or_exit(loaded: GatewayConfig, allow: bool, say: Callable[[str], None]) -> None:
    """Reports keys neither polyroute nor LiteLLM knows (with the nearest known name); exits 2
    unless `allow`. A misspelled master_key is said loudly: the gateway would run without it."""
    kind = "warning" if allow else "error"
    for key in loaded.unknown_keys:
        say(f"{kind}: {key.message}")
        master_typo = key.near == "master_key" and key.path.startswith("general_settings.")
        if master_typo and loaded.master_key is None:
            say(f"{kind}: NO MASTER KEY IS SET: '{key.path}' is not 'master_key'")
    if loaded.unknown_keys and not allow:
        typer.echo(
            f"polyroute: config error: {len(loaded.unknown_keys)} unknown config key(s), listed above; "
            "fix them, or pass --allow-unknown to accept them",
            err=True,
        )
        raise typer.Exit(2)


def check_config(
    config_file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE", help="The config file (the same as --config).", show_default=False),
    ] = None,
    config: ConfigOption = None,
    endpoint_file: EndpointOption = None,
    allow_unknown: AllowUnknownOption = False,
) -> None:
    """Validate a config without serving: exit 0 when it loads, 2 with the reason when not."""
    if config_file is not None and config is not None and config_file != config:
        typer.echo("polyroute: give the config file once (as an argument or with --config)", err=True)
        raise typer.Exit(2)
    loaded = _load_or_exit(config_file or config, endpoint_file)
    shared = "redis" if _redis_configured(loaded) else "in-process"
    for warning in loaded.warnings:
        typer.echo(f"warning: {warning}", err=True)
    unknown_keys_or_exit(loaded, allow_unknown, lambda line: typer.echo(line, err=True))
    typer.echo(f"config OK ({loaded.source}): {len(loaded.models.deployments)} deployments")
    for line in _describe(loaded):
        typer.echo(line)
    typer.echo(
        f"master key: {'set (' + (loaded.master_key.source or '') + ')' if loaded.master_key else 'not set'}"
    )
    typer.echo(f"routing: {loaded.router.routing_strategy}, shared state: {shared}")
    typer.echo(f"client-side credentials: {_client_credentials_summary(loaded)}")
    typer.echo(f"database: {_database_target(loaded)}")
    remote = _remote_logger(loaded)
    typer.echo(f"remote logger: {remote or 'off'}")


def _client_credentials_summary(loaded: GatewayConfig) -> str:
    """What clients may bring, in one line (check-config prints it, serve logs it)."""
    settings = loaded.client_credentials
    user_config = {
        None: "on",
        True: "on (unauthenticated callers too)",
        False: "off (general_settings.allow_user_config)",
    }
    parts = ["user_config: " + user_config[settings.user_config]]
    if settings.any_model:
        parts.append("api_key/api_base/api_version: every model (allow_client_side_credentials)")
    models = sorted(
        {
            d.model_name
            for d in loaded.models.deployments
            if d.client_policy is not None and d.client_policy.listed
        }
    )
    if models:
        parts.append(
            "per-request params: " + ", ".join(models) + (" (own lists)" if settings.any_model else "")
        )
    elif not settings.any_model:
        parts.append("per-request params: no model")
    allowlist = settings.allowlist
    allowed = [str(n) for n in allowlist.networks] + sorted(allowlist.hosts)
    parts.append(f"private addresses allowed: {', '.join(allowed) if allowed else 'none'}")
    return "; ".join(parts)


def _remote_logger(loaded: GatewayConfig) -> str | None:
    """REMOTE_LOGGER_URL as it will be used (without user info or query), or None when unset."""
    from polyroute.observability.remote_log import RemoteLogConfigError, display_url, remote_log_settings

    try:
        settings = remote_log_settings(loaded.env)
    except RemoteLogConfigError as exc:
        typer.echo(f"polyroute: config error: {exc}", err=True)
        raise typer.Exit(2) from None
    return display_url(settings[0]) if settings else None


def _database_target(loaded: GatewayConfig) -> str:
    """Where keys and spend live, without the password."""
    from sqlalchemy.engine import make_url

    from polyroute.store.database import DatabaseConfigError, async_url, data_dir_from

    try:
        url = async_url(loaded.database_url, data_dir_from(loaded.env))
    except DatabaseConfigError as exc:
        typer.echo(f"polyroute: config error: {exc}", err=True)
        raise typer.Exit(2) from None
    return make_url(url).render_as_string(hide_password=True)


def _migrate_in_child(loaded: GatewayConfig) -> None:
    """Brings the schema up to date in a short-lived child process, so that the serving
    processes never import Alembic (~15 MB each). Should the child fail, each serving process
    still migrates (or reports the database) at start-up as before: nothing is decided here."""
    from polyroute.store.database import async_url, data_dir_from
    from polyroute.store.migrate import URL_ENV

    if not loaded.database_url:
        data_dir_from(loaded.env).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env[URL_ENV] = async_url(loaded.database_url, data_dir_from(loaded.env))
    command = [sys.executable, "-m", "polyroute.store.migrate"]
    child = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603  # our own module
    if child.returncode != 0:
        reason = child.stderr.strip().splitlines()[-1:] or ["no output"]
        log.warning("schema migration in a child process failed (%s); migrating in-process", reason[0])


def serve(
    config: ConfigOption = None,
    endpoint_file: EndpointOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on (LiteLLM's default, so clients keep their URL).")
    ] = 4000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    allow_unauthenticated: Annotated[
        bool,
        typer.Option(
            help="Serve non-loopback clients although no master key is set. "
            "Anyone who reaches the port can spend your provider keys."
        ),
    ] = False,
    log_level: LogLevelOption = "info",
    log_format: LogFormatOption = "auto",
    log_dir: LogDirOption = None,
    log_component: Annotated[str, typer.Option(hidden=True)] = "serve",
    allow_unknown: AllowUnknownOption = False,
    timeout_graceful_shutdown: GracefulShutdownOption = DEFAULT_GRACEFUL_SHUTDOWN_S,
    ui: Annotated[
        bool, typer.Option("--ui", help="Also start the web UI (chat, arena, leaderboard) on loopback.")
    ] = False,
    ui_port: Annotated[int, typer.Option(help="Port of the web UI started by --ui.")] = 7860,
) -> None:
    """Run the gateway. With no config, models come from provider keys in the environment,
    and the offline `mock` provider is always available."""
    start_logging(log_level, log_format, log_dir, log_component)
    loaded = _load_or_exit(config, endpoint_file)
    protect_secrets(loaded.redactor)
    _remote_logger(loaded)  # a REMOTE_LOGGER_URL polyroute cannot use stops start-up here
    _redis_configured(loaded)  # a missing os.environ/ reference stops start-up here, in one line
    _database_target(loaded)  # so does a database URL polyroute cannot use
    for warning in loaded.warnings:
        log.warning(warning)
    unknown_keys_or_exit(loaded, allow_unknown, log.error if not allow_unknown else log.warning)
    log.info("client-side credentials: %s", _client_credentials_summary(loaded))
    if loaded.master_key is None and not is_loopback(host) and not allow_unauthenticated:
        typer.echo(
            f"polyroute: refusing to listen on {host} without a master key: set POLYROUTE_MASTER_KEY "
            "(or general_settings.master_key), or pass --allow-unauthenticated",
            err=True,
        )
        raise typer.Exit(2)
    if loaded.master_key is None and allow_unauthenticated:
        log.warning("NO AUTHENTICATION: serving every client on %s:%d without a master key", host, port)
    _migrate_in_child(loaded)
    log.info(
        "polyroute serving %d deployments from %s on http://%s:%d (master key %s)",
        len(loaded.models.deployments),
        loaded.source,
        host,
        port,
        "set" if loaded.master_key else "not set",
    )
    # The serving process (exec'd below, or each of --workers N) rebuilds the app from the
    # environment; only `--ui` and Windows keep serving in this process, with what we loaded.
    os.environ["POLYROUTE_CONFIG"] = str(config or "")
    os.environ["POLYROUTE_ENDPOINT_FILE"] = str(endpoint_file or "")
    os.environ["POLYROUTE_ALLOW_UNAUTHENTICATED"] = "1" if allow_unauthenticated else "0"
    os.environ["POLYROUTE_WORKERS"] = str(workers)
    os.environ[GRACE_ENV] = str(timeout_graceful_shutdown)  # the drain on SIGTERM (server/shutdown.py)
    export_to_env(os.environ, log_level.lower(), log_format.lower(), str(log_dir or ""), log_component)
    if workers > 1 and not _redis_configured(loaded):
        log.warning(
            "%d workers without Redis: each enforces 1/%d of every rpm/tpm limit, and each enforces key, "
            "team and user budgets on its own; cooldowns and latency statistics are per worker (the "
            "registry of model workers is shared through a folder of this run). Set "
            "router_settings.redis_host (or redis_url) to share them.",
            workers,
            workers,
        )
    if workers == 1 and not ui and can_exec():
        exec_serving_process(host, port)  # never returns: this process becomes the server
    from polyroute.server.connections import uvicorn_options

    common = {
        "host": host,
        "port": port,
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "log_level": log_level.lower(),
        "log_config": None,  # uvicorn's loggers go through ours (polyroute/logs.py)
        "timeout_graceful_shutdown": timeout_graceful_shutdown,
        # httptools with header, time and connection bounds (server/connections.py)
        **uvicorn_options(loaded.limits),
    }
    with contextlib.ExitStack() as stack:
        if ui:
            from polyroute.cli.ui import ui_child

            demo = config is None and endpoint_file is None  # the mock-only default: offer two mock models
            stack.enter_context(ui_child(port, ui_port, demo, loaded.database_url))
        _run_uvicorn(loaded, workers, allow_unauthenticated, common)


def _run_uvicorn(loaded: GatewayConfig, workers: int, allow_unauthenticated: bool, common: dict) -> None:
    import uvicorn

    if workers > 1:
        with _run_folder("polyroute-metrics-") as metrics, _run_folder("polyroute-workers-") as registry:
            os.environ[METRICS_DIR_ENV] = str(metrics)
            # Read only without Redis (state/factory.py): then the processes share FastChat's
            # worker registry through this folder, as they would through Redis.
            os.environ[REGISTRY_DIR_ENV] = str(registry)
            uvicorn.run(
                "polyroute.server.app:create_app_from_env",
                factory=True,
                workers=workers,
                # How long a replacement process may take to serve on SIGHUP (and a process to
                # answer the supervisor's ping): uvicorn's 5 s default aborts a reload whenever
                # start-up (imports, the database) is slower, as on a busy machine.
                timeout_worker_healthcheck=WORKER_START_TIMEOUT_S,
                **common,
            )
    else:
        from polyroute.server.app import create_app
        from polyroute.server.state import AppState

        state = AppState.build(loaded, open_access=allow_unauthenticated)
        app = create_app(state, common["timeout_graceful_shutdown"])
        uvicorn.run(app, **common)


@contextlib.contextmanager
def _run_folder(prefix: str) -> Iterator[Path]:
    """A fresh folder for one run of the worker processes (removed after): where they publish
    their metrics, so a scrape of any one reports the sum over all
    (observability/multiprocess.py), and without Redis, their shared worker registry
    (state/worker_files.py)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
