"""stored Responses: one row per response of /v1/responses (store/responses_store.py)

Revision ID: 0004_responses
Revises: 0003_eval
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_responses"
down_revision = "0003_eval"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "polyroute_responses",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("previous_response_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("input_items", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("polyroute_responses", schema=None) as batch_op:
        batch_op.create_index("ix_polyroute_responses_owner", ["owner"], unique=False)
        batch_op.create_index("ix_polyroute_responses_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("polyroute_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_polyroute_responses_expires_at")
        batch_op.drop_index("ix_polyroute_responses_owner")
    op.drop_table("polyroute_responses")
