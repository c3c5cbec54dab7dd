"""The attempt loop: pick a deployment, call it, and on failure retry, move on or fall back.

The router knows nothing about providers or HTTP: the caller hands it an `attempt` coroutine
that serves one request from one deployment. The router decides which deployment, how often,
how long to wait (one deadline covers every attempt), when to fall back to another model group,
and keeps health, limits and latency in the shared state.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from polyroute.errors import (
    ContentPolicyViolationError,
    ContextWindowExceededError,
    GatewayError,
    ModelNotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
)
from polyroute.router.deployment import Deployment
from polyroute.router.health import HealthTracker
from polyroute.router.model_table import ModelTable
from polyroute.router.policy import (
    RETRY_AFTER_CAP_S,
    RetryBudget,
    backoff_delay,
    is_client_fault,
    is_deployment_fault,
    retries_allowed,
)
from polyroute.router.settings import RouterSettings
from polyroute.router.strategies import STRATEGIES, Order
from polyroute.router.tokens import usage_tokens
from polyroute.state.base import SharedState

log = logging.getLogger("polyroute.router")

DEFAULT_DEADLINE_S = 600.0
WINDOW_S = 60.0  # rpm/tpm windows


@dataclass(slots=True)
class RequestOptions:
    """Per-request router knobs LiteLLM clients send in the body."""

    num_retries: int | None = None
    deadline_s: float | None = None
    fallbacks: list[str] | None = None
    context_window_fallbacks: list[str] | None = None
    content_policy_fallbacks: list[str] | None = None
    prompt_tokens: int = 1
    request_id: str = "-"  # named in every log line about this request
    # LiteLLM's test aid: the requested group fails at once (no deployment called, none cooled
    # down), so the request goes to its fallbacks.
    mock_testing_fallbacks: bool = False


@dataclass(slots=True)
class AttemptInfo:
    number: int  # 1-based, across the whole request (fallbacks included)
    fallback: bool  # serving a fallback model group
    model_group: str
    deadline: float  # time on `monotonic` by which this attempt must be done
    request_id: str = "-"
    monotonic: Callable[[], float] = time.monotonic  # the router's deadline clock

    def remaining(self) -> float:
        return self.deadline - self.monotonic()


@dataclass(slots=True)
class AttemptOutcome:
    usage: dict[str, Any] | None = None
    ttft: float | None = None  # seconds to the first byte sent to the client (streams)
    failed_after_start: GatewayError | None = None  # a stream that broke after bytes were sent
    # Content events a stream sent (about one token each): counted against tpm when the provider
    # reported no usage (a stream broken off, or a server that never sends it).
    produced_tokens: int = 0


AttemptFn = Callable[[Deployment, AttemptInfo], Awaitable[AttemptOutcome]]


class RouterEvents:
    """What the router reports as it works; this base ignores it all. Counting it is
    observability's business (observability/router_metrics.py's `RouterMetrics`), so the router imports
    none of it. Names are passed as they are: `client_chosen` says the group names and deployment
    ids were chosen by a client (a user_config), which a metric must not turn into labels."""

    __slots__ = ()

    def fell_back(self, client_chosen: bool, group: str, target: str, reason: str) -> None:
        """A request moves from `group` to its fallback `target` after an error coded `reason`."""

    def retried(self, client_chosen: bool, group: str, reason: str) -> None:
        """A failed attempt on `group` (error coded `reason`) is retried."""

    def attempt_done(self, client_chosen: bool, deployment: Deployment, outcome: str, seconds: float) -> None:
        """An attempt ended: success, broken_stream, error or cancelled, after `seconds`."""

    def upstream_failed(self, client_chosen: bool, deployment: Deployment, error_type: str) -> None:
        """An attempt (or its stream, after bytes were sent) failed with `error_type`."""

    def cooled_down(self, client_chosen: bool, deployment: Deployment, reason: str) -> None:
        """A deployment was put to cool down for `reason`."""


@dataclass(slots=True)
class _Progress:
    attempts: int = 0
    deadline: float = 0.0
    failed: set[str] = field(default_factory=set)  # deployments that failed in this request
    fell_back: bool = False  # a fallback group was tried


class Router:
    def __init__(
        self,
        table: ModelTable,
        settings: RouterSettings,
        state: SharedState,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        limit_share: int = 1,
        worker_order: Order | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        events: RouterEvents | None = None,
    ) -> None:
        self.table = table
        self.events = events or RouterEvents()  # metrics, when the server passes them
        # Worker processes that do not share state each enforce 1/limit_share of every rpm/tpm
        # limit, so the sum over processes never exceeds the configured limit.
        self.limit_share = max(1, limit_share)
        self.settings = settings
        self.state = state
        self.clock = clock  # wall clock: windows and cooldowns are shared across processes
        self.sleep = sleep
        # The request deadline's clock (tests inject a fake one with `sleep`, so waits spend it).
        self.monotonic = monotonic
        self.rng = rng or random.Random()  # noqa: S311  # load spreading, not secrecy
        self.health = HealthTracker(state, settings)
        self.budget = RetryBudget(settings.retry_budget_ratio, settings.retry_budget_min_per_s)
        self.order = STRATEGIES[settings.routing_strategy]
        # A user_config router's group names and deployment ids are the client's choice: as metric
        # labels they would let a client grow the label set without bound, so they share one.
        self.client_chosen_names = False
        # Registered workers are ordered among themselves by the controller's dispatch method
        # (FastChat's lottery or shortest queue); see `_order`.
        self.worker_order = worker_order

    def resolve(self, model: str) -> list[Deployment]:
        return self.table.resolve(self.settings.model_group_alias.get(model, model))

    async def execute(self, model: str, options: RequestOptions, attempt: AttemptFn) -> AttemptOutcome:
        self.budget.on_request()
        limit = options.deadline_s or self.settings.timeout or DEFAULT_DEADLINE_S
        progress = _Progress(deadline=self.monotonic() + limit)
        group_name = self.settings.model_group_alias.get(model, model)
        try:
            return await self._execute(group_name, options, attempt, progress)
        except GatewayError as error:
            # A failed request says what was tried, like a served one (x-polyroute-attempts),
            # so a client can tell "refused at once" from "four attempts across two groups".
            error.headers["x-polyroute-attempts"] = str(progress.attempts)
            error.headers["x-polyroute-fallback"] = "true" if progress.fell_back else "false"
            raise

    async def _execute(
        self, group_name: str, options: RequestOptions, attempt: AttemptFn, progress: _Progress
    ) -> AttemptOutcome:
        try:
            if options.mock_testing_fallbacks:
                raise UpstreamError(
                    f"mock_testing_fallbacks: model group '{group_name}' fails by request (a test)"
                )
            return await self._run_group(group_name, options, attempt, progress, fallback=False)
        except GatewayError as first:
            error = first
            chain = self._fallback_chain(group_name, first, options)
            for target in chain[: self.settings.max_fallbacks]:
                if self.monotonic() >= progress.deadline:
                    log.info(
                        "no further fallback: request=%s group=%s reason=deadline reached",
                        options.request_id,
                        group_name,
                    )
                    break
                log.info(
                    "falling back: request=%s from=%s to=%s after=%s",
                    options.request_id,
                    group_name,
                    target,
                    error.code or error.type,
                )
                self.events.fell_back(self.client_chosen_names, group_name, target, error.code or error.type)
                progress.fell_back = True
                try:
                    return await self._run_group(target, options, attempt, progress, fallback=True)
                except GatewayError as fallback_error:
                    error = fallback_error
            if error is first:
                raise
            raise error from first

    def _fallback_chain(self, group: str, error: GatewayError, options: RequestOptions) -> list[str]:
        if isinstance(error, ContextWindowExceededError):
            return self._context_window_fallbacks(group, options)
        if isinstance(error, ContentPolicyViolationError):
            return self._content_policy_fallbacks(group, options)
        if is_client_fault(error) or isinstance(error, ModelNotFoundError):
            return []  # the same request would fail on any model
        return self._fallbacks(group, options)

    def _fallbacks(self, group: str, options: RequestOptions) -> list[str]:
        if options.fallbacks is not None:
            return options.fallbacks
        s = self.settings
        return s.fallbacks.get(group) or s.fallbacks.get("*") or list(s.default_fallbacks)

    def _context_window_fallbacks(self, group: str, options: RequestOptions) -> list[str]:
        return options.context_window_fallbacks or self.settings.context_window_fallbacks.get(group, [])

    def _content_policy_fallbacks(self, group: str, options: RequestOptions) -> list[str]:
        return options.content_policy_fallbacks or self.settings.content_policy_fallbacks.get(group, [])

    def reachable_deployments(self, model: str, options: RequestOptions | None = None) -> list[Deployment]:
        """Every deployment a request for `model` may be served by: its group's, then those of
        every group it may fall back to (the request's lists, else the configured ones; each
        chain cut at max_fallbacks), each deployment once, groups in the order the router tries
        them. What a budget reservation must bound (spend/cost.py)."""
        options = options or RequestOptions()
        group = self.settings.model_group_alias.get(model, model)
        limit = self.settings.max_fallbacks
        names: list[Any] = [model]
        names += self._fallbacks(group, options)[:limit]
        names += self._context_window_fallbacks(group, options)[:limit]
        names += self._content_policy_fallbacks(group, options)[:limit]
        found: dict[int, Deployment] = {}
        for name in names:
            if isinstance(name, str):  # a request's list is not validated yet at admission
                for deployment in self.resolve(name):
                    found.setdefault(id(deployment), deployment)
        return list(found.values())

    async def _run_group(
        self, name: str, options: RequestOptions, attempt: AttemptFn, progress: _Progress, fallback: bool
    ) -> AttemptOutcome:
        group = self.table.resolve(name)
        if not group and self.table.served_by_workers(name):
            # Its workers are gone (stopped heartbeating or deregistered): an outage, so fallbacks apply.
            raise ServiceUnavailableError(f"no worker serving '{name}' is alive right now")
        if not group:
            raise ModelNotFoundError(
                f"The model '{name}' does not exist or is not served by this gateway", param="model"
            )
        default_retries = (
            options.num_retries if options.num_retries is not None else self.settings.num_retries
        )
        retries = 0
        excluded: set[str] = set()
        failures_of: dict[str, int] = {}  # per deployment, for its own litellm_params.max_retries
        while True:
            deployment, probing = await self._choose(name, group, excluded, progress, options.prompt_tokens)
            progress.attempts += 1
            info = AttemptInfo(
                progress.attempts, fallback, name, progress.deadline, options.request_id, self.monotonic
            )
            try:
                outcome = await self._attempt(
                    deployment, group, probing, info, attempt, options.prompt_tokens
                )
            except GatewayError as error:
                await self._on_failure(deployment, group, error, probing)
                progress.failed.add(deployment.id)
                failures_of[deployment.id] = failures_of.get(deployment.id, 0) + 1
                if is_deployment_fault(error):
                    excluded.add(deployment.id)
                    if len(excluded) >= len(group):
                        self._log_attempt(info, deployment, error, "gave up: every deployment refused")
                        raise
                    # Another deployment may hold a working key: no retry is spent.
                    self._log_attempt(
                        info, deployment, error, "next deployment: the provider refused this one"
                    )
                    continue
                retries += 1
                allowed = retries_allowed(error, default_retries, self.settings.retry_policy)
                remaining = progress.deadline - self.monotonic()
                stop = None
                if not error.retryable:
                    stop = "gave up: not retryable"
                elif retries > allowed:
                    stop = f"gave up: {allowed} retries spent"
                elif remaining <= 0:
                    stop = "gave up: deadline reached"
                elif not self.budget.try_spend():
                    log.warning(
                        "retry budget exhausted: request=%s model=%s error=%s",
                        options.request_id,
                        name,
                        error.code,
                    )
                    stop = "gave up: retry budget exhausted"
                if deployment.max_retries is not None and failures_of[deployment.id] > deployment.max_retries:
                    excluded.add(deployment.id)  # its own retry allowance is spent
                    if stop is None and len(excluded) >= len(group):
                        stop = "gave up: max_retries of every deployment spent"
                if stop is not None:
                    self._log_attempt(info, deployment, error, stop)
                    raise
                delay, step = await self._retry_plan(deployment, group, excluded, error, retries)
                if delay >= remaining:
                    self._log_attempt(
                        info, deployment, error, f"gave up: waiting {delay:.2f}s would pass the deadline"
                    )
                    raise
                self._log_attempt(info, deployment, error, step)
                if delay > 0:
                    await self.sleep(delay)
                self.events.retried(self.client_chosen_names, name, error.code or error.type)
                continue
            if info.number > 1:
                log.info(
                    "served after %d attempts: request=%s group=%s deployment=%s fallback=%s",
                    info.number,
                    options.request_id,
                    name,
                    deployment.id,
                    fallback,
                )
            return outcome

    @staticmethod
    def _log_attempt(info: AttemptInfo, deployment: Deployment, error: GatewayError, step: str) -> None:
        """One line per failed attempt: which, why, and what the router does next."""
        log.info(
            "attempt %d failed: request=%s group=%s deployment=%s provider=%s status=%d code=%s -> %s",
            info.number,
            info.request_id,
            info.model_group,
            deployment.id,
            deployment.provider,
            error.status,
            error.code or error.type,
            step,
        )

    async def _retry_plan(
        self,
        failed: Deployment,
        group: list[Deployment],
        excluded: set[str],
        error: GatewayError,
        retries: int,
    ) -> tuple[float, str]:
        """(seconds to wait, what happens next). Waits only when the retry would hit the same
        deployment again; moving on is immediate (but for `retry_after`, LiteLLM's minimum)."""
        candidates = [d for d in group if d.id not in excluded]
        open_ids = {
            a.deployment.id
            for a in await self.health.availability(candidates, self.clock())
            if a.cooldown is None
        }
        tier = failed.order or 1
        # The failed deployment is cooling or spent (so the next pick is another one), or another
        # one of the same or a better tier is open (a worse tier serves only when this one is
        # unavailable).
        switching = (failed.id not in open_ids and open_ids) or any(
            d.id != failed.id and d.id in open_ids and (d.order or 1) <= tier for d in candidates
        )
        if switching:
            return self.settings.retry_after, f"retry {retries} on another deployment"
        delay = backoff_delay(retries, error.retry_after, self.settings.retry_after, self.rng)
        honoured = error.retry_after is not None and 0 <= error.retry_after <= RETRY_AFTER_CAP_S
        why = "the provider's Retry-After" if honoured else "backoff"
        return delay, f"retry {retries} in {delay:.2f}s ({why})"

    async def _attempt(
        self,
        deployment: Deployment,
        group: list[Deployment],
        probing: bool,
        info: AttemptInfo,
        attempt: AttemptFn,
        prompt_tokens: int,
    ) -> AttemptOutcome:
        inflight_key = deployment.keys.inflight
        await self.state.inflight_add(inflight_key, 1)
        started = time.monotonic()
        outcome_label = "error"
        try:
            outcome = await attempt(deployment, info)
            outcome_label = "success" if outcome.failed_after_start is None else "broken_stream"
        except asyncio.CancelledError:
            outcome_label = "cancelled"
            raise
        finally:
            await self.state.inflight_add(inflight_key, -1)
            if probing:
                await self.health.release_probe(deployment)
            self.events.attempt_done(
                self.client_chosen_names, deployment, outcome_label, time.monotonic() - started
            )
        total = time.monotonic() - started
        if outcome.failed_after_start is not None:
            # A stream broken after its first byte: not retried, but counted like any failure.
            await self._on_failure(deployment, group, outcome.failed_after_start, probing)
            step = "stream already started: ended with an error event"
            self._log_attempt(info, deployment, outcome.failed_after_start, step)
        else:
            await self.health.on_success(deployment, probing)
            await self.state.record_latency(deployment.keys.latency, outcome.ttft, total)
        actual = usage_tokens(outcome.usage)
        if actual is None and outcome.produced_tokens:
            actual = prompt_tokens + outcome.produced_tokens
        if deployment.tpm and actual is not None:
            await self.state.adjust(deployment.keys.tpm, actual - prompt_tokens, WINDOW_S, self.clock())
        return outcome

    async def _on_failure(
        self, deployment: Deployment, group: list[Deployment], error: GatewayError, probing: bool
    ) -> None:
        self.events.upstream_failed(self.client_chosen_names, deployment, error.type)
        if len(group) == 1 and not probing:
            # One deployment: cooling it would take the whole model down; retries back off instead.
            return
        cooldown = await self.health.on_failure(deployment, error, probing, self.clock())
        if cooldown is not None:
            self.events.cooled_down(self.client_chosen_names, deployment, cooldown.reason)
            log.warning(
                "deployment cooling down: deployment=%s for=%.1fs reason=%s",
                deployment.id,
                cooldown.until - self.clock(),
                cooldown.reason,
            )

    async def _choose(
        self, name: str, group: list[Deployment], excluded: set[str], progress: _Progress, prompt_tokens: int
    ) -> tuple[Deployment, bool]:
        """The deployment for the next attempt (and whether it is a probe), or a 429/503."""
        while True:
            now = self.clock()
            availability = [
                a for a in await self.health.availability(group, now) if a.deployment.id not in excluded
            ]
            open_ = [a for a in availability if a.cooldown is None]
            if self.settings.enable_pre_call_checks:
                open_ = self._fits_context(name, open_, prompt_tokens)
            if open_:
                fitting = [a for a in open_ if self._fits_tpm(a.deployment, prompt_tokens)]
                if not fitting:
                    raise self._over_tpm(name, availability, prompt_tokens, now)
                chosen = await self._admit(name, fitting, progress, prompt_tokens, now)
                if chosen is not None:
                    return chosen
                # Every open deployment is at its limits.
                raise self._limits_full(name, [a.cooldown for a in availability if a.cooldown], now)
            cooling = [a.cooldown for a in availability if a.cooldown is not None]
            wait = min(c.until for c in cooling) - now if cooling else None
            remaining = progress.deadline - self.monotonic()
            if wait is not None and wait <= min(self.settings.wait_for_cooldown, remaining):
                await self.sleep(max(wait, 0.01))
                continue
            if cooling and all(c.reason == "429" for c in cooling):
                raise RateLimitError(f"every deployment of '{name}' is rate-limited", retry_after=wait)
            raise ServiceUnavailableError(
                f"no deployment of '{name}' is available right now", retry_after=wait
            )

    def _fits_context(self, name: str, open_: list[Any], prompt_tokens: int) -> list[Any]:
        fitting = [
            a
            for a in open_
            if not (m := a.deployment.model_info.get("max_input_tokens")) or prompt_tokens <= m
        ]
        if open_ and not fitting:
            raise ContextWindowExceededError(
                f"the prompt (about {prompt_tokens} tokens) exceeds the context window of every "
                f"deployment of '{name}'",
                param="messages",
            )
        return fitting

    async def _admit(
        self, name: str, open_: list[Any], progress: _Progress, prompt_tokens: int, now: float
    ) -> tuple[Deployment, bool] | None:
        probing = {a.deployment.id for a in open_ if a.probing}
        tiers = sorted({a.deployment.order or 1 for a in open_})
        for tier in tiers:
            candidates = [a.deployment for a in open_ if (a.deployment.order or 1) == tier]
            if len(candidates) > 1:
                ordered = await self._order(candidates, now)
                # Deployments that already failed this request go last.
                ordered.sort(key=lambda d: d.id in progress.failed)
            else:
                ordered = candidates
            for deployment in ordered:
                is_probe = deployment.id in probing
                if is_probe and not await self.health.take_probe(deployment):
                    continue
                if await self._take_limits(deployment, prompt_tokens, now):
                    return deployment, is_probe
                if is_probe:
                    await self.health.release_probe(deployment)
        return None

    async def _order(self, candidates: list[Deployment], now: float) -> list[Deployment]:
        """One tier's candidates, best first. In a group that mixes registered workers and
        providers, the workers come first (ordered by the dispatch method) and the providers after
        them (ordered by routing_strategy): a self-hosted model serves while it can and the
        provider backs it up. `controller_settings.worker_order` moves workers to another tier."""
        workers = [d for d in candidates if d.worker is not None]
        if not workers or self.worker_order is None:
            return await self.order(candidates, self.state, self.rng, now)
        ordered = await self.worker_order(workers, self.state, self.rng, now)
        if len(workers) < len(candidates):
            providers = [d for d in candidates if d.worker is None]
            ordered += await self.order(providers, self.state, self.rng, now)
        return ordered

    def _limit(self, configured: int) -> int:
        """This process's share of a configured limit (see `limit_share`)."""
        return max(1, configured // self.limit_share)

    async def _take_limits(self, deployment: Deployment, prompt_tokens: int, now: float) -> bool:
        if deployment.rpm:
            rpm = self._limit(deployment.rpm)
            if not (await self.state.try_take(deployment.keys.rpm, 1, rpm, WINDOW_S, now)).allowed:
                return False
        if deployment.tpm:
            tpm = self._limit(deployment.tpm)
            taken = await self.state.try_take(deployment.keys.tpm, prompt_tokens, tpm, WINDOW_S, now)
            if not taken.allowed:
                if deployment.rpm:
                    await self.state.adjust(deployment.keys.rpm, -1, WINDOW_S, now)
                return False
        return True

    def _fits_tpm(self, deployment: Deployment, prompt_tokens: int) -> bool:
        """Whether the prompt's estimate fits this process's share of the tpm limit at all."""
        return not deployment.tpm or prompt_tokens <= self._limit(deployment.tpm)

    def _over_tpm(self, name: str, availability: list[Any], prompt_tokens: int, now: float) -> RateLimitError:
        # No new window admits a prompt larger than a whole tpm limit: a Retry-After naming the
        # window's end would send the client into retries that can never succeed. Only a cooling
        # deployment that could take it gives a true one. A 429 still lets fallbacks apply.
        back = [
            a.cooldown.until - now
            for a in availability
            if a.cooldown is not None and self._fits_tpm(a.deployment, prompt_tokens)
        ]
        # Workers without shared state each hold 1/N of a limit (see `limit_share`): say so.
        share = f" (each of {self.limit_share} worker processes holds 1/{self.limit_share})"
        return RateLimitError(
            f"the prompt (about {prompt_tokens} tokens) is larger than the tpm limit of every "
            f"available deployment of '{name}'{share if self.limit_share > 1 else ''}",
            retry_after=max(0.0, min(back)) if back else None,
            code="prompt_over_tpm_limit",
        )

    def _limits_full(self, name: str, cooling: list[Any], now: float) -> RateLimitError:
        # Fixed windows: everything frees up at the next window boundary, unless a cooling
        # deployment of the group comes back before that.
        retry_after = WINDOW_S - (now % WINDOW_S)
        if cooling:
            retry_after = min(retry_after, max(0.0, min(c.until for c in cooling) - now))
        return RateLimitError(
            f"every deployment of '{name}' is at its rpm/tpm limit",
            retry_after=retry_after,
            code="deployment_limits",
        )
