from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polyroute.arena.settings import ArenaSettings
from polyroute.arena.store import ArenaStore, Caller
from polyroute.store.database import Database, async_url
from tests.store.databases import pg_database, sqlite_url

DAY = 86_400.0
# 2026-12-04 12:00:00 UTC: the injected clock starts mid-day, far from a day's edge
NOON = 1_796_385_600.0


class Clock:
    """The store's injected clock: tests move it, nothing waits on real time."""

    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
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


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """For tests whose subject does not depend on the database kind."""
    db = Database(async_url(sqlite_url(tmp_path), tmp_path))
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> ArenaSettings:
    return ArenaSettings(logdir=tmp_path / "logs", daily_vote_cap=3)


@pytest.fixture
def store(database: Database, settings: ArenaSettings, clock: Clock) -> ArenaStore:
    return ArenaStore(database, settings, clock=clock)


def caller(session: str = "s1", user: str | None = "alice") -> Caller:
    return Caller(
        session_id=session,
        user_id=user,
        key_hash="ab" * 32,
        key_name="sk-...wxyz",
        team_id="team-1",
        ip="203.0.113.7",
    )


async def answered_battle(
    store: ArenaStore,
    who: Caller,
    *,
    model_a: str = "model-x",
    model_b: str = "model-y",
    answers: tuple[str, str] = ("Answer one.", "Answer two."),
    prompt: str = "What is the capital of France?",
    mode: str = "anonymous",
) -> str:
    """A battle of one turn whose session received both answers."""
    battle = await store.start_battle(who, mode=mode, model_a=model_a, model_b=model_b)
    turn = await store.add_turn(battle, who.session_id, prompt)
    for side, text in zip("ab", answers, strict=True):
        await store.record_answer(
            battle, who.session_id, side=side, turn_index=turn, text=text, request_id=f"req-{battle}-{side}"
        )
    return battle
