"""Real databases for tests: a SQLite file, or a fresh database on the PostgreSQL server at
127.0.0.1:5432 (user postgres, trust auth) made for one test and dropped after it.

PostgreSQL tests fail, never skip, when the server is down: CI starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

PG_HOST = os.environ.get("POLYROUTE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("POLYROUTE_TEST_PG_PORT", "5432"))
PG_ADMIN_DB = "test"


def pg_url(database: str, port: int = PG_PORT) -> str:
    return f"postgresql://postgres@{PG_HOST}:{port}/{database}"


async def create_pg_database() -> str:
    name = "polyroute_test_" + uuid.uuid4().hex[:12]
    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=PG_ADMIN_DB)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')  # a generated name, not input
    finally:
        await connection.close()
    return name


async def drop_pg_database(name: str) -> None:
    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=PG_ADMIN_DB)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A URL of a fresh PostgreSQL database, dropped afterwards."""
    name = await create_pg_database()
    try:
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


@contextlib.contextmanager
def pg_database_sync() -> Iterator[str]:
    """For synchronous fixtures (gateways in threads or processes)."""
    name = asyncio.run(create_pg_database())
    try:
        yield pg_url(name)
    finally:
        asyncio.run(drop_pg_database(name))


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'polyroute.db'}"
