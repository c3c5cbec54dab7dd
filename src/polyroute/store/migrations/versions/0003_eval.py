"""evaluation results: runs and per-model scores (polyroute eval)

Revision ID: 0003_eval
Revises: 0002_arena
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_eval"
down_revision = "0002_arena"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "polyroute_eval_runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("judge", sa.String(length=256), nullable=False),
        sa.Column("baseline", sa.String(length=256), nullable=True),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.Column("judge_prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("judge_completion_tokens", sa.Integer(), nullable=False),
        sa.Column("judge_cost", sa.Float(), nullable=False),
        sa.Column("spend", sa.Float(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "polyroute_eval_scores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("judge", sa.String(length=256), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("turn1", sa.Float(), nullable=True),
        sa.Column("turn2", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["polyroute_eval_runs.run_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("polyroute_eval_scores", schema=None) as batch_op:
        batch_op.create_index("ix_polyroute_eval_scores_run_id", ["run_id"], unique=False)
        batch_op.create_index(
            "ix_polyroute_eval_scores_model_metric_created", ["model", "metric", "created"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("polyroute_eval_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_polyroute_eval_scores_model_metric_created")
        batch_op.drop_index("ix_polyroute_eval_scores_run_id")
    op.drop_table("polyroute_eval_scores")
    op.drop_table("polyroute_eval_runs")
