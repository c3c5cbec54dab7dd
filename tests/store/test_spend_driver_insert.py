"""Spend rows that set every column go in through the driver's executemany (SQLite): the stored
bytes must equal what SQLAlchemy's insert stores, and a replay must still count each row once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from polyroute.store.database import Database, async_url, json_text
from polyroute.store.key_store import KeyStore
from polyroute.store.models import Team, VirtualKey
from polyroute.store.spend_store import SpendStore, _DriverInsert
from tests.store.databases import sqlite_url

TOKEN = "k" * 64
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def full_record(request_id: str, spend: float = 0.25, **changes) -> dict:
    """Every column set, as polyroute's own spend rows are (spend/row.py)."""
    row = {
        "request_id": request_id,
        "call_type": "chat_completion",
        "api_key": TOKEN,
        "key_alias": "alias",
        "team_id": "t1",
        "user_id": None,
        "end_user": "end-user",
        "model": "gpt-4o-mini",
        "model_group": "gpt",
        "model_id": "dep-1",
        "provider": "openai",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cached_tokens": 0,
        "cache_creation_tokens": 0,
        "reasoning_tokens": 0,
        "usage_estimated": False,
        "spend": spend,
        "start_time": T0,
        "end_time": T0 + timedelta(seconds=1, microseconds=250),
        "completion_start_time": None,
        "request_duration_ms": 1000,
        "status": "success",
        "http_status": 200,
        "error_code": None,
        "stream": True,
        "metadata": {},
        "budgets": [("key", TOKEN, 0), ("team", "t1", 0)],
    }
    row.update(changes)
    return row


ODD_ROWS = [
    full_record("plain"),
    # values the column bounds change, a time zone that is not UTC, a spool's ISO text
    full_record("nul-and-long", end_user="a\x00b" + "x" * 400, total_tokens=2**40, prompt_tokens=-3),
    full_record(
        "elsewhere", start_time=datetime(2026, 1, 5, 14, 0, 0, 123, tzinfo=timezone(timedelta(hours=2)))
    ),
    full_record("from-spool", start_time="2026-01-05T12:00:00+00:00", end_time="2026-01-05T12:00:01.5+00:00"),
    full_record("attempts", metadata={"attempts": 3}, usage_estimated=True, completion_start_time=T0),
    full_record("with-prompt", messages=[{"role": "user", "content": "hé"}]),
    # a cache hit's metadata; an integer orjson refuses (the json module writes it)
    full_record("cache-hit", spend=0.0, metadata={"cache_hit": True, "saved_cost": 0.5}),
    full_record("big-number", spend=0.0, metadata={"n": 2**70}),
]


async def migrated(tmp_path: Path, name: str) -> Database:
    directory = tmp_path / name
    directory.mkdir()
    db = Database(async_url(sqlite_url(directory), directory))
    await db.migrate()
    store = KeyStore(db)
    await store.add(Team(team_id="t1", max_budget=10.0))
    await store.add(VirtualKey(token=TOKEN, key_alias="a", team_id="t1", max_budget=5.0))
    return db


async def stored(db: Database) -> list[tuple]:
    async with db.engine.connect() as connection:
        result = await connection.exec_driver_sql("SELECT * FROM polyroute_spend_logs ORDER BY request_id")
        return [tuple(row) for row in result.all()]


async def spend_of(db: Database) -> tuple[float, float]:
    async with db.engine.connect() as connection:
        key = (await connection.execute(text("SELECT spend FROM polyroute_keys"))).scalar_one()
        team = (await connection.execute(text("SELECT spend FROM polyroute_teams"))).scalar_one()
    return key, team


async def test_driver_rows_store_the_same_bytes_as_sqlalchemy_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_db, careful_db = await migrated(tmp_path, "fast"), await migrated(tmp_path, "careful")
    try:
        fast = SpendStore(fast_db)
        assert await fast.write_batch(ODD_ROWS) == len(ODD_ROWS)
        assert any(fast._driver_inserts.values()), "the driver path was not taken"

        monkeypatch.setattr(_DriverInsert, "covers", staticmethod(lambda keys, dialect: False))
        careful = SpendStore(careful_db)
        assert await careful.write_batch(ODD_ROWS) == len(ODD_ROWS)
        assert not any(careful._driver_inserts.values())

        fast_rows, careful_rows = await stored(fast_db), await stored(careful_db)
        assert len(fast_rows) == len(ODD_ROWS)
        assert fast_rows == careful_rows
        assert await spend_of(fast_db) == await spend_of(careful_db) == (1.5, 1.5)
    finally:
        await fast_db.close()
        await careful_db.close()


async def test_a_replay_through_the_driver_path_counts_each_row_once(tmp_path: Path) -> None:
    db = await migrated(tmp_path, "replay")
    try:
        store = SpendStore(db)
        batch = [full_record(f"req-{i}") for i in range(4)]
        assert await store.write_batch(batch) == 4
        # The same rows again (a replay after an outage that ended mid-commit) and one new row:
        # the driver's rowcount tells that not all were new, and RETURNING picks the new one.
        assert await store.write_batch([*batch, full_record("req-9", spend=0.5)]) == 1
        assert await store.write_batch(batch) == 0
        assert len(await stored(db)) == 5
        assert await spend_of(db) == (1.5, 1.5)
    finally:
        await db.close()


async def test_rows_without_every_defaulted_column_take_sqlalchemys_insert(tmp_path: Path) -> None:
    """SQLAlchemy fills in Python-side defaults (status "success", metadata {}); the driver
    cannot, so such rows keep the careful path and still get their defaults."""
    db = await migrated(tmp_path, "partial")
    try:
        store = SpendStore(db)
        partial = full_record("partial")
        del partial["status"], partial["metadata"]
        assert await store.write_batch([partial]) == 1
        assert not any(store._driver_inserts.values())
        async with db.engine.connect() as connection:
            status, metadata = (
                await connection.exec_driver_sql("SELECT status, metadata FROM polyroute_spend_logs")
            ).one()
        assert (status, metadata) == ("success", "{}")
    finally:
        await db.close()


async def test_a_big_batch_lets_the_event_loop_run_while_its_rows_are_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests are served between slices of a 500-row batch, not held for all of it."""
    db = await migrated(tmp_path, "turns")
    slices_done: list[int] = []
    prepare = _DriverInsert.parameters

    def counted(self: _DriverInsert, records: list[dict]) -> list[tuple]:
        out = prepare(self, records)
        slices_done.append(len(records))
        return out

    monkeypatch.setattr(_DriverInsert, "parameters", counted)
    seen_by_others: set[int] = set()

    async def another_request() -> None:
        while True:
            seen_by_others.add(len(slices_done))
            await asyncio.sleep(0)

    other = asyncio.create_task(another_request())
    try:
        await asyncio.sleep(0)
        assert await SpendStore(db).write_batch([full_record(f"r-{i}") for i in range(500)]) == 500
        assert sum(slices_done) == 500 and len(slices_done) > 1
        # it ran after each slice but the last, before the batch was prepared
        assert set(range(1, len(slices_done))) <= seen_by_others
    finally:
        other.cancel()
        await db.close()


def test_json_columns_are_written_by_orjson_and_by_the_json_module_where_orjson_refuses() -> None:
    assert json_text({"cache_hit": True, "saved_cost": 0.5}) == '{"cache_hit":true,"saved_cost":0.5}'
    assert json_text({"n": 2**70}) == '{"n": 1180591620717411303424}'


async def test_json_metadata_reads_back_as_written(tmp_path: Path) -> None:
    db = await migrated(tmp_path, "json")
    try:
        await SpendStore(db).write_batch(ODD_ROWS)
        async with db.engine.connect() as connection:
            query = "SELECT request_id, metadata FROM polyroute_spend_logs WHERE request_id IN (:a, :b)"
            result = await connection.execute(text(query), {"a": "cache-hit", "b": "big-number"})
            raw = dict(result.all())
        assert raw == {
            "big-number": '{"n": 1180591620717411303424}',
            "cache-hit": '{"cache_hit":true,"saved_cost":0.5}',
        }
        by_id = {log.request_id: log for log in await SpendStore(db).logs([], limit=100)}
        assert by_id["big-number"].metadata_ == {"n": 2**70}
        assert by_id["cache-hit"].metadata_ == {"cache_hit": True, "saved_cost": 0.5}
    finally:
        await db.close()
