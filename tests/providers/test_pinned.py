"""Pinned sessions: one checked address per host, a bounded pool, no stream cut by eviction."""

from __future__ import annotations

import socket

import pytest
from yarl import URL

from polyroute.auth.url_safety import CheckedTarget
from polyroute.providers.base import WireRequest
from polyroute.providers.pinned import PinnedResolver, PinnedSessions
from polyroute.providers.transport import HttpTransport
from tests.fakes.base import Reply
from tests.fakes.openai import FakeOpenAI

KEY = "sk-pinned-test-key-0123456789"


def target(host: str, address: str = "127.0.0.1", port: int = 9) -> CheckedTarget:
    return CheckedTarget(URL(f"http://{host}:{port}/v1"), host, port, address, socket.AF_INET)


async def test_the_resolver_answers_with_the_checked_address_for_its_host_only():
    resolver = PinnedResolver("api.example", "93.184.216.34", socket.AF_INET)
    [answer] = await resolver.resolve("api.example", 443)
    assert (answer["host"], answer["hostname"], answer["port"]) == ("93.184.216.34", "api.example", 443)
    assert (await resolver.resolve("API.example.", 443))[0]["host"] == "93.184.216.34"
    with pytest.raises(OSError, match="pinned"):
        await resolver.resolve("other.example", 443)


async def test_evicted_sessions_close_only_when_their_last_response_is_done():
    pool = PinnedSessions(limit=1)
    first, release_first = pool.acquire(target("a.test"))
    second, release_second = pool.acquire(target("b.test"))  # evicts a.test, which is in use
    assert len(pool) == 1 and not first.closed
    release_first()
    release_first()  # idempotent
    for closing in list(pool._closing):
        await closing
    assert first.closed
    same, release_same = pool.acquire(target("b.test"))
    assert same is second
    other_address, release_other = pool.acquire(target("b.test", address="127.0.0.2"))
    assert other_address is not second  # another checked address is another session
    for release in (release_second, release_same, release_other):
        release()
    await pool.close()
    assert second.closed and other_address.closed


async def test_a_pinned_request_connects_to_the_address_with_the_name_in_host():
    with FakeOpenAI(api_key=KEY) as fake:
        fake.script(Reply(text="pinned"))
        transport = HttpTransport()
        try:
            checked = CheckedTarget(
                URL(f"http://upstream.invalid:{fake.port}/v1/chat/completions"),
                "upstream.invalid",
                fake.port,
                "127.0.0.1",
                socket.AF_INET,
            )
            wire = WireRequest(
                str(checked.url),
                {"authorization": f"Bearer {KEY}", "content-type": "application/json"},
                b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
            )
            response = await transport.send(wire, target=checked)
            assert response.status == 200 and b"pinned" in await response.read()
        finally:
            await transport.close()
        [seen] = fake.requests
        assert seen.headers["host"] == f"upstream.invalid:{fake.port}"  # '.invalid' never resolves


def _make_certificates(directory) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for the name 'pinned.test' (openssl CLI)."""
    import subprocess

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=polyroute test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=pinned.test")  # fmt: skip
    (directory / "ext.cnf").write_text("subjectAltName=DNS:pinned.test\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf")  # fmt: skip
    return str(directory / "ca.pem"), str(directory / "server.pem"), str(directory / "server.key")


async def test_tls_to_a_pinned_address_verifies_the_certificate_for_the_name(tmp_path):
    """SNI and certificate checks are for the host name although the address is pinned: the
    server's certificate for 'pinned.test' passes for that name and fails for another name
    pinned to the same address."""
    import ssl

    import aiohttp.connector
    from aiohttp import web

    from polyroute.errors import UpstreamConnectionError
    from tests.fakes.base import free_port

    ca, cert, key = _make_certificates(tmp_path)
    # aiohttp verifies with one process-wide context: trust the throwaway CA there (it signs
    # nothing but this test's certificate for a '.test' name).
    aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(ca)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    seen_names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: seen_names.append(name)

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"host": request.headers.get("host")})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_context).start()
    transport = HttpTransport()
    try:
        for name in ("pinned.test", "other.test"):
            url = URL(f"https://{name}:{port}/v1/chat/completions")
            checked = CheckedTarget(url, name, port, "127.0.0.1", socket.AF_INET)
            wire = WireRequest(str(url), {"content-type": "application/json"}, b"{}")
            if name == "pinned.test":
                response = await transport.send(wire, target=checked)
                assert response.status == 200
                assert b'"pinned.test:' in await response.read()
            else:
                with pytest.raises(UpstreamConnectionError) as caught:
                    await transport.send(wire, target=checked)
                assert "certificate" in repr(caught.value.__cause__).lower()
        assert seen_names[:1] == ["pinned.test"] and "other.test" in seen_names
    finally:
        await transport.close()
        await runner.cleanup()
