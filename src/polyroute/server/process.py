"""The process `polyroute serve` leaves serving (one worker): the gateway without the command line.

`polyroute serve` parses its options, loads and checks the config, migrates the schema and says
what it will serve; then it replaces itself (exec: the same process id, standard streams and
environment, so a supervisor, `docker stop` or `kill` reach the server as before) with
`python -m polyroute serve ...`, which finds the marker below and runs `main` here instead of the
command line: the gateway built from the environment the command exported, served by uvicorn.
The command's own modules (typer, its copy of click, the CLI) would otherwise stay loaded for the
life of the server: about 2 MB of every serving process (bench/results/memory.md).

The marker holds the process id, so a process this one starts (the schema migration, a worker)
never takes it for its own.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

SERVING_ENV = "POLYROUTE_SERVING_PID"  # set by `polyroute serve` just before the exec
HOST_ENV = "POLYROUTE_SERVE_HOST"
PORT_ENV = "POLYROUTE_SERVE_PORT"


def can_exec() -> bool:
    """Where a process can replace itself keeping its id (not Windows, where exec starts a new
    process), with an interpreter to run."""
    return os.name == "posix" and bool(sys.executable)


def exec_serving_process(host: str, port: int) -> NoReturn:
    """Replaces the `polyroute serve` command with its serving process. The config, logging and
    shutdown settings must already be in the environment (cli/serve.py exports them)."""
    from polyroute.logs import installed

    os.environ[HOST_ENV] = host
    os.environ[PORT_ENV] = str(port)
    os.environ[SERVING_ENV] = str(os.getpid())
    setup = installed()
    if setup is not None:
        setup.stop()  # the command's last log lines out before the exec discards the writer thread
    sys.stdout.flush()
    sys.stderr.flush()
    # `python -m polyroute serve <the same options>`: what `ps` shows stays a polyroute serve.
    os.execv(sys.executable, [sys.executable, "-m", "polyroute", *sys.argv[1:]])  # noqa: S606  # our own module


def is_serving_process() -> bool:
    """Whether this process is one `polyroute serve` exec'd (the marker names this very process)."""
    return os.environ.get(SERVING_ENV) == str(os.getpid())


def main() -> None:
    os.environ.pop(SERVING_ENV, None)  # nothing this process starts inherits it
    import uvicorn

    from polyroute.logs import ENV_LEVEL
    from polyroute.server.app import create_app_from_env
    from polyroute.server.connections import uvicorn_options
    from polyroute.server.shutdown import grace_from_env

    app = create_app_from_env()  # logging set up again from the exported settings first
    uvicorn.run(
        app,
        host=os.environ[HOST_ENV],
        port=int(os.environ[PORT_ENV]),
        loop="uvloop",
        log_level=os.environ.get(ENV_LEVEL) or "info",
        log_config=None,  # uvicorn's loggers go through ours (polyroute/logs.py)
        timeout_graceful_shutdown=grace_from_env(os.environ),
        **uvicorn_options(app.state.config.limits),
    )
