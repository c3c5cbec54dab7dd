"""Liveness (no auth: it says only that the process answers) and readiness (authenticated)."""

from __future__ import annotations

from polyroute import __version__
from polyroute.errors import ServiceUnavailableError
from polyroute.server.http import Request
from polyroute.server.state import AppState


async def liveness(request: Request, state: AppState) -> None:
    await request.respond_json(200, "I'm alive!")


async def readiness(request: Request, state: AppState) -> None:
    """Any caller learns that the gateway is ready; only the master key (an admin) also sees
    what it serves and what it runs on, which a virtual key has no business knowing. While the
    process stops gracefully (server/shutdown.py) it answers 503, so traffic moves elsewhere."""
    if state.load.draining:
        await request.respond_error(
            ServiceUnavailableError("the gateway is shutting down", code="shutting_down", retry_after=1.0)
        )
        return
    if request.principal is None or not request.principal.is_admin:
        await request.respond_json(200, {"status": "healthy"})
        return
    table = state.config.models
    await request.respond_json(
        200,
        {
            "status": "healthy",
            "version": __version__,
            "models": len(table.public_names()),
            "model_patterns": table.patterns(),
            "db": _database_status(state),
            "cache": state.shared.backend,
        },
    )


async def deployments_health(request: Request, state: AppState) -> None:
    """Every deployment with its state; LiteLLM's healthy/unhealthy endpoint lists beside it."""
    from polyroute.router.inspect import deployment_states

    states = await deployment_states(state.router)
    healthy = [s for s in states if s["state"] != "cooling_down"]
    unhealthy = [s for s in states if s["state"] == "cooling_down"]
    await request.respond_json(
        200,
        {
            "healthy_count": len(healthy),
            "unhealthy_count": len(unhealthy),
            "healthy_endpoints": [{"model": s["model_name"], "api_base": s["api_base"]} for s in healthy],
            "unhealthy_endpoints": [{"model": s["model_name"], "api_base": s["api_base"]} for s in unhealthy],
            "state_backend": state.shared.backend,
            # Shared-state calls served from process memory because Redis was unreachable.
            "state_fallback_operations": getattr(state.shared, "fallback_operations", 0),
            "routing_strategy": state.config.router.routing_strategy,
            "deployments": states,
        },
    )


def _database_status(state: AppState) -> str:
    """From the spend writer's last write: no SQL runs for a readiness probe."""
    if state.db is None or state.writer is None:
        return "not configured"
    if state.catch_up is not None and state.catch_up.degraded:
        return (
            f"unreachable since start-up ({state.db.dialect}); serving "
            f"{len(state.catch_up.cache.fallback) + len(state.catch_up.cache)} known keys from the "
            "last-known-good snapshot; spend logs are spooled to disk"
        )
    if state.writer.stats.database_up:
        return f"connected ({state.db.dialect})"
    return f"unreachable ({state.db.dialect}); spend logs are spooled to disk"
