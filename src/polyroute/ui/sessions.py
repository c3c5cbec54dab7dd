"""Server-side sessions: the browser holds only a signed session id; the key it signed in with,
its CSRF token and its conversations stay in this process.

The cookie value is `<id>.<HMAC-SHA256(id)>` so a forged or tampered id is refused before any
lookup. Sessions expire `session_expiration_s` after their last use (FastChat's 3600 s) and the
store is bounded: past `max_sessions` the least recently used one is dropped. Sessions not signed
in yet (a sign-in page opened) have their own, smaller bound, so that opening sign-in pages in a
loop never pushes out a signed-in user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from polyroute.secrets import Secret

COOKIE_NAME = "polyroute_ui_session"


@dataclass
class Session:
    id: str
    csrf_token: str
    created: float
    last_seen: float
    key: Secret | None = None  # None until signed in; also None for a keyless loopback sign-in
    signed_in: bool = False
    user_id: str = ""  # the key's sha256 (the gateway's token), or "local"
    label: str = ""  # what the page shows: "virtual key sk-…ab", "local"
    client_ip: str = ""
    # One live conversation per page (chat, battle, side-by-side), kept across reloads.
    pages: dict[str, Any] = field(default_factory=dict)
    claims: set[str] = field(default_factory=set)  # pages whose next prompt is being set up


class SessionStore:
    def __init__(
        self,
        secret: bytes,
        expiration_s: float,
        max_sessions: int,
        clock: Callable[[], float] = time.time,
        max_anonymous: int | None = None,
    ) -> None:
        self._secret = secret
        self._expiration_s = expiration_s
        self._max = {True: max_sessions, False: max_anonymous or max_sessions}
        self._clock = clock
        self._sessions: dict[bool, OrderedDict[str, Session]] = {True: OrderedDict(), False: OrderedDict()}

    # -- cookies ---------------------------------------------------------------------------------
    def _sign(self, session_id: str) -> str:
        mac = hmac.new(self._secret, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def cookie_value(self, session: Session) -> str:
        return f"{session.id}.{self._sign(session.id)}"

    def _id_from_cookie(self, value: str | None) -> str | None:
        if not value or len(value) > 200:
            return None
        session_id, _, signature = value.partition(".")
        if not session_id or not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        return session_id

    # -- lifecycle -------------------------------------------------------------------------------
    def new(self, client_ip: str = "") -> Session:
        now = self._clock()
        session = Session(
            id=secrets.token_urlsafe(24),
            csrf_token=secrets.token_urlsafe(24),
            created=now,
            last_seen=now,
            client_ip=client_ip,
        )
        self._add(session)
        return session

    def _add(self, session: Session) -> None:
        held = self._sessions[session.signed_in]
        held[session.id] = session
        while len(held) > self._max[session.signed_in]:
            held.popitem(last=False)

    def _find(self, session_id: str) -> Session | None:
        return self._sessions[True].get(session_id) or self._sessions[False].get(session_id)

    def _drop(self, session: Session) -> None:
        self._sessions[session.signed_in].pop(session.id, None)

    def get(self, cookie: str | None) -> Session | None:
        """The live session a cookie names (touching it), or None: unsigned, unknown or expired."""
        session_id = self._id_from_cookie(cookie)
        if session_id is None:
            return None
        session = self._find(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._expiration_s:
            self._drop(session)
            return None
        session.last_seen = now
        self._sessions[session.signed_in].move_to_end(session_id)
        return session

    def expired(self, cookie: str | None) -> bool:
        """Whether a validly signed cookie names a session that is gone (to say so to the user)."""
        return self._id_from_cookie(cookie) is not None and self.get(cookie) is None

    def sign_in(self, old: Session, key: Secret | None, user_id: str, label: str) -> Session:
        """A fresh session (new id and CSRF token: no fixation) holding the key."""
        self._drop(old)
        now = self._clock()
        session = Session(
            id=secrets.token_urlsafe(24),
            csrf_token=secrets.token_urlsafe(24),
            created=now,
            last_seen=now,
            key=key,
            signed_in=True,
            user_id=user_id,
            label=label,
            client_ip=old.client_ip,
        )
        self._add(session)
        return session

    def end(self, session: Session) -> None:
        self._drop(session)

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(), session.csrf_token.encode())


def user_id_of(key: str | None) -> str:
    """The gateway's token for a key (sha256 hex, as auth/keys.py hashes virtual keys), so votes
    and conversations join the gateway's key, team and spend tables; "local" with no key."""
    return hashlib.sha256(key.encode()).hexdigest() if key else "local"
