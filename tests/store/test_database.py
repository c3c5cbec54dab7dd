"""The schema migrates on SQLite and PostgreSQL, idempotently and from several processes at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from polyroute.store.database import (
    VERSION_TABLE,
    Database,
    DatabaseConfigError,
    async_url,
    data_dir_from,
    head_revision,
)
from tests.store.databases import pg_database

TABLES = {"polyroute_keys", "polyroute_teams", "polyroute_users", "polyroute_spend_logs", VERSION_TABLE}
ARENA_TABLES = {
    "polyroute_arena_battles",
    "polyroute_arena_turns",
    "polyroute_arena_votes",
    "polyroute_arena_flags",
}


async def _tables_and_indexes(db: Database) -> tuple[set[str], set[str]]:
    async with db.engine.connect() as connection:

        def read(sync):
            inspector = inspect(sync)
            tables = set(inspector.get_table_names())
            indexes = {i["name"] for t in tables for i in inspector.get_indexes(t)}
            return tables, indexes

        return await connection.run_sync(read)


async def test_migrations_create_the_schema_and_run_twice(database: Database) -> None:
    await database.migrate()  # the fixture migrated once already: a second run changes nothing
    tables, indexes = await _tables_and_indexes(database)
    assert TABLES | ARENA_TABLES <= tables
    assert {
        "ix_polyroute_spend_logs_api_key_start",
        "ix_polyroute_spend_logs_team_start",
        "ix_polyroute_spend_logs_start_time",
        "ix_polyroute_keys_key_alias",
        "ix_polyroute_arena_votes_battle",
    } <= indexes
    async with database.engine.connect() as connection:
        version = (await connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).scalar_one()
    assert version == head_revision()
    assert await database.ping()


async def test_the_migrations_build_exactly_what_the_models_declare(database: Database) -> None:
    """A column, index or type added to models.py without a migration (or the other way round)
    shows up here as Alembic's autogenerate diff, on each database kind."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import polyroute.arena.models  # noqa: F401  # the arena's tables are on the same Base
    import polyroute.store.eval_results  # noqa: F401  # its tables join Base's metadata
    import polyroute.store.responses_store  # noqa: F401  # the stored Responses' table too
    from polyroute.store.models import Base

    def diff(sync) -> list:
        context = MigrationContext.configure(
            sync, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as connection:
        changes = await connection.run_sync(diff)
    assert changes == []


def test_urls() -> None:
    data = Path("/tmp/polyroute-data")
    assert async_url(None, data) == "sqlite+aiosqlite:////tmp/polyroute-data/polyroute.db"
    assert async_url("postgresql://u:p@db:5432/x", data) == "postgresql+asyncpg://u:p@db:5432/x"
    assert async_url("postgres://u@db/x", data) == "postgresql+asyncpg://u@db/x"
    assert async_url("sqlite:////var/lib/x.db", data) == "sqlite+aiosqlite:////var/lib/x.db"
    with pytest.raises(DatabaseConfigError, match="mysql"):
        async_url("mysql://u@db/x", data)
    assert data_dir_from({}) == Path(".polyroute")
    assert data_dir_from({"POLYROUTE_DATA_DIR": "/srv/p"}) == Path("/srv/p")


def test_target_hides_the_password() -> None:
    db = Database("postgresql+asyncpg://app:s3cret-pw@db.internal:5432/gw")
    assert "s3cret-pw" not in db.target and "db.internal" in db.target


_MIGRATE = """
import asyncio, sys
from polyroute.store.database import Database, async_url
from pathlib import Path
async def main():
    db = Database(async_url(sys.argv[1], Path(".")))
    await db.migrate()
    await db.close()
asyncio.run(main())
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_processes_starting_together_migrate_once(kind: str, tmp_path: Path) -> None:
    async def run(url: str) -> None:
        processes = [
            await asyncio.create_subprocess_exec(sys.executable, "-c", _MIGRATE, url, stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        results = [await p.communicate() for p in processes]
        assert [p.returncode for p in processes] == [0] * 4, [r[1].decode()[-500:] for r in results]
        db = Database(async_url(url, tmp_path))
        tables, _ = await _tables_and_indexes(db)
        await db.close()
        assert TABLES <= tables

    if kind == "sqlite":
        await run(f"sqlite:///{tmp_path / 'shared.db'}")
    else:
        async with pg_database() as url:
            await run(url)
