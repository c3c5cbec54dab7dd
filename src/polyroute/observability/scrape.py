"""What a scrape of GET /metrics reads besides the counters: gauges from the router, the spend
writer, the remote log shipper and the controller, taken when Prometheus asks (never per request)."""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from typing import Any, Protocol

from polyroute import __version__
from polyroute.observability.metrics import METRICS, Labels, label


class ScrapedState(Protocol):
    """The parts of the gateway's state a scrape reads (server/state.py's `AppState` has them):
    named here so that observability does not import the server."""

    config: Any
    router: Any
    shared: Any
    directory: Any
    connections: Any
    writer: Any
    journal: Any
    remote_log: Any
    catch_up: Any
    db: Any

STATE_VALUES = {"healthy": 0.0, "probation": 1.0, "cooling_down": 2.0}


async def local_snapshot(state: ScrapedState) -> dict[str, Any]:
    """This process's counters, histograms and gauges, as JSON-able data."""
    _copy_component_counters(state)
    return METRICS.snapshot(await gauges(state))


def _copy_component_counters(state: ScrapedState) -> None:
    """Components that keep their own tallies (the spend writer, the log shipper): copied in."""
    writer = state.writer
    if writer is not None:
        values = METRICS.spend_records.values
        values[("written",)] = float(writer.stats.written)
        values[("spooled",)] = float(writer.stats.spooled)
        values[("replayed",)] = float(writer.stats.replayed)
        values[("dropped",)] = float(writer.dropped)
        values[("write_failed",)] = float(writer.stats.write_failures)
    journal = state.journal
    if journal is not None:
        values = METRICS.spend_journal_rows.values
        values[("written",)] = float(journal.written)
        values[("failed",)] = float(journal.failed)
        values[("late",)] = float(journal.late)
        values[("replayed",)] = float(journal.replayed)
    fallbacks = getattr(state.shared, "fallback_operations", None)
    if fallbacks is not None:  # only a Redis-backed state falls back
        METRICS.shared_state_fallbacks.values[()] = float(fallbacks)
    shipper = getattr(state, "remote_log", None)
    if shipper is not None:
        values = METRICS.remote_log_records.values
        values[("shipped",)] = float(shipper.shipped)
        values[("failed",)] = float(shipper.failed)
        values[("dropped",)] = float(shipper.dropped)


async def gauges(state: ScrapedState) -> dict[str, dict[Labels, float]]:
    from polyroute.router.inspect import deployment_states

    deployment_state: dict[Labels, float] = {}
    in_flight: dict[Labels, float] = {}
    for entry in await deployment_states(state.router):
        labels = (label(entry["id"]), label(entry["model_name"]), label(entry["provider"]))
        deployment_state[labels] = STATE_VALUES.get(entry["state"], 0.0)
        in_flight[labels] = float(entry["in_flight"] or 0)
    out: dict[str, dict[Labels, float]] = {
        "polyroute_deployment_state": deployment_state,
        "polyroute_deployment_in_flight": in_flight,
        "polyroute_build_info": {(__version__,): 1.0},
        "polyroute_metrics_processes": {(): 1.0},
        "polyroute_open_connections": {(): float(state.connections.open)},
        "polyroute_in_flight_requests": {(): float(len(state.load))},
        "polyroute_draining": {(): 1.0 if state.load.draining else 0.0},
        "polyroute_started_without_database": {
            (): 1.0 if state.catch_up is not None and state.catch_up.degraded else 0.0
        },
    }
    if state.load.limit is not None:
        out["polyroute_max_in_flight_requests"] = {(): float(state.load.limit)}
    writer = state.writer
    if writer is not None:
        out["polyroute_spend_queue_depth"] = {(): float(writer.queue_depth)}
        out["polyroute_spend_spool_bytes"] = {(): float(writer.spool.size())}
        out["polyroute_database_up"] = {(): 1.0 if writer.stats.database_up else 0.0}
    pool = state.db.engine.sync_engine.pool if state.db is not None else None
    if hasattr(pool, "checkedout"):  # NullPool/StaticPool keep no count
        out["polyroute_database_connections"] = {
            ("checked_out",): float(pool.checkedout()),
            ("idle",): float(pool.checkedin()),
        }
    out["polyroute_event_loop_tasks"] = {(): float(len(asyncio.all_tasks()))}
    shipper = getattr(state, "remote_log", None)
    if shipper is not None:
        out["polyroute_remote_log_queue_depth"] = {(): float(shipper.queue_depth())}
    if state.shared.backend != "memory":  # Redis configured: is it answering?
        out["polyroute_shared_state_up"] = {(): 0.0 if "unreachable" in state.shared.backend else 1.0}
    workers = Tally(name for record in state.directory.workers() for name in record.model_names)
    out["polyroute_workers_registered"] = {(label(name),): float(n) for name, n in workers.items()}
    return out
