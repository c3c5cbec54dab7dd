"""Who may touch the controller: master-key routes refuse virtual keys, a worker belongs to the
token that registered it, and a scoped token cannot make the gateway call anything first."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from polyroute.server.app import CONTROLLER_ROUTES
from tests.controller.support import LOOPBACK_WORKERS, MASTER, controller_post
from tests.fakes.base import FakeUpstream, free_port
from tests.fakes.fastchat_worker import FakeFastChatWorker
from tests.gateway import GatewayServer

TOKEN_A = "wt-vicuna-owner-a-0123456789abcdef"
TOKEN_B = "wt-vicuna-owner-b-0123456789abcdef"
TOKEN_ANY = "wt-any-model-0123456789abcdef"


@pytest.fixture(scope="module")
def worker() -> Iterator[FakeFastChatWorker]:
    with FakeFastChatWorker(["vicuna"]) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[GatewayServer]:
    config = {
        "model_list": [{"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}}],
        "general_settings": {"master_key": MASTER},
        "controller_settings": {
            "worker_tokens": [
                {"token": TOKEN_A, "models": ["vicuna"]},
                {"token": TOKEN_B, "models": ["vicuna"]},
                {"token": TOKEN_ANY},
            ],
            "allowed_worker_addresses": [LOOPBACK_WORKERS],
        },
    }
    with GatewayServer(config, tmp_path_factory.mktemp("privileges")) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(gateway, worker):
    worker.reset()
    yield
    for w in gateway.state.directory.workers():
        for token in (TOKEN_A, TOKEN_B, TOKEN_ANY):
            controller_post(gateway.url, "/deregister_worker", {"worker_name": w.address}, token)


def register(gateway, address, token, status=True):
    body = {"worker_name": address, "check_heart_beat": True}
    if status:
        body["worker_status"] = {"model_names": ["vicuna"], "speed": 1, "queue_length": 0}
    return controller_post(gateway.url, "/register_worker", body, token)


OPERATOR_ROUTES = sorted(
    path for path, route in CONTROLLER_ROUTES.items() if not route.worker and not route.public
)


def test_every_operator_route_of_the_controller_needs_the_master_key(gateway, worker):
    assert {"/list_models", "/get_worker_address", "/worker_get_status", "/refresh_all_workers"} <= set(
        OPERATOR_ROUTES
    )
    assert register(gateway, worker.address, TOKEN_ANY).status_code == 200
    key = httpx.post(
        gateway.url + "/key/generate",
        json={"models": ["mock-gpt"]},
        headers={"authorization": f"Bearer {MASTER}"},
    ).json()["key"]
    for path in OPERATOR_ROUTES:
        refused = controller_post(gateway.url, path, {"model": "vicuna"}, key)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "admin_only"
        assert worker.address not in refused.text
    # The refresh a virtual key asked for never ran: the live worker is still there.
    assert [w.address for w in gateway.state.directory.workers()] == [worker.address]
    assert worker.requests == []
    for path in OPERATOR_ROUTES:
        assert controller_post(gateway.url, path, {"model": "vicuna"}, MASTER).status_code == 200, path


def test_a_workers_heartbeats_and_deregistration_belong_to_its_registrant(gateway, worker):
    assert register(gateway, worker.address, TOKEN_A).status_code == 200
    # Token B may serve the same model, but this worker is A's.
    beat = {"worker_name": worker.address, "queue_length": 1000}
    stolen = controller_post(gateway.url, "/receive_heart_beat", beat, TOKEN_B)
    assert stolen.status_code == 403 and stolen.json()["error"]["code"] == "worker_not_owned"
    gone = controller_post(gateway.url, "/deregister_worker", {"worker_name": worker.address}, TOKEN_B)
    assert gone.status_code == 403
    again = register(gateway, worker.address, TOKEN_B)
    assert again.status_code == 403 and again.json()["error"]["code"] == "worker_not_owned"
    assert controller_post(gateway.url, "/receive_heart_beat", beat, TOKEN_ANY).status_code == 403
    [live] = gateway.state.directory.workers()
    assert live.queue_length == 0 and TOKEN_A not in live.owner
    # Its registrant may.
    assert controller_post(gateway.url, "/receive_heart_beat", beat, TOKEN_A).json() == {"exist": True}
    assert register(gateway, worker.address, TOKEN_A).status_code == 200
    removed = controller_post(gateway.url, "/deregister_worker", {"worker_name": worker.address}, TOKEN_A)
    assert removed.json() == {"removed": True}


def test_a_scoped_token_makes_no_call_before_its_scope_is_known(gateway, worker):
    refused = register(gateway, worker.address, TOKEN_A, status=False)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "worker_status"
    assert worker.requests == []
    # An unscoped token may let the gateway ask the worker, as FastChat's controller does.
    assert register(gateway, worker.address, TOKEN_ANY, status=False).status_code == 200
    assert [r.path for r in worker.requests] == ["/worker_get_status"]


class NotAWorker(FakeUpstream):
    """An HTTP service at an allowed address that is not a worker (404 on every path)."""

    def routes(self):
        return []


def test_unreachable_addresses_all_give_one_error(gateway):
    with NotAWorker() as http_service:
        targets = {
            "closed port": f"http://127.0.0.1:{free_port()}",
            "redis": "http://127.0.0.1:6379",
            "postgresql": "http://127.0.0.1:5432",
            "http service": http_service.url,
        }
        answers = {
            name: register(gateway, address, TOKEN_ANY, status=False) for name, address in targets.items()
        }
    shapes = set()
    for name, answer in answers.items():
        error = answer.json()["error"]
        shapes.add((answer.status_code, error["code"], error["message"].replace(targets[name], "ADDRESS")))
    assert len(shapes) == 1, shapes
    [(status, code, message)] = shapes
    assert status == 502 and code == "worker_unreachable"
    assert gateway.state.directory.workers() == []
