"""`nginx -t` on the shipped sites (single machine and compose), and their streaming-safe settings."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import COMPOSE, DEPLOY, require_binary

SITES = {"single machine": DEPLOY / "nginx" / "polyroute.conf", "compose": COMPOSE / "nginx.conf"}


@pytest.mark.parametrize("site", SITES.values(), ids=SITES.keys())
def test_streaming_safe_proxy_settings(site: Path) -> None:
    text = site.read_text()
    location = text[text.index("location / {") :]
    for directive in (
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_buffering off;",
        "proxy_read_timeout 600s;",
        "client_max_body_size 64m;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
    ):
        assert directive in text, f"{site.name}: {directive}"
    assert re.search(r"keepalive \d+;", text)
    assert "proxy_pass http://polyroute_gateway;" in location


@pytest.mark.parametrize("site", SITES.values(), ids=SITES.keys())
def test_nginx_accepts_the_site(site: Path, tmp_path: Path) -> None:
    """nginx -t in a prefix of its own, with a fresh self-signed certificate. The compose upstream
    names (gateway-1, gateway-2) resolve only inside compose's network, so they become loopback."""
    nginx = require_binary("nginx")
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
         "-keyout", str(certs / "polyroute.key"), "-out", str(certs / "polyroute.crt")],
        check=True, capture_output=True,
    )
    text = site.read_text()
    text = re.sub(r"/etc/(ssl/polyroute|nginx/certs)/", f"{certs}/", text)
    text = re.sub(r"server gateway-\d:4000;", "server 127.0.0.1:4000;", text)
    text = re.sub(r"access_log \S+;", f"access_log {tmp_path}/access.log;", text)
    (tmp_path / "site.conf").write_text(text)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
