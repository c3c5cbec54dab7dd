"""GET /spend/logs, /global/spend, /global/spend/keys, /global/spend/teams, /global/spend/models.

LiteLLM's shapes. The /global/spend reports cover the last 30 days (LiteLLM reads them from
30-day views); /spend/logs lists rows, newest first, or with start_date and end_date, LiteLLM's
per-day totals. Spend rows reach the database in batches, so the newest second or so of
traffic may not show yet (general_settings.proxy_batch_write_at).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from polyroute.auth.principal import Principal
from polyroute.errors import InvalidRequestError
from polyroute.server.admin.common import admin, iso, state_of
from polyroute.server.admin.keys import token_of
from polyroute.store.models import SpendLog

router = APIRouter(tags=["budget & spend tracking"])
REPORT_DAYS = 30
MAX_DAILY_DAYS = 366  # /spend/logs with start_date and end_date: a year of days, leap day included


def _day(value: str, name: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        raise InvalidRequestError(f"Invalid value for '{name}': expected YYYY-MM-DD", param=name) from None


def log_json(row: SpendLog) -> dict[str, Any]:
    """LiteLLM's spend-log fields, plus polyroute's (token details, estimated flag, status)."""
    out = {
        "request_id": row.request_id,
        "call_type": row.call_type,
        "api_key": row.api_key,
        "key_alias": row.key_alias,
        "spend": row.spend,
        "total_tokens": row.total_tokens,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cached_tokens": row.cached_tokens,
        "cache_creation_tokens": row.cache_creation_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        "usage_estimated": row.usage_estimated,
        "startTime": iso(row.start_time),
        "endTime": iso(row.end_time),
        "completionStartTime": iso(row.completion_start_time),
        "request_duration_ms": row.request_duration_ms,
        "model": row.model,
        "model_group": row.model_group,
        "model_id": row.model_id,
        "custom_llm_provider": row.provider,
        "user": row.user_id,
        "team_id": row.team_id,
        "end_user": row.end_user,
        "status": row.status,
        "http_status": row.http_status,
        "error_code": row.error_code,
        "stream": row.stream,
        "metadata": dict(row.metadata_ or {}),
        "cache_hit": "False",
    }
    if row.messages is not None:
        out["messages"] = row.messages
    return out


@router.get("/spend/logs")
async def spend_logs(
    request: Request,
    api_key: str | None = Query(default=None, max_length=256, description="a key or its hash"),
    user_id: str | None = Query(default=None, max_length=128),
    team_id: str | None = Query(default=None, max_length=128),
    request_id: str | None = Query(default=None, max_length=64),
    start_date: str | None = Query(default=None, description="YYYY-MM-DD"),
    end_date: str | None = Query(default=None, description="YYYY-MM-DD (inclusive)"),
    limit: int = Query(default=1000, ge=1, le=10_000),
    _: Principal = Depends(admin),
) -> list[dict[str, Any]]:
    state = state_of(request)
    assert state.spend is not None
    filters = []
    if api_key is not None:
        filters.append(SpendLog.api_key == token_of(api_key))
    if user_id is not None:
        filters.append(SpendLog.user_id == user_id)
    if team_id is not None:
        filters.append(SpendLog.team_id == team_id)
    if request_id is not None:
        filters.append(SpendLog.request_id == request_id)
    if (start_date is None) != (end_date is None):
        raise InvalidRequestError(
            "give both start_date and end_date", param="start_date" if end_date else "end_date"
        )
    if start_date is None or end_date is None:
        return [log_json(r) for r in await state.spend.logs(filters, limit)]
    start, end = _day_range(start_date, end_date)
    filters += [SpendLog.start_time >= start, SpendLog.start_time < end]
    return _daily(await state.spend.daily(filters), start.date(), end.date())


def _day_range(start_date: str, end_date: str) -> tuple[datetime, datetime]:
    """[start, end) for the daily answer, which has one entry per day: bounded, whatever the dates."""
    start, last = _day(start_date, "start_date"), _day(end_date, "end_date")
    if last < start:
        raise InvalidRequestError("Invalid value for 'end_date': before start_date", param="end_date")
    if (last - start).days >= MAX_DAILY_DAYS or last.date() == date.max:
        raise InvalidRequestError(
            f"Invalid value for 'end_date': at most {MAX_DAILY_DAYS} days from start_date "
            "(ask for several ranges)",
            param="end_date",
        )
    return start, last + timedelta(days=1)


def _daily(rows: list[tuple[Any, ...]], first: date, end: date) -> list[dict[str, Any]]:
    days: dict[str, dict[str, Any]] = {}
    for day, key, user, model, total in rows:
        entry = days.setdefault(
            str(day), {"spend": 0.0, "users": defaultdict(float), "models": defaultdict(float)}
        )
        entry["spend"] += total or 0.0
        entry[key or ""] = entry.get(key or "", 0.0) + (total or 0.0)
        entry["users"][user or ""] += total or 0.0
        entry["models"][model or ""] += total or 0.0
    out = []
    current = first
    while current < end:
        entry = days.get(current.isoformat(), {"spend": 0.0, "users": {}, "models": {}})
        out.append(
            {
                **entry,
                "users": dict(entry["users"]),
                "models": dict(entry["models"]),
                "startTime": current.isoformat(),
            }
        )
        current += timedelta(days=1)
    return out


def _since() -> datetime:
    return datetime.now(UTC) - timedelta(days=REPORT_DAYS)


@router.get("/global/spend")
async def global_spend(request: Request, _: Principal = Depends(admin)) -> dict[str, Any]:
    state = state_of(request)
    assert state.spend is not None
    return {"spend": await state.spend.total(_since()), "max_budget": None}


@router.get("/global/spend/keys")
async def global_spend_keys(
    request: Request, limit: int = Query(default=10, ge=1, le=1000), _: Principal = Depends(admin)
) -> list[dict[str, Any]]:
    state = state_of(request)
    assert state.spend is not None
    return await state.spend.top_keys(_since(), limit)


@router.get("/global/spend/teams")
async def global_spend_teams(request: Request, _: Principal = Depends(admin)) -> dict[str, Any]:
    state = state_of(request)
    assert state.spend is not None
    by_date: dict[str, dict[str, float]] = defaultdict(dict)
    totals: dict[str, float] = defaultdict(float)
    for day, team_id, alias, total in await state.spend.team_daily(_since()):
        name = alias or team_id or "Unassigned"
        by_date[str(day)][name] = by_date[str(day)].get(name, 0.0) + (total or 0.0)
        totals[name] += total or 0.0
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return {
        "daily_spend": [{"date": day, **teams} for day, teams in sorted(by_date.items())],
        "teams": [name for name, _ in ranked],
        "total_spend_per_team": [{"team_id": name, "total_spend": total} for name, total in ranked],
    }


@router.get("/global/spend/models")
async def global_spend_models(
    request: Request, limit: int = Query(default=10, ge=1, le=1000), _: Principal = Depends(admin)
) -> list[dict[str, Any]]:
    state = state_of(request)
    assert state.spend is not None
    return await state.spend.top_models(_since(), limit)
