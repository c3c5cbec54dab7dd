"""The cloud providers' settings that build URLs or choose credentials: what the operator's config
may say (a ConfigError naming the key), and what a client may send (a 400/403 naming it)."""

from __future__ import annotations

import json

import orjson
import pytest
import yaml
import yarl
from cryptography.hazmat.primitives.asymmetric import rsa

from polyroute.auth.client_credentials import compile_policy, parse_client_params
from polyroute.auth.cloud_settings import (
    check_client_setting,
    client_vertex_credentials,
    missing_own_credentials,
    setting_problem,
)
from polyroute.config.loader import ConfigError, load_config
from polyroute.errors import InvalidRequestError, RefusedParamError
from polyroute.providers.base import ProviderCall
from polyroute.providers.registry import get_adapter
from polyroute.providers.vertex.adapter import VertexAdapter
from polyroute.providers.vertex.auth import load_credentials
from polyroute.router.client_credentials import apply_client_params, check_allowed
from polyroute.router.deployment import Deployment
from tests.fakes.vertex import service_account_info

GOOGLE = "https://oauth2.googleapis.com/token"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _google_service_account() -> dict:
    info = service_account_info("https://oauth2.googleapis.com", KEY, "client-project-1")
    assert info["token_uri"] == GOOGLE
    return info


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("vertex_location", "us-central1"),
        ("vertex_location", "global"),
        ("vertex_ai_location", "europe-west4"),
        ("vertex_project", "my-project-123"),
        ("vertex_project", "123456789012"),
        ("aws_region_name", "us-east-1"),
        ("aws_region_name", "ap-southeast-2"),
        ("aws_region_name", "us-gov-west-1"),
    ],
)
def test_cloud_shaped_values_pass(name, value):
    assert setting_problem(name, value) is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("vertex_location", "127.0.0.1:8080/x?"),
        ("vertex_location", "evil.com#"),
        ("vertex_location", "US-CENTRAL1"),
        ("vertex_location", "a" * 41),
        ("vertex_ai_location", "x/y"),
        ("vertex_project", "evil.com#"),
        ("vertex_project", "proj"),  # too short for a project id
        ("vertex_project", "Project-1"),
        ("vertex_project", "proj-"),
        ("vertex_ai_project", "p/../x"),
        ("aws_region_name", "127.0.0.1:8080"),
        ("aws_region_name", "us-east-1.evil.com"),
        ("aws_region_name", "useast1"),
        ("aws_region_name", 5),
    ],
)
def test_values_that_would_move_the_url_are_refused(name, value):
    assert setting_problem(name, value) is not None
    with pytest.raises(InvalidRequestError) as caught:
        check_client_setting(name, value, f"user_config.x.{name}")
    assert caught.value.param == f"user_config.x.{name}"
    assert caught.value.status == 400


def test_aws_profile_name_is_refused_from_clients():
    with pytest.raises(RefusedParamError) as caught:
        check_client_setting("aws_profile_name", "default", "aws_profile_name")
    assert (caught.value.status, caught.value.param) == (403, "aws_profile_name")


def test_client_vertex_credentials_accept_a_document_with_googles_token_endpoint():
    info = _google_service_account()
    for sent in (info, json.dumps(info, indent=2), "  " + json.dumps(info)):
        text = client_vertex_credentials(sent, "vertex_credentials")
        assert orjson.loads(text) == info
    # The accepted text loads as google-auth credentials whose token exchange goes to Google.
    credentials = load_credentials(client_vertex_credentials(info, "vertex_credentials"))
    assert credentials._token_uri == GOOGLE
    user = {"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    assert orjson.loads(client_vertex_credentials(user, "p")) == user  # google-auth uses Google's
    legacy = {**info, "token_uri": "https://accounts.google.com/o/oauth2/token"}
    assert client_vertex_credentials(legacy, "p")


@pytest.mark.parametrize(
    ("sent", "param"),
    [
        ("/etc/polyroute/service-account.json", "vertex_credentials"),
        ("~/.config/gcloud/application_default_credentials.json", "vertex_credentials"),
        ("{not json", "vertex_credentials"),
        ("[1, 2]", "vertex_credentials"),
        (["a"], "vertex_credentials"),
        (5, "vertex_credentials"),
        ({"type": "external_account", "token_url": "http://169.254.169.254/"}, "vertex_credentials.type"),
        (
            {"type": "service_account", "token_uri": "http://127.0.0.1:9/token"},
            "vertex_credentials.token_uri",
        ),
        (
            {"type": "authorized_user", "token_uri": "https://oauth2.googleapis.com.evil.example/token"},
            "vertex_credentials.token_uri",
        ),
        (
            {"type": "service_account", "token_uri": "https://oauth2.googleapis.com/token#x"},
            "vertex_credentials.token_uri",
        ),
        ('{"type": "service_account", "pad": "' + "x" * 70000 + '"}', "vertex_credentials"),
    ],
)
def test_client_vertex_credentials_refuse_paths_other_types_and_token_uris(sent, param):
    with pytest.raises(InvalidRequestError) as caught:
        client_vertex_credentials(sent, "vertex_credentials")
    assert (caught.value.status, caught.value.param) == (400, param)


def test_explicit_credentials_a_client_defined_deployment_needs():
    assert missing_own_credentials("bedrock", {}) == "aws_access_key_id"
    assert missing_own_credentials("bedrock", {"aws_access_key_id": "A"}) == "aws_secret_access_key"
    assert (
        missing_own_credentials("bedrock", {"aws_access_key_id": "A", "aws_secret_access_key": "S"}) is None
    )
    assert missing_own_credentials("vertex_ai", {}) == "vertex_credentials"
    assert missing_own_credentials("openai", {}) is None


def _load(tmp_path, params, env=None):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [{"model_name": "m", "litellm_params": params}]}))
    return load_config(path, env or {})


@pytest.mark.parametrize(
    ("params", "key"),
    [
        (
            {
                "model": "vertex_ai/gemini-2.5-flash",
                "vertex_project": "my-project-1",
                "vertex_location": "evil.com#",
            },
            "vertex_location",
        ),
        ({"model": "vertex_ai/gemini-2.5-flash", "vertex_project": "127.0.0.1:80/x?"}, "vertex_project"),
        (
            {"model": "bedrock/amazon.nova-lite-v1:0", "aws_region_name": "127.0.0.1:8080/x?"},
            "aws_region_name",
        ),
    ],
)
def test_operator_config_values_are_checked_at_load(tmp_path, params, key):
    with pytest.raises(ConfigError, match=rf"model 'm': litellm_params\.{key}: expected"):
        _load(tmp_path, params)


def test_values_from_the_operators_environment_are_checked_too(tmp_path):
    params = {"model": "vertex_ai/gemini-2.5-flash"}
    with pytest.raises(ConfigError, match=r"litellm_params\.vertex_location"):
        _load(tmp_path, params, {"GCP_PROJECT_ID": "my-project-1", "GCP_LOCATION": "x.evil.com/"})
    with pytest.raises(ConfigError, match=r"litellm_params\.aws_region_name"):
        _load(tmp_path, {"model": "bedrock/amazon.nova-lite-v1:0"}, {"AWS_REGION": "evil.com#"})
    loaded = _load(tmp_path, params, {"GCP_PROJECT_ID": "123456789012", "GCP_LOCATION": "global"})
    assert loaded.models.resolve("m")[0].call.extras["vertex_project"] == "123456789012"


def test_yandex_folder_id_and_vertex_model_ids_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"litellm_params\.folder_id"):
        _load(
            tmp_path,
            {"model": "yandexgpt/yandexgpt-lite", "api_key": "AQVN-k", "folder_id": "b1g\r\nX-Evil: 1"},
        )
    assert _load(
        tmp_path, {"model": "yandexgpt/yandexgpt-lite", "api_key": "AQVN-k", "folder_id": "b1gfolder"}
    )
    with pytest.raises(InvalidRequestError) as caught:
        check_client_setting("folder_id", "b1g/../x", "user_config.model_list[0].litellm_params.folder_id")
    assert caught.value.param == "user_config.model_list[0].litellm_params.folder_id"


def test_a_vertex_model_id_stays_one_path_segment():
    # A wildcard route (`vertex_ai/*`) puts the client's model name into the URL's path.
    adapter = VertexAdapter()
    call = ProviderCall(
        "vertex_ai", "../../../x/models/y:predict?z=#", extras={"vertex_project": "my-project-1"}
    )
    url = adapter.model_url(call, "google", "generateContent")
    prefix = "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project-1/locations/us-central1"
    assert (
        url
        == prefix
        + "/publishers/google/models/..%2F..%2F..%2Fx%2Fmodels%2Fy%3Apredict%3Fz%3D%23:generateContent"
    )
    sent = yarl.URL(url)  # as the HTTP client sends it: one segment, no query, no fragment
    assert (sent.raw_query_string, sent.raw_fragment) == ("", "")
    assert sent.raw_parts[-2:] == ("models", "..%2F..%2F..%2Fx%2Fmodels%2Fy:predict%3Fz=%23:generateContent")
    call = ProviderCall("vertex_ai", "claude-sonnet-4-5@20250929", extras={"vertex_project": "my-project-1"})
    assert adapter.model_url(call, "anthropic", "rawPredict").endswith(
        "/claude-sonnet-4-5@20250929:rawPredict"
    )


def _cloud_deployment(provider: str, entries, any_model: bool = False, opt_in: bool = False) -> Deployment:
    """An operator's cloud deployment with no keys of its own: it signs with the ambient identity."""
    policy, _ = compile_policy(entries, opt_in, "model 'c'", any_model=any_model)
    adapter = get_adapter(provider)
    assert adapter is not None
    call = ProviderCall(
        provider, "model-1", extras={"aws_region_name": "us-east-1", "vertex_project": "my-project-1"}
    )
    return Deployment(id="c1", model_name="c", adapter=adapter, call=call, client_policy=policy)


def _sent(**body):
    return parse_client_params(body, list(body))


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("vertex_ai", {"vertex_location": "europe-west4"}),
        ("vertex_ai", {"vertex_project": "other-project-1"}),
        ("bedrock", {"aws_region_name": "eu-west-1"}),
    ],
)
def test_the_switch_does_not_open_where_the_operators_ambient_credentials_go(provider, body):
    # allow_client_side_credentials opens api_key/api_base/api_version only: a client's region,
    # location or project with the operator's cloud identity needs the model's own list.
    with pytest.raises(RefusedParamError):
        check_allowed(_cloud_deployment(provider, None, any_model=True), _sent(**body), "c")
    listed = _cloud_deployment(provider, list(body))
    check_allowed(listed, _sent(**body), "c")
    assert apply_client_params(listed, _sent(**body)).call.extras.items() >= body.items()


@pytest.mark.parametrize(
    ("provider", "body", "missing"),
    [
        ("bedrock", {"api_base": "https://proxy.example"}, "aws_access_key_id"),
        (
            "bedrock",
            {"api_base": "https://proxy.example", "api_key": "sk-xyz-0123456789"},
            "aws_access_key_id",
        ),
        ("vertex_ai", {"api_base": "https://proxy.example"}, "vertex_credentials"),
        ("bedrock", {"aws_bedrock_runtime_endpoint": "https://proxy.example"}, "aws_access_key_id"),
    ],
)
def test_a_client_url_never_gets_the_operators_ambient_cloud_identity(provider, body, missing):
    entries = ["api_base", "aws_bedrock_runtime_endpoint", "aws_access_key_id", "aws_secret_access_key"]
    with pytest.raises(InvalidRequestError) as caught:
        check_allowed(_cloud_deployment(provider, entries, any_model=True), _sent(**body), "c")
    assert (caught.value.status, caught.value.param) == (400, missing)
    # The operator's opt-in for api_base is about its API key with a pinned host; a client's
    # Bedrock endpoint never gets the operator's identity.
    pinned = _cloud_deployment(
        provider, [{"api_base": r"^https://proxy\.example$"}, *entries[1:]], opt_in=True
    )
    if "aws_bedrock_runtime_endpoint" in body:
        with pytest.raises(InvalidRequestError):
            check_allowed(pinned, _sent(**body), "c")


def test_a_client_endpoint_with_the_clients_keys_is_a_checked_client_url():
    entries = ["aws_bedrock_runtime_endpoint", "aws_access_key_id", "aws_secret_access_key"]
    d = _cloud_deployment("bedrock", entries)
    d.call.extras["aws_access_key_id"] = "AKIAOPERATOR"
    d.call.extras["aws_secret_access_key"] = "operator-secret"
    sent = _sent(
        aws_bedrock_runtime_endpoint="https://proxy.example/",
        aws_access_key_id="AKIAC",
        aws_secret_access_key="client-secret",
    )
    check_allowed(d, sent, "c")
    used = apply_client_params(d, sent).call
    assert (used.api_base, used.client_url_param) == ("https://proxy.example", "aws_bedrock_runtime_endpoint")
    assert (
        used.extras["aws_access_key_id"] == "AKIAC"
        and used.extras["aws_secret_access_key"] == "client-secret"
    )


def test_an_operator_listing_aws_profile_name_is_warned_and_it_stays_refused():
    policy, warnings = compile_policy(["aws_profile_name", "aws_region_name"], False, "model 'c'")
    assert policy is not None and not policy.allows("aws_profile_name")
    assert len(warnings) == 1 and "aws_profile_name" in warnings[0] and "never accepted" in warnings[0]


@pytest.mark.parametrize(
    ("provider", "missing"), [("bedrock", "aws_access_key_id"), ("vertex_ai", "vertex_credentials")]
)
def test_adapters_never_sign_a_client_url_with_the_ambient_identity(provider, missing):
    adapter = get_adapter(provider)
    assert adapter is not None
    extras = {"aws_region_name": "us-east-1", "vertex_project": "my-project-1"}
    call = ProviderCall(provider, "model-1", api_base="https://proxy.example", extras=extras)
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert adapter.chat_request(call, body, stream=False).url.startswith(
        "https://proxy.example/"
    )  # the operator's
    call.client_url_param = "user_config.model_list[0].litellm_params.api_base"
    with pytest.raises(InvalidRequestError) as caught:
        adapter.chat_request(call, body, stream=False)
    assert (caught.value.status, caught.value.param) == (400, missing)
