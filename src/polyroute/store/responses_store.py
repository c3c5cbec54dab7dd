"""Stored Responses (`store: true`, OpenAI's default) and `previous_response_id` chains.

One row per response in the gateway's database (SQLite by default, PostgreSQL when configured),
so a chain continues across gateway processes and restarts. Every row belongs to an owner: a
stable, non-secret scope string the caller passes (the virtual key's hash, `master_key` for the
master key: `owner_of`). Another owner's id reads exactly like an unknown one: a 404.

* `save(response, input_items, owner)`: one row (the response JSON, the request's own input
  items, the previous response's id). A response larger than `responses_max_stored_bytes` is not
  stored (logged); the answer itself is unaffected.
* `get` / `delete` / `input_items` serve GET, DELETE and GET .../input_items.
* `expand(body, owner)` resolves `previous_response_id`: the chain's input and output items,
  oldest first, go before the request's own `input`. Only the links are walked (each row keeps
  its own input, never a copy of the chain); the walk is bounded by `responses_max_chain_depth`
  and `responses_max_chain_bytes` (a 400 naming previous_response_id past either).
* Rows expire after `responses_ttl_days`: an expired row reads as missing and is deleted then;
  `cleanup()` deletes every expired row; `save` runs it at most once per CLEANUP_EVERY_S.

A small LRU of recently saved or read rows sits in front of the database (a chain's next request
usually comes to the process that answered the last one). Rows never change once written, so the
cache can only be stale about a deletion made by another process, for at most CACHE_TTL_S.
When the database cannot take a write (not configured, or down), the response is kept in this
process's memory instead (bounded by `responses_memory_max_mb`, oldest dropped first): chains
then work within the process until it restarts.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Integer, String, Text, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from polyroute.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from polyroute.inbound.responses.native import client_view
from polyroute.inbound.responses.response import input_items as normalize_input
from polyroute.store.database import Database
from polyroute.store.models import Base, UtcDateTime, utcnow
from polyroute.store.settings import StoreSettings

log = logging.getLogger("polyroute.store.responses")

CACHE_ENTRIES = 256
CACHE_BYTES = 32 * 1024 * 1024
CACHE_TTL_S = 5.0
MAX_OWNER = 128
LIST_LIMIT_MAX = 100
CLEANUP_EVERY_S = 3600.0


class ResponseRow(Base):
    __tablename__ = "polyroute_responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(MAX_OWNER), index=True)
    previous_response_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    size: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    input_items: Mapped[str] = mapped_column(Text)


@dataclass(slots=True)
class StoredResponse:
    id: str
    owner: str
    previous_response_id: str | None
    expires_at: datetime
    response: bytes
    input_items: bytes
    cached_at: datetime | None = None

    @property
    def size(self) -> int:
        return len(self.response) + len(self.input_items)


def owner_of(principal: Any) -> str:
    """The owner scope of an authenticated caller: its key's hash (never the key), `master_key`,
    or "" for callers without a key (open access: one shared scope)."""
    return principal.spend_label if principal is not None else ""


def _owner(owner: str) -> str:
    # Scopes longer than the column are hashed: still stable, still not secret.
    return owner if len(owner) <= MAX_OWNER else "sha256:" + hashlib.sha256(owner.encode()).hexdigest()


class _LRU:
    """Rows by id, bounded by count and bytes; the oldest used goes first."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._rows: OrderedDict[str, StoredResponse] = OrderedDict()

    def get(self, key: str) -> StoredResponse | None:
        row = self._rows.get(key)
        if row is not None:
            self._rows.move_to_end(key)
        return row

    def put(self, row: StoredResponse) -> None:
        self.pop(row.id)
        if row.size > self.max_bytes:
            return
        self._rows[row.id] = row
        self.bytes += row.size
        while len(self._rows) > self.max_entries or self.bytes > self.max_bytes:
            _, old = self._rows.popitem(last=False)
            self.bytes -= old.size

    def pop(self, key: str) -> StoredResponse | None:
        row = self._rows.pop(key, None)
        if row is not None:
            self.bytes -= row.size
        return row

    def expired(self, now: datetime) -> list[str]:
        return [key for key, row in self._rows.items() if row.expires_at <= now]

    def __len__(self) -> int:
        return len(self._rows)


class ResponsesStore:
    def __init__(
        self,
        db: Database | None,
        settings: StoreSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings or StoreSettings()
        self.clock = clock
        self._cache = _LRU(CACHE_ENTRIES, CACHE_BYTES)
        self._memory = _LRU(1_000_000, int(self.settings.responses_memory_max_mb * 1024 * 1024))
        self._next_cleanup: datetime | None = None

    # -- writing ---------------------------------------------------------------------------------
    async def save(self, response: dict[str, Any], input_items: Any, owner: str) -> bool:
        """Stores `response` with the request's own `input` (a string or items; given ids are
        kept, missing ones made). False when it is too large to store."""
        items = orjson.dumps(normalize_input(input_items))
        body = orjson.dumps(response)
        now = self.clock()
        row = StoredResponse(
            id=response["id"],
            owner=_owner(owner),
            previous_response_id=response.get("previous_response_id"),
            expires_at=now + timedelta(days=self.settings.responses_ttl_days),
            response=body,
            input_items=items,
        )
        if row.size > self.settings.responses_max_stored_bytes:
            log.warning(
                "response %s not stored: %d bytes, over responses_max_stored_bytes (%d)",
                row.id,
                row.size,
                self.settings.responses_max_stored_bytes,
            )
            return False
        if self.db is None:
            self._memory.put(row)
            return True
        try:
            async with self.db.session() as session, session.begin():
                await session.execute(
                    insert(ResponseRow),
                    [
                        {
                            "id": row.id,
                            "owner": row.owner,
                            "previous_response_id": row.previous_response_id,
                            "created_at": now,
                            "expires_at": row.expires_at,
                            "size": row.size,
                            "response": body.decode(),
                            "input_items": items.decode(),
                        }
                    ],
                )
        except (SQLAlchemyError, OSError) as error:
            log.warning(
                "response %s kept in memory only: the database failed (%s)", row.id, type(error).__name__
            )
            self._memory.put(row)
            return True
        row.cached_at = now
        self._cache.put(row)
        await self._cleanup_now_and_then(now)
        return True

    async def _cleanup_now_and_then(self, now: datetime) -> None:
        # Expired rows go with the writes (no background task): one indexed DELETE an hour.
        if self._next_cleanup is not None and now < self._next_cleanup:
            return
        self._next_cleanup = now + timedelta(seconds=CLEANUP_EVERY_S)
        try:
            gone = await self.cleanup()
        except (SQLAlchemyError, OSError):
            log.warning("deleting expired responses failed; retried in an hour")
            return
        if gone:
            log.info("deleted %d expired stored responses", gone)

    async def delete(self, response_id: str, owner: str) -> dict[str, Any]:
        """OpenAI's deletion object; a 404 when the id is unknown to this owner."""
        row = await self._load(response_id, owner)
        if row is None:
            raise _not_found(response_id)
        await self._remove(response_id)
        return {"id": response_id, "object": "response", "deleted": True}

    async def cleanup(self) -> int:
        """Deletes every expired response; returns how many rows went."""
        now = self.clock()
        gone = 0
        for lru in (self._memory, self._cache):
            for key in lru.expired(now):
                lru.pop(key)
                gone += lru is self._memory
        if self.db is not None:
            async with self.db.session() as session, session.begin():
                result = await session.execute(delete(ResponseRow).where(ResponseRow.expires_at <= now))
                gone += result.rowcount or 0
        return gone

    # -- reading ---------------------------------------------------------------------------------
    async def get(self, response_id: str, owner: str) -> dict[str, Any]:
        row = await self._load(response_id, owner)
        if row is None:
            raise _not_found(response_id)
        return orjson.loads(row.response)

    async def input_items(
        self,
        response_id: str,
        owner: str,
        after: str | None = None,
        limit: int = 20,
        order: str = "desc",
    ) -> dict[str, Any]:
        """OpenAI's list object of a response's input items (`limit` 1-100, `order` asc or desc,
        `after` an item id: the page starts after it)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIST_LIMIT_MAX:
            raise InvalidRequestError(f"'limit' must be an integer from 1 to {LIST_LIMIT_MAX}", param="limit")
        if order not in ("asc", "desc"):
            raise InvalidRequestError("'order' must be asc or desc", param="order")
        row = await self._load(response_id, owner)
        if row is None:
            raise _not_found(response_id)
        items: list[dict[str, Any]] = orjson.loads(row.input_items)
        if order == "desc":
            items.reverse()
        if after is not None:
            ids = [item.get("id") for item in items]
            if after not in ids:
                raise InvalidRequestError(f"'after': no input item {after!r} in this response", param="after")
            items = items[ids.index(after) + 1 :]
        page = items[:limit]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0].get("id") if page else None,
            "last_id": page[-1].get("id") if page else None,
            "has_more": len(items) > limit,
        }

    async def expand(self, body: dict[str, Any], owner: str) -> dict[str, Any]:
        """`body` with its `previous_response_id` chain's items before its own `input` (a new
        dict; `body` is unchanged, so its own input is still there to `save`). Without
        previous_response_id, `body` itself."""
        first = body.get("previous_response_id")
        if first is None:
            return body
        own = body.get("input")
        if own is not None and not isinstance(own, str | list):
            raise InvalidRequestError("'input' must be a string or a list of items", param="input")
        if not isinstance(first, str) or not first:
            raise InvalidRequestError(
                "'previous_response_id' must be a response id", param="previous_response_id"
            )
        max_depth = self.settings.responses_max_chain_depth
        max_bytes = self.settings.responses_max_chain_bytes
        chain: list[StoredResponse] = []
        total = 0
        current: str | None = first
        while current is not None:
            if len(chain) >= max_depth:
                raise InvalidRequestError(
                    f"'previous_response_id': the chain is longer than {max_depth} "
                    "responses (general_settings.responses_max_chain_depth); start a new one with the "
                    "items you need in 'input'",
                    param="previous_response_id",
                )
            row = await self._load(current, owner)
            if row is None:
                raise NotFoundError(
                    f"Previous response with id '{current}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            total += row.size
            if total > max_bytes:
                raise InvalidRequestError(
                    f"'previous_response_id': the chain holds more than {max_bytes} "
                    "bytes (general_settings.responses_max_chain_bytes); start a new one with the items "
                    "you need in 'input'",
                    param="previous_response_id",
                )
            chain.append(row)
            current = row.previous_response_id
        items: list[Any] = []
        for row in reversed(chain):
            items.extend(orjson.loads(row.input_items))
            items.extend(orjson.loads(row.response).get("output") or [])
        if isinstance(own, str):
            items.append({"type": "message", "role": "user", "content": own})
        elif isinstance(own, list):
            items.extend(own)
        return {**body, "input": items}

    # -- rows ------------------------------------------------------------------------------------
    async def _load(self, response_id: str, owner: str) -> StoredResponse | None:
        """The row when it exists, belongs to `owner` and has not expired."""
        if not isinstance(response_id, str) or not response_id or len(response_id) > 64:
            return None
        now = self.clock()
        row = self._memory.get(response_id)
        if row is None:
            row = self._cache.get(response_id)
            if (
                row is not None
                and row.cached_at is not None
                and (now - row.cached_at).total_seconds() > CACHE_TTL_S
            ):
                self._cache.pop(response_id)
                row = None
        if row is None and self.db is not None:
            row = await self._select(response_id)
            if row is not None:
                row.cached_at = now
                self._cache.put(row)
        if row is None:
            return None
        if row.expires_at <= now:
            await self._remove(response_id)
            return None
        return row if row.owner == _owner(owner) else None

    async def _select(self, response_id: str) -> StoredResponse | None:
        try:
            async with self.db.session() as session:  # type: ignore[union-attr]
                found = (
                    await session.execute(select(ResponseRow).where(ResponseRow.id == response_id))
                ).scalar_one_or_none()
        except (SQLAlchemyError, OSError):
            log.warning("reading response %s failed: the database is not reachable", response_id)
            raise ServiceUnavailableError(
                "stored responses are unavailable: the gateway's database is not reachable; retry",
                code="response_store_unavailable",
                retry_after=1.0,
            ) from None
        if found is None:
            return None
        return StoredResponse(
            id=found.id,
            owner=found.owner,
            previous_response_id=found.previous_response_id,
            expires_at=found.expires_at,
            response=found.response.encode(),
            input_items=found.input_items.encode(),
        )

    async def _remove(self, response_id: str) -> None:
        self._memory.pop(response_id)
        self._cache.pop(response_id)
        if self.db is None:
            return
        try:
            async with self.db.session() as session, session.begin():
                await session.execute(delete(ResponseRow).where(ResponseRow.id == response_id))
        except (SQLAlchemyError, OSError):
            raise ServiceUnavailableError(
                "stored responses are unavailable: the gateway's database is not reachable; retry",
                code="response_store_unavailable",
                retry_after=1.0,
            ) from None


def _not_found(response_id: str) -> NotFoundError:
    return NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")


async def remember(
    store: ResponsesStore | None,
    response: dict[str, Any],
    input_items: Any,
    owner: str,
    body: dict[str, Any] | None = None,
) -> None:
    """The pipeline's hook: stores a finished response unless the request said `store: false`.

    Call it after a non-stream answer is built and before it is sent, and for a stream after the
    encoder's `finish` (its `response`) and before the stream's last bytes go out: the save is
    awaited before the response ends, so the client's next request in the chain finds it, on any
    process. `input_items` is the request's own `input` (the body before `expand`).

    For a native (OpenAI) answer pass the client's `body` too: OpenAI's object says `store: false`
    and its own model (what the gateway sent it); the stored copy gets the client's model, store
    and previous_response_id (inbound/responses/native.py `client_view`), and `body` decides
    whether to store.
    """
    if store is None:
        return
    if body is not None:
        if body.get("store", True) is False:
            return
        response = client_view(response, body)
    elif response.get("store") is False:
        return
    await store.save(response, input_items, owner)
