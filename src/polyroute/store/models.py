"""The durable records: virtual keys, teams, users and one spend row per request.

One schema for SQLite and PostgreSQL (SQLAlchemy types that both render). Timestamps are stored
as naive UTC and handed back timezone-aware, so both backends agree. Keys are stored by the
SHA-256 hash of the key, never the key. Budgets keep the spend of the current budget period in
`spend`, with `spend_period` naming that period (see polyroute.spend.periods), so a reset needs
no background job: the first write of a new period starts from zero.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, naive UTC in the database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class BudgetColumns:
    """Limits and the budget every key, team and user carries (LiteLLM's field names)."""

    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_budget: Mapped[float | None] = mapped_column(Float, nullable=True)
    budget_duration: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Budget periods are counted from this instant (creation, or the last budget change).
    budget_anchor: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    spend: Mapped[float] = mapped_column(Float, default=0.0)
    spend_period: Mapped[int] = mapped_column(Integer, default=0)
    rpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_parallel_requests: Mapped[int | None] = mapped_column(Integer, nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Team(BudgetColumns, Base):
    __tablename__ = "polyroute_teams"

    team_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    team_alias: Mapped[str | None] = mapped_column(String(256), nullable=True)


class User(BudgetColumns, Base):
    __tablename__ = "polyroute_users"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_alias: Mapped[str | None] = mapped_column(String(256), nullable=True)
    user_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    user_role: Mapped[str | None] = mapped_column(String(64), nullable=True)
    teams: Mapped[list[str]] = mapped_column(JSON, default=list)


class VirtualKey(BudgetColumns, Base):
    __tablename__ = "polyroute_keys"
    __table_args__ = (
        Index("ix_polyroute_keys_team_id", "team_id"),
        Index("ix_polyroute_keys_user_id", "user_id"),
        Index("ix_polyroute_keys_key_alias", "key_alias", unique=True),
    )

    token: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the key
    key_name: Mapped[str | None] = mapped_column(String(32), nullable=True)  # "sk-...abcd"
    key_alias: Mapped[str | None] = mapped_column(String(256), nullable=True)
    team_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    expires: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SpendLog(Base):
    """One row per request. `api_key` is the key's hash (or "master_key"/"" ), never a key."""

    __tablename__ = "polyroute_spend_logs"
    __table_args__ = (
        Index("ix_polyroute_spend_logs_start_time", "start_time"),
        Index("ix_polyroute_spend_logs_api_key_start", "api_key", "start_time"),
        Index("ix_polyroute_spend_logs_team_start", "team_id", "start_time"),
        Index("ix_polyroute_spend_logs_user_start", "user_id", "start_time"),
        Index("ix_polyroute_spend_logs_model_group_start", "model_group", "start_time"),
    )

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_type: Mapped[str] = mapped_column(String(32), default="")
    api_key: Mapped[str] = mapped_column(String(64), default="")
    key_alias: Mapped[str | None] = mapped_column(String(256), nullable=True)
    team_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    end_user: Mapped[str | None] = mapped_column(String(256), nullable=True)
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)  # the upstream model id
    model_group: Mapped[str | None] = mapped_column(String(256), nullable=True)  # the name clients use
    model_id: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the deployment id
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_creation_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    usage_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    spend: Mapped[float] = mapped_column(Float, default=0.0)  # USD
    start_time: Mapped[datetime] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime] = mapped_column(UtcDateTime)
    completion_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    request_duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="success")
    http_status: Mapped[int] = mapped_column(Integer, default=200)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    messages: Mapped[Any | None] = mapped_column(JSON, nullable=True)  # only with store_prompts_in_spend_logs
