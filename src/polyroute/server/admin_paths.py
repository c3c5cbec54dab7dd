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
