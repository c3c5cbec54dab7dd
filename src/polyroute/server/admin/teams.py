"""/team/new, /team/update, /team/delete, GET /team/info, GET /team/list (LiteLLM's shapes).

A team's limits and budget apply to every key of the team, on top of each key's own. Deleting a
team deletes its keys, as LiteLLM does.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from polyroute.auth.principal import Principal
from polyroute.errors import NotFoundError
from polyroute.server.admin.common import (
    LimitFields,
    admin,
    budget_changes,
    changes_of,
    limits_json,
    state_of,
)
from polyroute.server.admin.keys import key_json
from polyroute.store.models import Team, VirtualKey

router = APIRouter(tags=["team management"])


class NewTeamRequest(LimitFields):
    team_id: str | None = Field(default=None, min_length=1, max_length=128)
    team_alias: str | None = Field(default=None, max_length=256)


class UpdateTeamRequest(NewTeamRequest):
    team_id: str = Field(min_length=1, max_length=128)  # type: ignore[assignment]


class DeleteTeamsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team_ids: list[str] = Field(min_length=1, max_length=1000)


def team_json(row: Team) -> dict[str, Any]:
    return {"team_id": row.team_id, "team_alias": row.team_alias, **limits_json(row)}


@router.post("/team/new")
async def new_team(request: Request, body: NewTeamRequest, _: Principal = Depends(admin)) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None
    changes = changes_of(body, {"team_id", "spend"})
    team_id = body.team_id or str(uuid.uuid4())
    row = Team(
        team_id=team_id,
        spend=body.spend or 0.0,
        **{k: v for k, v in changes.items() if k not in ("budget_anchor", "spend_period")},
    )
    return team_json(await state.keys.add(row))


@router.post("/team/update")
async def update_team(
    request: Request, body: UpdateTeamRequest, _: Principal = Depends(admin)
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None and state.auth is not None
    current = await state.keys.get(Team, body.team_id)
    if current is None:
        raise NotFoundError(f"team '{body.team_id}' does not exist", param="team_id")
    row = await state.keys.change(Team, body.team_id, budget_changes(current, changes_of(body, {"team_id"})))
    if row is None:
        raise NotFoundError(f"team '{body.team_id}' does not exist", param="team_id")
    await state.auth.keys.evict(await state.keys.tokens_of(team_ids=[body.team_id]))
    return {"team_id": row.team_id, "data": team_json(row)}


@router.post("/team/delete")
async def delete_teams(
    request: Request, body: DeleteTeamsRequest, _: Principal = Depends(admin)
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None and state.auth is not None
    tokens = await state.keys.tokens_of(team_ids=body.team_ids)
    deleted = await state.keys.delete_rows(Team, body.team_ids)
    if not deleted:
        raise NotFoundError("none of these teams exist", param="team_ids")
    await state.keys.delete_rows(VirtualKey, tokens)
    await state.auth.keys.evict(tokens)
    return {"deleted_teams": deleted, "deleted_keys": len(tokens)}


@router.get("/team/info")
async def team_info(
    request: Request, team_id: str = Query(max_length=128), _: Principal = Depends(admin)
) -> dict[str, Any]:
    state = state_of(request)
    assert state.keys is not None
    row = await state.keys.get(Team, team_id)
    if row is None:
        raise NotFoundError(f"team '{team_id}' does not exist", param="team_id")
    keys = await state.keys.keys_of(team_id=team_id)
    return {
        "team_id": team_id,
        "team_info": team_json(row),
        "keys": [key_json(k, with_token=True) for k in keys],
        "team_memberships": [],
    }


@router.get("/team/list")
async def list_teams(request: Request, _: Principal = Depends(admin)) -> list[dict[str, Any]]:
    state = state_of(request)
    assert state.keys is not None
    rows, _total = await state.keys.page(Team, [], 1, 10_000)
    out = []
    for row in rows:
        keys = await state.keys.keys_of(team_id=row.team_id)
        out.append({**team_json(row), "keys": [k.token for k in keys], "team_memberships": []})
    return out
