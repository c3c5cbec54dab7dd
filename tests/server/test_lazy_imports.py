"""Heavy modules the serving process does not use stay out of it (issue 20: idle RSS). A process
that starts the gateway's CLI and app (the schema brought up to date by a child, as `polyroute
serve` does) and serves model requests never imports rich (with pygments, which structlog would
load for tracebacks no polyroute process draws), Alembic, nor prometheus-client (loaded by the
first scrape of /metrics, in the scrape's thread). Nor the code of providers no deployment uses
(each adapter is imported by the registry when a deployment first needs it), of guardrails when
none are configured, or of the semantic cache when it is not the configured cache."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import asyncio, json, sys
import polyroute.cli.main  # the serving process's entry point: the CLI, logging, the config
from polyroute.cli.serve import _migrate_in_child
from polyroute.config.loader import load_config
from polyroute.server.app import create_app
from polyroute.server.state import AppState

from importlib.util import find_spec
from polyroute.providers.builtin import PROVIDER_PACKAGES

MASTER = "sk-master-lazy-0123456789abcdef"
# The config below has the built-in mock models only: every other provider package's adapter
# stays out (openai_family and azure are single modules, their adapter beside their specs).
UNUSED_ADAPTERS = tuple(
    f"{package}.adapter"
    for package in PROVIDER_PACKAGES
    if find_spec(package).submodule_search_locations and not package.endswith(".mock")
)
assert "polyroute.providers.anthropic.adapter" in UNUSED_ADAPTERS, UNUSED_ADAPTERS
HEAVY = (
    "rich", "pygments", "alembic", "prometheus_client", *UNUSED_ADAPTERS,
    "polyroute.guardrails.config", "polyroute.cache.semantic", "polyroute.cache.embedder",
)


def loaded():
    return ",".join(name for name in HEAVY if name in sys.modules) or "-"


async def call(app, method, path, body=None):
    # The ASGI messages themselves: an HTTP client library would import modules of its own
    # (httpx imports rich for its command line).
    sent = [{"type": "http.request", "body": json.dumps(body).encode() if body else b"", "more_body": False}]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"gw"), (b"authorization", b"Bearer " + MASTER.encode()),
                    (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 4000), "state": {},
    }
    answer = {}

    async def receive():
        return sent.pop() if sent else {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["type"] = dict(message["headers"]).get(b"content-type", b"").split(b";")[0].decode()

    await app(scope, receive, send)
    return answer


async def main():
    env = {"POLYROUTE_DATA_DIR": sys.argv[1], "POLYROUTE_MASTER_KEY": MASTER}
    loaded_config = load_config(None, env, None)
    _migrate_in_child(loaded_config)  # as `polyroute serve` does: Alembic never loads here
    app = create_app(AppState.build(loaded_config, open_access=False))
    started = asyncio.Event()
    inbox = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})

    async def send(message):
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))
    await started.wait()
    print("started", loaded())
    body = {"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}
    chat = await call(app, "POST", "/v1/chat/completions", body)
    stream = await call(app, "POST", "/v1/chat/completions", {**body, "stream": True})
    print(chat["status"], stream["status"], loaded())
    assert "polyroute.providers.mock.adapter" in sys.modules  # the deployments' own adapter
    scrape = await call(app, "GET", "/metrics")
    print(scrape["status"], scrape["type"], loaded())
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 10)


asyncio.run(main())
"""


def test_rich_and_prometheus_client_stay_out_of_a_serving_process(tmp_path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split("\n")[:3] == [
        "started -",
        "200 200 -",
        "200 text/plain prometheus_client",  # the first scrape loads it; rich never
    ]


def test_rich_still_imports_after_structlog_was_loaded_without_it() -> None:
    """`polyroute eval` draws with rich after polyroute.logs loaded structlog without it."""
    code = "import polyroute.logs, rich.console, structlog.dev; print(structlog.dev.rich is None)"
    probe = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip() == "True"


ON_FIRST_USE = """
import sys
from polyroute.config.loader import load_config
from polyroute.providers.registry import get_adapter, get_spec, known_providers, specs

ADAPTER = "polyroute.providers.anthropic.adapter"
assert "anthropic" in known_providers() and get_spec("anthropic").name == "anthropic"
assert ADAPTER not in sys.modules, "the specs alone import the adapter"
entry = {"model_name": "c", "litellm_params": {"model": "anthropic/claude-x", "api_key": "k"}}
config = {"model_list": [entry]}
import json, pathlib, tempfile
path = pathlib.Path(tempfile.mkdtemp()) / "config.yaml"
path.write_text(json.dumps(config))
[deployment] = load_config(path, {}).models.resolve("c")
assert ADAPTER in sys.modules
assert deployment.adapter is get_adapter("anthropic") is get_adapter("anthropic")
assert deployment.adapter.spec is get_spec("anthropic")
# Every package's adapters() brings exactly the specs its specs() declared (the registry checks).
for spec in specs():
    assert get_adapter(spec.name).spec is spec, spec.name
print("ok")
"""


def test_a_provider_adapter_is_imported_by_the_first_deployment_that_uses_it() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", ON_FIRST_USE], capture_output=True, text=True, timeout=60, check=False
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip() == "ok"
