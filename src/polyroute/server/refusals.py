"""Why a client was refused (401/403), for the operator: one info line per refusal.

A client that keeps failing (a revoked key, a model it may not call) is otherwise invisible in
the log, which notes only 5xx and 429 answers. The line carries the request id, the route, the
status, the error's code and its message (the reason), never the presented key: the messages
of these errors never quote it, and the log's redaction masks anything shaped like a key.
"""

from __future__ import annotations

import logging

from polyroute.errors import GatewayError

log = logging.getLogger("polyroute.auth")

REFUSALS = (401, 403)


def log_refusal(request_id: str | None, method: str, path: str, error: GatewayError) -> None:
    if error.status in REFUSALS:
        log.info(
            "request refused: request=%s %s %s status=%d code=%s reason=%s",
            request_id,
            method,
            path,
            error.status,
            error.code or error.type,
            error.message,
        )
