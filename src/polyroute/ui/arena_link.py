"""The UI's one door to the arena package (polyroute.arena): the SQL store of conversations,
battles and votes (which also writes FastChat's conversation logs), the leaderboard and the
external leaderboard. The UI process owns the database connection; the gateway never sees it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from polyroute.arena.settings import ArenaSettings
from polyroute.ui.sessions import Session

_KINDS = {"chat": "chat", "anonymous": "anonymous", "named": "named"}


def holder_id(session: Session) -> str:
    """The session as the store and the logs know it: a hash of its id, so that a database or log
    reader learns nothing that opens the session."""
    return hashlib.sha256(b"polyroute-ui-session:" + session.id.encode()).hexdigest()[:32]


def key_name(session: Session) -> str | None:
    """LiteLLM's display name of a key (first and last characters), never the key."""
    if session.key is None:
        return None
    key = session.key.reveal()
    return f"{key[:3]}...{key[-4:]}" if len(key) > 12 else "****"


class ArenaLink:
    def __init__(self, database: Any, store: Any, external: Any, settings: ArenaSettings) -> None:
        self.database = database
        self.store = store
        self.external = external
        self.settings = settings
        self.boards: Any = None

    @classmethod
    async def open(
        cls, database_url: str | None, env: Mapping[str, str], leaderboard_ttl_s: float
    ) -> ArenaLink:
        from polyroute.arena.leaderboard import LeaderboardCache
        from polyroute.arena.store import ArenaStore
        from polyroute.store.database import Database

        settings = ArenaSettings.from_env(env)
        database = Database.from_settings(database_url, env)
        await database.migrate()
        store = ArenaStore(database, settings, clock=time.time)
        external = None
        if settings.external_leaderboard_url:
            from polyroute.arena.external import ExternalLeaderboard

            external = ExternalLeaderboard.from_settings(settings)
            if external is not None:
                await external.start()
        link = cls(database, store, external, settings)
        link.boards = LeaderboardCache(store, settings, ttl_s=leaderboard_ttl_s)
        return link

    async def close(self) -> None:
        if self.external is not None:
            await self.external.stop()
        await self.database.close()

    def _caller(self, session: Session) -> Any:
        from polyroute.arena.store import Caller

        return Caller(
            session_id=holder_id(session),
            user_id=session.user_id,
            key_hash=None if session.key is None else session.user_id,
            key_name=key_name(session),
            team_id=None,
            ip=session.client_ip,
        )

    async def start(
        self, session: Session, kind: str, model_a: str, model_b: str | None, system_message: str
    ) -> str:
        return await self.store.start_battle(
            self._caller(session),
            mode=_KINDS[kind],
            model_a=model_a,
            model_b=model_b,
            system_message=system_message,
        )

    async def add_turn(self, battle_id: str, session: Session, prompt: str) -> int:
        return await self.store.add_turn(battle_id, holder_id(session), prompt)

    async def record_answer(
        self,
        battle_id: str,
        session: Session,
        side: str,
        turn: int,
        text: str,
        request_id: str | None,
        params: dict[str, Any],
    ) -> None:
        await self.store.record_answer(
            battle_id,
            holder_id(session),
            side=side,
            turn_index=turn,
            text=text,
            request_id=request_id,
            gen_params=params,
        )

    async def regenerate(self, battle_id: str, session: Session) -> None:
        await self.store.regenerate(battle_id, holder_id(session))

    async def vote(self, battle_id: str, session: Session, vote_type: str) -> Any:
        return await self.store.vote(battle_id, holder_id(session), vote_type)

    async def leaderboard(self, view: str, category: str) -> Any:
        """The arena's table, with each model's newest MT-Bench score (`polyroute eval`, stored
        in the same database) as an extra column when there are any."""
        from polyroute.eval import load_latest_scores

        mt_bench = await load_latest_scores(self.database)
        extra = {model: entry["score"] for model, entry in mt_bench.items()} if mt_bench else None
        return await self.boards.get(view=view, category=category, extra_scores=extra)

    async def plot(self, board: Any, kind: str, fmt: str) -> bytes:
        from polyroute.arena.plots import render_plot

        return await render_plot(board, kind, fmt)

    def external_snapshot(self) -> Any:
        return None if self.external is None else self.external.snapshot().to_json()
