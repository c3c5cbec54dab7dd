"""/key/generate, /key/update, /key/delete, GET /key/info, GET /key/list (LiteLLM's shapes)."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from polyroute.auth.keys import KEY_PREFIX, display_name, generate_key, hash_key
from polyroute.auth.principal import Principal
from polyroute.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from polyroute.server.admin.common import (
    LimitFields,
    admin,
    budget_changes,
    caller,
    changes_of,
    expires_after,
    iso,
    limits_json,
    page_args,
    state_of,
)
from polyroute.store.models import Team, VirtualKey

router = APIRouter(tags=["key management"])


class GenerateKeyRequest(LimitFields):
    key_alias: str | None = Field(default=None, max_length=256)
    duration: str | None = None
    team_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)
    key: str | None = Field(
        default=None, description="a key of your own (sk-...), instead of a generated one"
    )

    @field_validator("key")
    @classmethod
    def _own_key(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(KEY_PREFIX) or not 20 <= len(value) <= 256):
            raise ValueError("a key of your own must start with 'sk-' and have 20 to 256 characters")
        return value


class UpdateKeyRequest(GenerateKeyRequest):
    key: str = Field(description="the key, or its hash (token)")  # type: ignore[assignment]


class DeleteKeysRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[str] = Field(default_factory=list, max_length=1000)
    key_aliases: list[str] = Field(default_factory=list, max_length=1000)


def token_of(key: str) -> str:
    """LiteLLM takes a key or its hash wherever it names a key."""
    return hash_key(key) if key.startswith(KEY_PREFIX) else key


def key_json(row: VirtualKey, with_token: bool = False) -> dict[str, Any]:
    out = {
        "key_name": row.key_name,
        "key_alias": row.key_alias,
        "team_id": row.team_id,
        "user_id": row.user_id,
        "expires": iso(row.expires),
        **limits_json(row),
    }
    if with_token:
        out["token"] = row.token
    return out


async def _check_owner_refs(request: Request, body: GenerateKeyRequest) -> None:
    state = state_of(request)
    assert state.keys is not None
    if body.team_id is not None and await state.keys.get(Team, body.team_id) is None:
        raise InvalidRequestError(
            f"team '{body.team_id}' does not exist; create it with /team/new", param="team_id"
        )
    if body.user_id is not None:
        await state.keys.ensure_user(body.user_id)


@router.post("/key/generate")
async def generate(
    request: Request, body: GenerateKeyRequest, _: Principal = Depends(admin)
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None and state.auth is not None
    await _check_owner_refs(request, body)
    key = body.key or generate_key()
    changes = changes_of(body, {"key", "duration", "spend"})
    row = VirtualKey(
        token=hash_key(key),
        key_name=display_name(key),
        expires=expires_after(body.duration),
        spend=body.spend or 0.0,
        **{k: v for k, v in changes.items() if k not in ("budget_anchor", "spend_period")},
    )
    try:
        await state.keys.add(row)
    except ConflictError:
        if body.key is not None and await state.keys.get(VirtualKey, row.token) is not None:
            # Only the master key reaches this route, and it can read any key's /key/info
            # anyway: saying that this key exists tells its caller nothing new.
            raise ConflictError(
                "this key already exists: leave 'key' out for a generated one, or bring another",
                param="key",
            ) from None
        raise
    await state.auth.keys.evict([row.token])  # a custom key someone tried before it existed
    # The key itself is in this answer and nowhere else, ever.
    return {"key": key, "token_id": row.token, "duration": body.duration, **key_json(row)}


@router.post("/key/update")
async def update(request: Request, body: UpdateKeyRequest, _: Principal = Depends(admin)) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None and state.auth is not None
    token = token_of(body.key)
    current = await state.keys.get(VirtualKey, token)
    if current is None:
        raise NotFoundError("no such key", param="key")
    await _check_owner_refs(request, body)
    changes = budget_changes(current, changes_of(body, {"key", "duration"}))
    if "duration" in body.model_fields_set:
        changes["expires"] = expires_after(body.duration)
    row = await state.keys.change(VirtualKey, token, changes)
    if row is None:
        raise NotFoundError("no such key", param="key")
    await state.auth.keys.evict([token])
    return {"key": body.key if not body.key.startswith(KEY_PREFIX) else token, **key_json(row)}


@router.post("/key/delete")
async def delete(request: Request, body: DeleteKeysRequest, _: Principal = Depends(admin)) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None and state.auth is not None
    if not body.keys and not body.key_aliases:
        raise InvalidRequestError("give 'keys' or 'key_aliases'", param="keys")
    tokens = await state.keys.key_tokens([token_of(k) for k in body.keys], body.key_aliases)
    if not tokens:
        raise NotFoundError("none of these keys exist", param="keys")
    deleted = await state.keys.delete_rows(VirtualKey, tokens)
    await state.auth.keys.evict(deleted)  # this process at once; the others within key_cache_ttl_s
    # Keys given in full are answered by their hash: a response never carries a key.
    return {"deleted_keys": [token_of(k) for k in body.keys] + body.key_aliases}


@router.get("/key/info")
async def info(
    request: Request,
    key: str | None = Query(default=None, max_length=256, description="the key or its hash; default: yours"),
    principal: Principal = Depends(caller),
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None
    if key is None:
        if principal.key is None:
            raise InvalidRequestError("give ?key=<key or hash>", param="key")
        token = principal.key.token
    else:
        token = token_of(key)
    if not principal.is_admin and (principal.key is None or principal.key.token != token):
        raise PermissionDeniedError("a virtual key may only read its own /key/info", code="admin_only")
    row = await state.keys.get(VirtualKey, token)
    if row is None:
        raise NotFoundError("no such key", param="key")
    return {
        "key": key if key is not None and not key.startswith(KEY_PREFIX) else token,
        "info": key_json(row),
    }


@router.get("/key/list")
async def list_keys(
    request: Request,
    page: int = 1,
    size: int = 10,
    user_id: str | None = None,
    team_id: str | None = None,
    key_alias: str | None = None,
    return_full_object: bool = False,
    _: Principal = Depends(admin),
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None
    page, size = page_args(page, size)
    filters = []
    if user_id is not None:
        filters.append(VirtualKey.user_id == user_id)
    if team_id is not None:
        filters.append(VirtualKey.team_id == team_id)
    if key_alias is not None:
        filters.append(VirtualKey.key_alias == key_alias)
    rows, total = await state.keys.page(VirtualKey, filters, page, size)
    keys: list[Any] = (
        [key_json(r, with_token=True) for r in rows] if return_full_object else [r.token for r in rows]
    )
    return {
        "keys": keys,
        "total_count": total,
        "current_page": page,
        "total_pages": max(1, math.ceil(total / size)),
    }
