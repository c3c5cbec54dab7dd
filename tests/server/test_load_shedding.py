"""Load shedding: past `general_settings.max_in_flight_requests` model requests in flight, the next
is refused at once with 503 `overloaded` and Retry-After, before its caller is authenticated or
its body read; the requests in flight are untouched and the process serves again once they end.

The upstream holds every answer until the test releases a gate, so "N in flight" is a fact the
test waits on (the fake has recorded N requests), never a timing guess."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from tests.conftest import MASTER_KEY, OPENAI_KEY
from tests.fakes.base import Reply
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.observability.test_metrics import Scrape

LIMIT = 2
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


def _gateway(upstream: FakeOpenAI, tmp_path, limit: int | None) -> GatewayServer:
    general = {"master_key": MASTER_KEY}
    if limit is not None:
        general["max_in_flight_requests"] = limit
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": upstream.url + "/v1",
                    "api_key": OPENAI_KEY,
                },
            }
        ],
        "general_settings": general,
        "router_settings": {"num_retries": 0},
    }
    return GatewayServer(config, tmp_path)


def _wait_for(condition, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _exchange(
    conn: socket.socket, path: str, body: bytes, authorization: str = "Bearer none"
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 keep-alive request on `conn`, its whole answer read by its Content-Length."""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: gateway\r\nauthorization: {authorization}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    conn.sendall(head.encode() + body)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, "the gateway closed the connection"
        data += chunk
    raw_head, _, rest = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":  # a relayed answer: to its last chunk
        while not rest.endswith(b"\r\n0\r\n\r\n"):
            chunk = conn.recv(65536)
            assert chunk, "the gateway closed the connection"
            rest += chunk
        return int(lines[0].split()[1]), headers, rest
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk, "the gateway closed the connection"
        rest += chunk
    assert len(rest) == length  # nothing more: one answer per request
    return int(lines[0].split()[1]), headers, rest


def _scrape(gateway: GatewayServer) -> Scrape:
    response = httpx.get(gateway.url + "/metrics", headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert response.status_code == 200
    return Scrape(response.text)


def test_past_the_limit_requests_are_shed_at_once_and_held_ones_finish(upstream, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="polyroute")
    gate = threading.Event()
    upstream.default = Reply(text="held answer", gate=gate)
    with _gateway(upstream, tmp_path, LIMIT) as gateway:
        client = gateway.client()
        # one registry per test process: the count so far
        shed_before = _scrape(gateway).baseline("polyroute_shed_requests_total", reason="in_flight_limit")
        answers: list[str] = []
        errors: list[Exception] = []

        def hold(stream: bool) -> None:
            try:
                if stream:
                    chunks = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
                    answers.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
                else:
                    answer = client.chat.completions.create(model="gpt", messages=MESSAGES)
                    answers.append(answer.choices[0].message.content or "")
            except Exception as exc:  # noqa: BLE001  # reported by the assertion below
                errors.append(exc)

        held = [threading.Thread(target=hold, args=(i == 0,)) for i in range(LIMIT)]
        for thread in held:
            thread.start()
        try:
            _wait_for(lambda: len(upstream.requests) == LIMIT, "the held requests did not reach the upstream")
            metrics = _scrape(gateway)
            assert metrics.get("polyroute_in_flight_requests") == LIMIT
            assert ("polyroute_max_in_flight_requests", frozenset()) in metrics.samples
            assert metrics.get("polyroute_max_in_flight_requests") == LIMIT

            # The official SDK sees OpenAI's error shape with the code and Retry-After.
            with pytest.raises(openai.APIStatusError) as shed:
                client.chat.completions.create(model="gpt", messages=MESSAGES)
            assert shed.value.status_code == 503
            assert shed.value.body["code"] == "overloaded"
            assert shed.value.response.headers["retry-after"] == "1"
            assert shed.value.response.headers["x-request-id"]

            # Before authentication and before the body: no key and a body that is not JSON
            # still get the 503 (a 401 or 400 would mean work was done for it).
            raw = httpx.post(gateway.url + "/v1/chat/completions", content=b"{not json")
            assert raw.status_code == 503 and raw.json()["error"]["code"] == "overloaded"

            # Answered from the request's head (server/connections.py): the body is dropped and
            # the connection kept, each protocol's route in its own error shape.
            conn = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
            status, headers, body = _exchange(
                conn, "/v1/chat/completions", b'{"model": "gpt", "messages": []}'
            )
            assert status == 503 and headers["retry-after"] == "1" and headers["x-request-id"]
            assert orjson.loads(body)["error"]["code"] == "overloaded"
            status, headers, body = _exchange(conn, "/v1/messages", b'{"model": "gpt", "max_tokens": 1}' * 50)
            assert status == 503 and headers["retry-after"] == "1"
            assert orjson.loads(body)["type"] == "error"  # Anthropic's shape

            # Routes that are not model routes are not counted or shed.
            models = httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"})
            assert models.status_code == 200
            assert len(upstream.requests) == LIMIT  # the shed requests never reached the upstream
        finally:
            gate.set()
            for thread in held:
                thread.join(30)
        assert not errors and answers == ["held answer"] * LIMIT

        # Capacity is back: the next request is served, on the kept connection too.
        answer = client.chat.completions.create(model="gpt", messages=MESSAGES)
        assert answer.choices[0].message.content == "held answer"
        body = orjson.dumps({"model": "gpt", "messages": MESSAGES})
        status, _, answered = _exchange(conn, "/v1/chat/completions", body, f"Bearer {MASTER_KEY}")
        conn.close()
        assert status == 200 and b"held answer" in answered
        metrics = _scrape(gateway)
        assert metrics.get("polyroute_shed_requests_total", reason="in_flight_limit") == shed_before + 4
        # Not one log line per shed request (an outsider could flood the log): the bounded one only.
        assert "code=overloaded" not in caplog.text
        assert "requests shed:" in caplog.text
        assert metrics.get("polyroute_in_flight_requests") == 0


def test_without_the_setting_nothing_is_shed(upstream, tmp_path):
    gate = threading.Event()
    upstream.default = Reply(text="held answer", gate=gate)
    with _gateway(upstream, tmp_path, None) as gateway:
        client = gateway.client()
        # one registry per test process: the count so far
        shed_before = _scrape(gateway).baseline("polyroute_shed_requests_total")
        done: list[str] = []
        threads = [
            threading.Thread(
                target=lambda: done.append(
                    client.chat.completions.create(model="gpt", messages=MESSAGES).choices[0].message.content
                )
            )
            for _ in range(LIMIT + 2)
        ]
        for thread in threads:
            thread.start()
        try:
            _wait_for(lambda: len(upstream.requests) == LIMIT + 2, "every request reaches the upstream")
        finally:
            gate.set()
            for thread in threads:
                thread.join(30)
        assert done == ["held answer"] * (LIMIT + 2)
        metrics = _scrape(gateway)
        assert ("polyroute_max_in_flight_requests", frozenset()) not in metrics.samples
        assert metrics.baseline("polyroute_shed_requests_total") == shed_before


def test_the_setting_is_validated_naming_the_key(tmp_path):
    from polyroute.config.loader import ConfigError, load_config

    path = tmp_path / "bad.yaml"
    path.write_text("general_settings:\n  max_in_flight_requests: 0\n")
    with pytest.raises(ConfigError, match="max_in_flight_requests"):
        load_config(path, {})


def test_a_flood_of_shed_requests_logs_one_line_per_interval(caplog):
    from polyroute.errors import ServiceUnavailableError
    from polyroute.server.load import LOG_EVERY_S, InFlight

    now = [100.0]
    load = InFlight(1, clock=lambda: now[0])
    held = object()
    load.enter(held)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="polyroute.server"):
        for _ in range(500):
            with pytest.raises(ServiceUnavailableError):
                load.enter(object())  # type: ignore[arg-type]
        now[0] += LOG_EVERY_S
        with pytest.raises(ServiceUnavailableError):
            load.enter(object())  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("requests shed")]
    assert len(lines) == 2
    assert lines[0].startswith("requests shed: 1 refused")  # the first at once
    assert lines[1].startswith("requests shed: 500 refused")  # the rest, counted, an interval later
    load.leave(held)  # type: ignore[arg-type]
    assert len(load) == 0
    load.enter(object())  # type: ignore[arg-type]  # capacity is back
