"""Model names reach response headers (x-polyroute-model-group, x-polyroute-deployment): a control
character or a 5 MB wildcard name there made the server drop the connection. Names are bounded
and printable (400 naming the field), and every header value is escaped and bounded."""

from __future__ import annotations

import httpx
import pytest

from polyroute.protocol.validate import MAX_MODEL_NAME_CHARS
from polyroute.server.http import MAX_HEADER_VALUE, header_value

MESSAGES = [{"role": "user", "content": "hi"}]


def _post(gateway, body: dict) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {gateway.master_key}"},
        json={"messages": MESSAGES, **body},
        timeout=20,
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fake-openai/gpt\r\nx-injected: yes"}, "model"),
        ({"model": "fake-openai/" + "m" * (5 * 1024 * 1024)}, "model"),
        ({"model": "fake-openai/" + "m" * MAX_MODEL_NAME_CHARS}, "model"),
        ({"model": "mock-gpt", "fallbacks": ["ok", "fake-openai/\x00"]}, "fallbacks[1]"),
        ({"model": "mock-gpt", "fallbacks": ["mock-gpt"] * 65}, "fallbacks"),
    ],
)
def test_bad_model_names_are_a_400_naming_the_field(gateway, body, param) -> None:
    response = _post(gateway, body)
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["param"] == param
    assert len(response.text) < 2000  # the name is not echoed back
    assert "x-injected" not in response.headers
    # The process keeps serving.
    assert _post(gateway, {"model": "mock-gpt"}).status_code == 200


def test_a_long_but_allowed_non_ascii_name_reaches_the_headers_escaped(gateway, fake_openai) -> None:
    name = "fake-openai/模型-" + "x" * (MAX_MODEL_NAME_CHARS - 20)
    response = _post(gateway, {"model": name})
    assert response.status_code == 200, response.text
    group = response.headers["x-polyroute-model-group"]
    assert group.isascii() and group.startswith("fake-openai/%E6%A8%A1%E5%9E%8B-")
    assert len(group) <= MAX_HEADER_VALUE


def test_header_value_escapes_and_bounds_anything() -> None:
    assert header_value("gpt-4o") == b"gpt-4o"
    assert header_value("a\r\nb") == b"a%0D%0Ab"
    assert header_value("tab\there") == b"tab%09here"
    assert len(header_value("\x00" * 10_000)) == MAX_HEADER_VALUE
