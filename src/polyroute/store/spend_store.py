"""Spend rows in SQL: the idempotent batch insert the writer uses, and the admin API's reports.

A batch is one transaction: rows are inserted with ON CONFLICT (request_id) DO NOTHING ...
RETURNING request_id, and only the rows that were really inserted add to the spend of their
key, team and user. So writing a batch twice (a replay after an outage that ended mid-commit)
changes nothing the second time: each request counts exactly once.
"""

from __future__ import annotations

import asyncio
import operator
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, case, desc, func, select, update

from polyroute.store.database import Database
from polyroute.store.models import SpendLog, Team, User, UtcDateTime, VirtualKey

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
_UNKNOWN: Any = object()
_SLICE = 64  # records turned into driver tuples between two turns of the event loop (~0.4 ms)
_MAX_KEY_ORDERS = 64  # driver inserts remembered by key order (a spool can bring others)
# Columns with a Python-side default (the table's keys: "metadata", not the ORM's `metadata_`).
_DEFAULTED = frozenset(c.key for c in SpendLog.__table__.columns if c.default is not None)


class _NotAllNew(Exception):
    """A driver-level batch met rows already written (a replay): redone with RETURNING."""


class _DriverInsert:
    """INSERT ... ON CONFLICT (request_id) DO NOTHING for one set of columns, run as the driver's
    own executemany over plain tuples.

    SQLAlchemy's insertmanyvalues renders, binds and processes each batch in Python on the event
    loop's thread (about 25 µs a row, CPU every request pays). Here the statement is compiled
    once, each record becomes a tuple in one pass (the column bounds of `_row` applied by
    position), only the columns that need it go through their type's bind processor (the same
    functions SQLAlchemy would call, or ones the tests hold to the same stored bytes), and the
    driver binds the tuples in C. It needs the driver's summed rowcount to tell that every row was
    new (10.7 µs a row on the loop's thread instead of 26, bench/README.md)."""

    def __init__(self, insert: Any, keys: frozenset[str], dialect: Any) -> None:
        table = SpendLog.__table__
        compiled = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["request_id"])
            .compile(dialect=dialect, column_keys=sorted(keys))
        )
        self.sql = compiled.string
        self.order: tuple[str, ...] = tuple(compiled.positiontup or ())
        processors = {c.key: _bind_processor(c, dialect) for c in table.columns}
        self.processed = tuple(
            (i, proc) for i, name in enumerate(self.order) if (proc := processors.get(name))
        )
        self.strings = tuple(
            (i, _STRING_LENGTHS[n]) for i, n in enumerate(self.order) if n in _STRING_LENGTHS
        )
        self.integers = tuple(i for i, name in enumerate(self.order) if name in _INTEGERS)
        self.pick = operator.itemgetter(*self.order)  # a record's values in order, in one C call

    @staticmethod
    def covers(keys: frozenset[str], dialect: Any) -> bool:
        """Whether rows of these columns can skip SQLAlchemy: the driver reports an exact summed
        rowcount, and the rows set every column that has a Python-side default (SQLAlchemy would
        fill those in; the driver cannot)."""
        return bool(dialect.supports_sane_multi_rowcount) and _DEFAULTED <= keys

    async def parameters_between_turns(self, records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """`parameters`, `_SLICE` records at a time, letting the event loop run between slices."""
        out = self.parameters(records[:_SLICE])
        for start in range(_SLICE, len(records), _SLICE):
            await asyncio.sleep(0)
            out += self.parameters(records[start : start + _SLICE])
        return out

    def parameters(self, records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        pick, processed, strings, integers = self.pick, self.processed, self.strings, self.integers
        out = []
        for record in records:
            values = list(pick(record))
            for i, length in strings:  # the bounds `_row` applies, in the same order
                value = values[i]
                if isinstance(value, str) and (len(value) > length or "\x00" in value):
                    values[i] = value.replace("\x00", "")[:length]
            for i in integers:
                value = values[i]
                if isinstance(value, int) and not 0 <= value <= _INT_MAX:
                    values[i] = min(max(value, 0), _INT_MAX)
            for i, proc in processed:
                values[i] = proc(values[i])
            out.append(tuple(values))
        return out


def _bind_processor(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite":
        if isinstance(column.type, UtcDateTime):
            # SQLite stores DATETIME as the text SQLAlchemy formats field by field; isoformat
            # makes the same text in C (2.6 -> 0.5 µs a value, three per row).
            return _sqlite_utc_text
        if isinstance(column.type, Boolean):
            return None  # bound as the integer 1 or 0 by the adapter store/database.py registers
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is not None and isinstance(column.type, JSON):
        return _empty_object_first(process)
    return process


def _empty_object_first(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Most rows' metadata is {}: its text without a call into the serializer."""

    def text(value: Any) -> Any:
        if value.__class__ is dict and not value:
            return "{}"
        return process(value)

    return text


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """The test suite compares the stored bytes with SQLAlchemy's (tests/store)."""
    if value is None:
        return None
    if isinstance(value, str):  # replayed from the JSON-lines spool
        value = datetime.fromisoformat(value)
    if value.tzinfo is not UTC and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00" of an aware value


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
        self._driver_inserts: dict[tuple[str, ...], _DriverInsert | None] = {}

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
        groups = _by_key_order([r for r in records if not r.get("spend_only")])
        try:
            return await self._write(groups, inserted, budgets, spend_by_row, returning=False)
        except _NotAllNew:
            # Some rows were there already (a replay): the first transaction was rolled back, and
            # RETURNING now tells which rows are new, so only theirs add to the budgets.
            return await self._write(groups, inserted, budgets, spend_by_row, returning=True)

    def _driver_insert(self, keys: tuple[str, ...]) -> _DriverInsert | None:
        """The driver-level insert for records with these keys (in this order), if they can take it."""
        found = self._driver_inserts.get(keys, _UNKNOWN)
        if found is _UNKNOWN:
            dialect = self.db.engine.dialect
            columns = frozenset(keys) & SPEND_COLUMNS
            found = None
            # A record of an older spool names the metadata column `metadata_`: `_row` maps it.
            if "metadata_" not in columns and _DriverInsert.covers(columns, dialect):
                found = _DriverInsert(self._insert, columns, dialect)
            if len(self._driver_inserts) < _MAX_KEY_ORDERS:  # orders come from spooled files too
                self._driver_inserts[keys] = found
        return found

    async def _write(
        self,
        groups: dict[tuple[str, ...], list[dict[str, Any]]],
        spend_only: list[str],
        budgets: dict[str, Any],
        spend_by_row: dict[str, float],
        *,
        returning: bool,
    ) -> int:
        inserted = list(spend_only)
        # The driver's tuples are made before the transaction, a slice at a time with the event
        # loop's turn between slices: a batch of 500 rows made at once held every request on the
        # loop for milliseconds, the one-connection p99's tail.
        prepared: dict[tuple[str, ...], tuple[_DriverInsert, list[tuple[Any, ...]]]] = {}
        for keys, group in groups.items():
            driver = None if returning else self._driver_insert(keys)
            if driver is not None:
                prepared[keys] = (driver, await driver.parameters_between_turns(group))
        async with self.db.session() as session, session.begin():
            for keys, group in groups.items():
                if keys in prepared:
                    driver, parameters = prepared[keys]
                    connection = await session.connection()
                    result = await connection.exec_driver_sql(driver.sql, parameters)
                    if result.rowcount != len(group):
                        raise _NotAllNew
                    inserted += [record["request_id"] for record in group]
                    continue
                # One cached statement run over many parameter sets (SQLAlchemy's "insertmanyvalues"
                # batches them into multi-row INSERT ... RETURNING itself); building a fresh
                # `.values(rows)` statement per batch cost more CPU than the requests it recorded.
                for columns, rows in _by_columns([_row(record) for record in group]).items():
                    statement = self._statement(columns)
                    inserted += list((await session.scalars(statement, rows)).all())
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


def _by_key_order(records: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Records grouped by their keys in order (a tuple is cheaper to make than a set): one
    executemany needs the same columns in every row. Records of one gateway share the order; a
    spool replayed after a config change may not."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(tuple(record), []).append(record)
    return groups


def _by_columns(rows: list[dict[str, Any]]) -> dict[frozenset[str], list[dict[str, Any]]]:
    """Rows (`_row`'s) grouped by the columns they set."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return groups


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the table's column keys ("metadata", which the ORM maps to `metadata_`)."""
    row = dict(record)
    for key in row.keys() - SPEND_COLUMNS:  # set arithmetic in C: most records have 2 extra keys
        del row[key]
    if "metadata_" in row:  # a record of an older spool
        metadata = row.pop("metadata_")
        row.setdefault("metadata", metadata)
    for name in ("start_time", "end_time", "completion_start_time"):
        value = row.get(name)
        if isinstance(value, str):  # replayed from the JSON-lines spool
            row[name] = datetime.fromisoformat(value)
    for name, length in _STRING_LENGTHS.items():
        value = row.get(name)
        # PostgreSQL text cannot hold NUL, which JSON ("\u0000") can carry in.
        if isinstance(value, str) and (len(value) > length or "\x00" in value):
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
