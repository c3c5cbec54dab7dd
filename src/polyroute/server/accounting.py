"""One request's account: admission against its key's limits, its cost, and its spend row.

`admit` runs after authentication, before the router: model access (403 naming the model), then
rpm / tpm / parallel / budget admission for the key, its team and its user. The routes report
what was served (`answered` for JSON answers, which also gives the cost headers; the stream
relay's `streamed`, also for streams cut short). `close` runs when the request is over, however
it ended: the limiter settles with the real tokens and cost, and one spend row is queued for the
batched writer. Nothing here waits for SQL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

from polyroute.auth.context import auth_context_for
from polyroute.auth.principal import Principal
from polyroute.errors import GatewayError
from polyroute.observability.requests import record_request
from polyroute.observability.tracing import RequestTrace
from polyroute.protocol.validate import check_model_names
from polyroute.router.deployment import Deployment
from polyroute.router.tokens import estimate_prompt_tokens
from polyroute.server.client_scope import budget_deployments
from polyroute.server.state import AppState
from polyroute.spend.cost import (
    TokenUsage,
    cost_usd,
    estimate_answer_tokens,
    prices_for,
    reservation_micros,
    to_micros,
    usage_from,
)
from polyroute.spend.limits import Ticket
from polyroute.spend.periods import period_index, period_length

COST_HEADERS = ("x-polyroute-response-cost", "x-litellm-response-cost")


class RequestAccount:
    __slots__ = (
        "state",
        "principal",
        "request_id",
        "call_type",
        "body",
        "stream",
        "started",
        "started_mono",
        "prompt_estimate",
        "ticket",
        "deployment",
        "model_group",
        "attempts",
        "usage",
        "cost",
        "ttft",
        "status",
        "http_status",
        "error_code",
        "trace",
        "journaled",
        "guardrail_decisions",  # guardrails/engine.py: what each guardrail decided
        "cache_note",
    )

    def __init__(
        self, state: AppState, principal: Principal, request_id: str, call_type: str, body: dict[str, Any]
    ):
        self.state = state
        self.principal = principal
        self.request_id = request_id
        self.call_type = call_type
        self.body = body
        self.stream = bool(body.get("stream"))
        self.started = time.time()
        self.started_mono = time.monotonic()
        self.prompt_estimate = estimate_prompt_tokens(body)
        self.ticket: Ticket | None = None
        self.deployment: Deployment | None = None
        self.model_group: str | None = body.get("model") if isinstance(body.get("model"), str) else None
        self.attempts = 0
        self.usage: TokenUsage | None = None
        self.cost = 0.0
        self.ttft: float | None = None
        self.status = "success"
        self.http_status = 200
        self.error_code: str | None = None
        self.trace: RequestTrace | None = None  # set when OpenTelemetry tracing is on
        self.journaled = False
        self.guardrail_decisions: list[dict[str, Any]] | None = None
        self.cache_note: dict[str, Any] | None = None  # a response-cache hit (cache/hook.py)

    # -- reports from the routes and the relay ------------------------------------------------------
    def _served(self, deployment: Deployment, headers: dict[str, str] | None) -> None:
        self.deployment = deployment
        if headers:
            self.model_group = headers.get("x-polyroute-model-group", self.model_group)
            self.attempts = int(headers.get("x-polyroute-attempts", "1") or 1)

    def answered(
        self,
        deployment: Deployment,
        usage: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
        answer: dict[str, Any] | None = None,
        extra_usd: float = 0.0,
    ) -> dict[str, str]:
        """A JSON answer is about to go out: its cost, and the headers that tell the client.
        Without the provider's usage, `answer` (the OpenAI-format body) gives the estimate;
        `extra_usd` is what is billed apart from tokens (rerank's search units)."""
        self._served(deployment, headers)
        self.usage = usage_from(usage) or self._estimate(estimate_answer_tokens(answer))
        self.cost = cost_usd(prices_for(deployment), self.usage) + extra_usd
        value = f"{self.cost:.10g}"
        return {name: value for name in COST_HEADERS}

    def streamed(
        self,
        deployment: Deployment,
        usage: dict[str, Any] | None,
        produced_tokens: int,
        ttft: float | None,
        headers: dict[str, str] | None = None,
        failed: GatewayError | None = None,
        usage_so_far: dict[str, Any] | None = None,
    ) -> None:
        """A stream that sent bytes ended (completely, broken off, or the client left): bill what
        was produced, from the provider's own figures when it gave them; a stream broken off
        before its final usage keeps the prompt figures the provider reported at its start."""
        self._served(deployment, headers)
        self.ttft = ttft
        self.usage = usage_from(usage) or self._estimate(produced_tokens, usage_from(usage_so_far))
        self.cost = cost_usd(prices_for(deployment), self.usage)
        if failed is not None:
            self.failed(failed)

    def cache_hit(self, saved_usd: float, result: str, similarity: float | None) -> None:
        """Answered from the response cache: no tokens, no cost; the row says what it saved."""
        self.usage = TokenUsage()
        self.cost = 0.0
        self.cache_note = {"cache_hit": True, "cache_result": result, "saved_cost": saved_usd}
        if similarity is not None:
            self.cache_note["cache_similarity"] = round(similarity, 6)

    def failed(self, error: GatewayError) -> None:
        self.status = "failure"
        self.http_status = error.status
        self.error_code = error.code or error.type

    def cancelled(self) -> None:
        if self.status == "success":
            self.status = "cancelled"
            self.http_status = 499  # the client closed the request (nginx's convention)
            self.error_code = "client_disconnected"

    def _estimate(self, produced_tokens: int, reported: TokenUsage | None = None) -> TokenUsage:
        completion = max(0, produced_tokens)
        if reported is not None and reported.prompt:
            # The provider's own prompt and cache counts; only the output is estimated.
            return dataclasses.replace(
                reported, completion=max(completion, reported.completion), reasoning=0, estimated=True
            )
        return TokenUsage(prompt=self.prompt_estimate, completion=completion, estimated=True)

    # -- the end ------------------------------------------------------------------------------------
    async def close(self) -> None:
        state = self.state
        record_request(self)
        if state.tracing is not None:
            state.tracing.finish(self)
        await self.settle_limits()
        if state.writer is not None:
            row = self._spend_row()
            if row is not None:
                state.writer.submit(row)

    def _spend_row(self) -> dict[str, Any] | None:
        if not self.state.config.store.disable_spend_logs:
            return self.record()
        if self.principal.key is not None and self.cost > 0:
            # No row, but the key's, team's and user's spend still grow: /key/info shows it
            # and a restarted gateway (or an expired shared counter) seeds its budgets from it.
            return self.spend_only_record()
        return None

    async def journal(self) -> None:
        """Called before the response's last byte: the row goes to the local journal first, so
        a process killed after the client got its answer still bills it (spend/journal.py)."""
        journal = self.state.journal
        if journal is None or self.journaled or self.state.writer is None:
            return
        self.journaled = True
        row = self._spend_row()
        if row is not None:
            with contextlib.suppress(OSError):  # counted and logged by the journal
                await journal.append(row)

    def journal_progress(self) -> None:
        """A running stream's row so far: what a kill mid-stream bills (the final row replaces it)."""
        journal = self.state.journal
        if journal is not None and not self.state.config.store.disable_spend_logs:
            row = self.record()
            row.update(status="failure", error_code="stream_interrupted")
            journal.note_progress(row)

    async def settle_limits(self) -> None:
        """Settles the key's limits and budget reservation with the real tokens and cost, once.
        Called before a whole answer's last bytes leave (server/http.py) as well as at the end:
        a client that sends its next request as soon as it has read an answer must find this
        one's reservation already replaced by its cost."""
        ticket, self.ticket = self.ticket, None
        if ticket is not None and self.state.limiter is not None:
            tokens = self.usage.total if self.usage is not None else None
            await self.state.limiter.settle(ticket, tokens, to_micros(self.cost))

    def spend_only_record(self) -> dict[str, Any]:
        """With `disable_spend_logs`: only what adds this request's cost to its budgets."""
        return {
            "request_id": self.request_id,
            "spend_only": True,
            "spend": self.cost,
            "budgets": self._budgets(),
        }

    def _budgets(self) -> list[tuple[str, str, int]]:
        key = self.principal.key
        return [
            (e.kind, e.id, period_index(e.budget_anchor, period_length(e.budget_duration), self.started))
            for e in (key.entities if key else ())
        ]

    def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"attempts": self.attempts} if self.attempts > 1 else {}
        if self.guardrail_decisions:
            metadata["guardrails"] = self.guardrail_decisions
        if self.cache_note:
            metadata |= self.cache_note
        return metadata

    def record(self) -> dict[str, Any]:
        usage = self.usage or TokenUsage()
        deployment = self.deployment
        key = self.principal.key
        ended = time.time()
        start_time = datetime.fromtimestamp(self.started, UTC)
        row: dict[str, Any] = {
            "request_id": self.request_id,
            "call_type": self.call_type,
            "api_key": self.principal.spend_label,
            "key_alias": key.key_alias if key else None,
            "team_id": key.team_id if key else None,
            "user_id": key.user_id if key else None,
            "end_user": self.body.get("user") if isinstance(self.body.get("user"), str) else None,
            "model": deployment.call.model if deployment else None,
            "model_group": self.model_group,
            "model_id": deployment.id if deployment else None,
            "provider": deployment.provider if deployment else None,
            "prompt_tokens": usage.prompt,
            "completion_tokens": usage.completion,
            "total_tokens": usage.total,
            "cached_tokens": usage.cached,
            "cache_creation_tokens": usage.cache_creation,
            "reasoning_tokens": usage.reasoning,
            "usage_estimated": usage.estimated,
            "spend": self.cost,
            "start_time": start_time,
            "end_time": datetime.fromtimestamp(ended, UTC),
            "completion_start_time": (
                datetime.fromtimestamp(self.started + self.ttft, UTC) if self.ttft is not None else None
            ),
            "request_duration_ms": int((time.monotonic() - self.started_mono) * 1000),
            "status": self.status,
            "http_status": self.http_status,
            "error_code": self.error_code,
            "stream": self.stream,
            "metadata": self._metadata(),
            "budgets": self._budgets(),
        }
        if self.state.config.store.store_prompts_in_spend_logs:
            row["messages"] = self.body.get("messages") or self.body.get("prompt") or self.body.get("input")
        return row


async def admit(
    state: AppState, principal: Principal, request_id: str, call_type: str, body: dict[str, Any]
) -> RequestAccount:
    """Model access and admission; raises 403 / 429 / budget errors before any upstream call."""
    check_model_names(body)  # before any message, log line or header can carry them
    principal.check_models(body, state.config.router.model_group_alias)
    account = RequestAccount(state, principal, request_id, call_type, body)
    key = principal.key
    if key is not None and state.limiter is not None and any(e.limited for e in key.entities):
        reserve = 0
        if any(e.max_budget is not None for e in key.entities):
            # The primary group, its fallbacks, or a user_config's own deployments.
            group = budget_deployments(state, auth_context_for(principal), body)
            reserve = reservation_micros(
                body,
                account.prompt_estimate,
                group,
                chat=call_type not in ("embeddings", "rerank", "moderation"),
            )
        account.ticket = await state.limiter.admit(
            key.entities, account.prompt_estimate, reserve, account.started
        )
    return account
