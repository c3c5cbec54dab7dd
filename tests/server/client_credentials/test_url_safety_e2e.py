"""Client-chosen URLs through the openai SDK: loopback, private, metadata and unspecified
addresses in every spelling are refused before a connection is opened (the canary counts every
TCP connection to loopback), redirects are not followed, and the connection goes to the address
that was checked even when DNS answers differently the second time."""

from __future__ import annotations

import openai
import pytest

from polyroute.auth.url_safety import system_resolver
from tests.fakes.base import Error
from tests.fakes.canary import Canary
from tests.server.client_credentials.support import (
    CLIENT_KEY,
    chat,
    refused,
)

UNSAFE_HOSTS = [
    "127.0.0.1",
    "localhost",  # a name that resolves to loopback
    "[::1]",
    "0.0.0.0",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[0:0:0:0:0:ffff:7f00:1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
]
MISSPELLED_HOSTS = ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "017700000001"]
NO_LISTENER_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://10.0.0.1/v1",
    "http://172.16.0.1/v1",
    "http://192.168.1.1/v1",
    "http://[fc00::1]/v1",
    "http://[fe80::1]/v1",
    "http://224.0.0.1/v1",
    "http://[::ffff:169.254.169.254]/v1",
    "http://[64:ff9b::a9fe:a9fe]/v1",
    "http://[2002:a9fe:a9fe::]/v1",
]


def _url(canary: Canary, host: str, path: str = "/v1") -> str:
    return f"http://{host}:{canary.port}{path}"


@pytest.mark.parametrize("host", UNSAFE_HOSTS)
def test_loopback_and_unspecified_targets_are_refused_unconnected(gw_strict, canary, host):
    """Per-request api_base on a model that allows any base URL: only the address check stops it."""
    body = refused(
        gw_strict, "open-base", {"api_key": CLIENT_KEY, "api_base": _url(canary, host)}, 403, "api_base"
    )
    assert body["code"] == "unsafe_upstream_address"
    assert canary.settle() == 0


@pytest.mark.parametrize("host", UNSAFE_HOSTS)
def test_the_same_targets_in_user_config_are_refused_unconnected(gw_strict, canary, host):
    config = {
        "model_list": [
            {
                "model_name": "mine",
                "litellm_params": {
                    "model": "openai/x",
                    "api_key": CLIENT_KEY,
                    "api_base": _url(canary, host),
                },
            }
        ],
        "num_retries": 3,  # a refusal is not retried
    }
    body = refused(
        gw_strict, "mine", {"user_config": config}, 403, "user_config.model_list[0].litellm_params.api_base"
    )
    assert body["code"] == "unsafe_upstream_address"
    assert canary.settle() == 0


@pytest.mark.parametrize("host", MISSPELLED_HOSTS)
def test_numeric_spellings_of_loopback_are_refused_unconnected(gw, gw_strict, canary, host):
    for server in (gw, gw_strict):  # even where 127.0.0.1 is allowlisted: ambiguous spellings never pass
        body = refused(
            server, "open-base", {"api_key": CLIENT_KEY, "api_base": _url(canary, host)}, 400, "api_base"
        )
        assert body["code"] == "invalid_url"
    assert canary.settle() == 0


@pytest.mark.parametrize("url", NO_LISTENER_URLS)
def test_metadata_private_and_embedded_forms_are_refused(gw_strict, url):
    body = refused(gw_strict, "open-base", {"api_key": CLIENT_KEY, "api_base": url}, 403, "api_base")
    assert body["code"] == "unsafe_upstream_address"


@pytest.mark.parametrize(
    "spelling",
    [
        "{url}\n",
        "{url}/\r\n",
        "http://user:pw@127.0.0.1:{port}/v1",
        "http://evil.example@127.0.0.1:{port}/v1",
        "{url}#fragment",
        "{url}/../../admin",
        "{url}/%2e%2e/admin",
        "http://%31%32%37.0.0.1:{port}/v1",
        "HTTP://127.0.0.1:{port}/v1?x=1",
        "http://127.0.0.1:{port}\\@evil.example/v1",
        "gopher://127.0.0.1:{port}/_",
    ],
)
def test_spelling_tricks_are_refused_before_any_check_or_connection(gw, canary, spelling):
    url = spelling.format(url=canary.url(), port=canary.port)
    body = refused(gw, "gpt-3.5-turbo", {"api_key": CLIENT_KEY, "api_base": url}, 400, "api_base")
    assert body["code"] == "invalid_url"
    assert canary.settle(0.05) == 0


def test_names_resolving_to_private_addresses_are_refused(gw_strict, canary, monkeypatch):
    table = {
        "metadata.test": ["169.254.169.254"],
        "internal.test": ["10.0.0.7"],
        "canary.test": ["127.0.0.1"],
        "mixed.test": ["93.184.216.34", "127.0.0.1"],
        "v6.test": ["::1"],
    }
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return table[host] if host in table else await system_resolver(host, port)

    monkeypatch.setattr(gw_strict.state.url_guard, "resolver", resolve)
    for name in table:
        body = refused(
            gw_strict, "open-base", {"api_key": CLIENT_KEY, "api_base": _url(canary, name)}, 403, "api_base"
        )
        assert "resolves to" in body["message"] and "10.0.0.7" not in body["message"]
    assert asked == list(table) and canary.settle() == 0


def test_the_canary_counts_connections_when_an_operator_allows_loopback(gw, canary):
    """The control: with 127.0.0.1 allowlisted the same request does connect, so a zero above
    means nothing connected, not that the canary was deaf."""
    before = canary.connections
    refused(gw, "open-base", {"api_key": CLIENT_KEY, "api_base": canary.url()}, 502, None)
    assert canary.settle() > before


def test_redirects_from_a_client_upstream_are_not_followed(gw, client_openai, canary):
    client_openai.script(Error(307, headers={"location": canary.url(path="/v1/chat/completions")}))
    body = refused(
        gw, "gpt-3.5-turbo", {"api_key": CLIENT_KEY, "api_base": client_openai.url + "/v1"}, 502, None
    )
    assert "redirect" in body["message"]
    assert len(client_openai.requests) == 1 and canary.settle() == 0


def test_the_connection_goes_to_the_checked_address_not_a_second_dns_answer(gw, client_openai, monkeypatch):
    """DNS rebinding: the first answer is allowed (127.0.0.1 is allowlisted on `gw`), later ones
    point at 127.0.0.2, where a canary listens on the same port. The gateway must connect to the
    address it checked, and refuse the second answer."""
    answers: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        if host != "rebind.test":
            return await system_resolver(host, port)
        answers.append("127.0.0.1" if not answers else "127.0.0.2")
        return [answers[-1]]

    monkeypatch.setattr(gw.state.url_guard, "resolver", rebinding)
    with Canary(hosts=("127.0.0.2",), port=client_openai.port) as rebound:
        base = f"http://rebind.test:{client_openai.port}/v1"
        raw = chat(gw, "open-base", {"api_key": CLIENT_KEY, "api_base": base})
        assert raw.parse().choices
        [seen] = client_openai.requests
        assert seen.headers["host"] == f"rebind.test:{client_openai.port}"  # the name, as requested
        assert answers == ["127.0.0.1"]  # resolved once, by the check; aiohttp did not ask again
        refused(gw, "open-base", {"api_key": CLIENT_KEY, "api_base": base}, 403, "api_base")
        assert answers == ["127.0.0.1", "127.0.0.2"]
        assert rebound.settle() == 0 and len(client_openai.requests) == 1


def test_allowed_client_upstreams_reuse_pinned_connections(gw, client_openai):
    extra = {"api_key": CLIENT_KEY, "api_base": client_openai.url + "/v1"}
    for _ in range(3):
        assert chat(gw, "gpt-3.5-turbo", extra).parse().choices
    assert len(client_openai.requests) == 3 and client_openai.connections == 1  # keep-alive


def test_every_route_goes_through_the_check(gw_strict, canary):
    """The check sits where every upstream connection is opened, not in one route."""
    client = gw_strict.client()
    extra = {"api_key": CLIENT_KEY, "api_base": canary.url()}
    calls = (
        lambda: client.embeddings.create(model="open-base", input="hi", extra_body=extra),
        lambda: client.completions.create(model="open-base", prompt="hi", extra_body=extra),
        lambda: list(
            client.chat.completions.create(
                model="open-base", messages=[{"role": "user", "content": "hi"}], extra_body=extra, stream=True
            )
        ),
    )
    for call in calls:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            call()
        assert caught.value.body["code"] == "unsafe_upstream_address"
    assert canary.settle() == 0
