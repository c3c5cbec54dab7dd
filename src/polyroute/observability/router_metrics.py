"""The router's events as Prometheus metrics: fallbacks, retries, upstream attempts and their
durations, errors and cooldowns (the router reports them through `RouterEvents` and imports no
observability; the server hands it this)."""

from __future__ import annotations

from polyroute.observability.metrics import CLIENT_CHOSEN_LABEL, METRICS, label
from polyroute.router.deployment import Deployment
from polyroute.router.engine import RouterEvents


def _name(client_chosen: bool, name: str) -> str:
    return CLIENT_CHOSEN_LABEL if client_chosen else label(name)


class RouterMetrics(RouterEvents):
    __slots__ = ()

    def fell_back(self, client_chosen: bool, group: str, target: str, reason: str) -> None:
        METRICS.fallbacks.inc((_name(client_chosen, group), _name(client_chosen, target), label(reason)))

    def retried(self, client_chosen: bool, group: str, reason: str) -> None:
        METRICS.retries.inc((_name(client_chosen, group), label(reason)))

    def attempt_done(self, client_chosen: bool, deployment: Deployment, outcome: str, seconds: float) -> None:
        METRICS.upstream_duration.observe(
            (deployment.provider, _name(client_chosen, deployment.id), outcome), seconds
        )

    def upstream_failed(self, client_chosen: bool, deployment: Deployment, error_type: str) -> None:
        METRICS.upstream_errors.inc((deployment.provider, _name(client_chosen, deployment.id), error_type))

    def cooled_down(self, client_chosen: bool, deployment: Deployment, reason: str) -> None:
        METRICS.cooldowns.inc((_name(client_chosen, deployment.id), deployment.provider, label(reason)))


ROUTER_METRICS = RouterMetrics()
