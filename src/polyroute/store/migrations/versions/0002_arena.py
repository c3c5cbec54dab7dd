"""arena: battles, turns, votes and identity flags (polyroute.arena.models)

Revision ID: 0002_arena
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_arena"
down_revision = "0001"
branch_labels = None
depends_on = None

BATTLES = "polyroute_arena_battles"


def _battle_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["battle_id"], [f"{BATTLES}.battle_id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        BATTLES,
        sa.Column("battle_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("model_a", sa.String(length=256), nullable=False),
        sa.Column("model_b", sa.String(length=256), nullable=True),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=True),
        sa.Column("key_name", sa.String(length=64), nullable=True),
        sa.Column("team_id", sa.String(length=128), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("system_message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("user_chars", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=True),
        sa.Column("style", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("battle_id"),
    )
    with op.batch_alter_table(BATTLES, schema=None) as batch_op:
        batch_op.create_index("ix_polyroute_arena_battles_created", ["created_at"], unique=False)
        batch_op.create_index("ix_polyroute_arena_battles_user", ["user_id", "created_at"], unique=False)

    op.create_table(
        "polyroute_arena_turns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("battle_id", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("turn_index", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=True),
        _battle_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("battle_id", "side", "turn_index", name="uq_polyroute_arena_turn"),
    )

    op.create_table(
        "polyroute_arena_votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("battle_id", sa.String(length=64), nullable=False),
        sa.Column("vote_type", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("voted_at", sa.DateTime(), nullable=False),
        _battle_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("polyroute_arena_votes", schema=None) as batch_op:
        batch_op.create_index("ix_polyroute_arena_votes_battle", ["battle_id"], unique=True)
        batch_op.create_index("ix_polyroute_arena_votes_user_time", ["user_id", "voted_at"], unique=False)

    op.create_table(
        "polyroute_arena_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("battle_id", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("turn_index", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.Column("flagged_at", sa.DateTime(), nullable=False),
        _battle_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("polyroute_arena_flags", schema=None) as batch_op:
        batch_op.create_index("ix_polyroute_arena_flags_battle", ["battle_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("polyroute_arena_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_polyroute_arena_flags_battle")
    op.drop_table("polyroute_arena_flags")
    with op.batch_alter_table("polyroute_arena_votes", schema=None) as batch_op:
        batch_op.drop_index("ix_polyroute_arena_votes_user_time")
        batch_op.drop_index("ix_polyroute_arena_votes_battle")
    op.drop_table("polyroute_arena_votes")
    op.drop_table("polyroute_arena_turns")
    with op.batch_alter_table(BATTLES, schema=None) as batch_op:
        batch_op.drop_index("ix_polyroute_arena_battles_user")
        batch_op.drop_index("ix_polyroute_arena_battles_created")
    op.drop_table(BATTLES)
