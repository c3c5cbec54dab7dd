"""The UI's test rig: a fake OpenAI upstream whose answers depend on the prompt, the real gateway
in front of it (tests/gateway.py: the production app on a loopback port) with a master key and a
virtual key, and the UI app on its own loopback port, as `polyroute ui` runs it.

The fake's answers by prompt (the last user message's text):
  contains "hold"      two words, then the stream stalls until the client goes away (stop tests);
                       "hold once" stalls the first time each model is asked, then answers
  "who are you"        "I am <model>, ...": an answer that names its model (an identity leak)
  contains "xss"       an answer full of script, event-handler, javascript: and markdown tricks
  has image parts      "Received N image(s) as image/png."
  otherwise            "<ordinal> answer to: <prompt>" (first for alpha, second for beta, third
                       for gamma): never a model's name, so battles are not flagged as leaks
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiohttp import web
from tests.fakes.base import RecordedRequest, Reply, free_port
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer

from polyroute.ui.app import create_ui_app
from polyroute.ui.sessions import COOKIE_NAME
from polyroute.ui.settings import UISettings, settings_from

MODELS = ("alpha", "beta", "gamma")
ORDINALS = {"alpha": "First", "beta": "Second", "gamma": "Third"}
MASTER_KEY = "sk-ui-test-master-0123456789abcdef"

XSS_ANSWER = "\n\n".join(
    [
        "Here is **bold** text and some code:",
        "```python\nprint('<b>not bold</b>')\n```",
        "<script>window.__xss = 'script';</script>",
        '<img src="x" onerror="window.__xss = \'img\'">',
        "[click me](javascript:window.__xss='link')",
        "[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![pixel](javascript:window.__xss='image')",
        "<a href=\"javascript:window.__xss='anchor'\">anchor</a>",
        "<svg onload=\"window.__xss='svg'\"></svg>",
        "[safe link](https://example.com/docs)",
    ]
)


def _prompt_of(body: dict[str, Any]) -> tuple[str, int]:
    """The last user message's text and how many image parts it carries."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content, 0
        text = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
        return text, sum(1 for p in content if p.get("type") == "image_url")
    return "", 0


class FakeModels(FakeOpenAI):
    """A fake OpenAI upstream (real HTTP, real SSE) that answers by prompt and model."""

    def __init__(self) -> None:
        super().__init__()
        self.held: set[tuple[str, str]] = set()

    async def _behaviour(self, request: web.Request, rec: RecordedRequest) -> Reply | web.Response:
        denied = self._auth_error(request, rec)
        if denied is not None:
            return denied
        body = rec.json or {}
        model = str(body.get("model", ""))
        prompt, images = _prompt_of(body)
        if "hold once" in prompt and (model, prompt) in self.held:
            return Reply(text=f"{ORDINALS.get(model, 'An')} answer to: {prompt}")
        if "hold" in prompt:
            self.held.add((model, prompt))
            return Reply(text="Thinking about it slowly", stall_after=3)
        if "who are you" in prompt.lower():
            return Reply(text=f"I am {model}, a large language model.")
        if "xss" in prompt:
            return Reply(text=XSS_ANSWER)
        if images:
            urls = [
                p["image_url"]["url"]
                for m in body["messages"]
                if isinstance(m.get("content"), list)
                for p in m["content"]
                if p.get("type") == "image_url"
            ]
            kinds = sorted({url.split(";", 1)[0].removeprefix("data:") for url in urls})
            return Reply(text=f"Received {images} image(s) as {', '.join(kinds)}.")
        return Reply(text=f"{ORDINALS.get(model, 'An')} answer to: {prompt}")


def gateway_config(upstream: FakeModels) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {
                    "model": f"openai/{name}",
                    "api_base": upstream.url + "/v1",
                    "api_key": upstream.api_key,
                },
            }
            for name in MODELS
        ],
        # The UI's pickers list exactly these models (no built-in mock-gpt beside them).
        "general_settings": {"master_key": MASTER_KEY, "builtin_mock_model": False},
    }


def mint_key(gateway: GatewayServer, **limits: Any) -> str:
    response = httpx.post(
        gateway.url + "/key/generate",
        json={"key_alias": f"ui-test-{time.monotonic_ns()}", **limits},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return response.json()["key"]


class UIServer:
    """The UI app on a loopback port (uvicorn in a thread), as `polyroute ui` builds it."""

    def __init__(
        self,
        gateway_url: str,
        tmp_dir: Path,
        env: dict[str, str] | None = None,
        clock: Any = time.time,
        **overrides: Any,
    ):
        self.data_dir = tmp_dir / f"ui-data-{id(self)}"
        self.logdir = tmp_dir / f"ui-logs-{id(self)}"
        self.logdir.mkdir(parents=True)
        base_env = {"POLYROUTE_DATA_DIR": str(self.data_dir), "LOGDIR": str(self.logdir), **(env or {})}
        overrides.setdefault("leaderboard_ttl_s", 0.0)
        self.settings: UISettings = settings_from(base_env, gateway_url, **overrides)
        self.app = create_ui_app(self.settings, clock=clock)
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> Any:
        return self.app.state.ui

    def start(self) -> UIServer:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, lifespan="on", log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"ui:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("UI server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> UIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def csrf_of(html: str) -> str:
    """The CSRF token a page carries (its body's data-csrf)."""
    match = re.search(r'data-csrf="([^"]*)"', html)
    assert match, html
    return match.group(1)


class BrowserLike(httpx.Client):
    """An HTTP client that keeps the session cookie as a browser on loopback does: httpx sends
    a Secure cookie over https only, browsers also to http://127.0.0.1."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url=base_url, timeout=30, follow_redirects=False)
        self.session_cookie: str | None = None

    def send(self, request: httpx.Request, **kwargs):  # type: ignore[no-untyped-def]
        if self.session_cookie and "cookie" not in request.headers:
            request.headers["cookie"] = f"{COOKIE_NAME}={self.session_cookie}"
        response = super().send(request, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name == COOKIE_NAME:
                self.session_cookie = rest.split(";", 1)[0].strip('"') or None
        return response


def wait_for(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    """Waits for a condition of another thread (the fake upstream's counters) with a deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
