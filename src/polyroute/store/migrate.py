"""`python -m polyroute.store.migrate`: brings the database named by POLYROUTE_MIGRATE_URL (an
async SQLAlchemy URL) to the newest migration, then exits.

`polyroute serve` runs this in a child process before it serves, when the schema is behind, so
that Alembic's import cost stays out of the long-running serving processes. The URL travels in
the environment, not in argv, where any local user could read a password with `ps`.
"""

from __future__ import annotations

import asyncio
import os
import sys

from polyroute.store.database import Database

URL_ENV = "POLYROUTE_MIGRATE_URL"


async def _migrate(url: str) -> None:
    database = Database(url, pool_size=1)
    try:
        await database.migrate()
    finally:
        await database.close()


def main() -> int:
    url = os.environ.get(URL_ENV)
    if not url:
        print(f"polyroute.store.migrate: {URL_ENV} is not set", file=sys.stderr)
        return 2
    try:
        asyncio.run(_migrate(url))
    except Exception as exc:  # noqa: BLE001  # one line for the parent's log; never a password
        from sqlalchemy.engine import make_url

        target = make_url(url).render_as_string(hide_password=True)
        print(f"polyroute.store.migrate: {target}: {type(exc).__name__}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
