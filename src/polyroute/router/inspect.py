"""A snapshot of every deployment's state for GET /health: nothing secret, everything useful."""

from __future__ import annotations

from typing import Any

from polyroute.router.engine import WINDOW_S, Router


async def deployment_states(router: Router) -> list[dict[str, Any]]:
    deployments = router.table.deployments
    now = router.clock()
    state = router.state
    availability = await router.health.availability(deployments, now)
    inflight = await state.inflight([d.keys.inflight for d in deployments])
    usage = await state.window_usage(
        [k for d in deployments for k in (d.keys.rpm, d.keys.tpm)], WINDOW_S, now
    )
    latencies = await state.latencies([d.keys.latency for d in deployments])
    out = []
    for n, deployment in enumerate(deployments):
        entry = deployment.describe()
        avail = availability[n]
        if avail.cooldown is not None:
            entry["state"] = "cooling_down"
            entry["cooldown_until"] = avail.cooldown.until
            entry["cooldown_remaining_s"] = round(avail.cooldown.until - now, 3)
            entry["cooldown_reason"] = avail.cooldown.reason
        else:
            entry["state"] = "probation" if avail.probing else "healthy"
        latency = latencies[n]
        entry.update(
            {
                "in_flight": inflight[n],
                "rpm_used": usage[2 * n],
                "tpm_used": usage[2 * n + 1],
                "latency_ms": {
                    "ttft": round(latency.ttft * 1000, 2) if latency.ttft is not None else None,
                    "total": round(latency.total * 1000, 2) if latency.total is not None else None,
                    "samples": latency.samples,
                },
                "order": deployment.order or 1,
            }
        )
        out.append(entry)
    return out
