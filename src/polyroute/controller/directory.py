"""The controller's worker registry and the request path's view of it.

Registrations, heartbeats and removals go to the shared state (so every gateway process sees
one set of workers, with a TTL of FASTCHAT_CONTROLLER_HEART_BEAT_EXPIRATION seconds). The
request path never reads the shared state to find workers: `WorkerDirectory` keeps an in-process
view, updated one worker at a time after a local registration, heartbeat or removal and
refreshed in the background every second (other processes' changes, expiries), and puts each
worker into the model table as deployments of its model groups. Registrations are rate-limited
per token and capped per token and in total (controller_settings).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from polyroute.controller.security import WorkerAddressError, check_address
from polyroute.controller.settings import ControllerConfig
from polyroute.errors import PermissionDeniedError, RateLimitError, ServiceUnavailableError
from polyroute.providers.base import ProviderCall
from polyroute.providers.registry import specs, worker_adapter
from polyroute.router.deployment import Deployment
from polyroute.router.model_table import ModelTable
from polyroute.state.base import SharedState, WorkerRecord

log = logging.getLogger("polyroute.controller")

REFRESH_INTERVAL_S = 1.0
# Worker protocol -> the adapter that speaks it, from the providers' specs (`worker_protocol`).
PROTOCOLS = dict(sorted((s.worker_protocol, s.name) for s in specs() if s.worker_protocol))


def worker_deployment(record: WorkerRecord, model_name: str, config: ControllerConfig) -> Deployment:
    """The deployment through which the router reaches one model name of one worker."""
    adapter = worker_adapter(record.protocol)
    assert adapter is not None
    # An OpenAI-protocol worker serves the OpenAI API under /v1; a FastChat worker at its root.
    base = record.address + adapter.spec.worker_api_path
    call = ProviderCall(
        provider=adapter.name,
        model=model_name,
        api_base=base,
        extras={"embedding_batch_size": config.embedding_batch_size},
    )
    return Deployment(
        id=f"worker:{record.address}:{model_name}",
        model_name=model_name,
        adapter=adapter,
        call=call,
        timeout=config.worker_api_timeout_s,
        order=config.worker_order,
        weight=record.speed,
        model_info={"worker_address": record.address, "protocol": record.protocol},
        worker=record,
    )


def _same_deployments(a: WorkerRecord, b: WorkerRecord) -> bool:
    """Whether the two records make the same deployments (only queue length or expiry differ)."""
    return (a.model_names, a.protocol, a.speed, a.multimodal, a.owner) == (
        b.model_names,
        b.protocol,
        b.speed,
        b.multimodal,
        b.owner,
    )


def forget_worker_facts(address: str) -> None:
    """Drops what the gateway keeps about a worker (FastChat conversation templates, context
    lengths), so a worker that comes back, perhaps with another model, is asked again."""
    for protocol in PROTOCOLS:
        cache = getattr(worker_adapter(protocol), "templates", None)
        if cache is not None:
            cache.forget(address)


class WorkerDirectory:
    def __init__(
        self,
        state: SharedState,
        table: ModelTable,
        config: ControllerConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.table = table
        self.config = config
        self.clock = clock  # wall clock: expiries are shared across processes and machines
        self._workers: dict[str, WorkerRecord] = {}  # accepted workers, by address
        self._owners: Counter[str] = Counter()  # accepted workers per registrant
        self._refused: set[str] = set()  # addresses already logged as refused
        self._lock = asyncio.Lock()

    # -- the registry (controller endpoints) ---------------------------------------------------------
    @property
    def ttl_s(self) -> float:
        return self.config.heart_beat_expiration_s

    async def admit(self, owner: str, address: str) -> None:
        """Refuses a registration over the registrant's rate or the registry's caps.

        The caps are checked against this process's view, which other processes' registrations
        reach within a refresh (a second); the rate limit is shared, so together they bound
        the registry even when registrations arrive through many processes.
        """
        config = self.config
        allowed = await self.state.try_take(
            "worker-registrations:" + owner, 1, config.max_registrations_per_minute, 60.0, self.clock()
        )
        if not allowed.allowed:
            raise RateLimitError(
                f"more than {config.max_registrations_per_minute} worker registrations a minute with "
                "this token (controller_settings.max_registrations_per_minute)",
                code="worker_registration_rate",
                retry_after=allowed.retry_after,
            )
        if address in self._workers:
            return  # registering again replaces: the counts do not grow
        if self._owners[owner] >= config.max_workers_per_token:
            raise PermissionDeniedError(
                f"this worker token already has {config.max_workers_per_token} workers registered "
                "(controller_settings.max_workers_per_token)",
                code="worker_limit_reached",
            )
        if len(self._workers) >= config.max_workers:
            raise ServiceUnavailableError(
                f"the controller already holds {config.max_workers} workers "
                "(controller_settings.max_workers)",
                code="worker_limit_reached",
            )

    async def register(self, record: WorkerRecord) -> WorkerRecord:
        forget_worker_facts(record.address)  # a worker registering again may serve another model now
        stored = await self.state.register_worker(record, self.ttl_s, self.clock())
        async with self._lock:
            self._apply(stored)
        return stored

    async def heartbeat(self, address: str, queue_length: int) -> WorkerRecord | None:
        record = await self.state.refresh_worker(address, queue_length, self.ttl_s, self.clock())
        async with self._lock:
            if record is None:
                self._drop(address)  # expired: gone here at once
            else:
                self._apply(record)  # dispatch by the new queue length now
        return record

    async def remove(self, address: str) -> bool:
        removed = await self.state.remove_worker(address)
        async with self._lock:
            self._drop(address)
        return removed

    async def lookup(self, address: str) -> WorkerRecord | None:
        """A worker by address: from the snapshot, else from the shared state (registered
        moments ago through another gateway process)."""
        record = self._workers.get(address)
        if record is not None and record.expires_at > self.clock():
            return record
        return await self.state.get_worker(address, self.clock())

    # -- the snapshot (request path) ----------------------------------------------------------------
    def workers(self) -> list[WorkerRecord]:
        now = self.clock()
        return [self._workers[a] for a in sorted(self._workers) if self._workers[a].expires_at > now]

    def model_names(self) -> list[str]:
        return sorted({name for record in self.workers() for name in record.model_names})

    async def refresh(self) -> None:
        """Re-reads the registry (other processes' changes, expiries) and applies what differs."""
        async with self._lock:
            records = await self.state.list_workers(self.clock())
            live = {record.address for record in records}
            for address in [a for a in self._workers if a not in live]:
                self._drop(address)
            for record in records:
                self._apply(record)

    def _apply(self, record: WorkerRecord) -> None:
        """One worker's record into the table: its deployments are built only when it is new or
        serves something else now; a heartbeat's record replaces the old one in place."""
        current = self._workers.get(record.address)
        if current == record:
            return
        if current is not None and _same_deployments(current, record):
            self._workers[record.address] = record
            for deployment in self.table.live(record.address):
                deployment.worker = record
            return
        if current is not None:
            self._drop(record.address, quiet=True)
        if not self._acceptable(record):
            return
        forget_worker_facts(record.address)
        self._workers[record.address] = record
        self._owners[record.owner] += 1
        names = record.model_names
        self.table.add_live(record.address, [worker_deployment(record, n, self.config) for n in names])
        if current is None:
            log.info("worker live: address=%s models=%s", record.address, ",".join(names))

    def _drop(self, address: str, quiet: bool = False) -> None:
        record = self._workers.pop(address, None)
        if record is None:
            return
        self._owners[record.owner] -= 1
        if self._owners[record.owner] <= 0:
            del self._owners[record.owner]
        self.table.remove_live(address)
        forget_worker_facts(address)
        if not quiet:
            log.info("worker gone: address=%s models=%s", address, ",".join(record.model_names))

    def _acceptable(self, record: WorkerRecord) -> bool:
        """Every address was checked at registration; checked again here, so this process calls
        only addresses its own settings accept, whatever else wrote to the shared state."""
        if record.protocol not in PROTOCOLS:
            return False
        try:
            check_address(record.address, self.config)
        except WorkerAddressError as error:
            if record.address not in self._refused:
                self._refused.add(record.address)
                log.warning("ignoring registered worker: %s", error.message)
            return False
        return True

    async def run(self, interval_s: float = REFRESH_INTERVAL_S) -> None:
        """Refreshes the snapshot every `interval_s` until cancelled; a failing read keeps the last one."""
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker registry refresh failed; keeping the last snapshot")
            await asyncio.sleep(interval_s)
