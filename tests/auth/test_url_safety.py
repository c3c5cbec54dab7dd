"""Client URLs: every spelling trick is refused or normalised, and every non-public address is
refused after resolution unless the operator's allowlist names it."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from polyroute.auth.url_safety import (
    ClientUrlGuard,
    UrlAllowlist,
    parse_client_url,
    refusal_reason,
)
from polyroute.errors import InvalidRequestError, UnsafeUpstreamError, UpstreamConnectionError


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("https://api.example.com/v1", "https://api.example.com/v1"),
        ("HTTPS://API.Example.COM/v1/", "https://api.example.com/v1"),
        ("https://api.example.com:443/v1", "https://api.example.com/v1"),
        ("http://api.example.com:80", "http://api.example.com"),
        ("https://api.example.com:8443/v1", "https://api.example.com:8443/v1"),
        ("https://api.example.com./v1", "https://api.example.com/v1"),
        ("https://bücher.example/v1", "https://xn--bcher-kva.example/v1"),
        ("https://exa\uff4dple.com/v1", "https://example.com/v1"),  # fullwidth 'm' (IDNA maps it)
        ("https://api.example.com/%76%31", "https://api.example.com/v1"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("http://[::FFFF:127.0.0.1]:8000/v1", "http://[::ffff:7f00:1]:8000/v1"),
        ("http://[2606:4700:0::1]/v1", "http://[2606:4700::1]/v1"),
    ],
)
def test_urls_are_normalised_to_the_form_that_is_matched_and_used(raw, normalised):
    assert parse_client_url(raw, "api_base").text == normalised


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("https://api.example.com/v1\n", "whitespace"),  # a trailing newline (re.match + '$' lets it by)
        ("https://api.example.com/v1\r\nX-Evil: 1", "whitespace"),
        ("https://api.example.com/v1 ", "whitespace"),
        ("https://api.example.com/v1\x00", "control"),
        ("https://api.exa\u200bmple.com/v1", "invisible"),  # zero-width space
        ("https://api.exa\u202emple.com/v1", "invisible"),  # right-to-left override
        ("https://user:pw@api.example.com/v1", "user info"),
        ("https://api.example.com@evil.example/v1", "user info"),
        ("https://evil.example#.example.com/v1", "fragment"),
        ("https://evil.example/v1#@api.example.com", "user info"),
        ("https://evil.example/v1?.example.com", "query"),
        ("https://evil.example\\@api.example.com/v1", "backslashes"),
        ("https://api.example.com/v1/../../evil", "'..'"),
        ("https://api.example.com/v1/./x", "'..'"),
        ("https://api.example.com/v1/%2e%2e/evil", "'..'"),
        ("https://api.example.com/v1/%2E%2E/evil", "'..'"),
        ("https://api.example.com/v1/%252e%252e/evil", "percent-encoded twice"),
        ("https://api.example.com/v1%0a", "characters"),
        ("https://api.example.com/v1%2F..%2Fevil", "'..'"),
        ("https://api.example.com//v1", "empty segments"),
        ("https://%61pi.example.com/v1", "usable host"),
        ("https://api.example.com%2F@evil.example/v1", "user info"),
        ("ftp://api.example.com/v1", "only http"),
        ("file:///etc/passwd", "only http"),
        ("gopher://127.0.0.1:6379/_", "only http"),
        ("//api.example.com/v1", "only http"),
        ("api.example.com/v1", "only http"),
        ("http://2130706433/v1", "dotted-quad"),  # decimal 127.0.0.1
        ("http://0177.0.0.1/v1", "dotted-quad"),  # octal
        ("http://0x7f.0.0.1/v1", "dotted-quad"),  # hex
        ("http://0x7f000001/v1", "dotted-quad"),
        ("http://127.1/v1", "dotted-quad"),  # short form
        ("http://127.000.000.001/v1", "dotted-quad"),
        ("http://0251.0376.0251.0376/", "dotted-quad"),  # octal 169.254.169.254
        ("http://1.2.3.4.5/v1", "dotted-quad"),
        ("http://[fe80::1%25eth0]/v1", "usable host"),  # zone ids
        ("http://api..example.com/v1", "DNS name"),
        ("http://api.example.com:0/v1", "port"),
        ("http://api.example.com:99999/v1", "port"),
        ("http://:80/v1", "host"),
        ("", "expected"),
    ],
)
def test_tricks_are_refused_with_a_400_naming_the_param(raw, reason):
    with pytest.raises(InvalidRequestError) as caught:
        parse_client_url(raw, "api_base")
    assert caught.value.status == 400
    assert caught.value.param == "api_base"
    assert reason in caught.value.message


def test_non_strings_are_refused():
    for raw in (None, 5, ["https://a.example"], {"url": "https://a.example"}):
        with pytest.raises(InvalidRequestError):
            parse_client_url(raw, "base_url")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "metadata"),
        ("169.254.0.1", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),  # reserved (the stdlib lists it among private networks)
        ("255.255.255.255", "private"),
        ("192.0.2.1", "private"),  # documentation
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated, still routed by some stacks)
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", "metadata"),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo whose client is 127.0.0.1
    ],
)
def test_non_public_addresses_have_a_refusal_reason(address, reason):
    found = refusal_reason(ipaddress.ip_address(address))
    assert found is not None and reason in found


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::5db8:d822"]
)
def test_public_addresses_pass(address):
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_allowlist_entries_are_ips_networks_or_host_names():
    allowlist = UrlAllowlist.parse(["127.0.0.1", "10.0.0.0/8", "LLM.Internal.Example.", "fd12::/16"])
    assert allowlist.permits("x", ipaddress.ip_address("127.0.0.1"))
    assert allowlist.permits("x", ipaddress.ip_address("::ffff:127.0.0.1"))  # the same host, mapped
    assert not allowlist.permits("x", ipaddress.ip_address("127.0.0.2"))
    assert allowlist.permits("x", ipaddress.ip_address("10.9.8.7"))
    assert allowlist.permits("x", ipaddress.ip_address("fd12::5"))
    assert not allowlist.permits("x", ipaddress.ip_address("192.168.0.1"))
    # A host name entry lets that name use private addresses, never metadata or link-local ones.
    assert allowlist.permits("llm.internal.example", ipaddress.ip_address("192.168.0.1"))
    assert not allowlist.permits("llm.internal.example", ipaddress.ip_address("169.254.169.254"))
    assert not allowlist.permits("llm.internal.example", ipaddress.ip_address("::ffff:169.254.169.254"))
    assert not allowlist.permits("other.example", ipaddress.ip_address("192.168.0.1"))
    # Metadata is reachable only when a network that holds it is named explicitly.
    assert UrlAllowlist.parse(["169.254.169.254/32"]).permits("x", ipaddress.ip_address("169.254.169.254"))


@pytest.mark.parametrize("entry", ["http://10.0.0.1", "10.0.0.0/33", "a b", "evil/path", ""])
def test_bad_allowlist_entries_are_config_errors(entry):
    with pytest.raises(ValueError, match="is not an IP address"):
        UrlAllowlist.parse([entry])


def _resolver(table: dict[str, list[str]], calls: list[str] | None = None):
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError("name not known")
        return table[host]

    return resolve


def _check(guard: ClientUrlGuard, url: str):
    return asyncio.run(guard.check(url, "api_base"))


def test_names_are_resolved_and_every_address_checked():
    guard = ClientUrlGuard(
        resolver=_resolver(
            {
                "public.test": ["93.184.216.34"],
                "metadata.test": ["169.254.169.254"],
                "internal.test": ["10.0.0.7"],
                "mixed.test": ["93.184.216.34", "127.0.0.1"],  # one bad answer is enough to refuse
                "mapped.test": ["::ffff:127.0.0.1"],
                "scoped.test": ["fe80::1%eth0"],
            }
        )
    )
    target = _check(guard, "https://public.test/v1/chat/completions")
    assert (target.host, target.port, target.address) == ("public.test", 443, "93.184.216.34")
    assert str(target.url) == "https://public.test/v1/chat/completions"
    for name in ("metadata", "internal", "mixed", "mapped", "scoped"):
        with pytest.raises(UnsafeUpstreamError) as caught:
            _check(guard, f"http://{name}.test/v1")
        assert caught.value.status == 403 and caught.value.param == "api_base"
        assert "resolves to" in caught.value.message
        assert "10.0.0.7" not in caught.value.message  # internal addresses are not echoed


def test_ip_literals_are_checked_without_dns():
    calls: list[str] = []
    guard = ClientUrlGuard(resolver=_resolver({}, calls))
    for url in ("http://127.0.0.1:9/v1", "http://[::1]:9/v1", "http://169.254.169.254/", "http://[::]:9/"):
        with pytest.raises(UnsafeUpstreamError):
            _check(guard, url)
    assert _check(guard, "http://93.184.216.34/v1").address == "93.184.216.34"
    assert calls == []


def test_allowlisted_addresses_pass_the_check():
    guard = ClientUrlGuard(
        UrlAllowlist.parse(["127.0.0.1", "db.internal"]),
        _resolver(
            {"db.internal": ["10.1.1.1"], "loop.test": ["127.0.0.1"], "meta.internal": ["169.254.1.1"]}
        ),
    )
    assert _check(guard, "http://127.0.0.1:8000/v1").address == "127.0.0.1"
    assert _check(guard, "http://loop.test:8000/v1").address == "127.0.0.1"
    assert _check(guard, "http://db.internal/v1").address == "10.1.1.1"
    with pytest.raises(UnsafeUpstreamError):
        _check(guard, "http://127.0.0.2:8000/v1")


def test_unresolvable_and_slow_names_fail_as_connection_errors(monkeypatch):
    guard = ClientUrlGuard(resolver=_resolver({"empty.test": []}))
    for url in ("http://nowhere.test/v1", "http://empty.test/v1"):
        with pytest.raises(UpstreamConnectionError):
            _check(guard, url)

    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return ["93.184.216.34"]

    monkeypatch.setattr("polyroute.auth.url_safety.DNS_TIMEOUT_S", 0.05)
    with pytest.raises(UpstreamConnectionError):
        _check(ClientUrlGuard(resolver=slow), "http://slow.test/v1")


def test_the_system_resolver_finds_localhost_and_it_is_refused():
    with pytest.raises(UnsafeUpstreamError) as caught:
        _check(ClientUrlGuard(), "http://localhost:9/v1")
    assert "loopback" in caught.value.message


def test_final_urls_with_user_info_or_odd_schemes_are_refused():
    guard = ClientUrlGuard(resolver=_resolver({"a.test": ["93.184.216.34"]}))
    for url in ("http://u:p@a.test/v1", "ftp://a.test/v1", "http://2130706433/v1"):
        with pytest.raises(InvalidRequestError):
            _check(guard, url)
