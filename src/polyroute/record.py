"""What happened to one model request: the record every sink reads.

Metrics (observability/requests.py), traces (observability/tracing.py), the remote logger
(observability/remote_log.py) and the spend row (spend/row.py) all read a `RequestRecord`;
none of them needs the server. The lifecycle that fills it in (admission, billing, settling,
queueing the spend row) is server/accounting.py's `RequestAccount`, which owns one.

Data only, at the bottom of the import graph: it imports nothing of polyroute but the usage leaf.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from polyroute.usage import TokenUsage


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    call_type: str  # chat_completion, text_completion, embeddings, rerank, ...
    protocol: str = "chat"  # the inbound protocol the client spoke (inbound/base.py)
    stream: bool = False
    # -- the caller (names the operator chose and the key's hash: never a key) --
    spend_label: str = ""  # the key's hash, "master_key" or "" (spend logs' `api_key`)
    key_alias: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    end_user: str | None = None  # the body's `user`, when a string
    # -- what was asked for and what served it --
    model: str | None = None  # the body's `model`, when a string
    model_group: str | None = None  # the group that served (a fallback's), else the one asked for
    client_chosen: bool = False  # the request brought its own model list (user_config)
    deployment_id: str | None = None  # None: nothing served the request
    deployment_group: str | None = None  # the serving deployment's own model_name
    provider: str | None = None
    upstream_model: str | None = None  # the model name the provider was sent
    attempts: int = 0  # of the attempt that served it, fallbacks included (0: none served)
    # -- what it cost and how long it took --
    usage: TokenUsage | None = None
    cost: float = 0.0  # USD
    started: float = field(default_factory=time.time)  # wall clock
    started_mono: float = field(default_factory=time.monotonic)  # durations
    ttft: float | None = None  # seconds to a stream's first byte
    # -- how it ended --
    status: str = "success"  # success, failure, cancelled
    http_status: int = 200
    error_code: str | None = None

    @property
    def served(self) -> bool:
        return self.deployment_id is not None
