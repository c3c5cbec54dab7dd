"""The controller's worker registry and the request path's view of it.

Registrations, heartbeats and removals go to the shared state (so every gateway process sees
one set of workers, with a TTL of FASTCHAT_CONTROLLER_HEART_BEAT_EXPIRATION seconds). The
request path never reads the shared state to find workers: `WorkerDirectory` keeps an in-process
snapshot, refreshed in the background every second and at once after a local registration or
removal, and swaps the workers into the model table as deployments of their model groups.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from polyroute.controller.security import WorkerAddressError, check_address
from polyroute.controller.settings import ControllerConfig
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


def _same_worker(a: WorkerRecord, b: WorkerRecord) -> bool:
    return (a.model_names, a.protocol) == (b.model_names, b.protocol)


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
        self._workers: dict[str, WorkerRecord] = {}
        self._snapshot: tuple[WorkerRecord, ...] = ()
        self._refused: set[str] = set()  # addresses already logged as refused
        self._lock = asyncio.Lock()

    # -- the registry (controller endpoints) ---------------------------------------------------------
    @property
    def ttl_s(self) -> float:
        return self.config.heart_beat_expiration_s

    async def register(self, record: WorkerRecord) -> WorkerRecord:
        forget_worker_facts(record.address)  # a worker registering again may serve another model now
        stored = await self.state.register_worker(record, self.ttl_s, self.clock())
        await self.refresh()
        return stored

    async def heartbeat(self, address: str, queue_length: int) -> WorkerRecord | None:
        record = await self.state.refresh_worker(address, queue_length, self.ttl_s, self.clock())
        known = self._workers.get(address)
        if record is None or known is None or known.queue_length != queue_length:
            # Expired (drop it here at once), or its queue changed: dispatch by the new length now.
            await self.refresh()
        return record

    async def remove(self, address: str) -> bool:
        removed = await self.state.remove_worker(address)
        await self.refresh()
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
        return [r for r in self._snapshot if r.expires_at > now]

    def model_names(self) -> list[str]:
        return sorted({name for record in self.workers() for name in record.model_names})

    async def refresh(self) -> None:
        """Re-reads the registry; rebuilds the live deployments when anything changed."""
        async with self._lock:
            records = tuple(await self.state.list_workers(self.clock()))
            if records == self._snapshot:
                return
            self._install(records)

    def _install(self, records: tuple[WorkerRecord, ...]) -> None:
        groups: dict[str, list[Deployment]] = {}
        accepted: dict[str, WorkerRecord] = {}
        for record in records:
            if not self._acceptable(record):
                continue
            accepted[record.address] = record
            for name in record.model_names:
                groups.setdefault(name, []).append(worker_deployment(record, name, self.config))
        gone = set(self._workers) - set(accepted)
        added = set(accepted) - set(self._workers)
        changed = {
            a for a in set(accepted) & set(self._workers) if not _same_worker(accepted[a], self._workers[a])
        }
        for address in gone | added | changed:
            forget_worker_facts(address)
        for address in sorted(gone):
            log.info(
                "worker gone: address=%s models=%s", address, ",".join(self._workers[address].model_names)
            )
        for address in sorted(added):
            log.info("worker live: address=%s models=%s", address, ",".join(accepted[address].model_names))
        self._snapshot = records
        self._workers = accepted
        self.table.set_live(groups)

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
