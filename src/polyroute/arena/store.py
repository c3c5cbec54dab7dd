"""Battles, chats, turns and votes in SQL, with the arena's rules against ballot stuffing.

The UI calls (all async; errors are `polyroute.errors` types with a status and a message for the user):

    store = ArenaStore(database, settings)                      # database: polyroute.store.database.Database
    battle_id = await store.start_battle(caller, mode="anonymous", model_a="m1", model_b="m2")
    turn = await store.add_turn(battle_id, caller.session_id, "prompt")
    await store.record_answer(battle_id, caller.session_id, side="a", turn_index=turn,
                              text=answer_text, request_id="chatcmpl-...")   # once the session HAS it whole
    await store.record_answer(..., side="b", ...)
    receipt = await store.vote(battle_id, caller.session_id, "leftvote")     # -> VoteReceipt (names revealed)
    view = await store.battle_view(battle_id, caller.session_id)            # names hidden until the vote

Rules, enforced here and not in the UI:
- a vote needs every turn of the battle answered on both sides *as received by the session that
  holds the battle* (`record_answer` is that record; `regenerate` takes the last turn's answers
  back until the new ones arrive). Another session's vote is answered as if the battle did not exist.
- one vote per battle (a unique index: two processes racing still get one), none in a chat;
- at most `daily_vote_cap` votes per voter per UTC day (the voter: the user id, else the key's hash,
  else the session); counted under a lock (PostgreSQL advisory lock; one process for SQLite);
- an answer that names a model (`features.identity_leak`) flags its battle, and so does a user
  message that names one (as FastChat's cleaner, which searches every message); flagged battles
  are left out of the leaderboard's outcomes, but `models_ever_battled` lists every model of every
  battle.

Every accepted answer and vote is also appended to the FastChat-compatible log (conv_log.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Delete, delete, exists, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from polyroute.arena.conv_log import ConversationLog, chat_record, conversation_state, vote_record
from polyroute.arena.features import conversation_facts, identity_leak
from polyroute.arena.models import (
    MODES,
    SIDES,
    USER_SIDE,
    VOTE_TYPES,
    ArenaBattle,
    ArenaFlag,
    ArenaTurn,
    ArenaVote,
)
from polyroute.arena.settings import ArenaSettings
from polyroute.errors import ConflictError, InvalidRequestError, NotFoundError, RateLimitError
from polyroute.store.database import Database

# A prompt longer than FastChat's blind-mode input limit is refused here too: the UI checks it
# first with a friendlier message; this keeps what an outsider can make the database hold bounded.
MAX_PROMPT_CHARS = 30_000
# Model answers are bounded by max_tokens upstream; this is a last guard on one row.
MAX_ANSWER_CHARS = 1_000_000
# FastChat's "bothbad_vote" and "tievote" both count as a tie; its cleaned names for the winner:
# The columns a battle's strings go to, and their widths (models.ArenaBattle).
_COLUMN_WIDTHS = {
    name: ArenaBattle.__table__.c[name].type.length
    for name in ("model_a", "model_b", "session_id", "user_id", "key_hash", "key_name", "team_id", "ip")
}
_REQUEST_ID_WIDTH = ArenaTurn.__table__.c["request_id"].type.length
WINNER_OF_VOTE = {
    "leftvote": "model_a",
    "rightvote": "model_b",
    "tievote": "tie",
    "bothbad_vote": "tie (bothbad)",
}


@dataclass(frozen=True)
class Caller:
    """Who holds a battle: the UI session and the gateway identity behind it. `key_hash` is the
    key's SHA-256 hex (or "master_key"); the key itself never reaches the store."""

    session_id: str
    user_id: str | None = None
    key_hash: str | None = None
    key_name: str | None = None
    team_id: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class VoteReceipt:
    battle_id: str
    vote_type: str
    model_a: str
    model_b: str
    flagged: bool  # an answer named a model: the vote counts nowhere on the leaderboard
    votes_left_today: int


@dataclass(frozen=True)
class TurnView:
    prompt: str
    answers: dict[str, str | None]  # side -> answer as received (None: not yet)


@dataclass(frozen=True)
class BattleView:
    battle_id: str
    mode: str
    models: tuple[str | None, str | None]  # (None, None) while an anonymous battle is unvoted
    turns: list[TurnView]
    vote: str | None
    flagged: bool


@dataclass(frozen=True)
class Outcome:
    """One voted, unflagged anonymous battle: what the leaderboard maths reads."""

    model_a: str
    model_b: str
    winner: str  # "model_a" | "model_b" | "tie" | "tie (bothbad)"
    tstamp: float
    turns: int
    user_chars: int
    language: str
    style: dict[str, dict[str, int]]


class ArenaStore:
    def __init__(
        self,
        database: Database,
        settings: ArenaSettings,
        *,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.db = database
        self.settings = settings
        self._clock = clock
        self._new_id = new_id
        self._log = ConversationLog(settings.logdir) if settings.write_conv_logs else None
        self._vote_lock = asyncio.Lock()  # SQLite: one voting transaction at a time in this process

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # -- a battle and its turns -------------------------------------------------------------------
    async def start_battle(
        self,
        caller: Caller,
        *,
        mode: str,
        model_a: str,
        model_b: str | None = None,
        system_message: str = "",
    ) -> str:
        """A new battle (two models) or chat (`mode="chat"`, one model); returns its id."""
        if mode not in MODES:
            raise InvalidRequestError(f"mode must be one of {', '.join(MODES)}", param="mode")
        if (mode == "chat") != (model_b is None):
            raise InvalidRequestError("a chat has one model, a battle two", param="model_b")
        if mode != "chat" and model_a == model_b:
            raise InvalidRequestError("a battle needs two different models", param="model_b")
        if len(system_message) > MAX_PROMPT_CHARS:
            raise InvalidRequestError("the system prompt is too long", param="system_message")
        _check_widths({"model_a": model_a, "model_b": model_b, **vars(caller)})
        battle = ArenaBattle(
            battle_id=self._new_id(),
            mode=mode,
            model_a=model_a,
            model_b=model_b,
            session_id=caller.session_id,
            user_id=caller.user_id,
            key_hash=caller.key_hash,
            key_name=caller.key_name,
            team_id=caller.team_id,
            ip=caller.ip,
            system_message=system_message,
            created_at=self._now(),
        )
        async with self.db.session() as session, session.begin():
            session.add(battle)
        return battle.battle_id

    async def add_turn(self, battle_id: str, session_id: str, prompt: str) -> int:
        """Opens the next turn on every side of the battle; returns its index (0, 1, ...)."""
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidRequestError(
                f"the message is longer than {MAX_PROMPT_CHARS} characters", param="prompt"
            )
        async with self.db.session() as session, session.begin():
            battle = await self._held(session, battle_id, session_id)
            if await self._vote_of(session, battle_id) is not None:
                raise ConflictError("this battle has been voted on; start a new round", code="battle_closed")
            turns = await self._turn_count(session, battle_id)
            if turns >= self.settings.max_turns:
                raise InvalidRequestError(
                    f"this conversation reached its limit of {self.settings.max_turns} turns; "
                    "start a new one",
                    code="turn_limit",
                )
            now = self._now()
            for side in _sides(battle):
                session.add(
                    ArenaTurn(battle_id=battle_id, side=side, turn_index=turns, prompt=prompt, asked_at=now)
                )
            # FastChat drops a battle whose user text names a model too: the answer to "are you
            # Claude?" gives the model away even when it does not repeat the name.
            leaked = identity_leak(prompt, _models(battle))
            if leaked is not None:
                session.add(_flag(battle_id, USER_SIDE, turns, "identity_prompt", leaked, now))
            try:
                await session.flush()
            except IntegrityError:  # two messages at once: the unique turn index lets one in
                raise ConflictError(
                    "another message is being sent in this conversation", code="turn_conflict"
                ) from None
        return turns

    async def record_answer(
        self,
        battle_id: str,
        session_id: str,
        *,
        side: str,
        turn_index: int,
        text: str,
        request_id: str | None,
        gen_params: dict[str, Any] | None = None,
        started_at: float | None = None,
    ) -> str | None:
        """The session received this side's whole answer to the turn (a regenerated one replaces
        it). Returns the identity word the answer leaked, if any (the battle is then flagged)."""
        if side not in SIDES:
            raise InvalidRequestError("side must be 'a' or 'b'", param="side")
        if len(text) > MAX_ANSWER_CHARS:
            raise InvalidRequestError("the answer is too long to record", param="text")
        if request_id is not None and len(request_id) > _REQUEST_ID_WIDTH:
            raise InvalidRequestError(
                f"request_id is longer than {_REQUEST_ID_WIDTH} characters", param="request_id"
            )
        now = self._now()
        async with self.db.session() as session, session.begin():
            battle = await self._held(session, battle_id, session_id)
            if await self._vote_of(session, battle_id) is not None:
                raise ConflictError("this battle has been voted on", code="battle_closed")
            turn = await session.scalar(
                select(ArenaTurn).where(
                    ArenaTurn.battle_id == battle_id,
                    ArenaTurn.side == side,
                    ArenaTurn.turn_index == turn_index,
                )
            )
            if turn is None:
                raise NotFoundError(f"no turn {turn_index} on side {side}", param="turn_index")
            turn.answer, turn.request_id, turn.received_at = text, request_id, now
            await session.execute(_answer_flags(battle_id, turn_index, side))  # a replaced answer's
            leaked = identity_leak(text, _models(battle))
            if leaked is not None:
                session.add(_flag(battle_id, side, turn_index, "identity", leaked, now))
            exchanges = await self._exchanges(session, battle_id, side)
        if self._log is not None:
            model = battle.model_a if side == "a" else battle.model_b
            state = _state(battle, side, exchanges)
            await self._log.append(
                chat_record(
                    tstamp=now.timestamp(),
                    model=model or "",
                    state=state,
                    ip=battle.ip,
                    start=started_at if started_at is not None else now.timestamp(),
                    gen_params=gen_params,
                )
            )
        return leaked

    async def regenerate(self, battle_id: str, session_id: str) -> int:
        """Takes back the last turn's answers (and their flags): a vote must wait for the new ones."""
        async with self.db.session() as session, session.begin():
            await self._held(session, battle_id, session_id)
            if await self._vote_of(session, battle_id) is not None:
                raise ConflictError("this battle has been voted on", code="battle_closed")
            last = await self._turn_count(session, battle_id) - 1
            if last < 0:
                raise ConflictError("there is nothing to regenerate yet", code="no_turn")
            await session.execute(
                update(ArenaTurn)
                .where(ArenaTurn.battle_id == battle_id, ArenaTurn.turn_index == last)
                .values(answer=None, request_id=None, received_at=None)
            )
            await session.execute(_answer_flags(battle_id, last))
        return last

    # -- the vote ---------------------------------------------------------------------------------
    async def vote(self, battle_id: str, session_id: str, vote_type: str) -> VoteReceipt:
        if vote_type not in VOTE_TYPES:
            raise InvalidRequestError(f"vote must be one of {', '.join(VOTE_TYPES)}", param="vote_type")
        now = self._now()
        async with self._vote_lock, self.db.session() as session, session.begin():
            battle = await self._held(session, battle_id, session_id)
            voter = _voter(battle)
            await self._lock_voter(session, voter)
            turns, used = await self._votable(session, battle, voter, now)
            facts = await asyncio.to_thread(
                conversation_facts,
                [t.prompt for t in turns if t.side == "a"],
                [t.answer or "" for t in turns if t.side == "a"],
                [t.answer or "" for t in turns if t.side == "b"],
            )
            battle.turns, battle.user_chars = facts.turns, facts.user_chars
            battle.language, battle.style = facts.language, facts.style
            session.add(
                ArenaVote(
                    battle_id=battle_id,
                    vote_type=vote_type,
                    user_id=voter,
                    session_id=session_id,
                    voted_at=now,
                )
            )
            try:
                await session.flush()
            except IntegrityError:  # another process's vote won the race
                raise ConflictError("this battle already has its vote", code="already_voted") from None
            flagged = await self._flagged(session, battle_id)
        if self._log is not None:
            states = [_state(battle, side, _exchanges_of(turns, side)) for side in SIDES]
            anonymous = battle.mode == "anonymous"
            record = vote_record(
                tstamp=now.timestamp(), vote_type=vote_type, anonymous=anonymous, states=states, ip=battle.ip
            )
            await self._log.append(record)
        return VoteReceipt(
            battle_id=battle_id,
            vote_type=vote_type,
            model_a=battle.model_a,
            model_b=battle.model_b or "",
            flagged=flagged,
            votes_left_today=self.settings.daily_vote_cap - used - 1,
        )

    async def _votable(
        self, session: AsyncSession, battle: ArenaBattle, voter: str, now: datetime
    ) -> tuple[list[ArenaTurn], int]:
        """Refuses the vote unless every rule allows it; returns the turns and the voter's votes today."""
        if battle.mode == "chat":
            raise InvalidRequestError("a chat has nothing to vote on", param="battle_id")
        if await self._vote_of(session, battle.battle_id) is not None:
            raise ConflictError("this battle already has its vote", code="already_voted")
        turns = await self._all_turns(session, battle.battle_id)
        if not turns or any(t.received_at is None for t in turns):
            raise ConflictError("both answers must have arrived before a vote", code="answers_not_received")
        used = await self._votes_today(session, voter, now)
        if used >= self.settings.daily_vote_cap:
            raise RateLimitError(
                f"you have cast today's {self.settings.daily_vote_cap} votes; "
                "voting opens again at midnight UTC",
                code="daily_vote_cap",
                retry_after=(_next_utc_midnight(now) - now).total_seconds(),
            )
        return turns, used

    # -- reads --------------------------------------------------------------------------------------
    async def battle_view(self, battle_id: str, session_id: str) -> BattleView:
        """The battle as its session may see it: an anonymous battle's models stay hidden until its vote."""
        async with self.db.session() as session:
            battle = await self._held(session, battle_id, session_id)
            vote = await self._vote_of(session, battle_id)
            turns = await self._all_turns(session, battle_id)
            flagged = await self._flagged(session, battle_id)
        hidden = battle.mode == "anonymous" and vote is None
        views: dict[int, TurnView] = {}
        for turn in turns:
            view = views.setdefault(turn.turn_index, TurnView(prompt=turn.prompt, answers={}))
            view.answers[turn.side] = turn.answer if turn.received_at is not None else None
        return BattleView(
            battle_id=battle_id,
            mode=battle.mode,
            models=(None, None) if hidden else (battle.model_a, battle.model_b),
            turns=[views[i] for i in sorted(views)],
            vote=vote,
            flagged=flagged,
        )

    async def outcomes(self) -> list[Outcome]:
        """Every voted anonymous battle that no answer flagged, oldest first."""
        flagged = exists().where(ArenaFlag.battle_id == ArenaBattle.battle_id)
        statement = (
            select(ArenaBattle, ArenaVote.vote_type, ArenaVote.voted_at)
            .join(ArenaVote, ArenaVote.battle_id == ArenaBattle.battle_id)
            .where(ArenaBattle.mode == "anonymous", ~flagged)
            .order_by(ArenaVote.voted_at, ArenaVote.id)
        )
        async with self.db.session() as session:
            rows = (await session.execute(statement)).all()
        return [
            Outcome(
                model_a=battle.model_a,
                model_b=battle.model_b or "",
                winner=WINNER_OF_VOTE[vote_type],
                tstamp=voted_at.timestamp(),
                turns=battle.turns,
                user_chars=battle.user_chars,
                language=battle.language or "unknown",
                style=battle.style or {},
            )
            for battle, vote_type, voted_at in rows
        ]

    async def models_ever_battled(self) -> list[str]:
        """Every model that took part in any battle, voted, flagged or not (none ever disappears)."""
        async with self.db.session() as session:
            a = (await session.scalars(select(ArenaBattle.model_a).where(ArenaBattle.mode != "chat"))).all()
            b = (await session.scalars(select(ArenaBattle.model_b).where(ArenaBattle.mode != "chat"))).all()
        return sorted({m for m in (*a, *b) if m})

    # -- helpers ------------------------------------------------------------------------------------
    async def _held(self, session: AsyncSession, battle_id: str, session_id: str) -> ArenaBattle:
        battle = await session.get(ArenaBattle, battle_id)
        if battle is None or battle.session_id != session_id:
            # Same answer for "no such battle" and "someone else's": ids are not an oracle.
            raise NotFoundError("no such battle in this session", param="battle_id")
        return battle

    async def _vote_of(self, session: AsyncSession, battle_id: str) -> str | None:
        return await session.scalar(select(ArenaVote.vote_type).where(ArenaVote.battle_id == battle_id))

    async def _turn_count(self, session: AsyncSession, battle_id: str) -> int:
        last = await session.scalar(
            select(func.max(ArenaTurn.turn_index)).where(ArenaTurn.battle_id == battle_id)
        )
        return 0 if last is None else last + 1

    async def _all_turns(self, session: AsyncSession, battle_id: str) -> list[ArenaTurn]:
        statement = (
            select(ArenaTurn)
            .where(ArenaTurn.battle_id == battle_id)
            .order_by(ArenaTurn.turn_index, ArenaTurn.side)
        )
        return list((await session.scalars(statement)).all())

    async def _exchanges(
        self, session: AsyncSession, battle_id: str, side: str
    ) -> list[tuple[str, str | None]]:
        return _exchanges_of(await self._all_turns(session, battle_id), side)

    async def _flagged(self, session: AsyncSession, battle_id: str) -> bool:
        return bool(await session.scalar(select(exists().where(ArenaFlag.battle_id == battle_id))))

    async def _votes_today(self, session: AsyncSession, voter: str, now: datetime) -> int:
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        count = await session.scalar(
            select(func.count()).where(ArenaVote.user_id == voter, ArenaVote.voted_at >= midnight)
        )
        return int(count or 0)

    async def _lock_voter(self, session: AsyncSession, voter: str) -> None:
        """PostgreSQL: one voting transaction per voter at a time across processes, so the daily
        cap holds under concurrent votes (SQLite: the store's own lock, one process)."""
        if self.db.dialect != "postgresql":
            return
        key = int.from_bytes(hashlib.sha256(voter.encode()).digest()[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _check_widths(values: dict[str, str | None]) -> None:
    """A value wider than its column is refused here, naming it (PostgreSQL would fail the insert)."""
    for name, value in values.items():
        width = _COLUMN_WIDTHS[name]
        if value is not None and len(value) > width:
            raise InvalidRequestError(f"{name} is longer than {width} characters", param=name)


def _models(battle: ArenaBattle) -> list[str]:
    return [m for m in (battle.model_a, battle.model_b) if m]


def _flag(battle_id: str, side: str, turn_index: int, reason: str, word: str, now: datetime) -> ArenaFlag:
    return ArenaFlag(
        battle_id=battle_id,
        side=side,
        turn_index=turn_index,
        reason=reason,
        detail=word[:256],
        flagged_at=now,
    )


def _answer_flags(battle_id: str, turn_index: int, side: str | None = None) -> Delete:
    """The flags an answer raised (not its prompt's): taken back with the answer."""
    statement = delete(ArenaFlag).where(
        ArenaFlag.battle_id == battle_id, ArenaFlag.turn_index == turn_index, ArenaFlag.reason == "identity"
    )
    return statement if side is None else statement.where(ArenaFlag.side == side)


def _voter(battle: ArenaBattle) -> str:
    """Whose daily cap a vote counts against: the user, else the key, else the session."""
    return battle.user_id or battle.key_hash or f"session:{battle.session_id}"


def _sides(battle: ArenaBattle) -> tuple[str, ...]:
    return ("a",) if battle.mode == "chat" else SIDES


def _exchanges_of(turns: list[ArenaTurn], side: str) -> list[tuple[str, str | None]]:
    return [(t.prompt, t.answer if t.received_at is not None else None) for t in turns if t.side == side]


def _state(battle: ArenaBattle, side: str, exchanges: list[tuple[str, str | None]]) -> dict[str, Any]:
    return conversation_state(
        conv_id=f"{battle.battle_id}-{side}",
        model_name=(battle.model_a if side == "a" else battle.model_b) or "",
        system_message=battle.system_message,
        exchanges=exchanges,
    )


def _next_utc_midnight(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
