"""Server-side sessions: the browser holds only a signed session id; the key it signed in with,
its CSRF token and its conversations stay in this process.

The cookie value is `<id>.<HMAC-SHA256(id)>` so a forged or tampered id is refused before any
lookup. Sessions expire `session_expiration_s` after their last use (FastChat's 3600 s) and the
store is bounded: past `max_sessions` the least recently used one is dropped.
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


class SessionStore:
    def __init__(
        self,
        secret: bytes,
        expiration_s: float,
        max_sessions: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._expiration_s = expiration_s
        self._max = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

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
        self._sessions[session.id] = session
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return session

    def get(self, cookie: str | None) -> Session | None:
        """The live session a cookie names (touching it), or None: unsigned, unknown or expired."""
        session_id = self._id_from_cookie(cookie)
        if session_id is None:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._expiration_s:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        return session

    def expired(self, cookie: str | None) -> bool:
        """Whether a validly signed cookie names a session that is gone (to say so to the user)."""
        return self._id_from_cookie(cookie) is not None and self.get(cookie) is None

    def sign_in(self, old: Session, key: Secret | None, user_id: str, label: str) -> Session:
        """A fresh session (new id and CSRF token: no fixation) holding the key."""
        self._sessions.pop(old.id, None)
        session = self.new(old.client_ip)
        session.key, session.user_id, session.label, session.signed_in = key, user_id, label, True
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(), session.csrf_token.encode())


def user_id_of(key: str | None) -> str:
    """The gateway's token for a key (sha256 hex, as auth/keys.py hashes virtual keys), so votes
    and conversations join the gateway's key, team and spend tables; "local" with no key."""
    return hashlib.sha256(key.encode()).hexdigest() if key else "local"
