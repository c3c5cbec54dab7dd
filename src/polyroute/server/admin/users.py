"""/user/new, /user/update, /user/delete, GET /user/info, GET /user/list (LiteLLM's shapes).

A user's limits and budget apply to every key of the user. /user/new also makes the user a key
(LiteLLM's `auto_create_key`, on by default). Deleting a user deletes the user's keys.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from polyroute.auth.keys import display_name, generate_key, hash_key
from polyroute.auth.principal import Principal
from polyroute.errors import NotFoundError
from polyroute.server.admin.common import (
    LimitFields,
    admin,
    budget_changes,
    changes_of,
    expires_after,
    limits_json,
    page_args,
    state_of,
)
from polyroute.server.admin.keys import key_json
from polyroute.store.models import User, VirtualKey

router = APIRouter(tags=["user management"])

# LiteLLM's user roles (LitellmUserRoles). It makes the keys of users with an admin role admins;
# polyroute's only admin is the master key, so those are refused rather than stored: a key must
# never look more powerful than it is.
ADMIN_ROLES = frozenset({"proxy_admin", "proxy_admin_viewer", "org_admin"})
USER_ROLES = frozenset({"internal_user", "internal_user_viewer", "team", "customer"})


def _role(value: str | None) -> str | None:
    """A known role, stored in LiteLLM's spelling ("Proxy_Admin " is proxy_admin, refused)."""
    if value is None:
        return None
    role = value.strip().lower()
    if role in ADMIN_ROLES:
        raise ValueError(
            f"user_role '{role}' is not supported: only the master key administers polyroute "
            "(a user's keys are virtual keys whatever its role)"
        )
    if role not in USER_ROLES:
        raise ValueError(f"unknown user_role; expected one of {', '.join(sorted(USER_ROLES))}")
    return role


class NewUserRequest(LimitFields):
    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    user_alias: str | None = Field(default=None, max_length=256)
    user_email: str | None = Field(default=None, max_length=320)
    user_role: str | None = Field(default=None, max_length=64)
    teams: list[str] | None = Field(default=None, max_length=1000)
    auto_create_key: bool = True
    key_alias: str | None = Field(default=None, max_length=256)
    duration: str | None = None

    _user_role = field_validator("user_role")(_role)


class UpdateUserRequest(LimitFields):
    user_id: str = Field(min_length=1, max_length=128)
    user_alias: str | None = Field(default=None, max_length=256)
    user_email: str | None = Field(default=None, max_length=320)
    user_role: str | None = Field(default=None, max_length=64)
    teams: list[str] | None = Field(default=None, max_length=1000)

    _user_role = field_validator("user_role")(_role)


class DeleteUsersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: list[str] = Field(min_length=1, max_length=1000)


def user_json(row: User) -> dict[str, Any]:
    return {
        "user_id": row.user_id,
        "user_alias": row.user_alias,
        "user_email": row.user_email,
        "user_role": row.user_role,
        "teams": list(row.teams or []),
        **limits_json(row),
    }


@router.post("/user/new")
async def new_user(request: Request, body: NewUserRequest, _: Principal = Depends(admin)) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None
    changes = changes_of(body, {"user_id", "spend", "auto_create_key", "key_alias", "duration"})
    user_id = body.user_id or str(uuid.uuid4())
    if changes.get("teams") is None:
        changes["teams"] = []
    row = User(
        user_id=user_id,
        spend=body.spend or 0.0,
        **{k: v for k, v in changes.items() if k not in ("budget_anchor", "spend_period")},
    )
    await state.keys.add(row)
    out = user_json(row)
    if body.auto_create_key:
        key = generate_key()
        await state.keys.add(
            VirtualKey(
                token=hash_key(key),
                key_name=display_name(key),
                key_alias=body.key_alias,
                user_id=user_id,
                expires=expires_after(body.duration),
            )
        )
        out.update(key=key, key_name=display_name(key), token_id=hash_key(key))  # shown this once
    return out


@router.post("/user/update")
async def update_user(
    request: Request, body: UpdateUserRequest, _: Principal = Depends(admin)
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None and state.auth is not None
    current = await state.keys.get(User, body.user_id)
    if current is None:
        raise NotFoundError(f"user '{body.user_id}' does not exist", param="user_id")
    changes = changes_of(body, {"user_id"})
    if "teams" in changes and changes["teams"] is None:
        changes["teams"] = []
    row = await state.keys.change(User, body.user_id, budget_changes(current, changes))
    if row is None:
        raise NotFoundError(f"user '{body.user_id}' does not exist", param="user_id")
    await state.auth.keys.evict(await state.keys.tokens_of(user_ids=[body.user_id]))
    return {"user_id": row.user_id, "data": user_json(row)}


@router.post("/user/delete")
async def delete_users(
    request: Request, body: DeleteUsersRequest, _: Principal = Depends(admin)
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None and state.auth is not None
    tokens = await state.keys.tokens_of(user_ids=body.user_ids)
    deleted = await state.keys.delete_rows(User, body.user_ids)
    if not deleted:
        raise NotFoundError("none of these users exist", param="user_ids")
    await state.keys.delete_rows(VirtualKey, tokens)
    await state.auth.keys.evict(tokens)
    return {"deleted_users": deleted, "deleted_keys": len(tokens)}


@router.get("/user/info")
async def user_info(
    request: Request, user_id: str = Query(max_length=128), _: Principal = Depends(admin)
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None
    row = await state.keys.get(User, user_id)
    if row is None:
        raise NotFoundError(f"user '{user_id}' does not exist", param="user_id")
    keys = await state.keys.keys_of(user_id=user_id)
    return {
        "user_id": user_id,
        "user_info": user_json(row),
        "keys": [key_json(k, with_token=True) for k in keys],
        "teams": list(row.teams or []),
    }


@router.get("/user/list")
async def list_users(
    request: Request, page: int = 1, page_size: int = 25, _: Principal = Depends(admin)
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None
    page, page_size = page_args(page, page_size, "page_size")
    rows, total = await state.keys.page(User, [], page, page_size)
    return {
        "users": [user_json(r) for r in rows],
        "total": total,
        "page": page,
        "page_size": page_size,
        "total_pages": max(1, math.ceil(total / page_size)),
    }
