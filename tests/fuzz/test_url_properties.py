"""Property tests of client URL parsing and checking (auth/url_safety.py): any string gives a
normalised URL or a 400 naming the param, the normalised form is a fixed point and is what the
connecting parser (yarl) reads, and no spelling of a loopback, private or metadata address gets
past the guard."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from polyroute.auth.url_safety import ClientUrlGuard, parse_client_url
from polyroute.errors import InvalidRequestError, UnsafeUpstreamError

URL_PIECES = st.sampled_from(
    list("abcxyz019.-_:/@%?#[]\\ ~!$&'()*+,;=") + ["%2e", "%25", "\n", "\u200b", "é"]
)


def pieces(most: int) -> st.SearchStrategy[str]:
    """Strings of URL-ish characters and escapes, the material of parser gaps."""
    return st.lists(URL_PIECES, max_size=most).map("".join)


HOSTS = st.one_of(
    st.sampled_from(["example.com", "api.openai.com", "EXAMPLE.com.", "localhost", "127.1", "2130706433",
                     "0177.0.0.1", "0x7f.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "xn--bcher-kva.example",
                     "bücher.example", "[fe80::1%25eth0]", "1.2.3.4", "a..b", "-a.com"]),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    pieces(12),
)
URLS = st.one_of(
    st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
        st.sampled_from(["http", "https", "HTTPS", "ftp", "file", "http:"]),
        HOSTS,
        st.sampled_from(["", ":80", ":443", ":8080", ":0", ":65536", ":x", ":"]),
        pieces(16).map(lambda p: "/" + p) | st.just(""),
    ),
    st.text(max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(URLS)
def test_any_string_parses_or_is_a_400_naming_the_param(raw):
    try:
        url = parse_client_url(raw, "api_base")
    except InvalidRequestError as exc:
        assert exc.param == "api_base" and exc.code == "invalid_url"
        assert "'api_base'" in str(exc)
        return
    assert parse_client_url(url.text, "api_base") == url  # the normal form is a fixed point
    seen = URL(url.text)  # the parser the transport connects with reads the same host and port
    assert seen.raw_host == url.host
    assert seen.port == (url.port or {"http": 80, "https": 443}[url.scheme])
    assert not any(c in url.text for c in "@#?\\ \n") and ".." not in url.path.split("/")


REFUSED = [
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "0.0.0.0/8",
    "100.100.100.200/32", "::1/128", "fe80::/10", "fc00::/7",
]


def refused_address(draw_network: str, offset: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    network = ipaddress.ip_network(draw_network)
    return network.network_address + offset % network.num_addresses


def spellings(address) -> list[str]:
    """The ways a client may write `address` in a URL that the parser accepts."""
    if address.version == 6:
        return [f"http://[{address}]/v1", f"http://[{address.exploded}]:8080/v1"]
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    return [f"http://{address}/v1", f"https://{address}:443", f"http://[{mapped}]/v1",
            f"http://[64:ff9b::{address}]/v1"]


async def fail_to_resolve(host: str, port: int) -> list[str]:
    raise OSError("literal addresses are never resolved")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(REFUSED), st.integers(min_value=0, max_value=2**32))
def test_no_spelling_of_an_internal_address_passes_the_guard(network, offset):
    address = refused_address(network, offset)
    guard = ClientUrlGuard(resolver=fail_to_resolve)
    for raw in spellings(address):
        try:
            url = parse_client_url(raw, "api_base")
        except InvalidRequestError:
            continue  # refused while parsing: also never connected to
        with pytest.raises(UnsafeUpstreamError):
            asyncio.run(guard.check(url.text, "api_base"))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(REFUSED), st.integers(min_value=0, max_value=2**32),
       st.from_regex(r"[a-z]{1,10}\.example\.com", fullmatch=True))
def test_a_name_resolving_to_an_internal_address_is_refused(network, offset, name):
    """DNS is the client's to choose: a public-looking name whose answer is internal is refused."""
    answer = str(refused_address(network, offset))

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", answer]  # one public, one internal: any internal one refuses

    with pytest.raises(UnsafeUpstreamError):
        asyncio.run(ClientUrlGuard(resolver=resolver).check(f"http://{name}/v1", "api_base"))
