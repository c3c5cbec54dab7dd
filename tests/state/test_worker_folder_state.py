"""FolderRegistryState (`serve --workers N` without Redis) against the shared contract, plus
what the folder adds: two instances on one folder, as two processes, see one registry."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import pytest

from polyroute.state.base import WorkerRecord
from polyroute.state.factory import build_state
from polyroute.state.memory import MemoryState
from polyroute.state.worker_files import ENV_VAR, FolderRegistryState, WorkerRegistryFolder
from tests.state.contract import T0, StateContract


class TestFolderRegistryContract(StateContract):
    @pytest.fixture
    def state(self, tmp_path) -> FolderRegistryState:
        return FolderRegistryState(tmp_path / "registry")


async def test_two_instances_on_one_folder_share_the_registry(tmp_path) -> None:
    first, second = FolderRegistryState(tmp_path), FolderRegistryState(tmp_path)
    stored = await first.register_worker(WorkerRecord("http://10.0.0.5:21002", ("vicuna",)), 90, T0)
    assert await second.get_worker(stored.address, T0 + 1) == stored
    beat = await second.refresh_worker(stored.address, 3, 90, T0 + 30)
    assert await first.list_workers(T0 + 31) == [beat]
    assert await first.remove_worker(stored.address) is True
    assert await second.list_workers(T0 + 32) == []
    # Limits stay per process: only the registry is shared.
    assert (await first.try_take("rpm:a", 1, 1, 60, T0)).allowed
    assert (await second.try_take("rpm:a", 1, 1, 60, T0)).allowed


def _heartbeat_many(folder: str, address: str, count: int) -> None:
    registry = WorkerRegistryFolder(Path(folder))
    for i in range(count):
        assert registry.refresh(address, i, 90, T0 + 1) is not None


def test_heartbeats_from_processes_never_lose_the_registration(tmp_path) -> None:
    """Read-modify-write under the lock: concurrent heartbeats from several processes keep the
    worker registered (a torn write or a lost update would drop it or raise)."""
    registry = WorkerRegistryFolder(tmp_path)
    registry.register(WorkerRecord("http://w:1", ("m",)), 90, T0)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_heartbeat_many, args=(str(tmp_path), "http://w:1", 200)) for _ in range(3)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    [record] = registry.list(T0 + 2)
    assert record.address == "http://w:1" and record.model_names == ("m",)


async def test_files_are_named_by_digest_not_by_the_address(tmp_path) -> None:
    state = FolderRegistryState(tmp_path)
    await state.register_worker(WorkerRecord("http://../../etc/passwd:1", ("m",)), 90, T0)
    names = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(names) == 1 and "/" not in names[0] and names[0].endswith(".worker.json")


async def test_a_damaged_file_reads_as_no_registration(tmp_path) -> None:
    state = FolderRegistryState(tmp_path)
    await state.register_worker(WorkerRecord("http://w:1", ("m",)), 90, T0)
    [file] = tmp_path.glob("*.worker.json")
    file.write_bytes(b"{not json")
    assert await state.list_workers(T0 + 1) == []
    assert await state.get_worker("http://w:1", T0 + 1) is None


def test_the_factory_picks_the_folder_only_without_redis(tmp_path) -> None:
    assert type(build_state({}, {})) is MemoryState
    state = build_state({}, {ENV_VAR: str(tmp_path)})
    assert isinstance(state, FolderRegistryState) and state.backend == "memory"
    asyncio.run(state.register_worker(WorkerRecord("http://w:1", ("m",)), 90, T0))
    assert list(tmp_path.glob("*.worker.json"))
