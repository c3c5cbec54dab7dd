"""What the admin routes share: the caller, request schemas' common fields, and row -> JSON."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polyroute.auth.principal import Principal
from polyroute.errors import InvalidRequestError
from polyroute.server.state import AppState
from polyroute.spend.periods import (
    DurationError,
    duration_seconds,
    period_index,
    period_length,
    period_reset_at,
)
from polyroute.store.models import BudgetColumns, utcnow

# LiteLLM fields polyroute does not act on: accepted when empty (clients send these defaults),
# refused with a 400 naming them when set, so nobody believes a limit holds that does not.
UNSUPPORTED_FIELDS = frozenset(
    {
        "aliases",
        "config",
        "permissions",
        "model_max_budget",
        "model_rpm_limit",
        "model_tpm_limit",
        "allowed_cache_controls",
        "soft_budget",
        "guardrails",
        "tags",
        "enforced_params",
        "allowed_routes",
        "object_permission",
        "budget_id",
        "organization_id",
        "admins",
        "members",
        "members_with_roles",
        "model_aliases",
        "send_invite_email",
        "temp_budget_increase",
        "temp_budget_expiry",
    }
)
# Where a key may come from, as on the model routes (auth/master_key.py's presented_key).
KEY_HEADERS = frozenset({"authorization", "x-litellm-api-key", "x-api-key", "api-key"})
# Fields LiteLLM clients send that mean nothing here and change nothing: dropped quietly.
IGNORED_FIELDS = frozenset({"key_type", "sso_user_id", "team_member_permissions"})


def state_of(request: Request) -> AppState:
    return request.app.state.gateway


async def caller(request: Request) -> Principal:
    known = request.scope.get("polyroute.principal")
    if known is not None:  # authenticated by the gateway before the body was read (server/app.py)
        return known
    state = state_of(request)
    assert state.auth is not None
    headers = {k: v for k, v in request.headers.items() if k in KEY_HEADERS}
    client = request.client.host if request.client else None
    return await state.auth.authenticate(headers, client)


async def admin(request: Request) -> Principal:
    principal = await caller(request)
    principal.require_admin(f"{request.method} {request.url.path}")
    return principal


MAX_DB_INT = 2**63 - 1


class LimitFields(BaseModel):
    """Limits and budget every key, team and user takes (LiteLLM's names)."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] | None = None
    max_budget: float | None = Field(default=None, ge=0)
    budget_duration: str | None = None
    # the databases store 64-bit integers: a bigger limit was a 500 (OverflowError) from SQLite
    tpm_limit: int | None = Field(default=None, ge=0, le=MAX_DB_INT)
    rpm_limit: int | None = Field(default=None, ge=0, le=MAX_DB_INT)
    max_parallel_requests: int | None = Field(default=None, ge=0, le=MAX_DB_INT)
    metadata: dict[str, Any] | None = None
    blocked: bool | None = None
    spend: float | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = {}
        for name, value in data.items():
            if name in IGNORED_FIELDS:
                continue
            if name in UNSUPPORTED_FIELDS:
                if value in (None, {}, [], "", 0, False):
                    continue
                raise InvalidRequestError(f"'{name}' is not supported by polyroute", param=name)
            out[name] = value
        return out

    @field_validator("metadata")
    @classmethod
    def _switches(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # The per-key/team/user off switch: "false", 0 or null must not read as "left on".
        switch = (value or {}).get("allow_client_side_credentials", True)
        if not isinstance(switch, bool):
            raise InvalidRequestError(
                "Invalid value for 'metadata.allow_client_side_credentials': expected true or false, "
                f"not {type(switch).__name__ if switch is not None else 'null'}",
                param="metadata.allow_client_side_credentials",
            )
        check_guardrail_metadata(value or {})
        return value

    @field_validator("budget_duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                duration_seconds(value)
            except DurationError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) > 1000:
            raise ValueError("at most 1000 models")
        return value


def check_guardrail_metadata(metadata: dict[str, Any]) -> None:
    """metadata.guardrails (names the key, team or user always runs) and
    metadata.allow_request_guardrails (its requests may add guardrails): guardrails/engine.py."""
    names = metadata.get("guardrails")
    if names is not None and (
        not isinstance(names, list) or len(names) > 64 or not all(isinstance(n, str) and n for n in names)
    ):
        raise InvalidRequestError(
            "Invalid value for 'metadata.guardrails': expected a list of at most 64 guardrail names",
            param="metadata.guardrails",
        )
    switch = metadata.get("allow_request_guardrails", False)
    if not isinstance(switch, bool):
        raise InvalidRequestError(
            "Invalid value for 'metadata.allow_request_guardrails': expected true or false",
            param="metadata.allow_request_guardrails",
        )


def changes_of(body: BaseModel, exclude: set[str]) -> dict[str, Any]:
    """Column changes from the fields a client set (an explicit null clears a limit)."""
    changes = {}
    for name in body.model_fields_set - exclude:
        value = getattr(body, name)
        column = "metadata_" if name == "metadata" else name
        if name in ("models",) and value is None:
            value = []
        if name in ("metadata",) and value is None:
            value = {}
        if name == "blocked" and value is None:
            value = False
        changes[column] = value
    if {"budget_duration", "max_budget", "spend"} & body.model_fields_set:
        # A changed budget starts its periods now; the spend so far carries into the new period
        # (LiteLLM does not reset spend on update either), unless the update sets spend itself.
        changes["budget_anchor"] = utcnow()
        changes["spend_period"] = 0
    if changes.get("spend") is None:
        changes.pop("spend", None)
    return changes


def expires_after(duration: str | None) -> datetime | None:
    if not duration or duration in ("permanent", "-1"):
        return None
    try:
        return utcnow() + timedelta(seconds=duration_seconds(duration))
    except DurationError as exc:
        raise InvalidRequestError(f"Invalid value for 'duration': {exc}", param="duration") from None


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def current_spend(row: BudgetColumns, now: datetime | None = None) -> float:
    """Spend of the budget period `now` is in (the stored spend may belong to an ended one)."""
    now = now or utcnow()
    length = period_length(row.budget_duration)
    current = period_index(row.budget_anchor.timestamp(), length, now.timestamp())
    return (row.spend or 0.0) if (row.spend_period or 0) == current else 0.0


def budget_changes(row: BudgetColumns, changes: dict[str, Any]) -> dict[str, Any]:
    """A changed budget restarts its periods now, carrying the current period's spend over."""
    if "budget_anchor" in changes and "spend" not in changes:
        changes["spend"] = current_spend(row)
    return changes


def limits_json(row: BudgetColumns) -> dict[str, Any]:
    now = utcnow()
    current_spend_ = current_spend(row, now)
    return {
        "models": list(row.models or []),
        "max_budget": row.max_budget,
        "budget_duration": row.budget_duration,
        "budget_reset_at": iso(period_reset_at(row.budget_anchor, row.budget_duration, now)),
        "spend": current_spend_,
        "tpm_limit": row.tpm_limit,
        "rpm_limit": row.rpm_limit,
        "max_parallel_requests": row.max_parallel_requests,
        "metadata": dict(row.metadata_ or {}),
        "blocked": bool(row.blocked),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


# The row offset, (page - 1) * size, must fit the databases' 64-bit integers (a bigger one was a
# 500 from SQLite); a million pages is far past any real listing.
MAX_PAGE = 1_000_000


def page_args(page: int, size: int, size_param: str = "size") -> tuple[int, int]:
    if not 1 <= page <= MAX_PAGE:
        raise InvalidRequestError(f"Invalid value for 'page': 1 to {MAX_PAGE}", param="page")
    if not 1 <= size <= 100:
        raise InvalidRequestError(f"Invalid value for '{size_param}': 1 to 100", param=size_param)
    return page, size
