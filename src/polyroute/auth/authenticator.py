"""Turns the key a request presents into a `Principal`, with no SQL for keys already known.

The master key is compared in constant time. Any other key is hashed and looked up in the key
cache. Without a master key the gateway keeps its loopback-only default: loopback clients are
admins (a virtual key they present still applies its limits).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

from polyroute.auth.key_cache import KeyCache
from polyroute.auth.keys import KEY_PREFIX, MAX_PRESENTED_KEY_CHARS, hash_key
from polyroute.auth.lockout import AuthLockout
from polyroute.auth.master_key import is_loopback, presented_key
from polyroute.auth.principal import ADMIN, ANONYMOUS, OPEN_ACCESS, VIRTUAL_KEY, Principal
from polyroute.auth.unknown_keys import UnknownKeyLimiter
from polyroute.errors import AuthenticationError, ServiceUnavailableError
from polyroute.secrets import Secret

_ADMIN = Principal(ADMIN)
_ANONYMOUS = Principal(ANONYMOUS)
_OPEN_ACCESS = Principal(OPEN_ACCESS)


class Authenticator:
    def __init__(
        self,
        master_key: Secret | None,
        open_access: bool,
        keys: KeyCache,
        unknown_keys: UnknownKeyLimiter | None = None,
        lockout: AuthLockout | None = None,
    ) -> None:
        self._master = master_key.reveal().encode() if master_key else None
        self._open_access = open_access
        self.keys = keys
        self.unknown_keys = unknown_keys or UnknownKeyLimiter()
        self.lockout = lockout or AuthLockout()

    async def authenticate(self, headers: Mapping[str, str], client_host: str | None) -> Principal:
        presented = presented_key(headers)
        if presented is not None and self._master is not None:
            if hmac.compare_digest(presented.encode(), self._master):
                return _ADMIN
        # Every virtual key starts with sk- (generated, or brought to /key/generate): anything
        # else is refused without a lookup, so random tokens cost no SQL and fill no cache entry.
        if (
            presented is not None
            and len(presented) <= MAX_PRESENTED_KEY_CHARS
            and presented.startswith(KEY_PREFIX)
        ):
            token = hash_key(presented)
            if self._master is not None and not self.keys.holds(token):
                await self.lockout.check(client_host)  # 429 while the address is locked out
            if not self.keys.knows(token):
                self.unknown_keys.check(client_host)  # 429 before a lookup, past the address's rate
            try:
                record = await self.keys.get(token)
            except Exception:  # noqa: BLE001  # the key store is down and this key is not cached
                record = None
                if self._master is not None:
                    raise ServiceUnavailableError(
                        "cannot verify this API key right now (the key store is unreachable); retry shortly",
                        code="key_store_unavailable",
                        retry_after=1.0,
                    ) from None
            if record is not None:
                if any(entity.blocked for entity in record.entities):
                    raise AuthenticationError("this key is blocked", code="key_blocked")
                if record.expires is not None and record.expires <= time.time():
                    raise AuthenticationError("this key has expired", code="key_expired")
                return Principal(VIRTUAL_KEY, record)
        if self._master is None:
            if is_loopback(client_host):
                return _ANONYMOUS
            if self._open_access:
                return _OPEN_ACCESS
            raise AuthenticationError(
                "this gateway has no master key and serves loopback clients only",
                code="unauthenticated_remote",
            )
        if presented is None:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key"
            )
        if not presented.startswith(KEY_PREFIX):
            await self.lockout.check(client_host)  # a locked address learns nothing more
        await self.lockout.failed(client_host)
        raise AuthenticationError("invalid API key", code="invalid_api_key")
