"""Stored Responses on SQLite and PostgreSQL (real servers): save, read, list, delete, chains,
owners, expiry and the bounds; the in-memory fallback without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from polyroute.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from polyroute.inbound.responses import RESPONSES, input_items
from polyroute.store.database import Database, head_revision
from polyroute.store.responses_store import ResponsesStore, remember
from polyroute.store.settings import StoreSettings

ALICE = "a" * 64  # owners are key hashes
BOB = "b" * 64


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _response(body: dict, text: str, calls: list | None = None) -> dict:
    message = {"content": text, "tool_calls": calls} if calls else {"content": text}
    answer = {"choices": [{"message": message, "finish_reason": "stop"}], "created": 1}
    return RESPONSES.from_chat(answer, body)


async def _turn(store: ResponsesStore, body: dict, text: str, owner: str = ALICE, **kw) -> dict:
    """One request of a chain as the pipeline runs it: expand, answer, remember."""
    expanded = await store.expand(body, owner)
    RESPONSES.to_chat(expanded)  # the expanded body is a valid request
    response = _response(body, text, **kw)
    await remember(store, response, body["input"], owner)
    return response


def test_the_responses_migration_is_the_head() -> None:
    assert head_revision() == "0004_responses"


async def test_save_get_delete_and_another_owner_sees_nothing(database: Database) -> None:
    store = ResponsesStore(database)
    body = {"model": "m", "input": "hi", "metadata": {"k": "v"}}
    response = await _turn(store, body, "hello")
    assert await store.get(response["id"], ALICE) == response
    for owner in (BOB, ""):
        with pytest.raises(NotFoundError) as caught:
            await store.get(response["id"], owner)
        assert caught.value.status == 404 and response["id"] in caught.value.message
        with pytest.raises(NotFoundError):
            await store.delete(response["id"], owner)
    # a fresh store (another process) reads it from the database
    other = ResponsesStore(database)
    assert await other.get(response["id"], ALICE) == response
    assert await other.delete(response["id"], ALICE) == {
        "id": response["id"],
        "object": "response",
        "deleted": True,
    }
    with pytest.raises(NotFoundError):
        await other.get(response["id"], ALICE)
    with pytest.raises(NotFoundError):
        await ResponsesStore(database).get(response["id"], ALICE)


async def test_store_false_is_not_stored(database: Database) -> None:
    store = ResponsesStore(database)
    response = await _turn(store, {"model": "m", "input": "hi", "store": False}, "hello")
    with pytest.raises(NotFoundError):
        await ResponsesStore(database).get(response["id"], ALICE)


async def test_a_chain_of_three_expands_to_every_turns_items_in_order(database: Database) -> None:
    store = ResponsesStore(database)
    first = await _turn(
        store, {"model": "m", "input": "My name is Ada.", "instructions": "Be kind."}, "Hi Ada."
    )
    calls = [{"id": "call_1", "type": "function", "function": {"name": "clock", "arguments": "{}"}}]
    second = await _turn(
        store,
        {"model": "m", "input": "What time is it?", "previous_response_id": first["id"]},
        "",
        calls=calls,
    )
    tool_output = [{"type": "function_call_output", "call_id": "call_1", "output": "noon"}]
    third = await _turn(
        store, {"model": "m", "input": tool_output, "previous_response_id": second["id"]}, "It is noon, Ada."
    )
    body = {"model": "m", "input": "And my name?", "previous_response_id": third["id"]}
    expanded = await ResponsesStore(database).expand(body, ALICE)  # another process
    assert body["input"] == "And my name?"  # the request itself is unchanged
    messages = RESPONSES.to_chat(expanded)["messages"]
    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": "My name is Ada."}]},
        {"role": "assistant", "content": "Hi Ada."},
        {"role": "user", "content": [{"type": "text", "text": "What time is it?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "clock", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
        {"role": "assistant", "content": "It is noon, Ada."},
        {"role": "user", "content": "And my name?"},
    ]  # instructions stay with their own request, as OpenAI does


async def test_an_unknown_or_foreign_previous_response_is_openais_404(database: Database) -> None:
    store = ResponsesStore(database)
    mine = await _turn(store, {"model": "m", "input": "hi"}, "hello")
    for owner, wanted in ((BOB, mine["id"]), (ALICE, "resp_nope")):
        with pytest.raises(NotFoundError) as caught:
            await store.expand({"model": "m", "input": "x", "previous_response_id": wanted}, owner)
        assert caught.value.code == "previous_response_not_found"
        assert caught.value.param == "previous_response_id"
        assert caught.value.message == f"Previous response with id '{wanted}' not found."


async def test_the_chain_is_bounded_by_depth_and_bytes(database: Database) -> None:
    store = ResponsesStore(
        database, StoreSettings(responses_max_chain_depth=2, responses_max_chain_bytes=4000)
    )
    one = await _turn(store, {"model": "m", "input": "1"}, "a")
    two = await _turn(store, {"model": "m", "input": "2", "previous_response_id": one["id"]}, "b")
    await store.expand({"model": "m", "input": "x", "previous_response_id": two["id"]}, ALICE)
    three = await _turn(store, {"model": "m", "input": "3", "previous_response_id": two["id"]}, "c")
    with pytest.raises(InvalidRequestError, match="responses_max_chain_depth") as caught:
        await store.expand({"model": "m", "input": "x", "previous_response_id": three["id"]}, ALICE)
    assert caught.value.param == "previous_response_id"
    big = await _turn(store, {"model": "m", "input": "y" * 3000}, "z" * 1500)
    with pytest.raises(InvalidRequestError, match="responses_max_chain_bytes"):
        await store.expand({"model": "m", "input": "x", "previous_response_id": big["id"]}, ALICE)


async def test_a_response_over_the_stored_size_is_not_stored(database: Database) -> None:
    store = ResponsesStore(database, StoreSettings(responses_max_stored_bytes=2048))
    small = _response({"model": "m", "input": "hi"}, "ok")
    assert await store.save(small, "hi", ALICE)
    large = _response({"model": "m", "input": "hi"}, "x" * 4096)
    assert not await store.save(large, "hi", ALICE)
    with pytest.raises(NotFoundError):
        await store.get(large["id"], ALICE)


async def test_expired_responses_read_as_missing_and_cleanup_deletes_them(database: Database) -> None:
    clock = Clock()
    store = ResponsesStore(database, StoreSettings(responses_ttl_days=1), clock=clock)
    old = await _turn(store, {"model": "m", "input": "old"}, "a")
    clock.now += timedelta(hours=23)
    young = await _turn(store, {"model": "m", "input": "young"}, "b")
    assert (await store.get(old["id"], ALICE))["id"] == old["id"]
    clock.now += timedelta(hours=2)
    with pytest.raises(NotFoundError):
        await store.get(old["id"], ALICE)
    reader = ResponsesStore(database, StoreSettings(responses_ttl_days=1), clock=clock)
    with pytest.raises(NotFoundError):
        await reader.expand({"model": "m", "input": "x", "previous_response_id": old["id"]}, ALICE)
    clock.now += timedelta(hours=23)
    assert await reader.cleanup() == 1  # the young one; the old one went when it was read
    with pytest.raises(NotFoundError):
        await ResponsesStore(database, clock=clock).get(young["id"], ALICE)


async def test_input_items_pages_like_openai(database: Database) -> None:
    store = ResponsesStore(database)
    items = [{"role": "user", "content": f"m{i}"} for i in range(5)]
    response = _response({"model": "m", "input": items}, "ok")
    await store.save(response, items, ALICE)
    page = await store.input_items(response["id"], ALICE, limit=2)
    texts = [item["content"][0]["text"] for item in page["data"]]
    assert texts == ["m4", "m3"] and page["has_more"] is True and page["object"] == "list"
    assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][1]["id"]
    rest = await store.input_items(response["id"], ALICE, after=page["last_id"], limit=10)
    assert [item["content"][0]["text"] for item in rest["data"]] == ["m2", "m1", "m0"]
    assert rest["has_more"] is False
    ascending = await store.input_items(response["id"], ALICE, order="asc", limit=100)
    assert [item["content"][0]["text"] for item in ascending["data"]] == [f"m{i}" for i in range(5)]
    for kwargs, param in (({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"order": "up"}, "order")):
        with pytest.raises(InvalidRequestError) as caught:
            await store.input_items(response["id"], ALICE, **kwargs)
        assert caught.value.param == param
    with pytest.raises(InvalidRequestError) as caught:
        await store.input_items(response["id"], ALICE, after="msg_unknown")
    assert caught.value.param == "after"
    with pytest.raises(NotFoundError):
        await store.input_items(response["id"], BOB)


async def test_without_a_database_responses_live_in_memory_bounded() -> None:
    store = ResponsesStore(None, StoreSettings(responses_memory_max_mb=0.01))  # ~10 KB
    first = await _turn(store, {"model": "m", "input": "hi"}, "hello")
    second = await _turn(store, {"model": "m", "input": "more", "previous_response_id": first["id"]}, "sure")
    expanded = await store.expand({"model": "m", "input": "x", "previous_response_id": second["id"]}, ALICE)
    assert len(expanded["input"]) == 5
    with pytest.raises(NotFoundError):
        await store.get(first["id"], BOB)
    for i in range(20):
        await _turn(store, {"model": "m", "input": "p" * 1000}, f"{i}")
    with pytest.raises(NotFoundError):
        await store.get(first["id"], ALICE)  # the oldest went to keep the bound


async def test_a_database_that_is_down_keeps_the_response_in_memory(tmp_path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}")  # cannot be opened
    store = ResponsesStore(database)
    response = _response({"model": "m", "input": "hi"}, "hello")
    assert await store.save(response, "hi", ALICE)
    assert (await store.get(response["id"], ALICE))["id"] == response["id"]
    with pytest.raises(ServiceUnavailableError) as caught:  # what only the database could know
        await store.get("resp_elsewhere", ALICE)
    assert caught.value.status == 503 and caught.value.code == "response_store_unavailable"
    await database.close()


def test_input_items_of_a_chain_turn_are_its_own() -> None:
    assert [item["content"][0]["text"] for item in input_items("x")] == ["x"]


async def test_writes_delete_expired_rows_at_most_hourly(database: Database) -> None:
    from sqlalchemy import func, select

    from polyroute.store.responses_store import ResponseRow

    async def rows() -> int:
        async with database.session() as session:
            return (await session.execute(select(func.count()).select_from(ResponseRow))).scalar_one()

    clock = Clock()
    store = ResponsesStore(database, StoreSettings(responses_ttl_days=1 / 48), clock=clock)  # 30 minutes
    await _turn(store, {"model": "m", "input": "a"}, "a")  # the first write sweeps (nothing yet)
    clock.now += timedelta(minutes=40)
    await _turn(store, {"model": "m", "input": "b"}, "b")  # "a" has expired; the last sweep was 40 min ago
    assert await rows() == 2
    clock.now += timedelta(minutes=21)
    await _turn(store, {"model": "m", "input": "c"}, "c")  # an hour since the last sweep: "a" goes
    assert await rows() == 2


async def test_a_native_answer_is_stored_as_the_client_asked(database: Database) -> None:
    store = ResponsesStore(database)
    first = await _turn(store, {"model": "alias", "input": "hi"}, "hello")
    body = {"model": "alias", "input": "again", "previous_response_id": first["id"]}
    openai_answer = {**_response({"model": "gpt-4.1-2025-04-14", "input": "x"}, "sure"), "store": False}
    await remember(store, openai_answer, body["input"], ALICE, body=body)
    stored = await ResponsesStore(database).get(openai_answer["id"], ALICE)
    assert stored["model"] == "alias" and stored["store"] is True
    assert stored["previous_response_id"] == first["id"]
    expanded = await store.expand(
        {"model": "alias", "input": "x", "previous_response_id": stored["id"]}, ALICE
    )
    assert len(expanded["input"]) == 5  # hi, hello, again, sure, x
    unstored = {**_response({"model": "m", "input": "x"}, "no"), "store": False}
    await remember(store, unstored, "x", ALICE, body={"model": "m", "input": "x", "store": False})
    with pytest.raises(NotFoundError):
        await store.get(unstored["id"], ALICE)
