"""Client-chosen upstream URLs: parsed, normalised and checked before the gateway connects.

A URL a client sends (`api_base`, `base_url`, a `user_config` deployment's base) is parsed once
into a normalised form. That form is what an operator's regex is matched against and what the
gateway uses, so the string that was approved is the string that is connected to: no parser gap.
The parser refuses what has fooled URL allowlists elsewhere: userinfo (`@`), fragments, queries,
`..` segments, control and invisible characters (a trailing newline included), backslashes,
percent-encoded hosts, double encoding, and numeric IPv4 spellings (`2130706433`, `0177.0.0.1`,
`127.1`) that resolvers accept and humans do not read as loopback.

Before each connection `ClientUrlGuard.check` resolves the host of the final URL (the event
loop's async getaddrinfo) and refuses loopback, private, link-local and cloud-metadata,
unspecified, multicast and reserved addresses, IPv4 forms embedded in IPv6 included, unless the
operator's allowlist (`general_settings.allowed_client_url_hosts`) names them. It returns the
checked address; the transport connects to exactly that address (providers/pinned.py), so a
second, different DNS answer cannot redirect the connection (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from yarl import URL

from polyroute.errors import InvalidRequestError, UnsafeUpstreamError, UpstreamConnectionError, invalid_value

log = logging.getLogger("polyroute.client_urls")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses it resolves to, as strings. Injectable for tests.
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2048
DNS_TIMEOUT_S = 5.0
SCHEMES = {"http": 80, "https": 443}
# Cloud metadata endpoints outside 169.254.0.0/16 (AWS over IPv6; Alibaba's sits in 100.64/10).
METADATA_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.100.100.200/32"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# After percent-decoding, a base URL's path may hold only these (RFC 3986 unreserved + sub-delims,
# ':' and '/'): nothing a second parser could read differently.
_PATH_CHARS = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:/-]*")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


def _invalid(param: str, why: str) -> InvalidRequestError:
    return invalid_value(param, why, code="invalid_url")


# ---- parsing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientUrl:
    """A normalised http(s) base URL: lower-case scheme and host (IDNA), no default port, a
    percent-decoded path without a trailing slash. `text` is the one form matched and used."""

    scheme: str
    host: str  # ASCII (IDNA); an IPv6 address without brackets
    port: int | None  # None when it is the scheme's default
    path: str  # "" or "/seg/seg"

    @property
    def text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.path}"


def _check_characters(raw: str, param: str) -> None:
    for char in raw:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise _invalid(param, "URLs may not contain whitespace, control or invisible characters")
    for char, why in (
        ("\\", "backslashes"),
        ("@", "user info ('@')"),
        ("#", "a fragment ('#')"),
        ("?", "a query ('?')"),
    ):
        if char in raw:
            raise _invalid(param, f"a base URL may not contain {why}")


def _normalise_host(raw_host: str, param: str) -> str:
    host = raw_host.lower()
    host = host[:-1] if host.endswith(".") else host  # the root label: same name, one spelling
    if not host or "%" in host:
        raise _invalid(param, "the URL has no usable host")
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise _invalid(param, "the host is not a valid IPv6 address") from None
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # A host ending in a number is an IPv4 address to every resolver (WHATWG does the same):
        # only the canonical dotted quad is accepted, so what is checked is what a human reads.
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            raise _invalid(param, "numeric hosts must be written as a dotted-quad IPv4 address") from None
        if str(address) != host:
            raise _invalid(param, "numeric hosts must be written as a dotted-quad IPv4 address")
        return host
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise _invalid(param, "the host is not a valid DNS name")
    return host


def _normalise_path(raw_path: str, param: str) -> str:
    try:
        path = unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        raise _invalid(param, "the path is not valid percent-encoded UTF-8") from None
    if "%" in path:
        raise _invalid(param, "the path is percent-encoded twice")
    if not _PATH_CHARS.fullmatch(path):
        raise _invalid(param, "the path holds characters a base URL may not use")
    path = path.rstrip("/")
    segments = path.split("/")[1:] if path else []
    for segment in segments:
        if segment in (".", ".."):
            raise _invalid(param, "the path may not contain '.' or '..' segments")
        if not segment:
            raise _invalid(param, "the path may not contain empty segments ('//')")
    return path


def parse_client_url(raw: object, param: str) -> ClientUrl:
    """The normalised form of a client's base URL, or a 400 naming `param` and the reason."""
    if not isinstance(raw, str) or not raw:
        raise _invalid(param, "expected an http(s) URL string")
    if len(raw) > MAX_URL_LENGTH:
        raise _invalid(param, f"URLs are limited to {MAX_URL_LENGTH} characters")
    _check_characters(raw, param)
    scheme, sep, rest = raw.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise _invalid(param, "only http:// and https:// URLs are accepted")
    authority, slash, path = rest.partition("/")
    if not authority or "%" in authority:
        raise _invalid(param, "the URL has no usable host")
    if not all(c.isascii() for c in path):
        raise _invalid(param, "the path must be ASCII (percent-encode it)")
    try:
        parsed = URL(f"{scheme}://{authority}/")  # the parser aiohttp connects with; IDNA for hosts
        raw_host, port = parsed.raw_host, parsed.explicit_port
    except (ValueError, UnicodeError):
        raise _invalid(param, "the host or port is not valid") from None
    if raw_host is None:
        raise _invalid(param, "the URL has no usable host")
    host = _normalise_host(raw_host, param)
    if port is not None and not 0 < port < 65536:
        raise _invalid(param, "the port must be from 1 to 65535")
    if port == SCHEMES[scheme]:
        port = None
    return ClientUrl(scheme, host, port, _normalise_path(slash + path, param))


# ---- address checks --------------------------------------------------------------------------------


def embedded_ipv4(address: IPAddress) -> Iterator[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address reaches: mapped, compatible, 6to4, Teredo and NAT64 forms."""
    if address.version != 6:
        return
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        yield address.ipv4_mapped
    if address.sixtofour is not None:
        yield address.sixtofour
    if address.teredo is not None:
        yield from address.teredo
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def _own_reason(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local or any(address in net for net in METADATA_NETWORKS):
        return "a link-local or cloud metadata address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved, non-public address"
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why the gateway will not connect to `address` for a client, or None when it is public."""
    embedded = list(embedded_ipv4(address))
    for candidate in embedded:
        reason = _own_reason(candidate)
        if reason is not None:
            return reason
    if embedded and isinstance(address, ipaddress.IPv6Address) and (address.ipv4_mapped or address in _NAT64):
        return None  # these reach exactly the IPv4 address inside, which was checked
    return _own_reason(address)


class UrlAllowlist:
    """The operator's exceptions: IP addresses and CIDR networks (any address in them may be used,
    metadata included, because they are named explicitly) and host names (their private and
    loopback addresses may be used, never link-local or metadata ones)."""

    def __init__(self, networks: Iterable[IPNetwork] = (), hosts: Iterable[str] = ()) -> None:
        self.networks = tuple(networks)
        self.hosts = frozenset(hosts)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> UrlAllowlist:
        """From config entries; raises ValueError naming a bad entry."""
        networks: list[IPNetwork] = []
        hosts: list[str] = []
        for entry in entries:
            text = str(entry).strip()
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            try:
                hosts.append(_normalise_host(URL.build(scheme="http", host=text).raw_host or "", "host"))
            except (ValueError, InvalidRequestError):
                raise ValueError(f"'{entry}' is not an IP address, CIDR network or host name") from None
        return cls(networks, hosts)

    def permits(self, host: str, address: IPAddress) -> bool:
        forms = (address, *embedded_ipv4(address))
        if any(form in net for form in forms for net in self.networks if form.version == net.version):
            return True
        if host in self.hosts:
            return not any(
                form.is_link_local or any(form in net for net in METADATA_NETWORKS) for form in forms
            )
        return False

    def __bool__(self) -> bool:
        return bool(self.networks or self.hosts)


@dataclass(frozen=True, slots=True)
class CheckedTarget:
    """A URL whose host was resolved and checked; connect to `address` and nowhere else."""

    url: URL
    host: str
    port: int
    address: str
    family: int


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


class ClientUrlGuard:
    """Resolves and checks the host of every URL a client chose, right before connecting."""

    def __init__(self, allowlist: UrlAllowlist | None = None, resolver: Resolver | None = None) -> None:
        self.allowlist = allowlist or UrlAllowlist()
        self.resolver: Resolver = resolver or system_resolver

    async def check(self, url: str | URL, param: str) -> CheckedTarget:
        """The target to connect to, or UnsafeUpstreamError (403) naming `param`."""
        parsed = url if isinstance(url, URL) else URL(url)
        scheme = parsed.scheme
        if scheme not in SCHEMES or parsed.raw_host is None or parsed.user or parsed.password:
            raise _invalid(param, "only http:// and https:// URLs without user info are accepted")
        host = _normalise_host(parsed.raw_host, param)
        port = parsed.port or SCHEMES[scheme]
        addresses = await self._addresses(host, port)
        parsed_addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
        for address in parsed_addresses:
            reason = refusal_reason(address)
            if reason is not None and not self.allowlist.permits(host, address):
                log.warning("refused client upstream: host=%s param=%s reason=%s", host, param, reason)
                raise UnsafeUpstreamError(
                    f"The gateway does not connect to '{host}' for clients: it resolves to {reason}. "
                    "An operator can allow it in general_settings.allowed_client_url_hosts",
                    param=param,
                )
        chosen = parsed_addresses[0]
        family = socket.AF_INET6 if chosen.version == 6 else socket.AF_INET
        return CheckedTarget(parsed, host, port, str(chosen), family)

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            ipaddress.ip_address(host)
            return [host]
        except ValueError:
            pass
        try:
            async with asyncio.timeout(DNS_TIMEOUT_S):
                addresses = await self.resolver(host, port)
        except (OSError, UnicodeError, TimeoutError) as exc:
            raise UpstreamConnectionError(f"cannot resolve the upstream host '{host}'") from exc
        if not addresses:
            raise UpstreamConnectionError(f"cannot resolve the upstream host '{host}'")
        return addresses
