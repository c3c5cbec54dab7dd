"""Alembic environment: polyroute runs migrations itself, on a connection it hands over."""

from __future__ import annotations

from alembic import context

import polyroute.arena.models  # noqa: F401  # registers the arena tables on Base.metadata
import polyroute.store.eval_results  # noqa: F401  # the eval tables (0003_eval) join Base's metadata
import polyroute.store.responses_store  # noqa: F401  # stored Responses (0004_responses)
from polyroute.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "polyroute runs its migrations at start-up (polyroute.store.database.Database.migrate); "
        "they are not meant to be run with the alembic command line"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=context.config.get_main_option("version_table") or "alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
