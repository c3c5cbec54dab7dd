"""A refused request (401/403) leaves one info line saying why, with its request id and never
the key, so an operator can tell a client why it fails."""

from __future__ import annotations

import logging

import httpx

from tests.keys.conftest import Admin

MESSAGES = [{"role": "user", "content": "hi"}]


def _lines_of(caplog, request_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if f"request={request_id} " in r.getMessage()]


def test_each_refusal_is_logged_at_info_with_its_reason(keys_gateway, admin: Admin, caplog) -> None:
    caplog.set_level(logging.INFO, logger="polyroute")
    key = admin.new_key(models=["mock-gpt"])["key"]
    wrong = "sk-not-a-key-of-this-gateway-4242"
    cases = [
        # (headers, method, path, body, status, code)
        (
            {"authorization": f"Bearer {wrong}"},
            "POST",
            "/v1/chat/completions",
            {"model": "mock-gpt"},
            401,
            "invalid_api_key",
        ),
        ({}, "GET", "/v1/models", None, 401, "missing_api_key"),
        (
            {"authorization": f"Bearer {key}"},
            "POST",
            "/v1/chat/completions",
            {"model": "claude"},
            403,
            "model_not_allowed",
        ),
        ({"authorization": f"Bearer {key}"}, "GET", "/metrics", None, 403, "admin_only"),
        ({"authorization": f"Bearer {key}"}, "GET", "/key/list", None, 403, "admin_only"),  # the admin app
        ({"x-litellm-api-key": wrong}, "GET", "/key/list", None, 401, "invalid_api_key"),
    ]
    for headers, method, path, body, status, code in cases:
        if body is not None:
            body = {**body, "messages": MESSAGES}
        response = httpx.request(method, keys_gateway.url + path, headers=headers, json=body)
        assert response.status_code == status, response.text
        request_id = response.headers["x-request-id"]
        lines = _lines_of(caplog, request_id)
        assert len(lines) == 1, (path, [r.getMessage() for r in caplog.records[-5:]])
        line = lines[0]
        text = line.getMessage()
        assert line.levelno == logging.INFO and f"status={status}" in text and f"code={code}" in text
        assert path in text and response.json()["error"]["message"] in text  # the reason
        assert key not in text and wrong not in text
