"""Who is calling, as far as the request path needs to know: set by authentication, read by
handlers. Virtual keys and teams (a later issue) fill in more of it; the fields here are the
hooks their settings plug into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AuthContext:
    #: A stable, non-secret name for the caller: "master", "loopback", "open"; later a virtual
    #: key's id. Per-request routers (user_config) are never shared between principals.
    principal: str
    #: Per key/team switch for client-side credentials and user_config. The gateway-wide
    #: `general_settings.allow_client_side_credentials` must be on as well; this can only turn
    #: the feature off for one caller (virtual keys will set it from key or team settings).
    client_side_credentials: bool = True
    #: False for a remote caller of a gateway without a master key (--allow-unauthenticated):
    #: user_config is then off unless general_settings.allow_user_config is explicitly true.
    authenticated: bool = True


ANONYMOUS = AuthContext(principal="anonymous", client_side_credentials=False)


_MASTER = AuthContext(principal="master")
_LOCAL = AuthContext(principal="loopback")
_OPEN = AuthContext(principal="open", authenticated=False)


def auth_context_for(principal: Any) -> AuthContext:
    """The request-path view of an authenticated `auth.principal.Principal`: a virtual key is its
    own principal (per-request routers are never shared between keys), and its key, team or user
    `metadata.allow_client_side_credentials: false` turns client-side credentials off for it."""
    key = getattr(principal, "key", None)
    if key is not None:
        return AuthContext(
            principal="key:" + key.token[:16], client_side_credentials=key.client_side_credentials
        )
    role = getattr(principal, "role", None)
    if role == "proxy_admin":
        return _MASTER
    return _OPEN if role == "open_access" else _LOCAL
