"""What every request handler shares: config, router, shared state and the upstream transport."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from polyroute.auth.url_safety import ClientUrlGuard
from polyroute.config.loader import GatewayConfig
from polyroute.controller.directory import WorkerDirectory
from polyroute.providers.transport import HttpTransport
from polyroute.router.engine import Router
from polyroute.router.user_config import RouterCache
from polyroute.state.base import SharedState

DEFAULT_TIMEOUT = 600.0  # seconds for one attempt when nothing else is configured


@dataclass
class AppState:
    config: GatewayConfig
    shared: SharedState
    router: Router
    directory: WorkerDirectory
    open_access: bool = False  # serve non-loopback clients with no master key (explicit flag)
    http: HttpTransport = field(default_factory=HttpTransport)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("polyroute.request"))
    # Client-side credentials: the check of client-chosen upstreams (its resolver is a test hook)
    # and the per-request routers of user_config and client credentials.
    url_guard: ClientUrlGuard = field(default_factory=ClientUrlGuard)
    client_routers: RouterCache = field(default_factory=RouterCache)

    @classmethod
    def build(
        cls,
        config: GatewayConfig,
        open_access: bool = False,
        shared: SharedState | None = None,
        workers: int = 1,
    ) -> AppState:
        from polyroute.state.factory import build_state

        shared = shared or build_state(config.state_settings, config.env)
        # Without a shared store, N workers split every limit N ways (see docs/routing.md).
        share = workers if shared.backend == "memory" else 1
        from polyroute.router.worker_dispatch import DISPATCH_METHODS

        router = Router(
            config.models,
            config.router,
            shared,
            limit_share=share,
            worker_order=DISPATCH_METHODS[config.controller.dispatch_method],
        )
        directory = WorkerDirectory(shared, config.models, config.controller)
        guard = ClientUrlGuard(config.client_credentials.allowlist)
        return cls(
            config=config,
            shared=shared,
            router=router,
            directory=directory,
            open_access=open_access,
            url_guard=guard,
        )
