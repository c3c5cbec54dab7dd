"""GET /metrics: Prometheus text format, for the master key (a scrape config's bearer token)."""

from __future__ import annotations

import asyncio

from polyroute.observability.metrics import render
from polyroute.observability.multiprocess import fleet_snapshot
from polyroute.server.http import Request
from polyroute.server.state import AppState


async def metrics(request: Request, state: AppState) -> None:
    snapshot = await fleet_snapshot(state)
    # Formatting thousands of series takes milliseconds to seconds: never on the event loop.
    body = await asyncio.to_thread(render, snapshot)
    # `render` imported prometheus-client (in its thread): this import is a lookup, not a load.
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    await request.respond(200, body, content_type=(b"content-type", CONTENT_TYPE_LATEST.encode()))
