from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from polyroute.store.database import Database, async_url
from tests.store.databases import pg_database, sqlite_url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Database]:
    """A migrated database of each kind; the PostgreSQL one is a fresh database, dropped after."""
    if request.param == "sqlite":
        db = Database(async_url(sqlite_url(tmp_path), tmp_path))
        await db.migrate()
        try:
            yield db
        finally:
            await db.close()
        return
    async with pg_database() as url:
        db = Database(async_url(url, tmp_path))
        await db.migrate()
        try:
            yield db
        finally:
            await db.close()
