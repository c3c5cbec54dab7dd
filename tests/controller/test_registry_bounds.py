"""The worker registry is bounded (per token, in total, registrations a minute) and changes one
worker at a time: a registration builds its own deployments and reads nothing else."""

from __future__ import annotations

import pytest

from polyroute.controller import directory as directory_module
from polyroute.controller.directory import WorkerDirectory
from polyroute.controller.settings import ControllerConfig
from polyroute.errors import PermissionDeniedError, RateLimitError, ServiceUnavailableError
from polyroute.router.model_table import ModelTable
from polyroute.state.base import WorkerRecord
from polyroute.state.memory import MemoryState
from tests.controller.support import LOOPBACK_WORKERS, MASTER, controller_post
from tests.gateway import GatewayServer

NOW = 1_000_040.0  # a fixed clock, 20 s into a minute window


class CountingState(MemoryState):
    """MemoryState that counts full reads of the registry."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        self.listings += 1
        return await super().list_workers(now)


def make_directory(**config: int) -> tuple[WorkerDirectory, CountingState, ModelTable]:
    state = CountingState()
    table = ModelTable([])
    return WorkerDirectory(state, table, ControllerConfig(**config), clock=lambda: NOW), state, table


def record(port: int, owner: str = "owner-a", names: tuple[str, ...] = ("vicuna",)) -> WorkerRecord:
    return WorkerRecord(f"http://127.0.0.1:{port}", names, owner=owner)


async def register(directory: WorkerDirectory, worker: WorkerRecord) -> None:
    await directory.admit(worker.owner, worker.address)
    await directory.register(worker)


async def test_a_registration_builds_only_its_own_deployments(monkeypatch):
    directory, state, table = make_directory(max_workers=1000, max_registrations_per_minute=1000)
    for port in range(20001, 20201):
        await register(directory, record(port))
    built: list[str] = []
    real = directory_module.worker_deployment

    def counting(worker, name, config):
        built.append(worker.address)
        return real(worker, name, config)

    monkeypatch.setattr(directory_module, "worker_deployment", counting)
    listings = state.listings
    await register(directory, record(30000, names=("vicuna", "llama")))
    assert built == ["http://127.0.0.1:30000"] * 2  # its two model names, not 201 workers' worth
    assert state.listings == listings  # and no read of the whole registry
    assert len(table.resolve("vicuna")) == 201 and len(table.resolve("llama")) == 1

    # A heartbeat with a new queue length builds nothing; dispatch sees the new length.
    await directory.heartbeat("http://127.0.0.1:20001", 7)
    assert len(built) == 2 and state.listings == listings
    first = next(d for d in table.resolve("vicuna") if d.worker.address == "http://127.0.0.1:20001")
    assert first.worker.queue_length == 7

    # The background refresh finds nothing changed and builds nothing either.
    await directory.refresh()
    assert len(built) == 2

    # Removal takes out that worker's deployments only.
    await directory.remove("http://127.0.0.1:30000")
    assert table.resolve("llama") == [] and len(table.resolve("vicuna")) == 200


async def test_a_group_a_request_holds_is_not_changed_under_it():
    directory, _, table = make_directory()
    await register(directory, record(20001))
    held = table.resolve("vicuna")
    await register(directory, record(20002))
    await directory.remove("http://127.0.0.1:20001")
    assert [d.worker.address for d in held] == ["http://127.0.0.1:20001"]
    assert [d.worker.address for d in table.resolve("vicuna")] == ["http://127.0.0.1:20002"]


async def test_workers_per_token_are_capped():
    directory, _, _ = make_directory(max_workers_per_token=2)
    await register(directory, record(20001))
    await register(directory, record(20002))
    with pytest.raises(PermissionDeniedError) as refused:
        await register(directory, record(20003))
    assert refused.value.code == "worker_limit_reached"
    await register(directory, record(20001))  # registering again replaces: allowed
    await register(directory, record(20003, owner="owner-b"))  # another token has its own share
    await directory.remove("http://127.0.0.1:20002")
    await register(directory, record(20004))  # a freed place can be taken


async def test_workers_in_total_are_capped():
    directory, _, _ = make_directory(max_workers=3)
    for port, owner in ((20001, "a"), (20002, "b"), (20003, "c")):
        await register(directory, record(port, owner))
    with pytest.raises(ServiceUnavailableError) as refused:
        await register(directory, record(20004, "d"))
    assert refused.value.status == 503 and refused.value.code == "worker_limit_reached"


async def test_expired_workers_free_their_places():
    clock = [NOW]
    state = MemoryState()
    directory = WorkerDirectory(
        state, ModelTable([]), ControllerConfig(max_workers=1), clock=lambda: clock[0]
    )
    await register(directory, record(20001))
    clock[0] += directory.ttl_s + 1
    await directory.refresh()
    await register(directory, record(20002))


async def test_registrations_are_rate_limited_per_token():
    directory, _, _ = make_directory(max_registrations_per_minute=3)
    for _ in range(3):
        await register(directory, record(20001))
    with pytest.raises(RateLimitError) as refused:
        await register(directory, record(20001))
    assert refused.value.code == "worker_registration_rate"
    assert refused.value.response_headers()["retry-after"] == "40"  # the rest of the fixed minute
    await register(directory, record(20002, owner="owner-b"))  # other tokens are not affected


def test_the_caps_answer_over_http(tmp_path):
    tokens = ["wt-capped-a-0123456789abcdef", "wt-capped-b-0123456789abcdef"]
    config = {
        "model_list": [{"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}}],
        "general_settings": {"master_key": MASTER},
        "controller_settings": {
            "worker_tokens": [{"token": token} for token in tokens],
            "allowed_worker_addresses": [LOOPBACK_WORKERS],
            "max_workers_per_token": 2,
            "max_workers": 3,
        },
    }

    def post(port: int, token: str):
        body = {
            "worker_name": f"http://127.0.0.1:{port}",
            "worker_status": {"model_names": ["vicuna"], "speed": 1, "queue_length": 0},
        }
        return controller_post(server.url, "/register_worker", body, token)

    with GatewayServer(config, tmp_path) as server:
        assert [post(port, tokens[0]).status_code for port in (20001, 20002, 20003)] == [200, 200, 403]
        assert post(20003, tokens[1]).status_code == 200
        full = post(20004, tokens[1])
        assert full.status_code == 503 and "max_workers" in full.json()["error"]["message"]
        assert len(server.state.directory.workers()) == 3
