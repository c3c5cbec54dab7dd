"""Keys, teams and users in SQL: the admin API's reads and writes, and the key cache's loader.

Every statement is built with SQLAlchemy's expression language: values travel as bound
parameters, never inside SQL text. Unique key aliases are enforced by an index; a clash is a
409 naming the alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from polyroute.auth.keys import EntityLimits, KeyRecord
from polyroute.errors import ConflictError
from polyroute.store.database import Database
from polyroute.store.models import BudgetColumns, Team, User, VirtualKey, utcnow

Row = TypeVar("Row", VirtualKey, Team, User)


def entity_limits(kind: str, entity_id: str, label: str, row: BudgetColumns) -> EntityLimits:
    return EntityLimits(
        kind=kind,
        id=entity_id,
        label=label,
        rpm_limit=row.rpm_limit,
        tpm_limit=row.tpm_limit,
        max_parallel_requests=row.max_parallel_requests,
        max_budget=row.max_budget,
        budget_duration=row.budget_duration,
        budget_anchor=row.budget_anchor.timestamp() if row.budget_anchor else 0.0,
        spend=row.spend or 0.0,
        spend_period=row.spend_period or 0,
        models=tuple(row.models or ()),
        blocked=bool(row.blocked),
    )


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- the request path's one read per key per TTL --------------------------------------------
    async def load_record(self, token: str) -> KeyRecord | None:
        statement = (
            select(VirtualKey, Team, User)
            .outerjoin(Team, Team.team_id == VirtualKey.team_id)
            .outerjoin(User, User.user_id == VirtualKey.user_id)
            .where(VirtualKey.token == token)
        )
        async with self.db.session() as session:
            row = (await session.execute(statement)).first()
        if row is None:
            return None
        key, team, user = row
        label = key.key_alias or key.key_name or "virtual key"
        entities = [entity_limits("key", key.token, label, key)]
        if team is not None:
            entities.append(entity_limits("team", team.team_id, team.team_alias or team.team_id, team))
        if user is not None:
            entities.append(entity_limits("user", user.user_id, user.user_alias or user.user_id, user))
        return KeyRecord(
            token=key.token,
            key_alias=key.key_alias,
            key_name=key.key_name,
            team_id=key.team_id,
            user_id=key.user_id,
            expires=key.expires.timestamp() if key.expires else None,
            entities=tuple(entities),
            # Only true (or no entry) leaves it on: a non-boolean stored before the admin routes
            # validated it ("false", 0, null) reads as off.
            client_side_credentials=all(
                (row.metadata_ or {}).get("allow_client_side_credentials", True) is True
                for row in (key, team, user)
                if row is not None
            ),
            **guardrail_settings([(r.metadata_ or {}) for r in (key, team, user) if r is not None]),
        )

    # -- generic ----------------------------------------------------------------------------------
    async def add(self, row: Row) -> Row:
        try:
            async with self.db.session() as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise _conflict(row) from None
        return row

    async def get(self, model: type[Row], ident: str) -> Row | None:
        async with self.db.session() as session:
            return await session.get(model, ident)

    async def change(self, model: type[Row], ident: str, changes: dict[str, Any]) -> Row | None:
        """Applies `changes` (attribute -> value) to one row; None when there is no such row."""
        try:
            async with self.db.session() as session, session.begin():
                row = await session.get(model, ident, with_for_update=self.db.dialect != "sqlite")
                if row is None:
                    return None
                for name, value in changes.items():
                    setattr(row, name, value)
                row.updated_at = utcnow()
        except IntegrityError:
            raise _conflict(model(), changes) from None
        return row

    async def delete_rows(self, model: type[Row], idents: Sequence[str]) -> list[str]:
        column = _primary(model)
        async with self.db.session() as session, session.begin():
            found = list((await session.scalars(select(column).where(column.in_(list(idents))))).all())
            if found:
                await session.execute(delete(model).where(column.in_(found)))
        return found

    async def page(
        self, model: type[Row], filters: Sequence[Any], page: int, size: int
    ) -> tuple[list[Row], int]:
        column = _primary(model)
        async with self.db.session() as session:
            total = await session.scalar(select(func.count()).select_from(model).where(*filters))
            rows = await session.scalars(
                select(model)
                .where(*filters)
                .order_by(model.created_at, column)
                .offset((page - 1) * size)
                .limit(size)
            )
            return list(rows.all()), int(total or 0)

    # -- keys -------------------------------------------------------------------------------------
    async def key_tokens(self, tokens: Sequence[str] = (), aliases: Sequence[str] = ()) -> list[str]:
        if not tokens and not aliases:
            return []
        async with self.db.session() as session:
            found = await session.scalars(
                select(VirtualKey.token).where(
                    or_(VirtualKey.token.in_(list(tokens)), VirtualKey.key_alias.in_(list(aliases)))
                )
            )
            return list(found.all())

    async def tokens_of(self, team_ids: Sequence[str] = (), user_ids: Sequence[str] = ()) -> list[str]:
        if not team_ids and not user_ids:
            return []
        async with self.db.session() as session:
            found = await session.scalars(
                select(VirtualKey.token).where(
                    or_(VirtualKey.team_id.in_(list(team_ids)), VirtualKey.user_id.in_(list(user_ids)))
                )
            )
            return list(found.all())

    async def keys_of(self, *, team_id: str | None = None, user_id: str | None = None) -> list[VirtualKey]:
        condition = VirtualKey.team_id == team_id if team_id is not None else VirtualKey.user_id == user_id
        async with self.db.session() as session:
            return list((await session.scalars(select(VirtualKey).where(condition))).all())

    async def detach_keys(self, *, team_ids: Sequence[str] = ()) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(VirtualKey).where(VirtualKey.team_id.in_(list(team_ids))).values(team_id=None)
            )

    async def ensure_user(self, user_id: str) -> None:
        """LiteLLM creates the user a key names when it does not exist yet."""
        try:
            async with self.db.session() as session, session.begin():
                if await session.get(User, user_id) is None:
                    session.add(User(user_id=user_id))
        except IntegrityError:
            pass  # created meanwhile by another request or process


def _primary(model: type[Any]) -> Any:
    return {VirtualKey: VirtualKey.token, Team: Team.team_id, User: User.user_id}[model]


def _conflict(row: Any, changes: dict[str, Any] | None = None) -> ConflictError:
    if isinstance(row, VirtualKey):
        alias = (changes or {}).get("key_alias", row.key_alias)
        if alias is None:  # only the key itself can clash
            return ConflictError("this key already exists", param="key")
        return ConflictError(f"a key with key_alias '{alias}' already exists", param="key_alias")
    if isinstance(row, Team):
        return ConflictError(f"team '{row.team_id}' already exists", param="team_id")
    return ConflictError(f"user '{getattr(row, 'user_id', '')}' already exists", param="user_id")


def guardrail_settings(metadatas: list[dict[str, Any]]) -> dict[str, Any]:
    """KeyRecord's guardrail fields from key, team and user metadata: the union of their
    `guardrails` lists, and `allow_request_guardrails` when any of them sets it true (and
    none false)."""
    names: dict[str, None] = {}
    for metadata in metadatas:
        value = metadata.get("guardrails")
        if isinstance(value, list):
            names.update((str(n), None) for n in value if isinstance(n, str))
    switches = [m.get("allow_request_guardrails") for m in metadatas if "allow_request_guardrails" in m]
    return {
        "guardrails": tuple(names),
        "request_guardrails": bool(switches) and any(s is True for s in switches) and False not in switches,
    }
