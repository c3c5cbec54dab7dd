"""The SQL database: where it is, the engine, and the schema migrations run at start-up.

SQLite (a file under the data dir) is the embedded default; PostgreSQL is used when
`general_settings.database_url` or DATABASE_URL names one. Both run the same Alembic
migrations, programmatically, before the gateway serves. Several processes may start at once:
migrations run under a lock (an advisory lock in PostgreSQL, a file lock beside a SQLite file).

Alembic (with Mako and Pygments) costs ~15 MB in every process that imports it, so it is imported
only when the schema is behind: the current revision is read with one query and compared with the
newest migration file's. `polyroute serve` runs a needed upgrade in a short-lived child process
(`python -m polyroute.store.migrate`), so the serving processes never load Alembic at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger("polyroute.store")

DEFAULT_DATA_DIR = ".polyroute"
DB_FILE = "polyroute.db"
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "polyroute_alembic_version"  # our own, so a database shared with other apps works
# Spend batches are multi-row INSERTs, and each row count is its own SQL text, prepared and kept
# in the connection's statement cache (sqlite3 keeps 128 by default, asyncpg 100). Batches of 1 to
# 500 rows filled it with huge prepared statements: +50 MB of native memory per connection within
# seconds of load, never given back. A small cache bounds that (measured, bare profile under load:
# 146 MB and growing -> 125 MB flat with 16 -> 113 MB flat with 4, against 98 MB with spend logs
# off); no SQL runs on the request path, so what is re-prepared is the writer's and the admin
# API's. Smaller INSERT pages bounded it too, but a batch became several round trips to the
# database thread, and the writer fell behind the load.
STATEMENT_CACHE_SIZE = 4
_PG_MIGRATION_LOCK = 0x706F6C79  # "poly": one advisory-lock id for every polyroute process


class DatabaseConfigError(ValueError):
    """The database URL cannot be used; the message names the setting."""


def data_dir_from(env: Mapping[str, str]) -> Path:
    """POLYROUTE_DATA_DIR, or ./.polyroute/ (git-ignored in the repository)."""
    return Path(env.get("POLYROUTE_DATA_DIR") or DEFAULT_DATA_DIR)


def async_url(database_url: str | None, data_dir: Path) -> str:
    """The SQLAlchemy async URL for a configured URL (or the SQLite default under `data_dir`)."""
    if not database_url:
        return f"sqlite+aiosqlite:///{(data_dir / DB_FILE).resolve()}"
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise DatabaseConfigError(
            "database_url is not a database URL (e.g. postgresql://user@host/db)"
        ) from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    else:
        raise DatabaseConfigError(
            f"database_url: '{backend}' is not supported (use postgresql:// or sqlite://)"
        )
    return url.render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        #: where it lives, for logs: never the password
        self.target = parsed.render_as_string(hide_password=True)
        # JSON columns (spend rows' metadata, key and team lists) are written with orjson: the
        # json module builds an encoder for every value, ~5 µs of a cache hit's spend row.
        options: dict[str, Any] = {"pool_pre_ping": True, "json_serializer": json_text}
        if self.dialect == "sqlite":
            self.path: Path | None = Path(parsed.database) if parsed.database else None
            options["connect_args"] = {"timeout": 30, "cached_statements": STATEMENT_CACHE_SIZE}
        else:
            self.path = None
            options.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=connect_timeout_s,
                connect_args={
                    "timeout": connect_timeout_s,
                    "command_timeout": 30,
                    "prepared_statement_cache_size": STATEMENT_CACHE_SIZE,
                },
            )
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            _adapt_none_and_bool_by_lookup()
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, database_url: str | None, env: Mapping[str, str], pool_size: int = 10) -> Database:
        directory = data_dir_from(env)
        if not database_url:
            directory.mkdir(parents=True, exist_ok=True)
        return cls(async_url(database_url, directory), pool_size=pool_size)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def migrate(self) -> None:
        """Brings the schema to the newest migration (idempotent; safe from several processes)."""
        if self.dialect == "sqlite" and self.path is not None:
            async with _file_lock(self.path.with_name(self.path.name + ".migrate-lock")):
                await self._upgrade()
        else:
            await self._upgrade()

    async def _upgrade(self) -> None:
        async with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_MIGRATION_LOCK}
                )
            if await connection.run_sync(_current_revision) == head_revision():
                return  # up to date: no need to import Alembic into this process
            await connection.run_sync(_run_alembic_upgrade)

    async def at_head(self) -> bool:
        """Whether the schema is at the newest migration (one query, no Alembic)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(_current_revision) == head_revision()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001  # any failure means "not reachable now"
            return False

    async def close(self) -> None:
        await self.engine.dispose()


def _adapt_none_and_bool_by_lookup() -> None:
    """sqlite3 binds exact ints, floats and strings at once; any other value (None, a bool) goes
    through its adaptation protocol, which for a type with no adapter registered builds and drops
    two formatted AttributeErrors (`__adapt__`, `__conform__`) before binding the value as is:
    ~1,200 instructions a value, and a spend row has a dozen. Registered, the same values bind
    after one dict lookup: None as NULL, a bool as the integer 1 or 0, as before."""
    import sqlite3

    sqlite3.register_adapter(type(None), _NULL)
    sqlite3.register_adapter(bool, int)


# The adapter for None: a C callable that returns None for any one argument, so binding a NULL
# runs no Python frame (a spend row binds about ten).
_NULL = {}.get


def json_text(value: Any) -> str:
    """A JSON column's text: orjson's (compact); the json module only for what orjson refuses
    (integers past 64 bits, say), so nothing that stored before fails now."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value)


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # WAL lets readers (admin queries) run beside the spend writer; busy_timeout makes two
    # processes on one file wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_REVISION_LINE = re.compile(r'^(down_revision|revision)\s*=\s*(None|"([^"]*)"|\'([^\']*)\')', re.MULTILINE)


def head_revision() -> str:
    """The newest migration's revision id, read from the migration files as text: the one no
    other file names as its down_revision (a linear history, as Alembic would report it)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for name, _, double, single in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            value = double or single
            if value:
                (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {sorted(heads)}")
    return heads.pop()


def _current_revision(connection: Any) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    # VERSION_TABLE is our constant, never input: nothing to parameterise.
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _run_alembic_upgrade(connection: Any) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive lock between processes (flock); taken in a thread, the loop keeps running."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one process at a time is the operator's business
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = await asyncio.to_thread(open, path, "a+b")
    try:
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
