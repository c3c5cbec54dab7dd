"""The admin API's paths, known without importing it.

The admin API (keys, teams, users, spend) is a FastAPI app, and FastAPI with its models costs
~14 MB in every process that imports it. The gateway builds that app on the first request for
one of these paths, so a process that only serves model requests never loads it.
tests/server/test_admin_lazy.py keeps this list equal to the routes the admin app declares.
"""

from __future__ import annotations

ADMIN_PATHS: frozenset[str] = frozenset(
    {
        # keys
        "/key/generate",
        "/key/update",
        "/key/delete",
        "/key/info",
        "/key/list",
        # teams
        "/team/new",
        "/team/update",
        "/team/delete",
        "/team/info",
        "/team/list",
        # users
        "/user/new",
        "/user/update",
        "/user/delete",
        "/user/info",
        "/user/list",
        # spend
        "/spend/logs",
        "/global/spend",
        "/global/spend/keys",
        "/global/spend/teams",
        "/global/spend/models",
        # FastAPI's own documentation routes
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }
)
# Paths a virtual key may call (for itself); every other admin path needs the master key, and
# that is checked from the headers before the body is read (server/app.py).
ADMIN_SELF_SERVICE_PATHS: frozenset[str] = frozenset({"/key/info"})
# FastAPI's documentation pages: public, as FastAPI serves them.
ADMIN_PUBLIC_PATHS: frozenset[str] = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
