"""Spend rows: written once each, batched, spooled while the database is away and replayed when
it returns (PostgreSQL taken away through a loopback TCP proxy, never by stopping the server)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from polyroute.spend.spool import Spool
from polyroute.spend.writer import SpendWriter
from polyroute.store.database import Database, async_url
from polyroute.store.key_store import KeyStore
from polyroute.store.models import SpendLog, Team, VirtualKey
from polyroute.store.spend_store import SpendStore
from tests.store.databases import PG_HOST, PG_PORT, pg_database, pg_url
from tests.store.tcp_proxy import TcpProxy

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def record(request_id: str, spend: float, token: str = "k" * 64, period: int = 0, **extra) -> dict:
    return {
        "request_id": request_id,
        "call_type": "chat_completion",
        "api_key": token,
        "team_id": "t1",
        "model_group": "gpt",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "spend": spend,
        "start_time": T0,
        "end_time": T0 + timedelta(seconds=1),
        "status": "success",
        "budgets": [("key", token, period), ("team", "t1", period)],
        **extra,
    }


async def seed_key(db: Database, token: str = "k" * 64) -> None:
    store = KeyStore(db)
    await store.add(Team(team_id="t1", max_budget=10.0))
    await store.add(VirtualKey(token=token, key_alias="a", team_id="t1", max_budget=5.0))


async def rows_and_spend(db: Database, token: str = "k" * 64) -> tuple[int, int, float, float]:
    async with db.session() as session:
        count = await session.scalar(select(func.count()).select_from(SpendLog))
        distinct = await session.scalar(select(func.count(func.distinct(SpendLog.request_id))))
        key = await session.get(VirtualKey, token)
        team = await session.get(Team, "t1")
    return int(count), int(distinct), key.spend, team.spend


async def test_a_batch_written_twice_counts_once(database: Database) -> None:
    await seed_key(database)
    store = SpendStore(database)
    batch = [record(f"req-{i}", 0.25) for i in range(4)]
    assert await store.write_batch(batch) == 4
    assert await store.write_batch(batch + [record("req-9", 0.5)]) == 1
    count, distinct, key_spend, team_spend = await rows_and_spend(database)
    assert (count, distinct) == (5, 5)
    assert key_spend == team_spend == 1.5


async def test_a_new_budget_period_starts_from_zero(database: Database) -> None:
    await seed_key(database)
    store = SpendStore(database)
    await store.write_batch([record("a", 1.0, period=0), record("b", 2.0, period=1)])
    # A late row of the old period (a replay) must not touch the new period's spend.
    await store.write_batch([record("c", 4.0, period=0)])
    async with database.session() as session:
        key = await session.get(VirtualKey, "k" * 64)
    assert (key.spend, key.spend_period) == (2.0, 1)


async def test_spend_only_records_add_to_budgets_without_a_row(database: Database) -> None:
    """disable_spend_logs: no row is written, but the key's and team's spend still grow (it is
    what /key/info shows and what budgets are seeded from after a restart)."""
    await seed_key(database)
    store = SpendStore(database)
    only = [
        {"request_id": f"quiet-{i}", "spend_only": True, "spend": 0.25, "budgets": [["key", "k" * 64, 0]]}
        for i in range(3)
    ]
    assert await store.write_batch([*only, record("logged", 1.0)]) == 4
    count, _, key_spend, team_spend = await rows_and_spend(database)
    assert count == 1
    assert (key_spend, team_spend) == (1.75, 1.0)


async def test_writer_batches_by_size_and_time(database: Database, tmp_path: Path) -> None:
    await seed_key(database)
    writer = SpendWriter(
        SpendStore(database), Spool(tmp_path / "spool.jsonl"), batch_size=3, flush_interval_s=0.2
    )
    await writer.start()
    try:
        for i in range(7):
            writer.submit(record(f"r{i}", 0.1))
        for _ in range(50):
            if writer.stats.written == 7:
                break
            await asyncio.sleep(0.05)
        assert writer.stats.written == 7 and writer.queue_depth == 0
    finally:
        await writer.stop()


async def test_a_row_the_database_refuses_is_dropped_and_counted_not_a_stuck_writer(
    database: Database, tmp_path: Path
) -> None:
    """A row the database refuses while it answers (here: no start_time, a NOT NULL column; a
    spool line from an older version could be like that) is dropped and counted; the rows of
    its batch are written, and the writer neither spools them nor calls the database down."""
    await seed_key(database)
    spool = Spool(tmp_path / "spool.jsonl")
    writer = SpendWriter(SpendStore(database), spool, batch_size=10)
    writer.submit(record("good-1", 0.5))
    writer.submit(record("bad", 0.25, start_time=None))
    writer.submit(record("good-2", 0.5))
    await writer.flush()
    assert writer.stats.database_up and writer.stats.written == 2
    assert writer.stats.rejected == 1 and writer.dropped == 1
    assert writer.stats.spooled == 0 and not await spool.pending()
    count, _, key_spend, _ = await rows_and_spend(database)
    assert (count, key_spend) == (2, 1.0)
    writer.submit(record("good-3", 0.5))  # and it keeps going
    await writer.flush()
    assert writer.stats.written == 3


async def test_full_queue_counts_what_it_drops(tmp_path: Path) -> None:
    db = Database(async_url(f"sqlite:///{tmp_path / 'x.db'}", tmp_path))
    writer = SpendWriter(SpendStore(db), Spool(tmp_path / "spool.jsonl"), queue_size=5)
    for i in range(8):
        writer.submit(record(f"r{i}", 0.1))
    assert (writer.queue_depth, writer.dropped) == (5, 3)
    await db.close()


async def test_database_away_and_back_nothing_lost_nothing_twice(tmp_path: Path) -> None:
    async with pg_database() as direct_url:
        name = direct_url.rsplit("/", 1)[1]
        with TcpProxy(PG_HOST, PG_PORT) as proxy:
            db = Database(async_url(pg_url(name, proxy.port), tmp_path), connect_timeout_s=1.0)
            await db.migrate()
            await seed_key(db)
            spool = Spool(tmp_path / "spool.jsonl")
            writer = SpendWriter(SpendStore(db), spool, batch_size=10, flush_interval_s=0.1, retry_s=0.2)
            await writer.start()
            try:
                for i in range(25):
                    writer.submit(record(f"before-{i}", 0.01))
                await writer.flush()
                assert writer.stats.written == 25

                proxy.stop()
                for i in range(40):
                    writer.submit(record(f"during-{i}", 0.01))
                await writer.flush()
                assert not writer.stats.database_up
                assert writer.stats.spooled == 40 and spool.size() > 0
                for i in range(5):  # more while it is still down: straight to the spool
                    writer.submit(record(f"still-{i}", 0.01))
                await writer.flush()
                assert writer.stats.spooled == 45

                proxy.start()
                for i in range(10):
                    writer.submit(record(f"after-{i}", 0.01))
                for _ in range(100):
                    if writer.stats.database_up and spool.size() == 0 and writer.queue_depth == 0:
                        break
                    await asyncio.sleep(0.1)
                    await writer.flush()
                # Rows that came while the retry timer ran may have gone to the spool too.
                assert writer.stats.replayed == writer.stats.spooled >= 45 and writer.dropped == 0
            finally:
                await writer.stop()
            count, distinct, key_spend, team_spend = await rows_and_spend(db)
            await db.close()
    assert count == distinct == 80
    assert abs(key_spend - 0.80) < 1e-9 and abs(team_spend - 0.80) < 1e-9


async def test_a_replay_that_was_already_committed_adds_nothing(database: Database, tmp_path: Path) -> None:
    """The database took a batch but the answer was lost: the same rows come back from the spool."""
    await seed_key(database)
    spool = Spool(tmp_path / "spool.jsonl")
    rows = [record(f"r{i}", 0.5) for i in range(3)]
    await SpendStore(database).write_batch(rows)
    await spool.append(
        [
            {**r, "start_time": r["start_time"].isoformat(), "end_time": r["end_time"].isoformat()}
            for r in rows
        ]
    )
    writer = SpendWriter(SpendStore(database), spool)
    await writer.flush()
    assert writer.stats.replayed == 3 and writer.stats.written == 0
    count, distinct, key_spend, _ = await rows_and_spend(database)
    assert (count, distinct, key_spend) == (3, 3, 1.5)
