"""Who may register a worker, and which worker addresses the gateway will ever call.

FastChat's controller trusts anyone who can reach it: any host may register any address under
any model name and so receive other users' prompts, or point the controller at an internal
service (SSRF). Here:

* registration and heartbeats need a worker token (`Authorization: Bearer <token>`, or the
  password of HTTP Basic auth, which is what an unmodified FastChat worker sends when its
  `--controller-address` is `http://worker:TOKEN@host:port`); a token may be limited to some
  model names; a worker's heartbeats, deregistration and re-registration need the token that
  registered it;
* a worker address is normalised (scheme, lower-case host, explicit port, no credentials, no
  query) and must fullmatch one of `allowed_worker_addresses` (loopback only when unset);
* link-local and cloud metadata addresses are refused whatever the allowlist says, both as
  written and as the host name resolves at registration.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import socket
from urllib.parse import urlsplit

from polyroute.auth.master_key import is_loopback
from polyroute.controller.settings import ControllerConfig, WorkerToken
from polyroute.errors import AuthenticationError, InvalidRequestError, PermissionDeniedError
from polyroute.secrets import Secret
from polyroute.state.base import WorkerRecord

MAX_ADDRESS_LENGTH = 512
_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,251}[a-z0-9])?")
# Instance-metadata services that are not in a link-local range, and their usual host names.
METADATA_IPS = frozenset(
    {
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("168.63.129.16"),  # Azure wire server
        ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud (legacy)
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)


class WorkerAddressError(InvalidRequestError):
    code = "invalid_worker_address"


# -- tokens ------------------------------------------------------------------------------------------


def presented_worker_token(authorization: str | None) -> str | None:
    """The token from `Bearer <token>` or from the password of `Basic base64(user:password)`."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def worker_credentials(
    config: ControllerConfig, master_key: Secret | None, presented: str | None, client_host: str | None
) -> WorkerToken | None:
    """The token entry the caller holds. None means "no token needed": the gateway has neither
    worker tokens nor a master key and the caller is on loopback (the embedded default)."""
    accepted = config.tokens or ([WorkerToken(master_key, None)] if master_key is not None else [])
    if not accepted:
        if is_loopback(client_host):
            return None
        raise AuthenticationError(
            "this controller has no worker tokens and accepts loopback workers only; set "
            "controller_settings.worker_tokens",
            code="unauthenticated_remote",
        )
    if presented is None:
        raise AuthenticationError(
            "missing worker token: send 'Authorization: Bearer <token>' (or use "
            "http://worker:<token>@host:port as the controller address)",
            code="missing_worker_token",
        )
    found = None
    for entry in accepted:
        # Compare with every entry so the time taken does not tell which one matched.
        if hmac.compare_digest(presented.encode(), entry.secret.reveal().encode()):
            found = entry
    if found is None:
        raise AuthenticationError("invalid worker token", code="invalid_worker_token")
    return found


def owner_of(token: WorkerToken | None) -> str:
    """The registrant stored with a worker: a digest of its token, so the token itself never
    reaches the shared state. "" when no token is needed (loopback workers, no keys set)."""
    if token is None:
        return ""
    digest = hashlib.sha256(b"polyroute-worker-owner\0" + token.secret.reveal().encode())
    return digest.hexdigest()[:32]


def check_owner(token: WorkerToken | None, worker: WorkerRecord, action: str) -> None:
    """Only the token that registered a worker may heartbeat, deregister or replace it."""
    if hmac.compare_digest(owner_of(token), worker.owner):
        return
    raise PermissionDeniedError(
        f"worker {worker.address} was registered with another worker token; only that token may "
        f"{action} it",
        code="worker_not_owned",
        param="worker_name",
    )


def check_scope(token: WorkerToken | None, model_names: tuple[str, ...] | list[str]) -> None:
    if token is None or token.allows(model_names):
        return
    refused = sorted(name for name in model_names if token.models is not None and name not in token.models)
    raise PermissionDeniedError(
        f"this worker token may not serve the model name(s) {', '.join(repr(n) for n in refused)}",
        code="worker_model_not_allowed",
        param="worker_status.model_names",
    )


# -- addresses ---------------------------------------------------------------------------------------


def normalise_address(raw: object) -> str:
    """`scheme://host:port[/path]` with a lower-case host and an explicit port, or a 400."""
    if not isinstance(raw, str) or not raw.strip():
        raise WorkerAddressError(
            "worker_name must be the worker's URL, e.g. http://host:21002", param="worker_name"
        )
    if len(raw) > MAX_ADDRESS_LENGTH or any(ord(c) < 33 or ord(c) == 127 for c in raw.strip()):
        raise WorkerAddressError("worker_name is not a valid URL", param="worker_name")
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        raise WorkerAddressError("worker_name is not a valid URL", param="worker_name") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WorkerAddressError("worker_name must be an http:// or https:// URL", param="worker_name")
    if parts.username is not None or parts.password is not None:
        raise WorkerAddressError("worker_name must not carry credentials", param="worker_name")
    if parts.query or parts.fragment:
        raise WorkerAddressError("worker_name must not have a query or fragment", param="worker_name")
    host = (parts.hostname or "").rstrip(".")
    literal = _ip_literal(host)
    if literal is not None:
        host = f"[{literal.compressed}]" if literal.version == 6 else str(literal)
    elif not _HOST_NAME.fullmatch(host):
        raise WorkerAddressError("worker_name has no valid host", param="worker_name")
    port = port or (443 if scheme == "https" else 80)
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    return address


def _host_of(address: str) -> str:
    return urlsplit(address).hostname or ""


def forbidden_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why the gateway must never call this IP, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_IPS:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_unspecified or ip.is_multicast:
        return "not a unicast address"
    return None


def check_address(address: str, config: ControllerConfig) -> None:
    """The static checks on a normalised address: metadata and link-local hosts, the allowlist."""
    host = _host_of(address)
    literal = _ip_literal(host)
    reason = forbidden_ip(literal) if literal is not None else None
    if reason is None and host in METADATA_HOSTS:
        reason = "a cloud metadata host name"
    if reason is not None:
        raise WorkerAddressError(f"worker address {address} is {reason}", param="worker_name")
    patterns = config.allowed_addresses
    if patterns is None:
        if not is_loopback(host.strip("[]")):
            raise WorkerAddressError(
                f"worker address {address} is not allowed: without controller_settings."
                "allowed_worker_addresses only loopback workers may register",
                param="worker_name",
            )
        return
    if not any(pattern.fullmatch(address) for pattern in patterns):
        raise WorkerAddressError(
            f"worker address {address} matches no entry of controller_settings.allowed_worker_addresses",
            param="worker_name",
        )


async def check_resolved(address: str) -> None:
    """The host as DNS resolves it now: no name may lead to a metadata or link-local address
    (this also catches numeric tricks such as http://2852039166/ for 169.254.169.254)."""
    host = _host_of(address)
    if _ip_literal(host) is not None:
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout=5.0)
    except (OSError, TimeoutError):
        raise WorkerAddressError(f"worker host {host!r} does not resolve", param="worker_name") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        reason = forbidden_ip(ip)
        if reason is not None:
            raise WorkerAddressError(f"worker host {host!r} resolves to {reason}", param="worker_name")
