"""Virtual keys through HTTP and the openai SDK, on SQLite and PostgreSQL: created by the master
key, shown once, hashed at rest, limited to their models, revoked at once in this process, and
never able to reach admin routes or raise their own limits."""

from __future__ import annotations

import hashlib

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY
from tests.keys.conftest import Admin, database_rows

MESSAGES = [{"role": "user", "content": "hi"}]


def test_generate_use_inspect_list_update_delete(keys_gateway, admin: Admin) -> None:
    made = admin.new_key(
        key_alias="lifecycle", models=["mock-gpt"], metadata={"app": "billing"}, duration="30d"
    )
    key = made["key"]
    assert key.startswith("sk-") and len(key) > 30
    assert made["token_id"] == hashlib.sha256(key.encode()).hexdigest()
    assert made["key_name"] == f"sk-...{key[-4:]}" and made["expires"]

    client = keys_gateway.client(api_key=key)
    assert client.chat.completions.create(model="mock-gpt", messages=MESSAGES).choices

    info = admin.ok("GET", "/key/info", key=key)
    assert info["info"]["key_alias"] == "lifecycle" and info["info"]["metadata"] == {"app": "billing"}
    assert key not in str(info)  # the key is shown once, at creation, and never again
    listed = admin.ok("GET", "/key/list", key_alias="lifecycle")
    assert listed["keys"] == [made["token_id"]] and listed["total_count"] == 1

    admin.ok("POST", "/key/update", key=key, models=["mock-gpt", "priced-mock"], rpm_limit=100)
    assert client.chat.completions.create(model="priced-mock", messages=MESSAGES).choices
    assert admin.ok("GET", "/key/info", key=made["token_id"])["info"]["rpm_limit"] == 100

    deleted = admin.ok("POST", "/key/delete", keys=[key])
    assert deleted["deleted_keys"] == [made["token_id"]]
    with pytest.raises(openai.AuthenticationError):  # this process evicts at once
        client.chat.completions.create(model="mock-gpt", messages=MESSAGES)


def test_a_key_calls_only_its_models(keys_gateway, admin: Admin) -> None:
    key = admin.new_key(models=["mock-gpt"])["key"]
    client = keys_gateway.client(api_key=key)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="claude", messages=MESSAGES)
    assert "claude" in caught.value.message and caught.value.code == "model_not_allowed"
    with pytest.raises(openai.PermissionDeniedError):  # nor through a fallback it asks for
        client.chat.completions.create(
            model="mock-gpt", messages=MESSAGES, extra_body={"fallbacks": ["claude"]}
        )
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="gpt-4o-mini", input="x")
    assert [m.id for m in client.models.list()] == ["mock-gpt"]


def test_wildcard_models_and_team_models_both_apply(keys_gateway, admin: Admin) -> None:
    admin.ok("POST", "/team/new", team_id="wild-team", models=["mock-gpt", "fake-openai/*"])
    key = admin.new_key(team_id="wild-team", models=["fake-openai/*"])["key"]
    client = keys_gateway.client(api_key=key)
    assert client.chat.completions.create(model="fake-openai/gpt-x", messages=MESSAGES).choices
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="mock-gpt", messages=MESSAGES)  # the team allows it, the key not


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/key/generate", {"models": []}),
        ("POST", "/key/update", {"key": "SELF", "rpm_limit": 100000}),
        ("POST", "/key/delete", {"keys": ["SELF"]}),
        ("GET", "/key/list", None),
        ("POST", "/team/new", {"team_alias": "x"}),
        ("GET", "/user/list", None),
        ("GET", "/spend/logs", None),
        ("GET", "/global/spend", None),
        ("GET", "/global/spend/keys", None),
        ("GET", "/health", None),
    ],
)
def test_a_virtual_key_never_reaches_admin_routes(keys_gateway, admin: Admin, method, path, body) -> None:
    key = admin.new_key(rpm_limit=5)["key"]
    http = httpx.Client(base_url=keys_gateway.url, headers={"authorization": f"Bearer {key}"})
    if method == "POST":
        body = {k: (key if v == "SELF" else [key] if v == ["SELF"] else v) for k, v in body.items()}
        response = http.post(path, json=body)
    else:
        response = http.get(path)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["type"] == "permission_error"
    assert admin.ok("GET", "/key/info", key=key)["info"]["rpm_limit"] == 5  # unchanged


def test_a_key_reads_its_own_info_and_nothing_else(keys_gateway, admin: Admin) -> None:
    mine = admin.new_key(key_alias="mine-info")["key"]
    other = admin.new_key(key_alias="other-info")["key"]
    http = httpx.Client(base_url=keys_gateway.url, headers={"authorization": f"Bearer {mine}"})
    own = http.get("/key/info")
    assert own.status_code == 200 and own.json()["info"]["key_alias"] == "mine-info"
    assert http.get("/key/info", params={"key": other}).status_code == 403


def test_blocked_and_expired_keys_are_401(keys_gateway, admin: Admin) -> None:
    blocked = admin.new_key(blocked=True)["key"]
    with pytest.raises(openai.AuthenticationError) as caught:
        keys_gateway.client(api_key=blocked).chat.completions.create(model="mock-gpt", messages=MESSAGES)
    assert caught.value.code == "key_blocked"
    expiring = admin.new_key(duration="1s")["key"]
    assert keys_gateway.client(api_key=expiring).chat.completions.create(model="mock-gpt", messages=MESSAGES)
    import time

    time.sleep(1.2)
    with pytest.raises(openai.AuthenticationError) as caught:
        keys_gateway.client(api_key=expiring).chat.completions.create(model="mock-gpt", messages=MESSAGES)
    assert caught.value.code == "key_expired"


def test_bad_admin_input_names_the_field(keys_gateway, admin: Admin) -> None:
    response = admin.post("/key/generate", max_budget=-1)
    assert response.status_code == 400 and response.json()["error"]["param"] == "max_budget"
    response = admin.post("/key/generate", budget_duration="monthly")
    assert response.status_code == 400 and response.json()["error"]["param"] == "budget_duration"
    response = admin.post("/key/generate", model_max_budget={"gpt-4": 1})
    assert response.status_code == 400 and response.json()["error"]["param"] == "model_max_budget"
    assert admin.post("/key/generate", aliases={}, config={}).status_code == 200  # LiteLLM's empty defaults
    response = admin.post("/key/generate", team_id="no-such-team")
    assert response.status_code == 400 and response.json()["error"]["param"] == "team_id"
    admin.new_key(key_alias="taken")
    response = admin.post("/key/generate", key_alias="taken")
    assert response.status_code == 409 and response.json()["error"]["param"] == "key_alias"
    assert admin.get("/key/info", key="sk-not-a-real-key-000000000").status_code == 404
    assert httpx.post(keys_gateway.url + "/key/generate", json={}).status_code == 401


def test_admin_user_roles_are_refused_not_silently_ignored(keys_gateway, admin: Admin) -> None:
    """LiteLLM makes a proxy_admin user's keys admins; polyroute's only admin is the master key,
    so such a role is a 400 naming user_role, and an ordinary role leaves the keys virtual."""
    for role in ("proxy_admin", "proxy_admin_viewer", "org_admin"):
        response = admin.post("/user/new", user_id=f"would-be-{role}", user_role=role)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "user_role"
        assert admin.get("/user/info", user_id=f"would-be-{role}").status_code == 404
    made = admin.ok("POST", "/user/new", user_id="plain-user", user_role="internal_user")
    response = admin.post("/user/update", user_id="plain-user", user_role="proxy_admin")
    assert response.status_code == 400 and response.json()["error"]["param"] == "user_role"
    assert admin.ok("GET", "/user/info", user_id="plain-user")["user_info"]["user_role"] == "internal_user"
    as_user = httpx.get(keys_gateway.url + "/key/list", headers={"authorization": f"Bearer {made['key']}"})
    assert as_user.status_code == 403


def test_teams_and_users(keys_gateway, admin: Admin) -> None:
    team = admin.ok(
        "POST", "/team/new", team_alias="research", max_budget=50, budget_duration="30d", rpm_limit=7
    )
    assert team["budget_reset_at"] and team["rpm_limit"] == 7
    user = admin.ok("POST", "/user/new", user_id="ada", user_email="ada@example.com", max_budget=5)
    assert user["key"].startswith("sk-") and user["user_id"] == "ada"
    key = admin.new_key(team_id=team["team_id"], user_id="ada", key_alias="ada-research")
    info = admin.ok("GET", "/team/info", team_id=team["team_id"])
    assert [k["key_alias"] for k in info["keys"]] == ["ada-research"]
    user_info = admin.ok("GET", "/user/info", user_id="ada")
    assert len(user_info["keys"]) == 2 and user_info["user_info"]["max_budget"] == 5
    updated = admin.ok("POST", "/team/update", team_id=team["team_id"], rpm_limit=9)
    assert updated["data"]["rpm_limit"] == 9
    assert any(t["team_id"] == team["team_id"] for t in admin.ok("GET", "/team/list"))
    assert admin.ok("GET", "/user/list")["total"] >= 1
    client = keys_gateway.client(api_key=key["key"])
    assert client.chat.completions.create(model="mock-gpt", messages=MESSAGES).choices
    admin.ok("POST", "/team/delete", team_ids=[team["team_id"]])  # its keys go with it
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="mock-gpt", messages=MESSAGES)
    admin.ok("POST", "/user/delete", user_ids=["ada"])
    assert admin.get("/user/info", user_id="ada").status_code == 404


def test_openapi_docs_are_served(keys_gateway) -> None:
    spec = httpx.get(keys_gateway.url + "/openapi.json").json()
    assert {"/key/generate", "/team/new", "/user/new", "/spend/logs", "/global/spend/models"} <= set(
        spec["paths"]
    )
    assert MASTER_KEY not in str(spec)


def test_curl_style_form_bodies_are_read_as_json(keys_gateway) -> None:
    """`curl -d '{...}'` sends application/x-www-form-urlencoded; LiteLLM users' scripts do that."""
    response = httpx.post(
        keys_gateway.url + "/key/generate",
        content=b'{"key_alias": "from-curl"}',
        headers={
            "authorization": f"Bearer {MASTER_KEY}",
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 200 and response.json()["key_alias"] == "from-curl"
    assert response.headers["x-request-id"].startswith("req_")


def test_master_key_requests_are_logged_without_any_key(keys_gateway, admin: Admin) -> None:
    raw = keys_gateway.client().chat.completions.with_raw_response.create(model="mock-gpt", messages=MESSAGES)
    request_id = raw.headers["x-request-id"]
    (row,) = admin.wait_for_logs(1, request_id=request_id)
    assert row["api_key"] == "master_key" and MASTER_KEY not in str(row)
    assert hashlib.sha256(MASTER_KEY.encode()).hexdigest() not in str(row)


def test_keys_are_stored_hashed_and_shown_once(keys_gateway, admin: Admin) -> None:
    """What the database holds: the SHA-256 of each key, never the key, for keys made by
    /key/generate, by /user/new, and keys an admin brought (`key`)."""
    made = admin.new_key(key_alias="at-rest")
    own = admin.new_key(key="sk-brought-by-the-admin-0123456789")
    user = admin.ok("POST", "/user/new", user_id="at-rest-user")
    keys = [made["key"], own["key"], user["key"]]
    assert own["key"] == "sk-brought-by-the-admin-0123456789"
    rows = database_rows(keys_gateway, "polyroute_keys")
    tokens = {row["token"] for row in rows}
    stored = str(rows) + str(database_rows(keys_gateway, "polyroute_users"))
    for key in keys:
        assert hashlib.sha256(key.encode()).hexdigest() in tokens
        assert key not in stored and key[3:] not in stored
    # Shown once: no later answer carries the key again.
    later = [
        admin.get("/key/info", key=made["key"]).text,
        admin.get("/key/list", return_full_object="true", size=100).text,
        admin.get("/user/info", user_id="at-rest-user").text,
        admin.post("/key/update", key=made["key"], rpm_limit=3).text,
    ]
    for key in keys:
        assert all(key not in text for text in later)


def test_a_budget_resets_when_its_duration_ends(keys_gateway, admin: Admin) -> None:
    """budget_duration: spent now, refused until the period ends, then served again from zero."""
    made = admin.new_key(max_budget=1e-9, budget_duration="2s")
    client = keys_gateway.client(api_key=made["key"])
    assert client.chat.completions.create(model="priced-mock", messages=MESSAGES).choices
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="priced-mock", messages=MESSAGES)
    assert caught.value.code == "budget_exceeded"
    reset_at = admin.ok("GET", "/key/info", key=made["key"])["info"]["budget_reset_at"]
    assert reset_at
    import time

    deadline = time.monotonic() + 6
    while True:
        try:
            assert client.chat.completions.create(model="priced-mock", messages=MESSAGES).choices
            break
        except openai.BadRequestError:
            assert time.monotonic() < deadline, "the budget never reset"
            time.sleep(0.25)
    # The rows of both periods are kept; the key's spend is this period's only.
    rows = admin.wait_for_logs(2, api_key=made["key"])
    assert len(rows) == 2
    cost = rows[0]["spend"]
    deadline = time.monotonic() + 10
    while abs(admin.ok("GET", "/key/info", key=made["key"])["info"]["spend"] - cost) > 1e-12:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_database_url_from_the_environment(fake_openai, fake_anthropic, fake_gemini, tmp_path) -> None:
    """LiteLLM's DATABASE_URL (no database_url in the config): the gateway uses that PostgreSQL."""
    from tests.gateway import GatewayServer
    from tests.keys.conftest import keys_config
    from tests.store.databases import pg_database_sync

    config = keys_config(fake_openai, fake_anthropic, fake_gemini)
    assert "database_url" not in config["general_settings"]
    with pg_database_sync() as url:
        env = {"TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef", "DATABASE_URL": url}
        with GatewayServer(config, tmp_path, env=env) as gateway:
            admin = Admin(gateway.url)
            assert admin.ok("GET", "/health/readiness")["db"] == "connected (postgresql)"
            made = admin.new_key(key_alias="from-env")
            client = gateway.client(api_key=made["key"])
            assert client.chat.completions.create(model="mock-gpt", messages=MESSAGES).choices
            rows = database_rows(gateway, "polyroute_keys")
            assert [r["key_alias"] for r in rows] == ["from-env"]
            assert rows[0]["token"] == made["token_id"]


def test_every_admin_route_refuses_a_virtual_key(keys_gateway, admin: Admin) -> None:
    """Not a hand-picked list: every route of the admin API's OpenAPI document (and the gateway's
    own admin routes) answers a virtual key with 403, whatever the body, and changes nothing."""
    key = admin.new_key(rpm_limit=5, max_budget=1.0)["key"]
    spec = httpx.get(keys_gateway.url + "/openapi.json").json()
    routes = [(m.upper(), path) for path, methods in spec["paths"].items() for m in methods]
    routes += [("GET", "/health"), ("GET", "/metrics")]
    assert len(routes) >= 20
    http = httpx.Client(base_url=keys_gateway.url, headers={"authorization": f"Bearer {key}"})
    body = {
        "key": key,
        "keys": [key],
        "rpm_limit": 10**6,
        "max_budget": 10**6,
        "team_id": "t",
        "user_id": "u",
    }
    for method, path in routes:
        if (method, path) == ("GET", "/key/info"):
            continue  # its own info only (test_a_key_reads_its_own_info_and_nothing_else)
        response = http.request(method, path, json=body if method == "POST" else None, params={"key": key})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["type"] == "permission_error"
    info = admin.ok("GET", "/key/info", key=key)["info"]
    assert (info["rpm_limit"], info["max_budget"]) == (5, 1.0)


def test_tokens_that_are_not_virtual_keys_cost_no_lookup(keys_gateway) -> None:
    """Every virtual key starts with sk-: other tokens are a 401 without a key-store lookup, so a
    client sending random tokens neither reaches SQL nor fills the key cache. An unknown sk- key
    is looked up once and remembered as unknown."""
    from polyroute.auth.keys import hash_key

    cache = keys_gateway.state.auth.keys
    garbage = [f"not-a-virtual-key-{n:04d}-xxxxxxxxxxxx" for n in range(20)]
    for token in garbage:
        with pytest.raises(openai.AuthenticationError) as caught:
            keys_gateway.client(api_key=token).chat.completions.create(model="mock-gpt", messages=MESSAGES)
        assert caught.value.code == "invalid_api_key"
    assert not any(cache.knows(hash_key(token)) for token in garbage)
    unknown = "sk-unknown-but-key-shaped-0000000000"
    with pytest.raises(openai.AuthenticationError):
        keys_gateway.client(api_key=unknown).chat.completions.create(model="mock-gpt", messages=MESSAGES)
    assert cache.knows(hash_key(unknown)) and hash_key(unknown) not in cache._entries  # a miss, kept apart
