"""Deployment health: failures, cooldowns and the half-open probe, kept in the shared state.

A deployment cools down when it fails more than `allowed_fails` times within the window, at once
on a 429 (for the provider's Retry-After when that is longer than `cooldown_time`), and at once
when the provider rejects the deployment itself (401/403/404). When a cooldown ends the deployment
is on probation: one request at a time may try it (the probe); a probe that fails cools it again
at once, one that succeeds clears its record.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyroute.errors import GatewayError, RateLimitError
from polyroute.router.deployment import Deployment
from polyroute.router.policy import error_family, is_client_fault, is_deployment_fault
from polyroute.router.settings import RouterSettings
from polyroute.state.base import Cooldown, SharedState

PROBATION_S = 60.0  # after a cooldown ends, a single failure within this long re-cools at once


@dataclass(frozen=True, slots=True)
class Availability:
    deployment: Deployment
    cooldown: Cooldown | None
    probing: bool  # on probation: admitted only by taking the probe slot


class HealthTracker:
    def __init__(self, state: SharedState, settings: RouterSettings) -> None:
        self.state = state
        self.settings = settings

    async def availability(self, group: list[Deployment], now: float) -> list[Availability]:
        if self.settings.disable_cooldowns:
            return [Availability(d, None, False) for d in group]
        keys = [d.keys.cooldown for d in group] + [d.keys.probation for d in group]
        found = await self.state.cooldowns(keys, now)
        n = len(group)
        return [Availability(d, found[i], found[n + i] is not None) for i, d in enumerate(group)]

    async def take_probe(self, deployment: Deployment) -> bool:
        """True when this request may probe a deployment on probation: one probe at a time,
        across processes (an atomic in-flight slot; `release_probe` when the probe ends)."""
        if await self.state.inflight_add(deployment.keys.probe, 1) == 1:
            return True
        await self.state.inflight_add(deployment.keys.probe, -1)
        return False

    async def release_probe(self, deployment: Deployment) -> None:
        await self.state.inflight_add(deployment.keys.probe, -1)

    async def on_success(self, deployment: Deployment, probing: bool) -> None:
        if probing:
            await self.state.clear_cooldown(deployment.keys.probation)
            await self.state.clear_failures(deployment.keys.fails)

    async def on_failure(
        self, deployment: Deployment, error: GatewayError, probing: bool, now: float
    ) -> Cooldown | None:
        """Records a failure; returns the cooldown it started, if any."""
        if self.settings.disable_cooldowns or is_client_fault(error):
            return None
        reason = str(error.status)
        if isinstance(error, RateLimitError):
            return await self._cool(
                deployment, max(self.settings.cooldown_time, error.retry_after or 0.0), "429", now
            )
        if is_deployment_fault(error):
            return await self._cool(deployment, self.settings.cooldown_time, reason, now)
        if probing:
            return await self._cool(deployment, self.settings.cooldown_time, "probe_failed", now)
        allowed = self.settings.allowed_fails_policy.get(error_family(error), self.settings.allowed_fails)
        failures = await self.state.record_failure(
            deployment.keys.fails, self.settings.allowed_fails_window, now
        )
        if failures > allowed:
            return await self._cool(deployment, self.settings.cooldown_time, "allowed_fails", now)
        return None

    async def _cool(self, deployment: Deployment, seconds: float, reason: str, now: float) -> Cooldown | None:
        if seconds <= 0:
            return None
        cooldown = Cooldown(until=now + seconds, reason=reason)
        await self.state.set_cooldown(deployment.keys.cooldown, cooldown, now)
        await self.state.set_cooldown(
            deployment.keys.probation, Cooldown(now + seconds + PROBATION_S, reason), now
        )
        await self.state.clear_failures(deployment.keys.fails)
        return cooldown
