"""SigV4 for Bedrock: botocore's credential chain and signer, kept off the event loop.

Credentials come, first found wins, from the deployment's `aws_access_key_id` /
`aws_secret_access_key` / `aws_session_token`, its `aws_profile_name` (a profile of
~/.aws/config), or botocore's default chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
`AWS_SESSION_TOKEN`, the shared files, SSO, container and instance roles). Finding them may read
files or call a metadata service, so it runs in a thread, once per identity; refreshable
credentials (roles, SSO) are refreshed in a thread when botocore says they are due.

A request is signed right before it is sent (`SigningTransport`), so a retry carries a fresh
`X-Amz-Date`. The URL signed is the URL as the HTTP client will send it (yarl's normal form:
`%3A` in a model id goes out as `:`), or the signature would not match.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import yarl

from polyroute.errors import AuthenticationError
from polyroute.providers.base import WireRequest

SERVICE = "bedrock"
_MAX_SIGNERS = 256  # identities kept (a client may bring its own keys per request)


class AwsSigner:
    """Signs requests for one identity in one region."""

    def __init__(self, region: str, static: tuple[str, str, str | None] | None, profile: str | None) -> None:
        self.region = region
        self._static = static
        self._profile = profile
        self._credentials: Any = None
        self._lock = asyncio.Lock()

    async def sign(self, wire: WireRequest) -> WireRequest:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        frozen = await self._frozen_credentials()
        url = str(yarl.URL(wire.url))
        request = AWSRequest(method=wire.method, url=url, data=wire.body, headers=dict(wire.headers))
        SigV4Auth(frozen, SERVICE, self.region).add_auth(request)
        return WireRequest(url, dict(request.headers.items()), wire.body, wire.method)

    async def _frozen_credentials(self) -> Any:
        credentials = self._credentials
        if credentials is None:
            async with self._lock:
                if self._credentials is None:
                    self._credentials = await asyncio.to_thread(self._resolve)
                credentials = self._credentials
        refresh_needed = getattr(credentials, "refresh_needed", None)
        if refresh_needed is not None and refresh_needed():
            return await asyncio.to_thread(credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    def _resolve(self) -> Any:
        from botocore.credentials import Credentials
        from botocore.session import Session

        if self._static is not None:
            return Credentials(*self._static)
        session = Session(profile=self._profile) if self._profile else Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise AuthenticationError(
                "no AWS credentials found: set aws_access_key_id/aws_secret_access_key, "
                "aws_profile_name, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                provider=SERVICE,
            )
        return credentials


class Signers:
    """One `AwsSigner` per identity and region, bounded (least recently used goes first)."""

    def __init__(self) -> None:
        self._signers: OrderedDict[tuple, AwsSigner] = OrderedDict()

    def get(self, region: str, static: tuple[str, str, str | None] | None, profile: str | None) -> AwsSigner:
        key = (region, static, profile)
        signer = self._signers.get(key)
        if signer is None:
            signer = self._signers[key] = AwsSigner(region, static, profile)
            while len(self._signers) > _MAX_SIGNERS:
                self._signers.popitem(last=False)
        else:
            self._signers.move_to_end(key)
        return signer


@dataclass(slots=True)
class SignedWire(WireRequest):
    """A Bedrock request and the signer that signs it when it is sent."""

    signer: AwsSigner | None = None


class SigningTransport:
    """Wraps the shared HTTP transport: signs each Bedrock request just before sending it."""

    __slots__ = ("_http",)

    def __init__(self, http: Any) -> None:
        self._http = http

    async def prepare(self, wire: WireRequest) -> WireRequest:
        """The request as it goes out, signed (the relay sends it itself to a checked address
        when a client chose the URL)."""
        if isinstance(wire, SignedWire) and wire.signer is not None:
            return await wire.signer.sign(wire)
        return wire

    async def send(self, wire: WireRequest, connect_timeout: float | None = None) -> Any:
        return await self._http.send(await self.prepare(wire), connect_timeout)
