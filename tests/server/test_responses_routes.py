"""GET / DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items, driven with the openai
SDK over real HTTP: the gateway in this process, and two real gateway processes one after the
other on one SQLite file (a restart).

POST /v1/responses is the pipeline's (server/pipeline.py); here the responses are stored as it
stores them (`remember`), by a store on the gateway's own database file.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from polyroute.auth.keys import hash_key
from polyroute.errors import NotFoundError
from polyroute.inbound.responses import RESPONSES
from polyroute.store.database import Database, async_url
from polyroute.store.responses_store import ResponsesStore, remember
from tests.conftest import MASTER_KEY
from tests.gateway import GatewayServer
from tests.serve_process import serve_process

CONFIG = {
    "model_list": [
        {
            "model_name": "m",
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:9/v1"},
        }
    ],
    "general_settings": {"master_key": MASTER_KEY},
}


def _answer(text: str) -> dict[str, Any]:
    return {
        "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
        "created": 1_760_000_000,
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def _store_chain(data_dir: Path, owner: str, turns: list[tuple[Any, str]]) -> list[dict[str, Any]]:
    """Stores a chain of responses (each turn's input and answer) as the pipeline would."""

    async def run() -> list[dict[str, Any]]:
        database = Database(async_url(None, data_dir))
        store = ResponsesStore(database)
        stored: list[dict[str, Any]] = []
        try:
            for own_input, text in turns:
                body = {"model": "m", "input": own_input}
                if stored:
                    body["previous_response_id"] = stored[-1]["id"]
                await store.expand(body, owner)  # the chain so far resolves
                response = RESPONSES.from_chat(_answer(text), body)
                await remember(store, response, own_input, owner)
                stored.append(response)
        finally:
            await database.close()
        return stored

    return asyncio.run(run())


def _new_key(url: str) -> str:
    made = httpx.post(
        url + "/key/generate", headers={"authorization": f"Bearer {MASTER_KEY}"}, json={}, timeout=20
    )
    assert made.status_code == 200, made.text
    return made.json()["key"]


def _client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Any:
    data = Path(tmp_path_factory.mktemp("responses-data"))
    with GatewayServer(CONFIG, data, env={"POLYROUTE_DATA_DIR": str(data)}) as server:
        server.data_dir = data
        yield server


def test_retrieve_list_and_delete_with_the_sdk_and_other_keys_get_404(gateway) -> None:
    alice, bob = _new_key(gateway.url), _new_key(gateway.url)
    items = ["hi", [{"role": "user", "content": f"m{i}"} for i in range(3)]]
    first, second = _store_chain(gateway.data_dir, hash_key(alice), [(items[0], "hello"), (items[1], "ok")])
    client = _client(gateway.url, alice)

    got = client.responses.retrieve(second["id"])
    assert got.id == second["id"] and got.output_text == "ok" and got.previous_response_id == first["id"]
    assert got.model_dump(mode="json", exclude_none=True) == openai.types.responses.Response.model_validate(
        second
    ).model_dump(mode="json", exclude_none=True)

    page = client.responses.input_items.list(second["id"], limit=2)
    assert [item.content[0].text for item in page.data] == ["m2", "m1"] and page.has_more
    assert page.first_id == page.data[0].id and page.last_id == page.data[1].id
    every = client.responses.input_items.list(second["id"], order="asc")
    assert [item.content[0].text for item in every] == ["m0", "m1", "m2"]
    assert [item.content[0].text for item in client.responses.input_items.list(second["id"], limit=1)] == [
        "m2",
        "m1",
        "m0",
    ]  # the SDK follows `after` page by page

    other = _client(gateway.url, bob)
    for call in (
        lambda: other.responses.retrieve(first["id"]),
        lambda: other.responses.delete(first["id"]),
        lambda: other.responses.input_items.list(first["id"]),
        lambda: client.responses.retrieve("resp_does_not_exist"),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert caught.value.body["type"] == "invalid_request_error"
        assert "not found" in caught.value.body["message"]

    deleted = httpx.delete(
        f"{gateway.url}/v1/responses/{first['id']}", headers={"authorization": f"Bearer {alice}"}
    )
    assert deleted.status_code == 200
    assert deleted.json() == {"id": first["id"], "object": "response", "deleted": True}
    client.responses.delete(second["id"])  # the SDK's delete (it returns nothing)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(second["id"])


def test_bad_paging_is_a_400_naming_the_parameter_and_the_routes_need_a_key(gateway) -> None:
    key = _new_key(gateway.url)
    (response,) = _store_chain(gateway.data_dir, hash_key(key), [("hi", "hello")])
    headers = {"authorization": f"Bearer {key}"}
    for query, param in (
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("order=up", "order"),
        ("after=nope", "after"),
    ):
        answer = httpx.get(
            f"{gateway.url}/v1/responses/{response['id']}/input_items?{query}", headers=headers
        )
        assert answer.status_code == 400 and answer.json()["error"]["param"] == param, answer.text
    assert httpx.get(f"{gateway.url}/v1/responses/{response['id']}").status_code == 401
    wrong = httpx.get(
        f"{gateway.url}/v1/responses/{response['id']}", headers={"authorization": "Bearer sk-no"}
    )
    assert wrong.status_code == 401
    # without /v1 too, as every OpenAI route
    assert (
        httpx.get(f"{gateway.url}/responses/{response['id']}", headers=headers).json()["id"] == response["id"]
    )
    assert httpx.get(f"{gateway.url}/v1/responses/{response['id']}/other", headers=headers).status_code == 404
    assert httpx.post(f"{gateway.url}/v1/responses/{response['id']}", headers=headers).status_code == 404
    many = "&".join(f"p{i}=1" for i in range(30))
    crowded = httpx.get(f"{gateway.url}/v1/responses/{response['id']}?{many}", headers=headers)
    assert crowded.status_code == 400 and "query parameters" in crowded.json()["error"]["message"]


def test_a_chain_survives_a_restart_on_one_sqlite_file(tmp_path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    env = {"POLYROUTE_DATA_DIR": str(tmp_path / "data")}
    first_process, port = serve_process(["--config", str(config)], env, timeout_s=90)
    try:
        url = f"http://127.0.0.1:{port}"
        key = _new_key(url)
        chain = _store_chain(tmp_path / "data", hash_key(key), [("one", "1"), ("two", "2"), ("three", "3")])
        assert _client(url, key).responses.retrieve(chain[2]["id"]).output_text == "3"
    finally:
        _stop(first_process)
    second_process, port = serve_process(["--config", str(config)], env, timeout_s=90)
    try:
        url = f"http://127.0.0.1:{port}"
        client = _client(url, key)
        assert [client.responses.retrieve(r["id"]).output_text for r in chain] == ["1", "2", "3"]
        assert client.responses.retrieve(chain[1]["id"]).previous_response_id == chain[0]["id"]
        items = client.responses.input_items.list(chain[2]["id"])
        assert [item.content[0].text for item in items.data] == ["three"]
        client.responses.delete(chain[0]["id"])
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(chain[0]["id"])
    finally:
        _stop(second_process)

    async def expand_after() -> None:
        database = Database(async_url(None, tmp_path / "data"))
        try:
            # the chain's first link went: continuing it names the missing response
            with pytest.raises(NotFoundError, match=f"Previous response with id '{chain[0]['id']}'"):
                await ResponsesStore(database).expand(
                    {"model": "m", "input": "x", "previous_response_id": chain[2]["id"]}, hash_key(key)
                )
        finally:
            await database.close()

    asyncio.run(expand_after())


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
