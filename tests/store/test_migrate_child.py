"""Schema migrations without Alembic in the serving process: the head revision read from the
migration files, the one-query "already at head" check, and the child-process migration that
`polyroute serve` runs before it serves."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory

from polyroute.store.database import Database, alembic_config, async_url, head_revision
from polyroute.store.migrate import URL_ENV
from tests.store.databases import pg_database, sqlite_url

MIGRATE = [sys.executable, "-m", "polyroute.store.migrate"]


def test_head_read_from_the_files_is_alembics_head() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def _migrate_in_child(url: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env[URL_ENV] = url
    return subprocess.run(MIGRATE, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_the_child_brings_a_fresh_database_to_head(kind: str, tmp_path) -> None:
    async def check(url: str) -> None:
        db = Database(url)
        try:
            assert not await db.at_head()  # fresh: no version table yet
            child = _migrate_in_child(url)
            assert child.returncode == 0, child.stderr
            assert await db.at_head()
            await db.migrate()  # already at head: a no-op that must not fail
            assert await db.at_head()
        finally:
            await db.close()

    if kind == "sqlite":
        await check(async_url(sqlite_url(tmp_path), tmp_path))
    else:
        async with pg_database() as url:
            await check(async_url(url, tmp_path))


def test_a_failing_child_names_the_target_without_the_password(tmp_path) -> None:
    # Nothing listens on port 9: the child fails in one line, and the password never shows.
    url = "postgresql+asyncpg://polyroute:hunter2-secret@127.0.0.1:9/polyroute"
    child = _migrate_in_child(url)
    assert child.returncode == 1
    assert "127.0.0.1:9" in child.stderr and "hunter2-secret" not in child.stderr + child.stdout


def test_the_child_needs_its_url() -> None:
    env = {k: v for k, v in os.environ.items() if k != URL_ENV}
    child = subprocess.run(MIGRATE, env=env, capture_output=True, text=True, check=False)
    assert child.returncode == 2 and URL_ENV in child.stderr


def test_a_process_whose_database_is_at_head_never_imports_alembic(tmp_path) -> None:
    url = async_url(sqlite_url(tmp_path), tmp_path)
    assert _migrate_in_child(url).returncode == 0
    probe = (
        "import asyncio, sys\n"
        "from polyroute.store.database import Database\n"
        "async def main():\n"
        "    db = Database(sys.argv[1])\n"
        "    await db.migrate()\n"
        "    await db.close()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules, 'mako' in sys.modules)\n"
    )
    child = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True)
    assert child.stdout.split() == ["False", "False"]


async def test_prepared_statement_caches_are_bounded(tmp_path, monkeypatch) -> None:
    """Each spend batch size is its own INSERT text; an unbounded cache kept them all (+50 MB)."""
    import sqlite3

    from polyroute.store.database import STATEMENT_CACHE_SIZE

    seen: list[dict] = []
    real_connect = sqlite3.connect

    def recording_connect(*args, **kwargs):
        seen.append(kwargs)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", recording_connect)  # aiosqlite opens through it
    db = Database(async_url(sqlite_url(tmp_path), tmp_path))
    try:
        assert not await db.at_head()
    finally:
        await db.close()
    assert seen and all(kwargs.get("cached_statements") == STATEMENT_CACHE_SIZE for kwargs in seen)
    async with pg_database() as url:
        db = Database(async_url(url, tmp_path))
        try:
            async with db.engine.connect() as connection:
                raw = await connection.get_raw_connection()
                assert raw.dbapi_connection._prepared_statement_cache.capacity == STATEMENT_CACHE_SIZE
        finally:
            await db.close()
