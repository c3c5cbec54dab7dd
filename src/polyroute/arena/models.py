"""The arena's SQL tables (migration 0002_arena), on the store's declarative base.

- `polyroute_arena_battles`: one conversation with one model ("chat") or two ("anonymous" or
  "named" battle), with who held it: UI session, user, key (its SHA-256 hash and display name,
  never the key), team, client address. The facts the leaderboard filters and controls on
  (turns, user text length, language, answer style per side) are fixed at the vote.
- `polyroute_arena_turns`: one row per turn and side: the prompt, the answer, the gateway request
  id behind it, and when the UI session received it whole (`received_at`).
- `polyroute_arena_votes`: at most one per battle (a unique index: the database refuses a second).
- `polyroute_arena_flags`: an answer (side "a"/"b", reason "identity") or a user message (side
  "u", reason "identity_prompt") that named a model: the battle leaves the leaderboard.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from polyroute.store.models import Base, UtcDateTime, utcnow

MODES = ("anonymous", "named", "chat")
SIDES = ("a", "b")
USER_SIDE = "u"  # a flag raised by the user's message, not by either answer
# FastChat's vote types, as its logs and clean_battle_data name them
VOTE_TYPES = ("leftvote", "rightvote", "tievote", "bothbad_vote")


class ArenaBattle(Base):
    __tablename__ = "polyroute_arena_battles"
    __table_args__ = (
        Index("ix_polyroute_arena_battles_created", "created_at"),
        Index("ix_polyroute_arena_battles_user", "user_id", "created_at"),
    )

    battle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    model_a: Mapped[str] = mapped_column(String(256))
    model_b: Mapped[str | None] = mapped_column(String(256), nullable=True)  # None in a chat
    session_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # sha256 hex, or "master_key"
    key_name: Mapped[str | None] = mapped_column(String(64), nullable=True)  # "sk-...abcd"
    team_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    system_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Fixed at the vote (polyroute.arena.features): categories and style covariates.
    turns: Mapped[int] = mapped_column(Integer, default=0)
    user_chars: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str | None] = mapped_column(String(32), nullable=True)
    style: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ArenaTurn(Base):
    __tablename__ = "polyroute_arena_turns"
    __table_args__ = (UniqueConstraint("battle_id", "side", "turn_index", name="uq_polyroute_arena_turn"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    battle_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("polyroute_arena_battles.battle_id", ondelete="CASCADE")
    )
    side: Mapped[str] = mapped_column(String(1))
    turn_index: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ArenaVote(Base):
    __tablename__ = "polyroute_arena_votes"
    __table_args__ = (
        Index("ix_polyroute_arena_votes_user_time", "user_id", "voted_at"),
        Index("ix_polyroute_arena_votes_battle", "battle_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    battle_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("polyroute_arena_battles.battle_id", ondelete="CASCADE")
    )
    vote_type: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str] = mapped_column(String(128))
    voted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ArenaFlag(Base):
    __tablename__ = "polyroute_arena_flags"
    __table_args__ = (Index("ix_polyroute_arena_flags_battle", "battle_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    battle_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("polyroute_arena_battles.battle_id", ondelete="CASCADE")
    )
    side: Mapped[str] = mapped_column(String(1))
    turn_index: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))  # "identity"
    detail: Mapped[str] = mapped_column(String(256))  # the word that named a model
    flagged_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
