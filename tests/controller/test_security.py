"""Spoofing and SSRF attempts against the controller are refused, and refused before the gateway
calls anything; normalisation and token parsing in isolation."""

from __future__ import annotations

import base64

import openai
import pytest
from aiohttp import web

from polyroute.controller.security import normalise_address, presented_worker_token
from polyroute.errors import InvalidRequestError
from tests.controller.support import (
    MASTER,
    TOKEN_ALL,
    TOKEN_VICUNA,
    controller_post,
    serving_config,
    with_token,
)
from tests.fakes.base import FakeUpstream
from tests.fakes.fastchat_worker import FakeFastChatWorker
from tests.gateway import GatewayServer


@pytest.fixture(scope="module")
def worker():
    with FakeFastChatWorker(["vicuna"]) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with GatewayServer(serving_config(), tmp_path_factory.mktemp("sec")) as server:
        yield server


@pytest.fixture(scope="module")
def open_gateway(tmp_path_factory):
    config = serving_config(allowed_worker_addresses=[r"https?://.*"])
    with GatewayServer(config, tmp_path_factory.mktemp("open")) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(gateway, worker):
    worker.reset()
    worker.model_names = ["vicuna"]
    yield
    for w in gateway.state.directory.workers():
        for token in (TOKEN_ALL, TOKEN_VICUNA):  # only a worker's registrant may deregister it
            controller_post(gateway.url, "/deregister_worker", {"worker_name": w.address}, token)


def register(gateway, address, models=("vicuna",), token=TOKEN_ALL):
    body = {
        "worker_name": address,
        "check_heart_beat": True,
        "worker_status": {"model_names": list(models), "speed": 1, "queue_length": 0},
    }
    return controller_post(gateway.url, "/register_worker", body, token)


def test_registration_needs_a_valid_token(gateway, worker):
    missing = register(gateway, worker.address, token=None)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_worker_token"
    wrong = register(gateway, worker.address, token="wt-guessed-0000000000")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_worker_token"
    # The master key is not a worker token when worker tokens are configured.
    assert register(gateway, worker.address, token=MASTER).status_code == 401
    assert gateway.state.directory.workers() == []
    assert TOKEN_ALL not in wrong.text and "wt-guessed" not in wrong.text


def test_a_token_scoped_to_one_model_cannot_claim_another(gateway, worker):
    refused = register(gateway, worker.address, models=("gpt-4o",), token=TOKEN_VICUNA)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "worker_model_not_allowed" and "gpt-4o" in refused.text
    mixed = register(gateway, worker.address, models=("vicuna", "gpt-4o"), token=TOKEN_VICUNA)
    assert mixed.status_code == 403
    assert worker.requests == []  # refused before any call to the claimed address
    assert register(gateway, worker.address, models=("vicuna",), token=TOKEN_VICUNA).status_code == 200


def test_heartbeats_and_deregistration_are_scoped_too(gateway, worker):
    worker.model_names = ["llama"]
    assert register(gateway, worker.address, models=("llama",)).status_code == 200
    beat = {"worker_name": worker.address, "queue_length": 99}
    assert controller_post(gateway.url, "/receive_heart_beat", beat, TOKEN_VICUNA).status_code == 403
    assert controller_post(gateway.url, "/receive_heart_beat", beat, "wt-wrong-00000000").status_code == 401
    gone = {"worker_name": worker.address}
    assert controller_post(gateway.url, "/deregister_worker", gone, TOKEN_VICUNA).status_code == 403
    assert [w.queue_length for w in gateway.state.directory.workers()] == [0]


def test_a_scoped_token_cannot_take_over_another_models_worker(gateway, worker):
    # A worker serving "llama" is live. A token scoped to "vicuna" may not register the same
    # address again under its own names: that would drop llama's worker and lock its real owner
    # out of heartbeating (its heartbeats would meet the vicuna registration and be refused).
    worker.model_names = ["llama"]
    assert register(gateway, worker.address, models=("llama",)).status_code == 200
    takeover = register(gateway, worker.address, models=("vicuna",), token=TOKEN_VICUNA)
    assert takeover.status_code == 403 and takeover.json()["error"]["code"] == "worker_not_owned"
    assert [w.model_names for w in gateway.state.directory.workers()] == [("llama",)]
    beat = {"worker_name": worker.address, "queue_length": 1}
    assert controller_post(gateway.url, "/receive_heart_beat", beat, TOKEN_ALL).json() == {"exist": True}
    # Once the worker is gone, the address is free for a token allowed its new names.
    gone = {"worker_name": worker.address}
    assert controller_post(gateway.url, "/deregister_worker", gone, TOKEN_ALL).json() == {"removed": True}
    assert register(gateway, worker.address, models=("vicuna",), token=TOKEN_VICUNA).status_code == 200


def test_unmodified_fastchat_worker_sends_its_token_as_basic_auth(gateway, worker):
    assert worker.register(with_token(gateway.url, TOKEN_VICUNA)).status_code == 200
    assert worker.register(with_token(gateway.url, "wt-not-a-token-0000")).status_code == 401


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("http://169.254.169.254:80", "link-local"),  # AWS/GCP/Azure metadata
        ("http://[fe80::1]:8080", "link-local"),
        ("http://[::ffff:169.254.169.254]:80", "link-local"),  # IPv4-mapped
        ("http://100.100.100.200:80", "metadata"),  # Alibaba
        ("http://[fd00:ec2::254]:80", "metadata"),  # AWS IPv6
        ("http://metadata.google.internal:80", "metadata"),
        ("http://2852039166:80", "resolves to"),  # 169.254.169.254 written as one number
        ("http://0251.0376.0251.0376:80", "resolves to"),  # ... and in octal
        ("http://0.0.0.0:8000", "not a unicast"),
        ("http://user:pw@127.0.0.1:21002", "credentials"),
        ("file:///etc/passwd", "http"),
        ("http://127.0.0.1:21002/?next=http://169.254.169.254", "query"),
        ("gopher://127.0.0.1:70", "http"),
    ],
)
def test_ssrf_addresses_are_refused_even_by_an_allow_all_list(open_gateway, address, reason):
    refused = register(open_gateway, address)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["param"] == "worker_name" and reason in error["message"]
    assert open_gateway.state.directory.workers() == []


@pytest.mark.parametrize(
    "address", ["http://10.0.0.7:21002", "http://example.com:21002", "http://localhost:1"]
)
def test_addresses_off_the_allowlist_are_refused(gateway, address):
    refused = register(gateway, address)
    assert refused.status_code == 400
    assert "allowed_worker_addresses" in refused.json()["error"]["message"]


def test_without_an_allowlist_only_loopback_workers_register(tmp_path, worker):
    config = serving_config()
    del config["controller_settings"]["allowed_worker_addresses"]
    with GatewayServer(config, tmp_path) as server:
        assert register(server, "http://10.0.0.7:21002").status_code == 400
        assert register(server, worker.address).status_code == 200


def test_the_allowlist_is_matched_against_the_whole_normalised_address(tmp_path, worker):
    config = serving_config(allowed_worker_addresses=[r"http://127\.0\.0\.1:" + str(worker.port)])
    with GatewayServer(config, tmp_path) as server:
        # A prefix match would let http://127.0.0.1:<port>0 or a longer host through; fullmatch does not.
        assert register(server, f"http://127.0.0.1:{worker.port}0").status_code == 400
        assert register(server, f"HTTP://127.0.0.1:{worker.port}/").status_code == 200
        assert [w.address for w in server.state.directory.workers()] == [f"http://127.0.0.1:{worker.port}"]


def test_registration_without_status_asks_only_an_accepted_address(gateway, worker):
    body = {"worker_name": worker.address, "check_heart_beat": True}
    assert controller_post(gateway.url, "/register_worker", body, TOKEN_ALL).status_code == 200
    assert [r.path for r in worker.requests] == ["/worker_get_status"]
    metadata = {"worker_name": "http://169.254.169.254:80", "check_heart_beat": True}
    assert controller_post(gateway.url, "/register_worker", metadata, TOKEN_ALL).status_code == 400


class RedirectingWorker(FakeUpstream):
    """A registered address that answers every call with a redirect to somewhere else."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/{tail:.*}", self.handler(self._redirect))]

    async def _redirect(self, request: web.Request, rec: object) -> web.StreamResponse:
        return web.Response(status=307, headers={"location": self.target + request.path})


def test_a_workers_redirects_are_never_followed(gateway, worker):
    # The gateway calls only addresses it accepted: a worker cannot bounce it elsewhere (here to
    # another loopback service standing in for an internal one).
    with RedirectingWorker(worker.address) as redirecting:
        unasked = {"worker_name": redirecting.url, "check_heart_beat": True}
        refused = controller_post(gateway.url, "/register_worker", unasked, TOKEN_ALL)
        assert refused.status_code == 502 and refused.json()["error"]["code"] == "worker_unreachable"
        assert register(gateway, redirecting.url).status_code == 200
        with pytest.raises(openai.APIStatusError) as caught:
            gateway.client(max_retries=0).chat.completions.create(
                model="vicuna", messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.status_code >= 500
        assert {r.path for r in redirecting.requests} == {"/worker_get_status", "/worker_get_conv_template"}
    assert worker.requests == []  # the redirect target was never called


def test_read_only_controller_calls_need_the_master_key(gateway):
    for path in ("/list_models", "/worker_get_status", "/refresh_all_workers"):
        assert controller_post(gateway.url, path, token=TOKEN_ALL).status_code == 401
        assert controller_post(gateway.url, path, token=MASTER).status_code == 200
    assert controller_post(gateway.url, "/get_worker_address", {"model": "x"}, TOKEN_ALL).status_code == 401


def test_bad_bodies_name_the_field(gateway, worker):
    bad = controller_post(
        gateway.url,
        "/register_worker",
        {"worker_name": worker.address, "worker_status": {"model_names": [], "speed": 1}},
        TOKEN_ALL,
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "worker_status.model_names"
    beat = controller_post(
        gateway.url, "/receive_heart_beat", {"worker_name": worker.address, "queue_length": -1}, TOKEN_ALL
    )
    assert beat.status_code == 400 and beat.json()["error"]["param"] == "queue_length"


def test_normalise_address():
    assert normalise_address("HTTP://LocalHost:21002/") == "http://localhost:21002"
    assert normalise_address("https://worker.internal") == "https://worker.internal:443"
    assert normalise_address("http://[::1]:8000/base/") == "http://[::1]:8000/base"
    assert normalise_address("http://[::ffff:127.0.0.1]:1") == "http://127.0.0.1:1"
    for bad in ("", "localhost:21002", "http://", "http://a b:1", "http://host:99999", 42):
        with pytest.raises(InvalidRequestError):
            normalise_address(bad)


def test_presented_worker_token():
    basic = base64.b64encode(b"worker:wt-secret").decode()
    assert presented_worker_token(f"Basic {basic}") == "wt-secret"
    assert presented_worker_token("Bearer wt-secret") == "wt-secret"
    assert presented_worker_token("Basic !!notbase64") is None
    assert presented_worker_token("Basic " + base64.b64encode(b"no-colon").decode()) is None
    assert presented_worker_token(None) is None


async def test_host_names_are_refused_by_what_they_resolve_to(monkeypatch):
    import asyncio
    import socket

    from polyroute.controller.security import WorkerAddressError, check_resolved

    answers = {
        "rebound.example": ["10.0.0.7", "169.254.169.254"],  # one bad answer among good ones
        "v6.example": ["fe80::1%eth0"],
        "alibaba.example": ["100.100.100.200"],
        "fine.example": ["10.0.0.7"],
    }

    async def getaddrinfo(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in answers[host]]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    for host, reason in (
        ("rebound.example", "link-local"),
        ("v6.example", "link-local"),
        ("alibaba.example", "metadata"),
    ):
        with pytest.raises(WorkerAddressError, match=f"resolves to .*{reason}"):
            await check_resolved(f"http://{host}:21002")
    await check_resolved("http://fine.example:21002")


async def test_registry_entries_the_settings_refuse_are_never_called():
    """Anything else writing to a shared (Redis) registry cannot make this gateway call an
    address its own checks refuse: the snapshot skips it."""
    from polyroute.controller.directory import WorkerDirectory
    from polyroute.controller.settings import ControllerConfig
    from polyroute.router.model_table import ModelTable
    from polyroute.state.base import WorkerRecord
    from polyroute.state.memory import MemoryState

    state = MemoryState()
    table = ModelTable([])
    directory = WorkerDirectory(state, table, ControllerConfig(), clock=lambda: 1000.0)
    for address in ("http://169.254.169.254:80", "http://10.0.0.9:21002", "http://127.0.0.1:21002"):
        await state.register_worker(WorkerRecord(address, ("vicuna",)), 90, 1000.0)
    await directory.refresh()
    assert [w.address for w in directory._workers.values()] == ["http://127.0.0.1:21002"]
    assert [d.worker.address for d in table.resolve("vicuna")] == ["http://127.0.0.1:21002"]
