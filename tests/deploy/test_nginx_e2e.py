"""The shipped nginx site, running: TLS with gen-cert.sh's certificate, the official SDK through
nginx to a real gateway, and a stream whose first chunks reach the client while the upstream still
holds the rest. The gateway's own `X-Accel-Buffering: no` header also turns nginx's buffering off
for its streams (with `proxy_buffering on` in the site this test still passes), so the site's
`proxy_buffering off` is the second layer, checked as a directive in test_nginx.py."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import OPENAI_KEY
from tests.deploy.support import COMPOSE, DEPLOY, require_binary
from tests.fakes.base import Reply, free_port
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer

pytestmark = pytest.mark.slow
MASTER = "sk-nginx-e2e-master-5b1d0c7e"
MESSAGES = [{"role": "user", "content": "hi"}]


def wait_listening(port: int, process: subprocess.Popen, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {process.stderr.read() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port}")


@pytest.fixture(scope="module")
def behind_nginx(fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    nginx = require_binary("nginx")
    work = tmp_path_factory.mktemp("nginx")
    script = work / "gen-cert.sh"
    script.write_text((COMPOSE / "gen-cert.sh").read_text())
    subprocess.run(["sh", str(script), "localhost"], check=True, capture_output=True, timeout=60)
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": fake_openai.url + "/v1",
                    "api_key": OPENAI_KEY,
                },
            }
        ],
        "general_settings": {"master_key": MASTER},
        "router_settings": {"num_retries": 0},
    }
    (work / "gw").mkdir()
    with GatewayServer(config, work / "gw") as gateway:
        https_port, http_port = free_port(), free_port()
        site = (DEPLOY / "nginx" / "polyroute.conf").read_text()
        site = site.replace("/etc/ssl/polyroute/", f"{work}/certs/")
        site = site.replace("server 127.0.0.1:4000;", f"server 127.0.0.1:{gateway.port};")
        site = re.sub(r"\s*listen \[::\]:\d+[^;]*;", "", site)
        site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
        site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        site = re.sub(r"access_log \S+;", f"access_log {work}/access.log;", site)
        (work / "site.conf").write_text(site)
        temp = "".join(f"{kind}_temp_path {work}/{kind};\n" for kind in
                       ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (work / "nginx.conf").write_text(
            f"daemon off;\nmaster_process off;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
            f"events {{}}\nhttp {{\n{temp}include {work}/site.conf;\n}}\n"
        )
        process = subprocess.Popen(
            [nginx, "-p", str(work), "-c", str(work / "nginx.conf")], stderr=subprocess.PIPE, text=True
        )
        try:
            wait_listening(https_port, process)
            trust = ssl.create_default_context(cafile=str(work / "certs" / "polyroute.crt"))
            http = httpx.Client(verify=trust, timeout=30)
            client = openai.OpenAI(
                base_url=f"https://localhost:{https_port}/v1", api_key=MASTER, http_client=http, max_retries=0
            )
            yield client, http, https_port, http_port
            http.close()
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_chat_through_nginx_over_tls(behind_nginx, fake_openai: FakeOpenAI) -> None:
    client, *_ = behind_nginx
    fake_openai.script(Reply(text="through the proxy"))
    answer = client.chat.completions.create(model="gpt", messages=MESSAGES)
    assert answer.choices[0].message.content == "through the proxy"


def test_errors_keep_the_gateways_json_shape(behind_nginx) -> None:
    client, *_ = behind_nginx
    with pytest.raises(openai.AuthenticationError) as caught:
        client.with_options(api_key="sk-wrong").chat.completions.create(model="gpt", messages=MESSAGES)
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict)


def test_stream_chunks_pass_while_the_upstream_still_holds_the_rest(behind_nginx, fake_openai) -> None:
    client, *_ = behind_nginx
    fake_openai.script(Reply(text="one two three four", stall_after=2))  # then silence, connection open
    stream = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    received = ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += chunk.choices[0].delta.content
        if received == "one ":
            break
    stream.close()
    assert received == "one "


def test_plain_http_redirects_to_https(behind_nginx) -> None:
    _, _, _, http_port = behind_nginx
    response = httpx.get(f"http://127.0.0.1:{http_port}/v1/models", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"].startswith("https://")
