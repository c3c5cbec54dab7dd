"""The gateway's Prometheus metrics, counted with plain dicts and rendered by prometheus-client.

Why not prometheus-client's own Counter/Histogram objects on the hot path: each `.labels()` call
builds and locks a child, and each `inc()`/`observe()` takes a threading lock; for a gateway that
spends ~300 µs of CPU on a request, a dozen of those is a measurable share. Here a request adds
to a dict keyed by its label tuple (one event loop per process, so no lock is needed), and the
text format is produced by prometheus-client at scrape time from a snapshot (`render`).

A snapshot is plain JSON-able data, so `--workers N` processes can share theirs through files
(observability/multiprocess.py) and a scrape of any one of them sums all.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # prometheus-client loads on the first scrape (`render`), not in every process
    from prometheus_client.core import Metric

Labels = tuple[str, ...]

# Request durations: sub-millisecond (cached / mock answers) up to ten-minute generations.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
MAX_LABEL_LENGTH = 200  # a label value is cut, never unbounded


MAX_OPEN_LABEL_VALUES = 64  # distinct values of a label an upstream chooses, per process
# Distinct values of any other label, per family and process. Model names reach labels through
# wildcard routes (`openai/*` serves any name a client sends), so no label may grow with what
# clients send: 20,000 names once made /metrics 125 MB. Past the bound, new values count as "other".
MAX_LABEL_VALUES = 500
OTHER_LABEL = "other"


class LabelBound:
    """The distinct values seen per label position of one family, each set capped."""

    __slots__ = ("_seen", "_caps")

    def __init__(self, labelnames: Labels, open_label: str | None = None) -> None:
        self._seen: list[set[str]] = [set() for _ in labelnames]
        # `open_label` takes values an upstream chooses (the `code` of its error body): a
        # client-chosen upstream could send a new one each request, so its bound is smaller.
        self._caps = [MAX_OPEN_LABEL_VALUES if name == open_label else 0 for name in labelnames]

    def bounded(self, labels: Labels) -> Labels:
        """`labels`, with each value past its label's bound replaced by "other"."""
        out: list[str] | None = None
        for i, value in enumerate(labels):
            seen = self._seen[i]
            if value in seen:
                continue
            if len(seen) < (self._caps[i] or MAX_LABEL_VALUES):
                seen.add(value)
                continue
            if out is None:
                out = list(labels)
            out[i] = OTHER_LABEL
        return labels if out is None else tuple(out)

    def clear(self) -> None:
        for seen in self._seen:
            seen.clear()


class Counter:
    __slots__ = ("name", "doc", "labelnames", "values", "_bound")

    def __init__(self, name: str, doc: str, labelnames: Labels, open_label: str | None = None) -> None:
        self.name = name
        self.doc = doc
        self.labelnames = labelnames
        self.values: dict[Labels, float] = {}
        self._bound = LabelBound(labelnames, open_label)

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        values = self.values
        if labels not in values:  # a new series: only then can a label grow
            labels = self._bound.bounded(labels)
        values[labels] = values.get(labels, 0.0) + amount

    def value(self, labels: Labels) -> float:
        return self.values.get(labels, 0.0)

    def clear(self) -> None:
        self.values.clear()
        self._bound.clear()


class Histogram:
    """Per label tuple: one count per bucket (not cumulative; +Inf last), then the sum."""

    __slots__ = ("name", "doc", "labelnames", "bounds", "series", "_bound")

    def __init__(self, name: str, doc: str, labelnames: Labels, bounds: tuple[float, ...]) -> None:
        self.name = name
        self.doc = doc
        self.labelnames = labelnames
        self.bounds = bounds
        self.series: dict[Labels, list[float]] = {}
        self._bound = LabelBound(labelnames)

    def observe(self, labels: Labels, value: float) -> None:
        series = self.series.get(labels)
        if series is None:
            labels = self._bound.bounded(labels)
            series = self.series.get(labels)
            if series is None:
                series = self.series[labels] = [0.0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, value)] += 1  # `le` buckets: value <= bound
        series[-1] += value

    def count(self, labels: Labels) -> float:
        series = self.series.get(labels)
        return sum(series[:-1]) if series else 0.0

    def clear(self) -> None:
        self.series.clear()
        self._bound.clear()


@dataclass(frozen=True, slots=True)
class GaugeSpec:
    """A gauge read at scrape time. `merge`: how processes combine ("sum", "max" or "min")."""

    name: str
    doc: str
    labelnames: Labels
    merge: str = "sum"


GAUGES: tuple[GaugeSpec, ...] = (
    GaugeSpec(
        "polyroute_deployment_state",
        "Deployment state: 0 healthy, 1 on probation (half-open), 2 cooling down.",
        ("deployment", "model_group", "provider"),
        merge="max",
    ),
    GaugeSpec(
        "polyroute_deployment_in_flight",
        "Requests in flight to a deployment (shared across processes when the state is Redis).",
        ("deployment", "model_group", "provider"),
        merge="max",
    ),
    GaugeSpec("polyroute_spend_queue_depth", "Spend rows waiting for the batched writer.", ()),
    GaugeSpec("polyroute_spend_spool_bytes", "Bytes of spend rows spooled on disk (database down).", ()),
    GaugeSpec("polyroute_database_up", "1 when the spend writer's last database write succeeded.", ()),
    GaugeSpec(
        "polyroute_database_connections",
        "Database pool connections: checked_out (in use) and idle (kept open in the pool).",
        ("state",),
    ),
    GaugeSpec("polyroute_event_loop_tasks", "asyncio tasks alive on the event loop (a leak shows here).", ()),
    GaugeSpec("polyroute_remote_log_queue_depth", "Records waiting to be shipped to REMOTE_LOGGER_URL.", ()),
    GaugeSpec(
        "polyroute_shared_state_up",
        "1 while the configured Redis answers, 0 while limits and cooldowns run on process memory.",
        (),
        merge="min",
    ),
    GaugeSpec("polyroute_open_connections", "Client connections open (summed over processes).", ()),
    GaugeSpec("polyroute_in_flight_requests", "Model requests in flight (summed over processes).", ()),
    GaugeSpec(
        "polyroute_max_in_flight_requests",
        "general_settings.max_in_flight_requests (summed over processes); absent when off.",
        (),
    ),
    GaugeSpec(
        "polyroute_draining",
        "1 while a process stops gracefully (readiness 503, requests in flight finishing).",
        (),
        merge="max",
    ),
    GaugeSpec(
        "polyroute_started_without_database",
        "1 while this process, started during a database outage, serves keys from its last-known-good "
        "snapshot and has not yet migrated the schema and replayed its spool; else 0.",
        (),
        merge="max",
    ),
    GaugeSpec("polyroute_workers_registered", "Model workers registered with the controller.", ("model",)),
    GaugeSpec(
        "polyroute_metrics_processes",
        "Gateway processes whose figures this scrape sums (--workers N publish to one another).",
        (),
    ),
    GaugeSpec("polyroute_build_info", "Always 1; the version in a label.", ("version",), merge="max"),
)


@dataclass
class GatewayMetrics:
    """Every counter and histogram of one process. Label order is the tuple order given here."""

    requests: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_requests_total",
            "Model requests (chat, completions, embeddings) by outcome.",
            ("call_type", "model_group", "provider", "status", "code"),
        )
    )
    request_duration: Histogram = field(
        default_factory=lambda: Histogram(
            "polyroute_request_duration_seconds",
            "Time from a model request's arrival to its last byte, retries and fallbacks included.",
            ("call_type", "model_group", "provider"),
            DURATION_BUCKETS,
        )
    )
    ttft: Histogram = field(
        default_factory=lambda: Histogram(
            "polyroute_time_to_first_token_seconds",
            "Streams: time from the start of the attempt that served it to its first byte to the client.",
            ("model_group", "provider"),
            TTFT_BUCKETS,
        )
    )
    upstream_duration: Histogram = field(
        default_factory=lambda: Histogram(
            "polyroute_upstream_duration_seconds",
            "One attempt at one deployment: from the call to its last byte (or its failure).",
            ("provider", "deployment", "outcome"),
            DURATION_BUCKETS,
        )
    )
    tokens: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_tokens_total",
            "Tokens billed, by kind (prompt, completion, cached, reasoning); source: provider or estimate.",
            ("model_group", "provider", "kind", "source"),
        )
    )
    cost: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_cost_usd_total",
            "Cost in US dollars from the price table (the same figure as the spend logs).",
            ("model_group", "provider"),
        )
    )
    errors: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_errors_total",
            "Error answers sent to clients, by OpenAI error type, code and provider ('' before routing).",
            ("type", "code", "provider", "status"),
            open_label="code",
        )
    )
    upstream_errors: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_upstream_errors_total",
            "Failed attempts at a deployment (each retry counts), by error type.",
            ("provider", "deployment", "type"),
        )
    )
    retries: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_retries_total",
            "Retries within a model group.",
            ("model_group", "reason"),
            open_label="reason",
        )
    )
    fallbacks: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_fallbacks_total",
            "Requests moved to a fallback model group.",
            ("from_group", "to_group", "reason"),
        )
    )
    cooldowns: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_cooldowns_total",
            "Deployments put in cooldown.",
            ("deployment", "provider", "reason"),
        )
    )
    spend_records: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_spend_records_total",
            "Spend rows by fate: written, spooled (database down), replayed (from the spool), dropped.",
            ("outcome",),
        )
    )
    spend_journal_rows: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_spend_journal_rows_total",
            "Spend journal lines: written, failed (not written: disk full or unwritable), late (not "
            "confirmed within 2 s; the answer went out anyway), replayed (left by a killed process).",
            ("outcome",),
        )
    )
    remote_log_records: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_remote_log_records_total",
            "Records for REMOTE_LOGGER_URL by fate: shipped, failed (sink errors), dropped (queue full).",
            ("outcome",),
        )
    )
    connections_shed: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_connections_shed_total",
            "Connections closed by a server limit: header_too_large, too_many_headers, header_timeout, "
            "connection_limit.",
            ("reason",),
        )
    )
    guardrail_decisions: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_guardrail_decisions_total",
            "Guardrail checks by decision: allow, block, mask, fail_open, fail_closed (guardrails/).",
            ("guardrail", "decision"),
        )
    )
    shed_requests: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_shed_requests_total",
            "Model requests refused at once with 503 overloaded: queueing_delay (the event loop's lag), "
            "in_flight_limit (general_settings.max_in_flight_requests).",
            ("reason",),
        )
    )
    auth_lockouts: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_auth_lockouts_total",
            "Client addresses locked out after repeated failed authentications (auth/lockout.py).",
            (),
        )
    )
    auth_lockout_refusals: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_auth_lockout_refused_total",
            "Requests refused with 429 because their address is locked out.",
            (),
        )
    )
    shared_state_fallbacks: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_shared_state_fallback_operations_total",
            "Shared-state operations served from process memory because Redis was unreachable.",
            (),
        )
    )

    cache_requests: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_cache_requests_total",
            "Model requests the response cache looked up, by result (hit, semantic-hit, miss).",
            ("result",),
        )
    )
    cache_saved: Counter = field(
        default_factory=lambda: Counter(
            "polyroute_cache_saved_usd_total",
            "US dollars cache hits saved: what the cached answers cost when they were first made.",
            (),
        )
    )

    def families(self) -> Iterator[Counter | Histogram]:
        for value in vars(self).values():
            if isinstance(value, Counter | Histogram):
                yield value

    def snapshot(self, gauges: dict[str, dict[Labels, float]]) -> dict[str, Any]:
        """JSON-able: {"counters": {name: [[labels, value]]}, "histograms": ..., "gauges": ...}."""
        counters: dict[str, list[Any]] = {}
        histograms: dict[str, list[Any]] = {}
        for family in self.families():
            if isinstance(family, Counter):
                counters[family.name] = [[list(k), v] for k, v in family.values.items()]
            else:
                histograms[family.name] = [[list(k), list(v)] for k, v in family.series.items()]
        return {
            "counters": counters,
            "histograms": histograms,
            "gauges": {name: [[list(k), v] for k, v in series.items()] for name, series in gauges.items()},
        }

    def reset(self) -> None:
        for family in self.families():
            family.clear()


METRICS = GatewayMetrics()  # this process's metrics (one event loop: no locks needed)

# The one label of every model group name and deployment id a client chose (a user_config): as
# labels of their own they would let a client grow the label set without bound.
CLIENT_CHOSEN_LABEL = "user_config"


def label(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_LABEL_LENGTH else text[:MAX_LABEL_LENGTH]


def merge_snapshots(snapshots: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sums counters and histograms over processes; gauges by their spec's merge rule."""
    merged: dict[str, dict[str, dict[Labels, Any]]] = {"counters": {}, "histograms": {}, "gauges": {}}
    rules = {spec.name: spec.merge for spec in GAUGES}
    for snapshot in snapshots:
        for name, series in snapshot.get("counters", {}).items():
            target = merged["counters"].setdefault(name, {})
            for labels, value in series:
                key = tuple(labels)
                target[key] = target.get(key, 0.0) + value
        for name, series in snapshot.get("histograms", {}).items():
            target = merged["histograms"].setdefault(name, {})
            for labels, buckets in series:
                key = tuple(labels)
                current = target.get(key)
                if current is None:
                    target[key] = list(buckets)
                else:
                    target[key] = [a + b for a, b in zip(current, buckets, strict=True)]
        for name, series in snapshot.get("gauges", {}).items():
            target = merged["gauges"].setdefault(name, {})
            rule = rules.get(name)
            combine = max if rule == "max" else min if rule == "min" else (lambda a, b: a + b)
            for labels, value in series:
                key = tuple(labels)
                target[key] = value if key not in target else combine(target[key], value)
    return {
        kind: {name: list(series.items()) for name, series in by_name.items()}
        for kind, by_name in merged.items()
    }


class _SnapshotCollector:
    """Hands prometheus-client the families of one (merged) snapshot."""

    def __init__(self, snapshot: dict[str, Any], template: GatewayMetrics) -> None:
        self.snapshot = snapshot
        self.template = template

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        counters = self.snapshot["counters"]
        histograms = self.snapshot["histograms"]
        for family in self.template.families():
            if isinstance(family, Counter):
                metric = CounterMetricFamily(family.name, family.doc, labels=family.labelnames)
                for labels, value in counters.get(family.name, ()):
                    metric.add_metric(list(labels), value)
            else:
                metric = HistogramMetricFamily(family.name, family.doc, labels=family.labelnames)
                bounds = [*(_le(b) for b in family.bounds), "+Inf"]
                for labels, series in histograms.get(family.name, ()):
                    cumulative, running = [], 0.0
                    for bound, count in zip(bounds, series[:-1], strict=True):
                        running += count
                        cumulative.append((bound, running))
                    metric.add_metric(list(labels), cumulative, series[-1])
            yield metric
        gauges = self.snapshot["gauges"]
        for spec in GAUGES:
            metric = GaugeMetricFamily(spec.name, spec.doc, labels=spec.labelnames)
            for labels, value in gauges.get(spec.name, ()):
                metric.add_metric(list(labels), value)
            yield metric


def _le(bound: float) -> str:
    return repr(float(bound))


def render(snapshot: dict[str, Any], with_process: bool = True) -> bytes:
    """Prometheus text exposition of a merged snapshot (plus this process's CPU and memory).
    Blocking work (formatting every series, reading /proc, importing prometheus-client on the
    first scrape): call it in a thread."""
    from prometheus_client.core import CollectorRegistry
    from prometheus_client.exposition import generate_latest
    from prometheus_client.process_collector import ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot, METRICS))
    if with_process:
        ProcessCollector(registry=registry)
    return generate_latest(registry)
