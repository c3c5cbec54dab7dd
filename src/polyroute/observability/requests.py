"""Per-request metrics, counted once when a model request's account closes (server/accounting.py),
and the request's record for REMOTE_LOGGER_URL and the debug log (nothing built when both are off)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from polyroute.observability.metrics import METRICS, label
from polyroute.observability.remote_log import request_record
from polyroute.router.engine import CLIENT_CHOSEN_LABEL

if TYPE_CHECKING:
    from polyroute.server.accounting import RequestAccount

log = logging.getLogger("polyroute.request")
OTHER_MODEL = "other"  # requests for a model nothing serves: one label, not one per name sent


def record_request(account: RequestAccount) -> None:
    deployment = account.deployment
    if account.body.get("user_config"):
        group = CLIENT_CHOSEN_LABEL  # the client named its groups: one label for all of them
        provider = deployment.provider if deployment is not None else ""
    elif deployment is not None:
        group = label(account.model_group or deployment.model_name)
        provider = deployment.provider
    else:
        # Nothing served it: the name is the client's choice, so it becomes a label only when the
        # router knows it (a client sending random names must not grow the label set).
        group = _known_group(account)
        provider = ""
    call_type = account.call_type
    m = METRICS
    m.requests.inc((call_type, group, provider, account.status, str(account.http_status)))
    m.request_duration.observe((call_type, group, provider), time.monotonic() - account.started_mono)
    if account.ttft is not None:
        m.ttft.observe((group, provider), account.ttft)
    usage = account.usage
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
    if account.cost:
        m.cost.inc((group, provider), account.cost)
    shipper = account.state.remote_log
    if shipper is not None:
        shipper.submit(request_record(account))
    if log.isEnabledFor(logging.DEBUG):
        log.debug("request finished", extra=request_record(account))


def _known_group(account: RequestAccount) -> str:
    name = account.model_group
    if not name:
        return ""
    try:
        return label(name) if account.state.router.resolve(name) else OTHER_MODEL
    except Exception:  # noqa: BLE001  # a malformed name is just not a known group
        return OTHER_MODEL
