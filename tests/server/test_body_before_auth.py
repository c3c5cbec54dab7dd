"""The caller is authenticated from its headers before any of its body is read, and every route's
body is bounded: small for admin and controller routes, the configured cap for model routes.

Requests announce a 300 MB body and send 1 KB of it: an answer that comes back at all proves the
gateway did not wait for (or buffer) the rest. Over-limit bodies are a little over a small limit.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.gateway import GatewayServer

MASTER = "sk-body-before-auth-master-0123456789"
WORKER_TOKEN = "wt-body-before-auth-0123456789abcdef"
ADMIN_LIMIT = 64 * 1024
ANNOUNCED = 300 * 1024 * 1024
READ_DEADLINE_S = 20.0  # only ever reached when the gateway waits for the announced body


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[GatewayServer]:
    config = {
        "model_list": [{"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}}],
        "general_settings": {"master_key": MASTER, "max_admin_request_size_kb": ADMIN_LIMIT // 1024},
        "controller_settings": {"worker_tokens": [{"token": WORKER_TOKEN}]},
    }
    with GatewayServer(config, tmp_path_factory.mktemp("body")) as server:
        yield server


@pytest.fixture(scope="module")
def virtual_key(gateway) -> str:
    response = httpx.post(
        gateway.url + "/key/generate", json={}, headers={"authorization": f"Bearer {MASTER}"}
    )
    assert response.status_code == 200, response.text
    return response.json()["key"]


def announce_large_body(gateway: GatewayServer, path: str, authorization: str | None) -> tuple[int, dict]:
    """POSTs a head announcing ANNOUNCED bytes, sends 1 KB of them and reads the answer."""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {ANNOUNCED}\r\n"
    )
    if authorization:
        head += f"authorization: {authorization}\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=READ_DEADLINE_S) as sock:
        sock.sendall(head.encode() + b"\r\n" + b'{"pad": "' + b"a" * 1024)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, orjson.loads(answer.read())


@pytest.mark.parametrize("path", ["/key/generate", "/team/new", "/user/new", "/key/update"])
def test_admin_routes_answer_401_without_reading_the_body(gateway, path):
    status, body = announce_large_body(gateway, path, None)
    assert status == 401 and body["error"]["code"] == "missing_api_key"


def test_admin_routes_refuse_a_virtual_key_without_reading_the_body(gateway, virtual_key):
    status, body = announce_large_body(gateway, "/key/generate", f"Bearer {virtual_key}")
    assert status == 403 and body["error"]["code"] == "admin_only"


@pytest.mark.parametrize("path", ["/register_worker", "/receive_heart_beat", "/deregister_worker"])
def test_worker_routes_check_the_token_before_the_body(gateway, path):
    status, body = announce_large_body(gateway, path, None)
    assert status == 401 and body["error"]["code"] == "missing_worker_token"
    status, body = announce_large_body(gateway, path, "Bearer wt-not-a-token-000000")
    assert status == 401 and body["error"]["code"] == "invalid_worker_token"


@pytest.mark.parametrize("path", ["/get_worker_address", "/v1/chat/completions"])
def test_other_routes_check_the_key_before_the_body(gateway, path):
    status, body = announce_large_body(gateway, path, "Bearer sk-not-a-key-0000000000")
    assert status == 401


def test_an_admin_body_over_the_admin_limit_is_413(gateway):
    headers = {"authorization": f"Bearer {MASTER}"}
    over = orjson.dumps({"metadata": {"pad": "a" * ADMIN_LIMIT}})
    declared = httpx.post(gateway.url + "/key/generate", content=over, headers=headers)
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no content-length: counted as it arrives
        yield over[: len(over) // 2]
        yield over[len(over) // 2 :]

    streamed = httpx.post(gateway.url + "/key/generate", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    under = httpx.post(gateway.url + "/key/generate", json={"metadata": {"pad": "a" * 1000}}, headers=headers)
    assert under.status_code == 200


def test_a_controller_body_over_the_admin_limit_is_413(gateway):
    body = {"worker_name": "http://127.0.0.1:21002", "pad": "a" * ADMIN_LIMIT}
    refused = httpx.post(
        gateway.url + "/register_worker", json=body, headers={"authorization": f"Bearer {WORKER_TOKEN}"}
    )
    assert refused.status_code == 413


def test_model_routes_keep_the_configured_cap(gateway, virtual_key):
    # Three times the admin cap is well within the model routes' 32 MB.
    content = "long prompt " * (3 * ADMIN_LIMIT // 12)
    reply = gateway.client(api_key=virtual_key).chat.completions.create(
        model="mock-gpt", messages=[{"role": "user", "content": content}], max_tokens=5
    )
    assert reply.choices[0].message.content


def test_a_virtual_key_still_reads_its_own_key_info(gateway, virtual_key):
    info = httpx.get(gateway.url + "/key/info", headers={"authorization": f"Bearer {virtual_key}"})
    assert info.status_code == 200
    docs = httpx.get(gateway.url + "/openapi.json")  # FastAPI's documentation stays public
    assert docs.status_code == 200
