"""Google OAuth access tokens for Vertex AI, through google-auth, kept off the request path.

Credentials, first found wins: the deployment's `vertex_credentials` (a service-account or other
google-auth JSON, given inline or as a file path, as LiteLLM takes it), else application default
credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's user credentials, the metadata server),
all with the `cloud-platform` scope.

google-auth is synchronous (its token exchange is a blocking HTTP call), so loading credentials
and refreshing tokens run in a worker thread, one refresh at a time per identity. A request
waits for a token only when none is usable (the first request, or after the token expired
unused); once a token is within `refresh_ahead` seconds of expiry, requests keep using it while
one background refresh replaces it. Tokens are never logged and never appear in errors: a failed
refresh is reported by the exception's class only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from polyroute.errors import AuthenticationError, GatewayError, UpstreamConnectionError
from polyroute.providers.base import WireRequest

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_AHEAD_S = 300.0  # start replacing a token five minutes before it expires
_MAX_SOURCES = 256


class TokenSource:
    """Access tokens for one set of credentials."""

    def __init__(
        self,
        credentials_setting: str | None,
        refresh_ahead: float = REFRESH_AHEAD_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._setting = credentials_setting
        self._refresh_ahead = refresh_ahead
        self._clock = clock
        self._credentials: Any = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None

    async def token(self) -> str:
        now = self._clock()
        if self._token is not None and now < self._expires_at:
            if now >= self._expires_at - self._refresh_ahead:
                self._refresh_in_background()
            return self._token
        await self._refresh_shared()
        if self._token is None or self._clock() >= self._expires_at:
            await self._refresh()  # the shared refresh was a quiet one that failed: fail loudly
        assert self._token is not None
        return self._token

    @property
    def refreshing(self) -> asyncio.Task[None] | None:
        """The background refresh in flight, if any (tests wait on it)."""
        return self._refreshing

    def _refresh_in_background(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        # A failed early refresh leaves the current token in use; the next request retries, and
        # the error reaches a client only when a request has to wait for a token.
        with contextlib.suppress(GatewayError):
            await self._refresh()

    async def _refresh_shared(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        token, expires_at = await asyncio.to_thread(self._refresh_blocking)
        self._token, self._expires_at = token, expires_at

    def _refresh_blocking(self) -> tuple[str, float]:
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        try:
            if self._credentials is None:
                self._credentials = load_credentials(self._setting)
            self._credentials.refresh(Request())
        except google.auth.exceptions.RefreshError as exc:
            raise AuthenticationError(
                f"vertex_ai: the Google token exchange refused the credentials ({type(exc).__name__})",
                provider="vertex_ai",
            ) from None
        except google.auth.exceptions.TransportError as exc:
            raise UpstreamConnectionError(
                f"vertex_ai: cannot reach Google's token endpoint ({type(exc).__name__})",
                provider="vertex_ai",
            ) from None
        except google.auth.exceptions.DefaultCredentialsError:
            raise AuthenticationError(
                "vertex_ai: no Google credentials: set vertex_credentials or GOOGLE_APPLICATION_CREDENTIALS",
                provider="vertex_ai",
            ) from None
        except (OSError, ValueError) as exc:  # an unreadable file, bad JSON, an unsupported type
            reason = str(exc) if "vertex_credentials of type" in str(exc) else type(exc).__name__
            raise AuthenticationError(
                f"vertex_ai: vertex_credentials cannot be used ({reason})", provider="vertex_ai"
            ) from None
        expiry = self._credentials.expiry  # naive UTC, google-auth's convention
        expires_at = expiry.replace(tzinfo=UTC).timestamp() if expiry else self._clock() + 3600.0
        return str(self._credentials.token), expires_at


def load_credentials(setting: str | None) -> Any:
    """google-auth credentials from `vertex_credentials` (JSON text or a file path) or ADC.

    Only the two key types a person hands over, `service_account` and `authorized_user`, are
    loaded from a setting: google-auth's generic loaders also accept external-account configs,
    which make the process fetch URLs and run commands the file names (google-auth deprecates
    them for that). Those stay with application default credentials, which an operator sets up."""
    import google.auth

    if not setting:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
        return credentials
    text = setting.strip()
    if not text.startswith("{"):
        with open(text, encoding="utf-8") as file:
            text = file.read()
    info = json.loads(text)
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
    if kind == "authorized_user":
        from google.oauth2.credentials import Credentials

        return Credentials.from_authorized_user_info(info, scopes=list(SCOPES))
    raise ValueError(f"vertex_credentials of type {kind!r}: use GOOGLE_APPLICATION_CREDENTIALS (ADC) for it")


class TokenSources:
    """One `TokenSource` per credentials setting, bounded (least recently used goes first)."""

    def __init__(self) -> None:
        self._sources: OrderedDict[str | None, TokenSource] = OrderedDict()

    def get(self, setting: str | None) -> TokenSource:
        source = self._sources.get(setting)
        if source is None:
            source = self._sources[setting] = TokenSource(setting)
            while len(self._sources) > _MAX_SOURCES:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(setting)
        return source


@dataclass(slots=True)
class BearerWire(WireRequest):
    """A Vertex request and the token source whose token it carries when sent."""

    tokens: TokenSource | None = None


class BearerTransport:
    """Wraps the shared HTTP transport: adds `Authorization: Bearer <token>` when sending."""

    __slots__ = ("_http",)

    def __init__(self, http: Any) -> None:
        self._http = http

    async def prepare(self, wire: WireRequest) -> WireRequest:
        """The request as it goes out, with its token (the relay sends it itself to a checked
        address when a client chose the URL)."""
        if isinstance(wire, BearerWire) and wire.tokens is not None:
            token = await wire.tokens.token()
            headers = {**wire.headers, "authorization": f"Bearer {token}"}
            return WireRequest(wire.url, headers, wire.body, wire.method)
        return wire

    async def send(self, wire: WireRequest, connect_timeout: float | None = None) -> Any:
        return await self._http.send(await self.prepare(wire), connect_timeout)
