"""The admin API (FastAPI) is built on the first admin request, not at start-up: a process that
only serves model requests never imports FastAPI. The path list the gateway dispatches on is
kept equal to the routes the admin app declares."""

from __future__ import annotations

import subprocess
import sys

from polyroute.config.loader import load_config
from polyroute.server.admin import create_admin_app
from polyroute.server.admin_paths import ADMIN_PATHS
from polyroute.server.state import AppState


def test_the_dispatch_list_is_every_route_the_admin_app_declares(tmp_path) -> None:
    state = AppState.build(load_config(None, {"POLYROUTE_DATA_DIR": str(tmp_path)}, None), open_access=False)
    assert create_admin_app(state).state.paths == ADMIN_PATHS


PROBE = """
import asyncio, sys
import httpx
from polyroute.config.loader import load_config
from polyroute.server.app import create_app
from polyroute.server.state import AppState

MASTER = "sk-master-lazy-0123456789abcdef"


async def main():
    env = {"POLYROUTE_DATA_DIR": sys.argv[1], "POLYROUTE_MASTER_KEY": MASTER}
    app = create_app(AppState.build(load_config(None, env, None), open_access=False))
    started = asyncio.Event()
    inbox = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})

    async def send(message):
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))
    await started.wait()
    headers = {"authorization": "Bearer " + MASTER}
    body = {"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        chat = await client.post("/v1/chat/completions", json=body, headers=headers)
        print(chat.status_code, "fastapi" in sys.modules)
        listed = await client.get("/key/list", headers=headers)
        print(listed.status_code, "fastapi" in sys.modules)
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 10)


asyncio.run(main())
"""


def test_fastapi_is_imported_on_the_first_admin_request_only(tmp_path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split("\n")[:2] == ["200 False", "200 True"]
