"""initial schema: keys, teams, users, spend logs

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "polyroute_keys",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("key_name", sa.String(length=32), nullable=True),
        sa.Column("key_alias", sa.String(length=256), nullable=True),
        sa.Column("team_id", sa.String(length=128), nullable=True),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("expires", sa.DateTime(), nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("max_budget", sa.Float(), nullable=True),
        sa.Column("budget_duration", sa.String(length=32), nullable=True),
        sa.Column("budget_anchor", sa.DateTime(), nullable=False),
        sa.Column("spend", sa.Float(), nullable=False),
        sa.Column("spend_period", sa.Integer(), nullable=False),
        sa.Column("rpm_limit", sa.Integer(), nullable=True),
        sa.Column("tpm_limit", sa.Integer(), nullable=True),
        sa.Column("max_parallel_requests", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token"),
    )
    with op.batch_alter_table("polyroute_keys", schema=None) as batch_op:
        batch_op.create_index("ix_polyroute_keys_key_alias", ["key_alias"], unique=True)
        batch_op.create_index("ix_polyroute_keys_team_id", ["team_id"], unique=False)
        batch_op.create_index("ix_polyroute_keys_user_id", ["user_id"], unique=False)

    op.create_table(
        "polyroute_spend_logs",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("call_type", sa.String(length=32), nullable=False),
        sa.Column("api_key", sa.String(length=64), nullable=False),
        sa.Column("key_alias", sa.String(length=256), nullable=True),
        sa.Column("team_id", sa.String(length=128), nullable=True),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("end_user", sa.String(length=256), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("model_group", sa.String(length=256), nullable=True),
        sa.Column("model_id", sa.String(length=128), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_creation_tokens", sa.Integer(), nullable=False),
        sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
        sa.Column("usage_estimated", sa.Boolean(), nullable=False),
        sa.Column("spend", sa.Float(), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("end_time", sa.DateTime(), nullable=False),
        sa.Column("completion_start_time", sa.DateTime(), nullable=True),
        sa.Column("request_duration_ms", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("polyroute_spend_logs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_polyroute_spend_logs_api_key_start", ["api_key", "start_time"], unique=False
        )
        batch_op.create_index(
            "ix_polyroute_spend_logs_model_group_start", ["model_group", "start_time"], unique=False
        )
        batch_op.create_index("ix_polyroute_spend_logs_start_time", ["start_time"], unique=False)
        batch_op.create_index("ix_polyroute_spend_logs_team_start", ["team_id", "start_time"], unique=False)
        batch_op.create_index("ix_polyroute_spend_logs_user_start", ["user_id", "start_time"], unique=False)

    op.create_table(
        "polyroute_teams",
        sa.Column("team_id", sa.String(length=128), nullable=False),
        sa.Column("team_alias", sa.String(length=256), nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("max_budget", sa.Float(), nullable=True),
        sa.Column("budget_duration", sa.String(length=32), nullable=True),
        sa.Column("budget_anchor", sa.DateTime(), nullable=False),
        sa.Column("spend", sa.Float(), nullable=False),
        sa.Column("spend_period", sa.Integer(), nullable=False),
        sa.Column("rpm_limit", sa.Integer(), nullable=True),
        sa.Column("tpm_limit", sa.Integer(), nullable=True),
        sa.Column("max_parallel_requests", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )
    op.create_table(
        "polyroute_users",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("user_alias", sa.String(length=256), nullable=True),
        sa.Column("user_email", sa.String(length=320), nullable=True),
        sa.Column("user_role", sa.String(length=64), nullable=True),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("max_budget", sa.Float(), nullable=True),
        sa.Column("budget_duration", sa.String(length=32), nullable=True),
        sa.Column("budget_anchor", sa.DateTime(), nullable=False),
        sa.Column("spend", sa.Float(), nullable=False),
        sa.Column("spend_period", sa.Integer(), nullable=False),
        sa.Column("rpm_limit", sa.Integer(), nullable=True),
        sa.Column("tpm_limit", sa.Integer(), nullable=True),
        sa.Column("max_parallel_requests", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:

    op.drop_table("polyroute_users")
    op.drop_table("polyroute_teams")
    with op.batch_alter_table("polyroute_spend_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_polyroute_spend_logs_user_start")
        batch_op.drop_index("ix_polyroute_spend_logs_team_start")
        batch_op.drop_index("ix_polyroute_spend_logs_start_time")
        batch_op.drop_index("ix_polyroute_spend_logs_model_group_start")
        batch_op.drop_index("ix_polyroute_spend_logs_api_key_start")

    op.drop_table("polyroute_spend_logs")
    with op.batch_alter_table("polyroute_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_polyroute_keys_user_id")
        batch_op.drop_index("ix_polyroute_keys_team_id")
        batch_op.drop_index("ix_polyroute_keys_key_alias")

    op.drop_table("polyroute_keys")
