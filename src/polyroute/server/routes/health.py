"""Liveness (no auth: it says only that the process answers) and readiness (authenticated)."""

from __future__ import annotations

from polyroute import __version__
from polyroute.server.http import Request
from polyroute.server.state import AppState


async def liveness(request: Request, state: AppState) -> None:
    await request.respond_json(200, "I'm alive!")


async def readiness(request: Request, state: AppState) -> None:
    table = state.config.models
    await request.respond_json(
        200,
        {
            "status": "healthy",
            "version": __version__,
            "models": len(table.public_names()),
            "model_patterns": table.patterns(),
            "db": "not configured",
            "cache": "in-process",
        },
    )
