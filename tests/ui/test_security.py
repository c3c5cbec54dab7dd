"""The UI's sessions, CSRF and request checks over plain HTTP (no browser): what an attacker's
page or script could send."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from tests.gateway import GatewayServer
from tests.ui.support import MASTER_KEY, BrowserLike, UIServer, csrf_of

from polyroute.ui.sessions import COOKIE_NAME


def signed_in_client(ui: UIServer, key: str) -> tuple[httpx.Client, str]:
    client = BrowserLike(ui.url)
    login_page = client.get("/login")
    response = client.post("/login", json={"key": key}, headers={"x-csrf-token": csrf_of(login_page.text)})
    assert response.status_code == 200, response.text
    chat = client.get("/chat")
    return client, csrf_of(chat.text)


def test_the_session_cookie_is_http_only_strict_and_secure_and_holds_no_key(
    ui_server: UIServer, virtual_key: str
) -> None:
    with BrowserLike(ui_server.url) as client:
        first = client.get("/login")
        before = client.session_cookie
        response = client.post(
            "/login", json={"key": virtual_key}, headers={"x-csrf-token": csrf_of(first.text)}
        )
        assert response.status_code == 200
        header = response.headers["set-cookie"]
        assert "HttpOnly" in header and "Secure" in header and "SameSite=strict" in header
        after = client.session_cookie
        assert after != before  # a new session at sign-in: no fixation
        assert after is not None and virtual_key not in header and virtual_key[3:] not in after
        page = client.get("/chat")
        assert virtual_key not in page.text and virtual_key not in client.get("/api/chat/state").text
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_posts_without_the_csrf_token_or_from_another_origin_are_refused(
    ui_server: UIServer, virtual_key: str
) -> None:
    client, csrf = signed_in_client(ui_server, virtual_key)
    with contextlib.closing(client):
        missing = client.post("/api/chat/send", json={"model": "alpha", "text": "hi"})
        assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf_failed"
        wrong = client.post(
            "/api/chat/send", json={"model": "alpha", "text": "hi"}, headers={"x-csrf-token": "x"}
        )
        assert wrong.status_code == 403
        foreign = client.post(
            "/api/chat/clear", headers={"x-csrf-token": csrf, "origin": "https://evil.example"}
        )
        assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "cross_origin"
        assert client.post("/api/chat/clear", headers={"x-csrf-token": csrf}).status_code == 200


def test_without_a_session_nothing_but_sign_in_answers(ui_server: UIServer) -> None:
    with BrowserLike(ui_server.url) as client:
        assert client.get("/chat").headers["location"] == "/login"
        for path in ("/api/models", "/api/chat/state"):
            response = client.get(path)
            assert response.status_code == 401 and response.json()["error"]["code"] == "not_signed_in"
        forged = client.post(
            "/api/anonymous/send", json={"text": "hi"}, headers={"cookie": f"{COOKIE_NAME}=abc.def"}
        )
        assert forged.status_code == 401


def test_bad_requests_are_refused_naming_the_field(ui_server: UIServer, virtual_key: str) -> None:
    client, csrf = signed_in_client(ui_server, virtual_key)
    headers = {"x-csrf-token": csrf}
    with contextlib.closing(client):
        cases = [
            (
                "/api/chat/send",
                {"model": "alpha", "text": "hi", "temperature": 9},
                400,
                "invalid_temperature",
            ),
            ("/api/chat/send", {"model": "alpha", "text": "hi", "top_p": "high"}, 400, "invalid_top_p"),
            ("/api/chat/send", {"model": "nope", "text": "hi"}, 400, "model_not_available"),
            ("/api/chat/send", {"model": "alpha", "text": "   "}, 400, "empty_input"),
            (
                "/api/chat/send",
                {"model": "alpha", "text": "hi", "image": "data:text/html;base64,PGI+"},
                400,
                "image_type",
            ),
            ("/api/named/send", {"models": ["alpha"], "text": "hi"}, 400, "invalid_models"),
            ("/api/named/send", {"models": ["beta", "beta"], "text": "hi"}, 400, "same_model"),
            ("/api/other/send", {"text": "hi"}, 404, "unknown_page"),
            ("/api/chat/vote", {"vote": "leftvote"}, 409, "no_battle"),
        ]
        for path, body, status, code in cases:
            response = client.post(path, json=body, headers=headers)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), (path, body)
        image = "data:image/png;base64,iVBORw0KGgo="
        for turn in range(4):
            sent = client.post(
                "/api/chat/send",
                json={"model": "alpha", "text": f"img {turn}", "image": image},
                headers=headers,
            )
            assert sent.status_code == 200, sent.text
        fifth = client.post(
            "/api/chat/send", json={"model": "alpha", "text": "img", "image": image}, headers=headers
        )
        assert (fifth.status_code, fifth.json()["error"]["code"]) == (400, "image_limit")
        huge = client.post("/api/chat/send", content=b"{" + b" " * (11 * 1024 * 1024) + b"}", headers=headers)
        assert huge.status_code == 413
        not_json = client.post("/api/chat/send", content=b"[1,", headers=headers)
        assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
        # The process keeps serving.
        assert client.get("/api/chat/state").status_code == 200


def test_the_master_key_signs_in_and_a_keyless_local_sign_in_is_not_offered(
    ui_server: UIServer, gateway: GatewayServer
) -> None:
    with BrowserLike(ui_server.url) as client:
        page = client.get("/login")
        assert 'id="local-login"' not in page.text  # the gateway has a master key
        refused = client.post("/login", json={"local": True}, headers={"x-csrf-token": csrf_of(page.text)})
        assert refused.status_code == 403
    client, _ = signed_in_client(ui_server, MASTER_KEY)
    with contextlib.closing(client):
        assert client.get("/api/models").json()["models"] == ["alpha", "beta", "gamma"]


@pytest.fixture(scope="module")
def open_gateway(tmp_path_factory: pytest.TempPathFactory) -> GatewayServer:
    with GatewayServer(None, tmp_path_factory.mktemp("open-gateway")) as server:
        yield server


def test_a_keyless_loopback_gateway_offers_the_local_sign_in(
    open_gateway: GatewayServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with (
        UIServer(open_gateway.url, tmp_path_factory.mktemp("ui-open")) as ui,
        BrowserLike(ui.url) as client,
    ):
        page = client.get("/login")
        assert 'id="local-login"' in page.text
        response = client.post("/login", json={"local": True}, headers={"x-csrf-token": csrf_of(page.text)})
        assert response.status_code == 200
        assert "mock-gpt" in client.get("/api/models").json()["models"]


def test_a_second_prompt_while_one_is_answered_is_refused(
    gateway: GatewayServer, virtual_key: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with UIServer(gateway.url, tmp_path_factory.mktemp("ui-busy"), stop_grace_s=0.05) as ui:
        client, csrf = signed_in_client(ui, virtual_key)
        headers = {"x-csrf-token": csrf}
        with contextlib.closing(client):
            held = {"model": "alpha", "text": "please hold on"}
            with client.stream("POST", "/api/chat/send", json=held, headers=headers) as first:
                assert first.status_code == 200
                lines = first.iter_lines()  # kept: dropping the iterator would close the connection
                assert next(lines).startswith("event: delta")  # the first answer is streaming
                second = client.post("/api/chat/send", json={"text": "me too"}, headers=headers)
                assert (second.status_code, second.json()["error"]["code"]) == (409, "busy")
                again = client.post("/api/chat/regenerate", json={}, headers=headers)
                assert (again.status_code, again.json()["error"]["code"]) == (409, "busy")
            # The first answer's connection closed: stopped, kept, and the page takes prompts again.
            state = client.get("/api/chat/state").json()["state"]
            assert [m["role"] for m in state["sides"][0]["messages"]] == ["user", "assistant"]
            assert client.post("/api/chat/send", json={"text": "next"}, headers=headers).status_code == 200
