"""Per key, team and user limits on the request path: rpm, tpm, parallel requests, budgets.

`admit` takes what a request needs from every limited entity, atomically per counter (Redis Lua
when shared, in-process otherwise), and gives it all back if any one refuses. `settle` runs when
the request is done: in-flight counts drop, the tpm estimate becomes the real token count and
the budget reservation becomes the real cost. Budgets are integer micro-dollars.

Budget admission: a request is admitted while spend plus outstanding reservations is below the
budget, and reserves an upper bound of its own cost. So however many requests race for the
last cents, the budget is overshot by at most one request's cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polyroute.auth.keys import EntityLimits
from polyroute.errors import BudgetExceededError, RateLimitError
from polyroute.protocol.rate_limit_headers import refused_headers
from polyroute.spend.cost import MICROS_PER_USD, to_micros
from polyroute.spend.periods import period_index, period_length
from polyroute.state.base import SharedState
from polyroute.state.memory import window_index, window_retry_after

WINDOW_S = 60.0  # rpm / tpm windows, as the router's


def _key(entity: EntityLimits, what: str) -> str:
    return f"{what}:{entity.kind}:{entity.id}"


def budget_key(entity: EntityLimits) -> str:
    # The anchor is part of the name: a changed budget starts a new series of periods.
    return f"budget:{entity.kind}:{entity.id}:{int(entity.budget_anchor)}"


@dataclass(slots=True)
class Ticket:
    """What one request holds until it settles."""

    now: float
    prompt_tokens: int = 0
    inflight: list[str] = field(default_factory=list)
    tpm: list[str] = field(default_factory=list)
    rpm: list[str] = field(default_factory=list)
    # (shared key, reserved micro-dollars, period length, time relative to the anchor)
    budgets: list[tuple[str, int, float, float]] = field(default_factory=list)
    settled: bool = False
    # The tightest rpm and tpm windows taken, as (limit, remaining): the rate-limit headers.
    requests: tuple[int, int] | None = None
    tokens: tuple[int, int] | None = None

    @property
    def reset_s(self) -> float:
        """Seconds until the rpm / tpm windows of this request end."""
        return window_retry_after(window_index(self.now, WINDOW_S), WINDOW_S, self.now)


def _tighter(current: tuple[int, int] | None, new: tuple[int, int]) -> tuple[int, int]:
    return new if current is None or new[1] < current[1] else current


class Limiter:
    def __init__(self, shared: SharedState, limit_share: int = 1) -> None:
        self.shared = shared
        # Processes without a shared store each take 1/share of rpm/tpm/parallel limits (as the
        # router does for deployments). Budgets cannot be split that way; see docs/keys_and_spend.md.
        self.share = max(1, limit_share)

    def _part(self, limit: int) -> int:
        return max(1, limit // self.share)

    async def admit(
        self, entities: tuple[EntityLimits, ...], prompt_tokens: int, reserve_micros: int, now: float
    ) -> Ticket:
        ticket = Ticket(now=now, prompt_tokens=prompt_tokens)
        try:
            for entity in entities:
                if entity.limited:
                    await self._take(entity, ticket, reserve_micros)
        except BaseException:
            await self.release(ticket)
            raise
        return ticket

    async def _take(self, entity: EntityLimits, ticket: Ticket, reserve: int) -> None:
        shared, now = self.shared, ticket.now
        if entity.max_parallel_requests is not None:
            key = _key(entity, "parallel")
            count = await shared.inflight_add(key, 1)
            ticket.inflight.append(key)
            if count > self._part(entity.max_parallel_requests):
                raise RateLimitError(
                    f"{entity.kind} '{entity.label}' has reached its max_parallel_requests "
                    f"({entity.max_parallel_requests})",
                    code="max_parallel_requests",
                    retry_after=1.0,
                )
        if entity.rpm_limit is not None:
            key, part = _key(entity, "rpm"), self._part(entity.rpm_limit)
            taken = await shared.try_take(key, 1, part, WINDOW_S, now)
            if not taken.allowed:
                raise RateLimitError(
                    f"{entity.kind} '{entity.label}' has reached its rpm_limit ({entity.rpm_limit})",
                    retry_after=taken.retry_after,
                    headers=refused_headers("requests", part, taken.retry_after),
                )
            ticket.rpm.append(key)
            ticket.requests = _tighter(ticket.requests, (part, part - taken.used))
        if entity.tpm_limit is not None:
            key, part = _key(entity, "tpm"), self._part(entity.tpm_limit)
            amount = max(1, ticket.prompt_tokens)
            taken = await shared.try_take(key, amount, part, WINDOW_S, now)
            if not taken.allowed:
                raise RateLimitError(
                    f"{entity.kind} '{entity.label}' has reached its tpm_limit ({entity.tpm_limit})",
                    retry_after=taken.retry_after,
                    headers=refused_headers("tokens", part, taken.retry_after),
                )
            ticket.tpm.append(key)
            ticket.tokens = _tighter(ticket.tokens, (part, part - taken.used))
        if entity.max_budget is not None:
            await self._reserve(entity, ticket, reserve)

    async def _reserve(self, entity: EntityLimits, ticket: Ticket, reserve: int) -> None:
        length = period_length(entity.budget_duration)
        relative = ticket.now - entity.budget_anchor
        current = period_index(entity.budget_anchor, length, ticket.now)
        seed = to_micros(entity.spend) if entity.spend_period == current else 0
        limit = to_micros(entity.max_budget or 0.0)
        key = budget_key(entity)
        taken = await self.shared.try_reserve(key, reserve, limit, seed, length, max(0.0, relative))
        if not taken.allowed:
            raise BudgetExceededError(
                f"Budget has been exceeded! {entity.kind} '{entity.label}': spend "
                f"{taken.used / MICROS_PER_USD:.6f} USD, max_budget {entity.max_budget:g} USD",
                retry_after=taken.retry_after if entity.budget_duration else None,
            )
        ticket.budgets.append((key, reserve, length, max(0.0, relative)))

    async def settle(self, ticket: Ticket, total_tokens: int | None, cost_micros: int) -> None:
        """Real tokens and cost replace the estimates; call once, when the request is over."""
        if ticket.settled:
            return
        ticket.settled = True
        shared = self.shared
        for key in ticket.inflight:
            await shared.inflight_add(key, -1)
        if total_tokens is not None:
            delta = total_tokens - max(1, ticket.prompt_tokens)
            if delta:
                for key in ticket.tpm:
                    await shared.adjust(key, delta, WINDOW_S, ticket.now)
        for key, reserved, length, relative in ticket.budgets:
            if cost_micros != reserved:
                await shared.adjust(key, cost_micros - reserved, length, relative)

    async def release(self, ticket: Ticket) -> None:
        """Gives back everything a refused request took."""
        if ticket.settled:
            return
        ticket.settled = True
        for key in ticket.inflight:
            await self.shared.inflight_add(key, -1)
        for key in ticket.rpm:
            await self.shared.adjust(key, -1, WINDOW_S, ticket.now)
        for key in ticket.tpm:
            await self.shared.adjust(key, -max(1, ticket.prompt_tokens), WINDOW_S, ticket.now)
        for key, reserved, length, relative in ticket.budgets:
            await self.shared.adjust(key, -reserved, length, relative)
