"""Per-request metrics, counted once when a model request's account closes (server/accounting.py),
from its record (record.py), and the record for REMOTE_LOGGER_URL and the debug log (nothing
built when both are off)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from polyroute.observability.metrics import CLIENT_CHOSEN_LABEL, METRICS, label
from polyroute.observability.remote_log import request_record
from polyroute.record import RequestRecord

if TYPE_CHECKING:
    from polyroute.observability.remote_log import RemoteLogShipper

log = logging.getLogger("polyroute.request")
OTHER_MODEL = "other"  # requests for a model nothing serves: one label, not one per name sent


def record_request(
    record: RequestRecord, resolve: Callable[[str], Any], shipper: RemoteLogShipper | None
) -> None:
    """Counts the request; `resolve` (the router's) tells a known model group from a name a
    client made up, `shipper` is the remote logger when one is configured."""
    if record.client_chosen:
        group = CLIENT_CHOSEN_LABEL  # the client named its groups: one label for all of them
        provider = record.provider or ""
    elif record.served:
        group = label(record.model_group or record.deployment_group)
        provider = record.provider or ""
    else:
        # Nothing served it: the name is the client's choice, so it becomes a label only when the
        # router knows it (a client sending random names must not grow the label set).
        group = _known_group(record.model_group, resolve)
        provider = ""
    call_type = record.call_type
    m = METRICS
    m.requests.inc((call_type, group, provider, record.status, str(record.http_status)))
    m.request_duration.observe((call_type, group, provider), time.monotonic() - record.started_mono)
    if record.ttft is not None:
        m.ttft.observe((group, provider), record.ttft)
    usage = record.usage
    if usage is not None:
        source = "estimate" if usage.estimated else "provider"
        tokens = m.tokens
        if usage.prompt:
            tokens.inc((group, provider, "prompt", source), usage.prompt)
        if usage.completion:
            tokens.inc((group, provider, "completion", source), usage.completion)
        if usage.cached:
            tokens.inc((group, provider, "cached", source), usage.cached)
        if usage.reasoning:
            tokens.inc((group, provider, "reasoning", source), usage.reasoning)
    if record.cost:
        m.cost.inc((group, provider), record.cost)
    if shipper is not None:
        shipper.submit(request_record(record))
    if log.isEnabledFor(logging.DEBUG):
        log.debug("request finished", extra=request_record(record))


def _known_group(name: str | None, resolve: Callable[[str], Any]) -> str:
    if not name:
        return ""
    try:
        return label(name) if resolve(name) else OTHER_MODEL
    except Exception:  # noqa: BLE001  # a malformed name is just not a known group
        return OTHER_MODEL
