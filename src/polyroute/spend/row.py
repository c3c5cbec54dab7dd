"""A request's spend row (the `spend_logs` table's columns), built from its record.

Budgets are (entity kind, entity id, budget period index) of the key, its team and its user,
given by the caller: the record holds no key entities.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from polyroute.record import RequestRecord
from polyroute.usage import TokenUsage

Budgets = list[tuple[str, str, int]]
NOT_STORED: Any = object()  # prompts are not stored in spend logs (the row has no `messages`)


def spend_row(record: RequestRecord, budgets: Budgets, messages: Any = NOT_STORED) -> dict[str, Any]:
    """The full row; `messages` only when the operator stores prompts in spend logs."""
    usage = record.usage or TokenUsage()
    ended = time.time()
    started = record.started
    row: dict[str, Any] = {
        "request_id": record.request_id,
        "call_type": record.call_type,
        "api_key": record.spend_label,
        "key_alias": record.key_alias,
        "team_id": record.team_id,
        "user_id": record.user_id,
        "end_user": record.end_user,
        "model": record.upstream_model,
        "model_group": record.model_group,
        "model_id": record.deployment_id,
        "provider": record.provider,
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "total_tokens": usage.total,
        "cached_tokens": usage.cached,
        "cache_creation_tokens": usage.cache_creation,
        "reasoning_tokens": usage.reasoning,
        "usage_estimated": usage.estimated,
        "spend": record.cost,
        "start_time": datetime.fromtimestamp(started, UTC),
        "end_time": datetime.fromtimestamp(ended, UTC),
        "completion_start_time": (
            datetime.fromtimestamp(started + record.ttft, UTC) if record.ttft is not None else None
        ),
        "request_duration_ms": int((time.monotonic() - record.started_mono) * 1000),
        "status": record.status,
        "http_status": record.http_status,
        "error_code": record.error_code,
        "stream": record.stream,
        "metadata": {"attempts": record.attempts} if record.attempts > 1 else {},
        "budgets": budgets,
    }
    if messages is not NOT_STORED:
        row["messages"] = messages
    return row


def spend_only_row(record: RequestRecord, budgets: Budgets) -> dict[str, Any]:
    """With `disable_spend_logs`: only what adds this request's cost to its budgets."""
    return {"request_id": record.request_id, "spend_only": True, "spend": record.cost, "budgets": budgets}
