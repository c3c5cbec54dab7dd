"""What every request handler shares: config, router, shared state and the upstream transport,
plus keys, limits and spend (the database, the key cache, the limiter, the spend writer)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyroute.auth.url_safety import ClientUrlGuard
from polyroute.config.loader import GatewayConfig
from polyroute.config.server_limits import ServerLimits
from polyroute.config.user_config import RouterCache
from polyroute.controller.directory import WorkerDirectory
from polyroute.guardrails.engine import GuardrailSet
from polyroute.observability.auth_metrics import LOCKOUT_METRICS
from polyroute.observability.router_metrics import ROUTER_METRICS
from polyroute.providers.transport import HttpTransport
from polyroute.router.engine import Router
from polyroute.server.connections import ConnectionGuard
from polyroute.server.load import InFlight
from polyroute.state.base import SharedState

if TYPE_CHECKING:
    from polyroute.auth.authenticator import Authenticator
    from polyroute.cache.hook import ResponseCache
    from polyroute.observability.remote_log import RemoteLogShipper
    from polyroute.observability.tracing import Tracing
    from polyroute.spend.journal import SpendJournal
    from polyroute.spend.limits import Limiter
    from polyroute.spend.writer import SpendWriter
    from polyroute.store.catch_up import DatabaseCatchUp
    from polyroute.store.database import Database
    from polyroute.store.key_store import KeyStore
    from polyroute.store.responses_store import ResponsesStore
    from polyroute.store.spend_store import SpendStore

DEFAULT_TIMEOUT = 600.0  # seconds for one attempt when nothing else is configured
log = logging.getLogger("polyroute.server")


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
    client_routers: RouterCache = field(default_factory=lambda: RouterCache(events=ROUTER_METRICS))
    # This process's connection limits and count, handed to the HTTP protocol at start-up.
    connections: ConnectionGuard = field(default_factory=lambda: ConnectionGuard(ServerLimits()))
    # This process's model requests in flight: load shedding and the drain on SIGTERM.
    load: InFlight = field(default_factory=InFlight)
    db: Database | None = None
    keys: KeyStore | None = None
    spend: SpendStore | None = None
    responses: ResponsesStore | None = None  # stored Responses (/v1/responses, previous_response_id)
    writer: SpendWriter | None = None
    journal: SpendJournal | None = None  # spend rows journaled before each response completes
    catch_up: DatabaseCatchUp | None = None  # start-up without the database, and catching up
    auth: Authenticator | None = None
    limiter: Limiter | None = None
    tracing: Tracing | None = None  # OpenTelemetry, when configured and installed
    remote_log: RemoteLogShipper | None = None  # REMOTE_LOGGER_URL, when set
    guardrails: GuardrailSet = field(default_factory=GuardrailSet)  # the config's guardrails list
    cache: ResponseCache | None = None  # litellm_settings.cache (cache/hook.py)

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
            events=ROUTER_METRICS,
        )
        directory = WorkerDirectory(shared, config.models, config.controller)
        guard = ClientUrlGuard(config.client_credentials.allowlist)
        state = cls(
            config=config,
            shared=shared,
            router=router,
            directory=directory,
            open_access=open_access,
            url_guard=guard,
            http=HttpTransport(limits=config.upstream),
            connections=ConnectionGuard(config.limits),
            guardrails=GuardrailSet(config.guardrails),
            load=InFlight(config.limits.max_in_flight_requests),
        )
        state._build_store(share)
        from polyroute.observability.tracing import build_tracing

        state.tracing = build_tracing(config.callbacks, config.env)
        from polyroute.observability.remote_log import build_remote_log

        state.remote_log = build_remote_log(config.env, config.redactor)
        if config.cache is not None:
            from polyroute.cache.build import build_response_cache

            state.cache = build_response_cache(state)
        return state

    def _build_store(self, share: int) -> None:
        from polyroute.auth.authenticator import Authenticator
        from polyroute.auth.key_cache import KeyCache
        from polyroute.auth.lockout import AuthLockout, LockoutSettings
        from polyroute.auth.unknown_keys import UnknownKeyLimiter
        from polyroute.spend.journal import SpendJournal
        from polyroute.spend.limits import Limiter
        from polyroute.spend.spool import Spool
        from polyroute.spend.writer import SpendWriter
        from polyroute.store.database import Database, data_dir_from
        from polyroute.store.key_store import KeyStore
        from polyroute.store.spend_store import SpendStore

        settings = self.config.store
        self.db = Database.from_settings(
            self.config.database_url, self.config.env, pool_size=settings.database_connection_pool_limit
        )
        self.keys = KeyStore(self.db)
        self.spend = SpendStore(self.db)
        from polyroute.store.responses_store import ResponsesStore

        self.responses = ResponsesStore(self.db, settings)
        spool = Spool(
            data_dir_from(self.config.env) / "spend-spool.jsonl",
            int(settings.spend_logs_spool_max_mb * 1024 * 1024),
        )
        self.writer = SpendWriter(
            self.spend,
            spool,
            queue_size=settings.spend_logs_queue_size,
            batch_size=settings.spend_logs_batch_size,
            flush_interval_s=settings.proxy_batch_write_at,
        )
        self.journal = SpendJournal(data_dir_from(self.config.env) / "spend-journal")
        # The shared state caches keys across processes only when it is Redis.
        cache_shared = self.shared if self.shared.backend != "memory" else None
        cache = KeyCache(self.keys.load_record, cache_shared, ttl_s=settings.key_cache_ttl_s)
        unknown = UnknownKeyLimiter(settings.unknown_key_lookups_per_s, settings.unknown_key_lookup_burst)
        lockout = AuthLockout(
            LockoutSettings(
                failures=settings.auth_lockout_failures,
                window_s=settings.auth_lockout_window_s,
                duration_s=settings.auth_lockout_duration_s,
            ),
            cache_shared,  # several processes lock an address out together only through Redis
            events=LOCKOUT_METRICS,
        )
        self.auth = Authenticator(self.config.master_key, self.open_access, cache, unknown, lockout)
        from polyroute.auth.key_snapshot import KeySnapshot
        from polyroute.store.catch_up import DatabaseCatchUp

        snapshot = KeySnapshot(data_dir_from(self.config.env) / "key-snapshot.json")
        self.catch_up = DatabaseCatchUp(self.db, self.writer, cache, snapshot)
        self.limiter = Limiter(self.shared, limit_share=share)

    async def start(self) -> None:
        """Migrates the database and starts the spend writer (before serving)."""
        assert self.db is not None and self.writer is not None
        if self.journal is not None:
            # What a killed process had journaled goes to the writer first (inserted once each).
            self.writer.take_over(await self.journal.start())
            self.writer.on_settled = self.journal.durable
        assert self.catch_up is not None
        await self.catch_up.start()  # migrates, or starts from the key snapshot (database down)
        await self.writer.start()
        if self.remote_log is not None:
            await self.remote_log.start()
        if self.cache is not None:
            await self.cache.start()  # redis-semantic: refused here when Redis has no search module
        if not self.catch_up.degraded:
            log.info("database: %s (schema up to date)", self.db.target)

    async def stop(self) -> None:
        if self.catch_up is not None:
            await self.catch_up.stop()
        if self.writer is not None:
            await self.writer.stop()
        if self.journal is not None:
            await self.journal.stop()
        if self.remote_log is not None:
            await self.remote_log.stop()
        if self.cache is not None:
            await self.cache.close()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)
        if self.db is not None:
            await self.db.close()
