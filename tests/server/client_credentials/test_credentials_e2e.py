"""Client-side credentials and user_config through the openai SDK, in the request shapes LiteLLM
clients send (seed 002): what is allowed works, what is not is refused before any connection,
the operator's key never goes to a client-chosen URL, and no client key is ever echoed or logged."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import httpx
import openai
import pytest

from polyroute.providers.bounds import UpstreamLimits
from tests.fakes.base import Error, Reply
from tests.secret_walk import holds_any
from tests.server.client_credentials.support import (
    ALL_KEYS,
    CLIENT_ANTHROPIC_KEY,
    CLIENT_AWS_SECRET,
    CLIENT_AZURE_KEY,
    CLIENT_HEADER_TOKEN,
    CLIENT_KEY,
    CLIENT_SECRETS,
    LOG_LINES,
    MASTER,
    MESSAGES,
    OPERATOR_FIREWORKS_KEY,
    OPERATOR_KEY,
    TRANSCRIPT,
    WRONG_CLIENT_KEY,
    chat,
    record_response,
    refused,
    stream_text,
)


def seed_user_config(azure_url: str, openai_url: str) -> dict:
    """Seed 002's user_config, unchanged but for values this test can reach."""
    return {
        "model_list": [
            {
                "model_name": "user-azure-instance",
                "litellm_params": {
                    "model": "azure/chatgpt-v-2",
                    "api_key": CLIENT_AZURE_KEY,
                    "api_version": "2024-10-21",
                    "api_base": azure_url,
                    "timeout": 10,
                },
                "tpm": 240000,
                "rpm": 1800,
            },
            {
                "model_name": "user-openai-instance",
                "litellm_params": {
                    "model": "gpt-3.5-turbo",
                    "api_key": CLIENT_KEY,
                    "api_base": openai_url + "/v1",
                    "timeout": 10,
                },
                "tpm": 240000,
                "rpm": 1800,
            },
        ],
        "num_retries": 2,
        "allowed_fails": 3,
        "fallbacks": [{"user-azure-instance": ["user-openai-instance"]}],
    }


# ---- user_config ----------------------------------------------------------------------------------


def test_user_config_routes_to_the_clients_own_deployment(gw, client_azure, client_openai, operator_fake):
    config = seed_user_config(client_azure.url, client_openai.url)
    raw = chat(gw, "user-azure-instance", {"user_config": config})
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello from the fake upstream."
    assert raw.headers["x-polyroute-provider"] == "azure"
    assert raw.headers["x-polyroute-model-group"] == "user-azure-instance"
    [seen] = client_azure.requests
    assert seen.path == "/openai/deployments/chatgpt-v-2/chat/completions"
    assert seen.headers["api-key"] == CLIENT_AZURE_KEY and seen.query["api-version"] == "2024-10-21"
    assert "user_config" not in seen.json and "api_key" not in seen.json
    assert client_openai.requests == [] and operator_fake.requests == []
    # Streamed, the same way.
    assert stream_text(gw, "user-azure-instance", {"user_config": config}) == "Hello from the fake upstream."


def test_user_config_fallbacks_and_retries_follow_the_clients_settings(gw, client_azure, client_openai):
    client_azure.default = Error(500, message="azure is down")
    config = seed_user_config(client_azure.url, client_openai.url)
    raw = chat(gw, "user-azure-instance", {"user_config": config})
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-polyroute-fallback"] == "true"
    assert raw.headers["x-polyroute-model-group"] == "user-openai-instance"
    assert len(client_azure.requests) == 3  # num_retries: 2
    [served] = client_openai.requests
    assert served.headers["authorization"] == f"Bearer {CLIENT_KEY}"  # each deployment its own key
    assert all(r.headers.get("api-key") == CLIENT_AZURE_KEY for r in client_azure.requests)


def test_names_a_user_config_chose_never_become_metric_labels(gw, client_azure, client_openai):
    # Retries, a fallback and upstream errors all count metrics; a client picking fresh group
    # names and deployment ids per request must not grow the label set.
    client_azure.default = Error(500, message="azure is down")
    chosen = []
    for n in range(3):
        config = seed_user_config(client_azure.url, client_openai.url)
        for entry in config["model_list"]:
            entry["model_name"] = f"{entry['model_name']}-{n}-chosen"
            entry.setdefault("model_info", {})["id"] = f"client-id-{n}-{entry['model_name']}"
            chosen += [entry["model_name"], entry["model_info"]["id"]]
        config["fallbacks"] = [{f"user-azure-instance-{n}-chosen": [f"user-openai-instance-{n}-chosen"]}]
        assert chat(gw, f"user-azure-instance-{n}-chosen", {"user_config": config}).parse().choices
    scrape = httpx.get(gw.url + "/metrics", headers={"authorization": f"Bearer {MASTER}"}).text
    assert 'model_group="user_config"' in scrape and "polyroute_retries_total" in scrape
    assert [name for name in chosen if name in scrape] == []


def test_the_js_seed_shape_and_an_unknown_model_in_user_config(gw, client_azure, client_openai):
    config = seed_user_config(client_azure.url, client_openai.url)
    # The JS example asks for 'gpt-3.5-turbo' with a user_config that has no such model name.
    with pytest.raises(openai.NotFoundError) as caught:
        gw.client().chat.completions.create(
            model="gpt-3.5-turbo", messages=MESSAGES, extra_body={"user_config": config}
        )
    record_response(caught.value.response)
    assert caught.value.body["code"] == "model_not_found"
    assert client_azure.requests == [] and client_openai.requests == []
    # A user_config router never falls back on the operator's models.
    assert "gpt-3.5-turbo" in caught.value.body["message"]


def test_user_config_routers_are_cached_per_config_key_and_caller(gw, client_azure, client_openai):
    config = seed_user_config(client_azure.url, client_openai.url)
    config["num_retries"] = 1  # a shape of its own for this test
    before = len(gw.state.client_routers)
    for _ in range(3):
        chat(gw, "user-openai-instance", {"user_config": copy.deepcopy(config)})
    assert len(gw.state.client_routers) == before + 1
    other = copy.deepcopy(config)
    other["model_list"][0]["litellm_params"]["api_key"] = "client-azure-other-key-0000000000001"
    chat(gw, "user-openai-instance", {"user_config": other})
    assert len(gw.state.client_routers) == before + 2  # another key never shares a router
    assert len(client_openai.requests) == 4
    # The operator's router never learns of the client's deployments.
    assert "user-openai-instance" not in gw.state.router.table.public_names()


def test_user_config_errors_name_the_field(gw, gw_off, client_openai):
    config = seed_user_config(client_openai.url, client_openai.url)
    bad_env = copy.deepcopy(config)
    bad_env["model_list"][1]["litellm_params"]["api_key"] = "os.environ/OPENAI_API_KEY"
    body = refused(
        gw,
        "user-openai-instance",
        {"user_config": bad_env},
        400,
        "user_config.model_list[1].litellm_params.api_key",
    )
    assert "os.environ" in body["message"]
    refused(gw, "x", {"user_config": {**config, "redis_host": "10.0.0.1"}}, 400, "user_config.redis_host")
    refused(gw, "x", {"user_config": {**config, "num_retries": 100}}, 400, "user_config.num_retries")
    refused(gw, "x", {"user_config": {"model_list": []}}, 400, "user_config.model_list")
    typo = copy.deepcopy(config)
    typo["model_list"][1]["litellm_params"]["api_kye"] = CLIENT_KEY  # never sent on as a body field
    body = refused(
        gw,
        "user-openai-instance",
        {"user_config": typo},
        400,
        "user_config.model_list[1].litellm_params.api_kye",
    )
    assert "did you mean 'api_key'" in body["message"] and CLIENT_KEY not in body["message"]
    refused(gw, "x", {"user_config": "not an object"}, 400, "user_config")
    big = {"model_list": [{"model_name": f"m{i}", "litellm_params": {"model": "mock/x"}} for i in range(21)]}
    refused(gw, "m0", {"user_config": big}, 400, "user_config.model_list")
    huge = copy.deepcopy(config)
    huge["model_list"][0]["model_info"] = {"pad": "x" * 70000}
    refused(gw, "x", {"user_config": huge}, 413, "user_config")
    refused(gw, "x", {"user_config": config, "api_key": CLIENT_KEY}, 400, "api_key")
    refused(gw, "user-openai-instance", {"user_config": config, "num_retries": 6}, 400, "num_retries")
    refused(gw, "key-only", {"api_key": CLIENT_KEY, "num_retries": 6}, 400, "num_retries")
    many = {**config, "retry_policy": {"InternalServerErrorRetries": 6}}
    refused(gw, "x", {"user_config": many}, 400, "user_config.retry_policy.InternalServerErrorRetries")
    for field in ("timeout", "stream_timeout"):
        slow = copy.deepcopy(config)
        slow["model_list"][1]["litellm_params"][field] = 601
        refused(
            gw,
            "user-openai-instance",
            {"user_config": slow},
            400,
            f"user_config.model_list[1].litellm_params.{field}",
        )
    # A client does not set its own prices (a zero or negative one would dodge or lower its budget).
    for field, price in (("input_cost_per_token", 0), ("output_cost_per_token", -1.0)):
        priced = copy.deepcopy(config)
        priced["model_list"][1]["model_info"] = {field: price}
        param = f"user_config.model_list[1].model_info.{field}"
        body = refused(gw, "user-openai-instance", {"user_config": priced}, 400, param)
        assert body["code"] == "unsupported_parameter" and "price table" in body["message"]
    body = refused(gw_off, "user-openai-instance", {"user_config": config}, 403, "user_config")
    assert body["code"] == "client_side_credentials_disabled" and "allow_user_config" in body["message"]
    assert client_openai.requests == []


# ---- per-request credentials ----------------------------------------------------------------------


def test_seed_api_key_and_api_base_reach_only_the_clients_upstream(gw, client_openai, operator_fake):
    extra = {"api_key": CLIENT_KEY, "api_base": client_openai.url + "/v1"}
    raw = chat(gw, "gpt-3.5-turbo", extra)
    assert raw.parse().choices[0].message.content
    assert stream_text(gw, "gpt-3.5-turbo", extra)
    for seen in client_openai.requests:
        assert seen.headers["authorization"] == f"Bearer {CLIENT_KEY}"
        assert seen.json["model"] == "gpt-4o-mini"  # the operator's model mapping still applies
        assert "api_key" not in seen.json and "api_base" not in seen.json
    assert len(client_openai.requests) == 2 and operator_fake.requests == []


def test_client_credentials_work_on_every_route(gw, client_openai):
    extra = {"api_key": CLIENT_KEY, "base_url": client_openai.url + "/v1"}
    client = gw.client()
    assert client.embeddings.create(model="gpt-3.5-turbo", input="hi", extra_body=extra).data
    assert client.completions.create(model="gpt-3.5-turbo", prompt="hi", extra_body=extra).choices
    assert [r.path for r in client_openai.requests] == ["/v1/embeddings", "/v1/completions"]
    assert all(r.headers["authorization"] == f"Bearer {CLIENT_KEY}" for r in client_openai.requests)


def test_a_client_key_alone_goes_to_the_operators_upstream_instead_of_the_operators_key(gw, operator_fake):
    body = refused(gw, "key-only", {"api_key": WRONG_CLIENT_KEY}, 401, None)
    assert WRONG_CLIENT_KEY not in body["message"] and "[redacted]" in body["message"]  # upstream echoed it
    [seen] = operator_fake.requests
    assert seen.headers["authorization"] == f"Bearer {WRONG_CLIENT_KEY}"
    operator_fake.api_key = CLIENT_KEY  # an upstream where the client's key is valid
    try:
        assert chat(gw, "key-only", {"api_key": CLIENT_KEY}).parse().choices
    finally:
        operator_fake.api_key = OPERATOR_KEY
    assert operator_fake.requests[-1].headers["authorization"] == f"Bearer {CLIENT_KEY}"
    assert not any(OPERATOR_KEY in r.headers.get("authorization", "") for r in operator_fake.requests)


def test_wildcard_models_take_client_bases_by_regex(gw, client_openai):
    """Seed: `fireworks_ai/*` with configurable_clientside_auth_params [{api_base: regex}]."""
    extra = {"api_key": CLIENT_KEY, "api_base": client_openai.url + "/v1"}
    assert chat(gw, "fireworks_ai/llama-v3-70b", extra).parse().choices
    [seen] = client_openai.requests
    assert seen.json["model"] == "llama-v3-70b" and seen.headers["authorization"] == f"Bearer {CLIENT_KEY}"


def test_provider_params_are_consumed_and_unmapped_params_pass_through(gw, client_openai):
    extra = {
        "api_key": CLIENT_KEY,
        "api_base": client_openai.url + "/v1",
        "vertex_ai_location": "us-east1",  # seed: a provider auth param the model allows
        "top_k": 7,  # unmapped: a provider-specific param
        "custom_flag": {"nested": [1, 2]},
    }
    assert chat(gw, "gpt-3.5-turbo", extra).parse().choices
    [seen] = client_openai.requests
    assert seen.json["top_k"] == 7 and seen.json["custom_flag"] == {"nested": [1, 2]}
    for consumed in ("api_key", "api_base", "vertex_ai_location", "vertex_location"):
        assert consumed not in seen.json


def test_unsupported_openai_params_follow_drop_params_and_allowed_openai_params(gw, client_anthropic):
    config = {
        "model_list": [
            {
                "model_name": "my-claude",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_key": CLIENT_ANTHROPIC_KEY,
                    "api_base": client_anthropic.url,
                },
            }
        ]
    }
    body = refused(gw, "my-claude", {"user_config": config}, 400, "seed", seed=42)
    assert "drop_params" in body["message"] and client_anthropic.requests == []
    assert chat(gw, "my-claude", {"user_config": config, "drop_params": True, "top_k": 3}, seed=42).parse()
    assert chat(gw, "my-claude", {"user_config": config, "allowed_openai_params": ["seed"]}, seed=42).parse()
    first, second = client_anthropic.requests
    assert first.headers["x-api-key"] == CLIENT_ANTHROPIC_KEY
    assert "seed" not in first.json and first.json["top_k"] == 3


def test_user_config_secrets_headers_and_credential_settings_reach_the_upstream(gw, client_openai):
    config = {
        "model_list": [
            {
                "model_name": "mine",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": client_openai.url + "/v1",
                    "api_key": CLIENT_KEY,
                    "extra_headers": {"x-client-token": CLIENT_HEADER_TOKEN},
                    "aws_secret_access_key": CLIENT_AWS_SECRET,
                },
            }
        ]
    }
    assert chat(gw, "mine", {"user_config": config}).parse().choices
    [seen] = client_openai.requests
    assert seen.headers["x-client-token"] == CLIENT_HEADER_TOKEN
    assert "aws_secret_access_key" not in seen.json  # a provider setting, never a body param


# ---- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("api_key", CLIENT_KEY),
        ("api_base", "http://127.0.0.1:9/v1"),
        ("base_url", "http://127.0.0.1:9/v1"),
        ("api_version", "2024-10-21"),
        ("organization", "org-client"),
        ("vertex_project", "client-project"),
        ("aws_secret_access_key", CLIENT_AWS_SECRET),
    ],
)
def test_a_model_that_lists_nothing_refuses_every_credential_param(gw, operator_fake, canary, param, value):
    """Without allow_client_side_credentials, a model's own list is the only opt-in."""
    body = refused(gw, "locked", {param: value}, 403, param)
    assert body["code"] == "param_not_allowed"
    assert "configurable_clientside_auth_params" in body["message"]
    assert operator_fake.requests == [] and canary.settle(0.05) == 0


def test_the_switch_opens_key_base_and_version_on_every_model(gw_open, client_openai, operator_fake, canary):
    """LiteLLM's allow_client_side_credentials: true (seed's "More examples": api_key, api_base
    and api_version in extra_body for a model that lists nothing)."""
    extra = {"api_key": CLIENT_KEY, "api_base": client_openai.url + "/v1", "api_version": "2024-10-21"}
    assert chat(gw_open, "locked", extra).parse().choices
    [seen] = client_openai.requests
    assert seen.headers["authorization"] == f"Bearer {CLIENT_KEY}" and operator_fake.requests == []
    # Still under every key-forwarding and URL rule: no operator key to a client URL, ...
    refused(gw_open, "locked", {"api_base": canary.url()}, 400, "api_key")
    # ... a model's own regex still narrows api_base, and other provider params stay per model.
    refused(
        gw_open, "gpt-3.5-turbo", {"api_key": CLIENT_KEY, "api_base": canary.url(path="/v2")}, 403, "api_base"
    )
    refused(gw_open, "locked", {"api_key": CLIENT_KEY, "organization": "org-x"}, 403, "organization")
    assert canary.settle(0.05) == 0 and operator_fake.requests == []


@pytest.mark.parametrize(
    ("model", "extra", "status", "param"),
    [
        ("locked", {"api_key": CLIENT_KEY}, 403, "api_key"),
        ("key-only", {"api_key": CLIENT_KEY, "api_base": "CANARY"}, 403, "api_base"),
        ("key-only", {"api_key": CLIENT_KEY, "api_version": "2024-10-21"}, 403, "api_version"),
        ("gpt-3.5-turbo", {"api_key": CLIENT_KEY, "vertex_project": "client-project"}, 403, "vertex_project"),
        ("gpt-3.5-turbo", {"api_key": CLIENT_KEY, "api_base": "CANARY_LOCALHOST"}, 403, "api_base"),
        ("gpt-3.5-turbo", {"api_key": CLIENT_KEY, "api_base": "CANARY_V2"}, 403, "api_base"),
        ("gpt-3.5-turbo", {"api_base": "CANARY"}, 400, "api_key"),  # the operator's key stays home
        ("gpt-3.5-turbo", {"base_url": "CANARY"}, 400, "api_key"),
        ("open-base", {"api_base": "CANARY"}, 400, "api_key"),
        ("optin-loose", {"api_base": "CANARY"}, 403, "api_base"),  # its regex does not pin the host
        (
            "gpt-3.5-turbo",
            {"api_key": CLIENT_KEY, "api_base": "CANARY", "base_url": "CANARY"},
            400,
            "base_url",
        ),
        ("gpt-3.5-turbo", {"api_key": "sk-x\nInjected: 1", "api_base": "CANARY"}, 400, "api_key"),
        ("gpt-3.5-turbo", {"api_key": CLIENT_KEY, "api_version": "v1/../../admin"}, 400, "api_version"),
    ],
)
def test_refused_params_name_the_param_and_open_no_connection(
    gw, operator_fake, canary, model, extra, status, param
):
    urls = {
        "CANARY": canary.url(),
        "CANARY_LOCALHOST": canary.url("localhost"),
        "CANARY_V2": canary.url(path="/v2"),
    }
    extra = {k: urls.get(v, v) if isinstance(v, str) else v for k, v in extra.items()}
    refused(gw, model, extra, status, param)
    assert canary.settle(0.05) == 0 and operator_fake.requests == []


def test_a_virtual_key_or_its_team_can_switch_client_credentials_off(gw, operator_fake):
    """The model allows client keys; a key whose team says allow_client_side_credentials: false
    may still call models with the operator's credentials, never with its own."""
    admin = {"authorization": f"Bearer {gw.master_key}"} if gw.master_key else {}
    team = httpx.post(
        gw.url + "/team/new",
        headers=admin,
        json={"team_alias": "no-byok", "metadata": {"allow_client_side_credentials": False}},
    )
    assert team.status_code == 200, team.text
    made = httpx.post(gw.url + "/key/generate", headers=admin, json={"team_id": team.json()["team_id"]})
    assert made.status_code == 200, made.text
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=made.json()["key"], max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(
            model="gpt-3.5-turbo", messages=MESSAGES, extra_body={"api_key": CLIENT_KEY}
        )
    body = caught.value.response.json()["error"]
    assert body["param"] == "api_key" and body["code"] == "client_side_credentials_disabled"
    assert "this API key" in body["message"]
    assert client.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES).choices
    assert [r.headers["authorization"] for r in operator_fake.requests] == [f"Bearer {OPERATOR_KEY}"]


def test_the_switch_per_key_and_per_user_and_turned_back_on(gw, client_openai, operator_fake):
    admin = httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"})
    off = {"metadata": {"allow_client_side_credentials": False}}
    key = admin.post("/key/generate", json=off).json()["key"]
    user = admin.post("/user/new", json={"user_id": "no-byok-user", **off}).json()["key"]
    extra = {"api_key": CLIENT_KEY, "api_base": client_openai.url + "/v1"}
    for virtual in (key, user):
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=virtual, max_retries=0)
        with pytest.raises(openai.PermissionDeniedError) as caught:
            client.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES, extra_body=extra)
        record_response(caught.value.response)
        assert caught.value.code == "client_side_credentials_disabled"
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(
                model="x", messages=MESSAGES, extra_body={"user_config": {"model_list": []}}
            )
    assert client_openai.requests == [] and operator_fake.requests == []
    # Switched back on by /key/update (this process drops its cached entry at once).
    on = {"metadata": {"allow_client_side_credentials": True}}
    updated = admin.post("/key/update", json={"key": key, **on})
    assert updated.status_code == 200, updated.text
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES, extra_body=extra)
    assert reply.choices and len(client_openai.requests) == 1


def test_credentials_inside_fallback_entries_are_refused_not_dropped(gw, operator_fake):
    """LiteLLM accepts fallbacks=[{"model": ..., "api_key": ...}]; running such a fallback with
    the operator's key instead would be a silent surprise, so it is refused by name."""
    fallbacks = [{"model": "locked", "api_key": CLIENT_KEY}]
    body = refused(gw, "key-only", {"fallbacks": fallbacks}, 400, "fallbacks[0].api_key")
    assert body["code"] == "unsupported_parameter"
    assert operator_fake.requests == []


def test_whole_answers_from_a_client_upstream_are_capped(gw, client_openai, monkeypatch):
    # The bound holds for every upstream (tests/server/test_upstream_bounds.py); here a client's.
    limits = UpstreamLimits(upstream_max_body_mb=2000 / (1024 * 1024))
    monkeypatch.setattr(gw.state.http, "limits", limits)
    client_openai.script(Reply(text="word " * 1000))
    extra = {"api_key": CLIENT_KEY, "api_base": client_openai.url + "/v1"}
    body = refused(gw, "gpt-3.5-turbo", extra, 502, None)
    assert "larger than 2000 bytes" in body["message"]
    assert chat(gw, "gpt-3.5-turbo", extra).parse().choices  # small answers still pass


def test_the_operator_opt_in_sends_its_key_to_a_pinned_client_base(gw, client_openai, operator_fake):
    refused(gw, "optin", {"api_base": client_openai.url + "/v1"}, 401, None)  # our fake wants the client key
    [seen] = client_openai.requests
    assert seen.headers["authorization"] == f"Bearer {OPERATOR_KEY}"  # what the operator asked for
    assert operator_fake.requests == []


def test_client_credentials_never_fall_back_to_a_model_that_does_not_allow_them(gw, operator_fake):
    operator_fake.default = Error(500, message="primary down")
    body = refused(gw, "with-fallback", {"api_key": CLIENT_KEY}, 403, "api_key")
    assert "locked" in body["message"]
    [seen] = operator_fake.requests  # only the first group was tried, with the client's key
    assert seen.headers["authorization"] == f"Bearer {CLIENT_KEY}"


def test_a_clients_bad_key_never_cools_down_the_operators_deployments(gw, operator_fake):
    for _ in range(4):
        refused(gw, "pair", {"api_key": WRONG_CLIENT_KEY}, 401, None)
    assert len(operator_fake.requests) == 8  # both deployments, every time
    health = httpx.get(gw.url + "/health", headers={"authorization": f"Bearer {MASTER}"}).json()
    record_response(httpx.Response(200, json=health))
    assert health["unhealthy_count"] == 0
    assert chat(gw, "pair", {}).parse().choices  # the operator's own traffic is unaffected
    assert operator_fake.requests[-1].headers["authorization"] == f"Bearer {OPERATOR_KEY}"


# ---- no client key anywhere ---------------------------------------------------------------------------


def test_no_key_in_any_response_log_or_cached_router(gw, client_openai, client_azure, operator_fake):
    """Runs the shapes above once more with upstreams that echo keys, then greps everything the
    module's gateways said (responses and logs) and everything the gateway still holds."""
    echo = "Incorrect API key provided: {key}. Bearer {key}"
    client_openai.script(
        Error(401, message=echo.format(key=CLIENT_KEY)), Error(500, message=f"boom {CLIENT_KEY}")
    )
    client_openai.script(Reply(text="a b c", error_after=1))
    extra = {"api_key": CLIENT_KEY, "api_base": client_openai.url + "/v1"}
    for _ in range(2):
        with pytest.raises(openai.APIStatusError) as caught:
            gw.client().chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES, extra_body=extra)
        record_response(caught.value.response)
    with pytest.raises(openai.APIError):
        stream_text(gw, "gpt-3.5-turbo", extra)
    client_azure.default = Error(401, message=f"Access denied for key {CLIENT_AZURE_KEY}")
    config = seed_user_config(client_azure.url, client_openai.url)
    config["fallbacks"] = []
    with pytest.raises(openai.APIStatusError) as caught:
        gw.client().chat.completions.create(
            model="user-azure-instance", messages=MESSAGES, extra_body={"user_config": config}
        )
    record_response(caught.value.response)
    assert "[redacted]" in caught.value.response.text
    time.sleep(0.1)  # let log lines of the last requests land
    said = "\n".join(TRANSCRIPT) + "\n" + "\n".join(LOG_LINES)
    assert len(TRANSCRIPT) >= 10 and len(LOG_LINES) >= 5
    for key in ALL_KEYS:
        assert key not in said, f"a key leaked into a response or log line: {key[:8]}..."
    # Nothing the gateway keeps between requests holds a client secret.
    state = gw.state
    assert holds_any((state.router, state.client_routers, state.config), CLIENT_SECRETS) == []
    assert OPERATOR_FIREWORKS_KEY not in said
    # Nor anything it stored: once the spend rows of this module's requests are written, every
    # byte under the gateway's data dir (SQLite database, its journal, the spend spool).
    writer = state.writer
    deadline = time.monotonic() + 15
    while writer.queue_depth or writer.stats.written < 10:
        assert time.monotonic() < deadline, "spend rows were never written"
        time.sleep(0.1)
    files = [p for p in Path(gw.env["POLYROUTE_DATA_DIR"]).rglob("*") if p.is_file()]
    assert any(p.name == "polyroute.db" for p in files)
    stored = b"".join(p.read_bytes() for p in files)
    assert b"user-azure-instance" in stored  # the rows are there, readable in these bytes
    for key in CLIENT_SECRETS:
        assert key.encode() not in stored, f"a client key was stored: {key[:8]}..."
