"""What every request handler shares: the config and the pooled upstream transport."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from polyroute.config.loader import GatewayConfig
from polyroute.providers.transport import HttpTransport

DEFAULT_TIMEOUT = 600.0  # seconds for a whole non-streamed call when nothing else is configured


@dataclass
class AppState:
    config: GatewayConfig
    open_access: bool = False  # serve non-loopback clients with no master key (explicit flag)
    http: HttpTransport = field(default_factory=HttpTransport)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("polyroute.request"))
