"""Spend rows in SQL: the idempotent batch insert the writer uses, and the admin API's reports.

A batch is one transaction: rows are inserted with ON CONFLICT (request_id) DO NOTHING ...
RETURNING request_id, and only the rows that were really inserted add to the spend of their
key, team and user. So writing a batch twice (a replay after an outage that ended mid-commit)
changes nothing the second time: each request counts exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, case, desc, func, select, update

from polyroute.store.database import Database
from polyroute.store.models import SpendLog, Team, User, VirtualKey

_ENTITY_TABLES = {
    "key": (VirtualKey, VirtualKey.token),
    "team": (Team, Team.team_id),
    "user": (User, User.user_id),
}
SPEND_COLUMNS = frozenset(c.key for c in SpendLog.__table__.columns) | {"metadata_"}
# Bounds of the columns, applied to every row: values a client chooses (the body's `user`, a
# model name, the usage a client-chosen upstream reports) must never make PostgreSQL refuse a
# row ("value too long", NUL characters, "integer out of range"): the row and its spend would be
# lost (spend/writer.py drops what the database refuses), and with them the key's budget record.
_STRING_LENGTHS = {
    c.key: c.type.length for c in SpendLog.__table__.columns if isinstance(c.type, String) and c.type.length
}
_INTEGERS = frozenset(c.key for c in SpendLog.__table__.columns if isinstance(c.type, Integer))
_INT_MAX = 2**31 - 1  # SQL INTEGER


class SpendStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # The dialect's own insert (ON CONFLICT DO NOTHING), imported for the dialect in use only:
        # the PostgreSQL dialect costs ~4 MB a process that the SQLite default never needs.
        if db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        self._insert = insert
        self._statements: dict[frozenset[str], Any] = {}

    def _statement(self, keys: frozenset[str]) -> Any:
        statement = self._statements.get(keys)
        if statement is None:
            table = SpendLog.__table__
            statement = self._statements[keys] = (
                self._insert(table)
                .on_conflict_do_nothing(index_elements=["request_id"])
                .returning(table.c.request_id)
            )
        return statement

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> int:
        """Inserts spend rows, each once, and adds the new ones' spend to their key, team and user;
        returns how many were new. Raises on database errors."""
        if not records:
            return 0
        budgets = {r["request_id"]: r.get("budgets") or () for r in records}
        spend_by_row = {r["request_id"]: float(r.get("spend") or 0.0) for r in records}
        # `disable_spend_logs`: records that only add to budgets. With no row there is nothing to
        # deduplicate a replay against, so these count as new (see docs/keys_and_spend.md).
        inserted = [r["request_id"] for r in records if r.get("spend_only")]
        rows = [_row(r) for r in records if not r.get("spend_only")]
        async with self.db.session() as session, session.begin():
            # One cached statement run over many parameter sets (SQLAlchemy's "insertmanyvalues"
            # batches them into multi-row INSERT ... RETURNING itself); building a fresh
            # `.values(rows)` statement per batch cost more CPU than the requests it recorded.
            for keys, group in _by_columns(rows).items():
                statement = self._statement(keys)
                inserted += list((await session.scalars(statement, group)).all())
            increments: dict[tuple[str, str, int], float] = defaultdict(float)
            for request_id in inserted:
                for kind, ident, period in budgets[request_id]:
                    increments[(kind, ident, int(period))] += spend_by_row[request_id]
            # Oldest period first, so a later period's reset is never undone by an earlier one.
            for (kind, ident, period), amount in sorted(increments.items(), key=lambda item: item[0][2]):
                if amount:
                    await session.execute(_add_spend(kind, ident, period, amount))
        return len(inserted)

    # -- reports (admin API) ------------------------------------------------------------------------
    async def logs(self, filters: Sequence[Any], limit: int) -> list[SpendLog]:
        async with self.db.session() as session:
            rows = await session.scalars(
                select(SpendLog).where(*filters).order_by(desc(SpendLog.start_time)).limit(limit)
            )
            return list(rows.all())

    async def daily(self, filters: Sequence[Any]) -> list[tuple[Any, str, str | None, str | None, float]]:
        day = func.date(SpendLog.start_time)
        statement = (
            select(day, SpendLog.api_key, SpendLog.user_id, SpendLog.model_group, func.sum(SpendLog.spend))
            .where(*filters)
            .group_by(day, SpendLog.api_key, SpendLog.user_id, SpendLog.model_group)
            .order_by(day)
        )
        async with self.db.session() as session:
            return [tuple(row) for row in (await session.execute(statement)).all()]

    async def total(self, since: datetime) -> float:
        async with self.db.session() as session:
            value = await session.scalar(select(func.sum(SpendLog.spend)).where(SpendLog.start_time >= since))
        return float(value or 0.0)

    async def top_keys(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        total = func.sum(SpendLog.spend).label("total_spend")
        top = (
            select(SpendLog.api_key, total)
            .where(SpendLog.start_time >= since)
            .group_by(SpendLog.api_key)
            .order_by(desc(total))
            .limit(limit)
            .subquery()
        )
        statement = (
            select(top.c.api_key, top.c.total_spend, VirtualKey.key_alias, VirtualKey.key_name)
            .outerjoin(VirtualKey, VirtualKey.token == top.c.api_key)
            .order_by(desc(top.c.total_spend))
        )
        async with self.db.session() as session:
            rows = (await session.execute(statement)).all()
        return [
            {"api_key": r[0], "total_spend": float(r[1] or 0.0), "key_alias": r[2], "key_name": r[3]}
            for r in rows
        ]

    async def team_daily(self, since: datetime) -> list[tuple[Any, str | None, str | None, float]]:
        day = func.date(SpendLog.start_time)
        statement = (
            select(day, SpendLog.team_id, Team.team_alias, func.sum(SpendLog.spend))
            .outerjoin(Team, Team.team_id == SpendLog.team_id)
            .where(SpendLog.start_time >= since)
            .group_by(day, SpendLog.team_id, Team.team_alias)
            .order_by(day)
        )
        async with self.db.session() as session:
            return [tuple(row) for row in (await session.execute(statement)).all()]

    async def top_models(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        total = func.sum(SpendLog.spend).label("total_spend")
        statement = (
            select(SpendLog.model_group, total, func.sum(SpendLog.total_tokens), func.count())
            .where(SpendLog.start_time >= since)
            .group_by(SpendLog.model_group)
            .order_by(desc(total))
            .limit(limit)
        )
        async with self.db.session() as session:
            rows = (await session.execute(statement)).all()
        return [
            {
                "model": r[0],
                "total_spend": float(r[1] or 0.0),
                "total_tokens": int(r[2] or 0),
                "requests": int(r[3]),
            }
            for r in rows
        ]


def _by_columns(rows: list[dict[str, Any]]) -> dict[frozenset[str], list[dict[str, Any]]]:
    """Rows grouped by the columns they set: one executemany needs the same keys in every row
    (rows from one gateway share them; a spool replayed after a config change may not)."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return groups


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the table's column keys ("metadata", which the ORM maps to `metadata_`)."""
    row = {k: v for k, v in record.items() if k in SPEND_COLUMNS and k != "metadata_"}
    if "metadata_" in record and "metadata" not in row:
        row["metadata"] = record["metadata_"]
    for name in ("start_time", "end_time", "completion_start_time"):
        value = row.get(name)
        if isinstance(value, str):  # replayed from the JSON-lines spool
            row[name] = datetime.fromisoformat(value)
    for name, length in _STRING_LENGTHS.items():
        value = row.get(name)
        if isinstance(value, str):
            # PostgreSQL text cannot hold NUL, which JSON ("\u0000") can carry in.
            row[name] = value.replace("\x00", "")[:length]
    for name in _INTEGERS:
        value = row.get(name)
        if isinstance(value, int) and not 0 <= value <= _INT_MAX:
            row[name] = min(max(value, 0), _INT_MAX)
    return row


def _add_spend(kind: str, ident: str, period: int, amount: float) -> Any:
    model, key = _ENTITY_TABLES[kind]
    return (
        update(model)
        .where(key == ident, model.spend_period <= period)
        .values(
            spend=case((model.spend_period == period, model.spend + amount), else_=amount),
            spend_period=period,
        )
        .execution_options(synchronize_session=False)
    )
