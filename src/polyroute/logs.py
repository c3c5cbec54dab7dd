"""Process-wide logging: structured lines (structlog) for every logger, secrets masked.

Modules keep asking for named stdlib loggers (`logging.getLogger("polyroute.router")`); the root
logger gets one handler that routes every record through structlog's `ProcessorFormatter`, so
polyroute's, uvicorn's and libraries' lines all come out the same way: one JSON object per line
(`timestamp`, `level`, `logger`, `event`, `pid`, `request_id` when a request is in scope, the
`extra=` fields, `exception`) or, with `--log-format console`, structlog's readable console lines.
The default, `auto`, picks console lines when stderr is a terminal and JSON otherwise.

Why a queue: the event loop only builds the record (and notes the request id from the context
variable the server sets); a thread renders it, masks secrets and writes it to stderr and to the
LOGDIR file, so a slow terminal, pipe or disk never stalls a request. A record below the level
costs what stdlib's level check costs: nothing is built.

LOGDIR (FastChat's variable): when set, JSON lines also go to `<LOGDIR>/polyroute-<command>.log`
(`serve`, `controller`, `worker`), the folder made if missing. The processes of `--workers N`
share that one file: it is opened with O_APPEND and each line is written with a single
`os.write`, which the kernel appends whole at the end of the file, so lines of different
processes never interleave (true of local filesystems; NFS does not honour O_APPEND). One file
per command, not per process id, so an operator tails one file and restarts do not leave a trail
of files; a file moved away by logrotate is reopened (as WatchedFileHandler does).
"""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from polyroute.secrets import Redactor


def _import_structlog_without_rich() -> Any:
    """structlog's `dev` and `tracebacks` modules import rich (with pygments and attrs) when it is
    installed, for pretty tracebacks no polyroute process uses (console lines are rendered with
    `plain_traceback`, JSON lines with `format_exc_info`): ~3 MB in every serving process. A None in
    sys.modules makes their `import rich` fail as if rich were absent; the entry is removed again,
    so commands that draw with rich themselves (`polyroute eval`) still import it."""
    if "structlog" in sys.modules or "rich" in sys.modules:
        import structlog

        return structlog
    sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog
    finally:
        if sys.modules.get("rich", ...) is None:
            del sys.modules["rich"]
    return structlog


if TYPE_CHECKING:
    import structlog
else:
    structlog = _import_structlog_without_rich()

LOG_FORMATS = ("json", "console")
AUTO = "auto"  # console when the log stream is a terminal, else json
LOG_LEVELS = ("debug", "info", "warning", "error")
REDACTED = "[redacted]"
STOP_WAIT_S = 5.0  # how long a re-entered stop waits for the writer's last lines
QUEUE_SIZE = 10_000  # lines waiting for the writer thread; beyond that, lines are dropped (counted)
# Field names whose values are never shown, whatever they look like.
SECRET_FIELDS = frozenset(
    {"api_key", "apikey", "authorization", "master_key", "password", "secret", "token", "key", "x-api-key"}
)
# Environment handed to the processes of `--workers N` (spawned: they set up logging again).
ENV_LEVEL, ENV_FORMAT, ENV_DIR, ENV_COMPONENT = (
    "POLYROUTE_LOG_LEVEL",
    "POLYROUTE_LOG_FORMAT",
    "POLYROUTE_LOG_DIR",
    "POLYROUTE_LOG_COMPONENT",
)

# The id of the request being served (set by the server for each request; copied into every
# task the request starts, so the router's attempt loop and the stream relay log it too).
REQUEST_ID: ContextVar[str | None] = ContextVar("polyroute_request_id", default=None)

_HANDLER_MARK = "_polyroute_handler"


# -- processors ---------------------------------------------------------------------------------------
class Redaction:
    """Masks secrets in every string of an event: values known from the config (provider keys,
    the master key, worker tokens) and anything shaped like a key (secrets.Redactor), including
    nested values, exception text and whole fields named like credentials."""

    def __init__(self) -> None:
        self._redactors: list[Redactor] = [Redactor()]

    def protect(self, redactor: Redactor) -> None:
        if all(r is not redactor for r in self._redactors):
            self._redactors.append(redactor)

    def protect_values(self, values: Iterable[str | None]) -> None:
        for value in values:
            self._redactors[0].add(value)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for redactor in self._redactors:
                value = redactor.scrub(value)
            return value
        if isinstance(value, dict):
            return {k: REDACTED if _secret_name(k) else self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.scrub(str(value))  # anything else is shown as its (masked) text

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v if k.startswith("_") else (REDACTED if _secret_name(k) else self.scrub(v))
            for k, v in event.items()
        }


def _secret_name(name: object) -> bool:
    return isinstance(name, str) and name.lower() in SECRET_FIELDS


def _from_record(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Time, process and request id from the record (noted when it was made, not when written)."""
    record: logging.LogRecord | None = event.get("_record")
    if record is not None:
        event["timestamp"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        event["pid"] = record.process
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            event["request_id"] = request_id
        else:
            event.pop("request_id", None)  # ExtraAdder copied the empty attribute
        event.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
        dropped = getattr(record, "log_lines_dropped", None)
        if dropped:
            event["log_lines_dropped"] = dropped
    return event


def _add_request_id(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog's own loggers: the request id of the calling context."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _dumps(value: Any, default: Any = None, **_: Any) -> str:
    return orjson.dumps(value, default=default or str, option=orjson.OPT_NON_STR_KEYS).decode()


def resolve_format(fmt: str, stream: Any) -> str:
    """`auto`: readable lines for a person at a terminal, JSON lines for whatever reads a pipe or
    a file (a log shipper, journald, docker). The stream the lines go to decides (stderr)."""
    if fmt != AUTO:
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "console" if isatty is not None and isatty() else "json"


def build_formatter(fmt: str, redaction: Redaction) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of one output: `json` (one object per line) or `console`."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {AUTO}, {', '.join(LOG_FORMATS)}, not {fmt!r}")
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            _from_record,
            structlog.processors.format_exc_info,
            redaction,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )


# -- handlers -------------------------------------------------------------------------------------------
class _Enqueue(logging.handlers.QueueHandler):
    """On the caller's thread: fixes the message and notes the request id; never blocks."""

    def __init__(self, target: queue.Queue[Any]) -> None:
        super().__init__(target)
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        if not isinstance(record.msg, dict):  # structlog's own loggers pass their event dict
            record.msg = record.getMessage()  # now, while the arguments still hold these values
            record.args = None
        if getattr(record, "request_id", None) is None:  # an explicit extra={"request_id": ...} wins
            record.request_id = REQUEST_ID.get()
        if self.dropped:
            record.log_lines_dropped, self.dropped = self.dropped, 0
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class AppendLineHandler(logging.Handler):
    """Appends each formatted line with one write() to a file opened O_APPEND (line-atomic between
    processes on a local filesystem); reopens the path when logrotate moved the file away."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd = -1
        self._identity: tuple[int, int] | None = None
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        stat = os.fstat(self._fd)
        self._identity = (stat.st_dev, stat.st_ino)

    def _reopen_if_moved(self) -> None:
        try:
            stat = os.stat(self.path)
            moved = (stat.st_dev, stat.st_ino) != self._identity
        except FileNotFoundError:
            moved = True
        if moved:
            os.close(self._fd)
            self._open()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
            self._reopen_if_moved()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except Exception:  # noqa: BLE001  # logging must never raise into the application
            self.handleError(record)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


class LogSetup:
    """What `configure_logging` installed: the redaction (to protect more secrets with) and the
    writer thread (stopped, flushing what is queued, at exit)."""

    def __init__(self, redaction: Redaction, listener: logging.handlers.QueueListener, file: Path | None):
        self.redaction = redaction
        self.listener = listener
        self.file = file
        self._stopping = False

    def stop(self) -> None:
        thread = self.listener._thread  # noqa: SLF001  # stop() is not idempotent
        if self._stopping:
            # Re-entered: SIGTERM's handler (`_flush_and_terminate`) ran while this thread was
            # stopping the writer. A second join from inside the first never returns; waiting
            # for the thread to end (it is writing its last lines) does.
            deadline = time.monotonic() + STOP_WAIT_S
            while thread is not None and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            return
        self._stopping = True
        if thread is not None:
            self.listener.stop()
        for handler in self.listener.handlers:
            handler.close()


def log_file_name(component: str) -> str:
    return f"polyroute-{component}.log"


def configure_logging(
    level: str = "info",
    fmt: str = "json",
    logdir: str | os.PathLike[str] | None = None,
    component: str = "serve",
    stream: Any = None,
) -> LogSetup:
    """Installs the handlers on the root logger (replacing an earlier set-up): polyroute's loggers
    at `level`, other libraries' at warning and above, uvicorn's at `level`."""
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    redaction = Redaction()
    stream = stream or sys.stderr
    console = logging.StreamHandler(stream)
    console.setFormatter(build_formatter(resolve_format(fmt, stream), redaction))
    outputs: list[logging.Handler] = [console]
    file: Path | None = None
    if logdir:
        folder = Path(logdir)
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / log_file_name(component)
        appender = AppendLineHandler(file)
        appender.setFormatter(build_formatter("json", redaction))
        outputs.append(appender)
    lines: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
    listener = logging.handlers.QueueListener(lines, *outputs, respect_handler_level=False)
    enqueue = _Enqueue(lines)
    setattr(enqueue, _HANDLER_MARK, LogSetup(redaction, listener, file))

    root = logging.getLogger()
    for old in [h for h in root.handlers if hasattr(h, _HANDLER_MARK)]:
        root.removeHandler(old)
        getattr(old, _HANDLER_MARK).stop()
    root.addHandler(enqueue)
    root.setLevel(logging.WARNING)
    for name in ("polyroute", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.setLevel(level.upper())
        logger.handlers[:] = []
        logger.propagate = True
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # below the level: nothing else runs
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    listener.start()
    setup: LogSetup = getattr(enqueue, _HANDLER_MARK)
    atexit.register(setup.stop)
    _flush_before_sigterm_ends_the_process()
    return setup


def _flush_before_sigterm_ends_the_process() -> None:
    """uvicorn ends a server stopped by SIGTERM (systemd, docker stop, Kubernetes) by raising the
    signal again once its shutdown is done; the default action then kills the process without
    running atexit, and the last lines still queued for the writer thread (the shutdown's own,
    such as a worker's deregistration) were lost. This handler, which uvicorn restores before
    raising, writes them out and then lets SIGTERM end the process as before (same exit status)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # someone else's handler (a test runner, an embedding application): keep it
    signal.signal(signal.SIGTERM, _flush_and_terminate)


def _flush_and_terminate(signum: int, frame: Any) -> None:
    setup = installed()
    if setup is not None:
        setup.stop()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def installed() -> LogSetup | None:
    for handler in logging.getLogger().handlers:
        if hasattr(handler, _HANDLER_MARK):
            return getattr(handler, _HANDLER_MARK)
    return None


def protect_secrets(redactor: Redactor | None = None, values: Iterable[str | None] = ()) -> None:
    """Adds a config's secrets (its Redactor) or single values to what every log line masks."""
    setup = installed()
    if setup is None:
        return
    if redactor is not None:
        setup.redaction.protect(redactor)
    setup.redaction.protect_values(values)


def export_to_env(env: dict[str, str], level: str, fmt: str, logdir: str | None, component: str) -> None:
    """For the spawned processes of `--workers N`, which set up their logging again."""
    env.update({ENV_LEVEL: level, ENV_FORMAT: fmt, ENV_DIR: logdir or "", ENV_COMPONENT: component})


def configure_from_env(env: Mapping[str, str]) -> LogSetup | None:
    """A worker process of `polyroute serve --workers N`: the set-up its parent exported."""
    if ENV_FORMAT not in env:
        return None
    return configure_logging(
        env.get(ENV_LEVEL) or "info",
        env.get(ENV_FORMAT) or "json",
        env.get(ENV_DIR) or None,
        env.get(ENV_COMPONENT) or "serve",
    )
