"""Optional background health probes (LiteLLM's `background_health_checks`).

Every `health_check_interval` seconds each concrete deployment gets one tiny chat request
(`max_tokens: 1`). A failure counts like a client request's failure (a 401 or 429 cools the
deployment at once), a success clears a probation; so a broken deployment is found before a
client meets it. Probes cost tokens: they are off by default, as in LiteLLM.
"""

from __future__ import annotations

import asyncio
import logging

from polyroute.errors import GatewayError
from polyroute.router.deployment import Deployment
from polyroute.server.relay import call_json
from polyroute.server.state import AppState

log = logging.getLogger("polyroute.probes")

PROBE_BODY = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
PROBE_TIMEOUT_S = 30.0


async def probe_deployment(state: AppState, deployment: Deployment) -> GatewayError | None:
    """Sends one probe; records the outcome in the router's health; returns the error, if any."""
    router = state.router
    body = {**PROBE_BODY, "model": deployment.model_name}
    try:
        wire = deployment.adapter.chat_request(deployment.call, body, False)
        await call_json(state, deployment, wire, PROBE_TIMEOUT_S)
    except GatewayError as error:
        cooldown = await router.health.on_failure(deployment, error, False, router.clock())
        log.warning(
            "health probe failed: deployment=%s status=%d code=%s cooled=%s",
            deployment.id,
            error.status,
            error.code,
            cooldown is not None,
        )
        return error
    await router.health.on_success(deployment, True)
    return None


async def run_probes(state: AppState, interval_s: float) -> None:
    """Probes every concrete deployment, then sleeps; runs until cancelled."""
    while True:
        # Workers prove themselves by heartbeats; probing them would cost a generation each.
        deployments = [d for d in state.router.table.deployments if not d.wildcard and d.worker is None]
        await asyncio.gather(*(probe_deployment(state, d) for d in deployments))
        await asyncio.sleep(interval_s)
