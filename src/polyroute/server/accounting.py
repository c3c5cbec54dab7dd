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
from typing import Any

from polyroute.auth.context import auth_context_for
from polyroute.auth.principal import Principal
from polyroute.config.user_config import UserConfigRequest
from polyroute.errors import GatewayError
from polyroute.observability.requests import record_request
from polyroute.observability.tracing import RequestTrace, traced
from polyroute.protocol.validate import check_model_names
from polyroute.record import RequestRecord
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptFn, AttemptInfo, AttemptOutcome
from polyroute.router.pricing import prices_for
from polyroute.router.tokens import estimate_prompt_tokens
from polyroute.server.client_scope import budget_deployments
from polyroute.server.state import AppState
from polyroute.spend.cost import (
    cost_usd,
    estimate_answer_tokens,
    reservation_micros,
    to_micros,
    usage_from,
)
from polyroute.spend.limits import Ticket
from polyroute.spend.periods import period_index, period_length
from polyroute.spend.row import NOT_STORED, spend_only_row, spend_row
from polyroute.usage import TokenUsage

COST_HEADERS = ("x-polyroute-response-cost", "x-litellm-response-cost")


class RequestAccount:
    """The lifecycle of one model request (admit, bill, settle, queue the spend row) over its
    `record`, the data every sink reads."""

    __slots__ = (
        "state",
        "principal",
        "body",
        "record",
        "_prompt_estimate",
        "ticket",
        "attempt",
        "trace",
        "row",
        "user_config",
        "guardrail_decisions",  # guardrails/engine.py: what each guardrail decided
        "cache_note",  # a response-cache hit (cache/hook.py)
    )

    def __init__(
        self, state: AppState, principal: Principal, request_id: str, call_type: str, body: dict[str, Any]
    ):
        self.state = state
        self.principal = principal
        self.body = body
        key = principal.key
        model = body.get("model") if isinstance(body.get("model"), str) else None
        user = body.get("user")
        self.record = RequestRecord(
            request_id,
            call_type,
            stream=bool(body.get("stream")),
            spend_label=principal.spend_label,
            key_alias=key.key_alias if key else None,
            team_id=key.team_id if key else None,
            user_id=key.user_id if key else None,
            end_user=user if isinstance(user, str) else None,
            model=model,
            model_group=model,
            client_chosen=bool(body.get("user_config")),
        )
        self._prompt_estimate: int | None = None  # worked out when first needed (`prompt_estimate`)
        self.ticket: Ticket | None = None
        self.attempt: AttemptInfo | None = None  # the attempt running now (see `watching`)
        self.trace: RequestTrace | None = None  # set when OpenTelemetry tracing is on
        self.row: dict[str, Any] | None = None  # the spend row, once built (journal or close)
        # The body's user_config, parsed once: at admission when the key has a budget, and then
        # reused by the route (server/client_scope.py).
        self.user_config: UserConfigRequest | None = None
        self.guardrail_decisions: list[dict[str, Any]] | None = None
        self.cache_note: dict[str, Any] | None = None

    # -- reports from the router's attempts, the routes and the relay -------------------------------
    def watching(self, attempt: AttemptFn) -> AttemptFn:
        """The attempt coroutine as the router runs it: each attempt's facts (`AttemptInfo`) are
        noted as values for `answered`/`streamed`, and its span goes to the trace when tracing
        is on."""
        run = traced(attempt, self.trace)

        async def noted(deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
            self.attempt = info
            return await run(deployment, info)

        return noted

    @property
    def prompt_estimate(self) -> int:
        """The prompt's size in tokens, estimated from the body: for key tpm limits and budget
        reservations at admission, and for the bill when the provider reports no usage. Most
        requests need neither (a cache hit, a key without limits, an answer with usage)."""
        estimate = self._prompt_estimate
        if estimate is None:
            estimate = self._prompt_estimate = estimate_prompt_tokens(self.body)
        return estimate

    @property
    def call_type(self) -> str:
        return self.record.call_type

    def cache_hit(self, saved_usd: float, result: str, similarity: float | None) -> None:
        """Answered from the response cache: no tokens, no cost; the row says what it saved."""
        self.record.usage = TokenUsage()
        self.record.cost = 0.0
        self.cache_note = {"cache_hit": True, "cache_result": result, "saved_cost": saved_usd}
        if similarity is not None:
            self.cache_note["cache_similarity"] = round(similarity, 6)

    def _served(self, deployment: Deployment) -> None:
        record = self.record
        record.deployment_id = deployment.id
        record.deployment_group = deployment.model_name
        record.provider = deployment.provider
        record.upstream_model = deployment.call.model
        info = self.attempt
        if info is not None:
            record.model_group = info.model_group
            record.attempts = info.number

    def answered(
        self,
        deployment: Deployment,
        usage: dict[str, Any] | None,
        answer: dict[str, Any] | None = None,
        extra_usd: float = 0.0,
    ) -> dict[str, str]:
        """A JSON answer is about to go out: its cost, and the headers that tell the client.
        Without the provider's usage, `answer` (the OpenAI-format body) gives the estimate;
        `extra_usd` is what is billed apart from tokens (rerank's search units)."""
        self._served(deployment)
        record = self.record
        record.usage = usage_from(usage) or self._estimate(estimate_answer_tokens(answer))
        record.cost = cost_usd(prices_for(deployment), record.usage) + extra_usd
        value = f"{record.cost:.10g}"
        return {name: value for name in COST_HEADERS}

    def streamed(
        self,
        deployment: Deployment,
        usage: dict[str, Any] | None,
        produced_tokens: int,
        ttft: float | None,
        failed: GatewayError | None = None,
        usage_so_far: dict[str, Any] | None = None,
    ) -> None:
        """A stream that sent bytes ended (completely, broken off, or the client left): bill what
        was produced, from the provider's own figures when it gave them; a stream broken off
        before its final usage keeps the prompt figures the provider reported at its start."""
        self._served(deployment)
        record = self.record
        record.ttft = ttft
        record.usage = usage_from(usage) or self._estimate(produced_tokens, usage_from(usage_so_far))
        record.cost = cost_usd(prices_for(deployment), record.usage)
        if failed is not None:
            self.failed(failed)

    def failed(self, error: GatewayError) -> None:
        record = self.record
        record.status = "failure"
        record.http_status = error.status
        record.error_code = error.code or error.type

    def cancelled(self) -> None:
        record = self.record
        if record.status == "success":
            record.status = "cancelled"
            record.http_status = 499  # the client closed the request (nginx's convention)
            record.error_code = "client_disconnected"

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
        record_request(self.record, state.router.resolve, state.remote_log)
        if state.tracing is not None:
            state.tracing.finish(self.record, self.trace)
        await self.settle_limits()
        if state.writer is not None:
            row = self._spend_row()
            if row is not None:
                state.writer.submit(row)

    def _spend_row(self) -> dict[str, Any] | None:
        """The row, built once: the one journaled before the last byte is the one written, unless
        the request ended otherwise after it (a client that left during the last bytes)."""
        row = self.row
        if row is not None and row.get("status", self.record.status) == self.record.status:
            return row
        self.row = row = self._build_row()
        return row

    def _build_row(self) -> dict[str, Any] | None:
        record = self.record
        if not self.state.config.store.disable_spend_logs:
            row = spend_row(record, self._budgets(), self._messages())
            if self.guardrail_decisions:
                row["metadata"]["guardrails"] = self.guardrail_decisions
            if self.cache_note:
                row["metadata"] |= self.cache_note
            return row
        if self.principal.key is not None and record.cost > 0:
            # No row, but the key's, team's and user's spend still grow: /key/info shows it
            # and a restarted gateway (or an expired shared counter) seeds its budgets from it.
            return spend_only_row(record, self._budgets())
        return None

    def _messages(self) -> Any:
        if not self.state.config.store.store_prompts_in_spend_logs:
            return NOT_STORED
        body = self.body
        return body.get("messages") or body.get("prompt") or body.get("input")

    async def journal(self) -> None:
        """Called before the response's last byte: the row goes to the local journal first, so
        a process killed after the client got its answer still bills it (spend/journal.py)."""
        journal = self.state.journal
        if journal is None or self.row is not None or self.state.writer is None:
            return
        row = self._spend_row()
        if row is None:
            return
        if self.cache_note is not None and not self.record.cost:
            journal.append_unawaited(row)  # a hit bills nothing: its answer need not wait
            return
        with contextlib.suppress(OSError):  # counted and logged by the journal
            await journal.append(row)

    def journal_progress(self) -> None:
        """A running stream's row so far: what a kill mid-stream bills (the final row replaces it)."""
        journal = self.state.journal
        if journal is not None and not self.state.config.store.disable_spend_logs:
            row = spend_row(self.record, self._budgets(), self._messages())
            row.update(status="failure", error_code="stream_interrupted")
            journal.note_progress(row)

    async def settle_limits(self) -> None:
        """Settles the key's limits and budget reservation with the real tokens and cost, once.
        Called before a whole answer's last bytes leave (server/http.py) as well as at the end:
        a client that sends its next request as soon as it has read an answer must find this
        one's reservation already replaced by its cost."""
        ticket, self.ticket = self.ticket, None
        if ticket is not None and self.state.limiter is not None:
            record = self.record
            tokens = record.usage.total if record.usage is not None else None
            await self.state.limiter.settle(ticket, tokens, to_micros(record.cost))

    def _budgets(self) -> list[tuple[str, str, int]]:
        key = self.principal.key
        started = self.record.started
        return [
            (e.kind, e.id, period_index(e.budget_anchor, period_length(e.budget_duration), started))
            for e in (key.entities if key else ())
        ]


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
            group, account.user_config = budget_deployments(state, auth_context_for(principal), body)
            reserve = reservation_micros(
                body,
                account.prompt_estimate,
                group,
                chat=call_type not in ("embeddings", "rerank", "moderation"),
            )
        account.ticket = await state.limiter.admit(
            key.entities, account.prompt_estimate, reserve, account.record.started
        )
    return account
