"""Clients and the cloud providers' settings, through the openai SDK against a real gateway whose
Bedrock and Vertex AI deployments reach the loopback fakes (tests/fakes/bedrock.py, vertex.py).

A client may bring its own cloud credentials, but never makes the gateway use the operator's at
a place the client chose: no `vertex_credentials` file path (the gateway would read the
operator's service-account file), no `token_uri` of the client's (google-auth would POST
wherever it says), no URL-forming value outside the cloud's shape, no `aws_profile_name` (the
operator's ~/.aws), no client endpoint signed with the operator's keys, and no client-defined
(`user_config`) deployment that falls back to the process's ambient cloud identity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.base import Reply
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.vertex import FakeVertex
from tests.gateway import GatewayServer
from tests.server.client_credentials.support import LOG_LINES

MASTER = "sk-master-cloudsettings-0123456789ab"
OPERATOR_AWS_ID = "AKIAOPERATOR000000001"
OPERATOR_AWS_SECRET = "operator/aws/secret+0123456789abcdefghij"
CLIENT_AWS_ID = "AKIACLIENT0000000001"
CLIENT_AWS_SECRET = "client/aws/secret+9876543210zyxwvutsrq"
BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
MESSAGES = [{"role": "user", "content": "Say hi."}]
KEYS = {OPERATOR_AWS_ID: (OPERATOR_AWS_SECRET, None), CLIENT_AWS_ID: (CLIENT_AWS_SECRET, None)}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("cloud")
    with (
        FakeVertex() as vertex,
        FakeVertex() as client_vertex,
        FakeBedrock(keys=KEYS) as bedrock,
        FakeBedrock(keys=KEYS) as client_bedrock,
    ):
        key_file = tmp / "operator-service-account.json"
        key_file.write_text(json.dumps(vertex.service_account_info()))
        operator_aws = {"aws_access_key_id": OPERATOR_AWS_ID, "aws_secret_access_key": OPERATOR_AWS_SECRET}
        config = {
            "model_list": [
                {
                    "model_name": "vertex-open",
                    "litellm_params": {
                        "model": "vertex_ai/gemini-2.5-flash",
                        "api_base": vertex.url,
                        "vertex_project": vertex.project,
                        "vertex_credentials": str(key_file),  # the operator's own file
                        "configurable_clientside_auth_params": [
                            "vertex_credentials",
                            "vertex_location",
                            "vertex_project",
                            "api_base",
                        ],
                    },
                },
                {
                    "model_name": "bedrock-open",
                    "litellm_params": {
                        "model": f"bedrock/{BEDROCK_MODEL}",
                        "aws_bedrock_runtime_endpoint": bedrock.url,
                        "aws_region_name": "us-east-1",
                        **operator_aws,
                        "configurable_clientside_auth_params": [
                            "aws_access_key_id",
                            "aws_secret_access_key",
                            "aws_region_name",
                            "aws_bedrock_runtime_endpoint",
                            "aws_profile_name",
                        ],
                    },
                },
            ],
            "general_settings": {"master_key": MASTER, "allowed_client_url_hosts": ["127.0.0.1"]},
        }
        with GatewayServer(config, tmp) as gateway:
            yield {
                "gateway": gateway,
                "vertex": vertex,
                "client_vertex": client_vertex,
                "bedrock": bedrock,
                "client_bedrock": client_bedrock,
                "key_file": key_file,
            }


@pytest.fixture
def env(cloud) -> dict[str, Any]:
    for name in ("vertex", "client_vertex", "bedrock", "client_bedrock"):
        cloud[name].reset()
    return cloud


def _refused(env: dict[str, Any], model: str, extra: dict[str, Any]) -> openai.APIStatusError:
    client = env["gateway"].client()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=MESSAGES, extra_body={"num_retries": 0, **extra})
    for name in ("vertex", "client_vertex", "bedrock", "client_bedrock"):
        assert not env[name].requests, f"{name} was called"
    assert env["vertex"].token_requests == 0 and env["client_vertex"].token_requests == 0
    return caught.value


def _error(exc: openai.APIStatusError) -> dict[str, Any]:
    return exc.response.json()["error"]


def test_operator_models_work_as_configured(env):
    env["vertex"].script(Reply(text="hi from vertex"))
    env["bedrock"].script(Reply(text="hi from bedrock"))
    client = env["gateway"].client()
    answer = client.chat.completions.create(model="vertex-open", messages=MESSAGES)
    assert answer.choices[0].message.content == "hi from vertex"
    answer = client.chat.completions.create(model="bedrock-open", messages=MESSAGES)
    assert answer.choices[0].message.content == "hi from bedrock"
    assert f"Credential={OPERATOR_AWS_ID}/" in env["bedrock"].requests[-1].headers["authorization"]


def test_a_client_vertex_credentials_path_is_refused_per_request(env):
    # The operator's own service-account file, named by a client: the gateway must not read it.
    exc = _refused(env, "vertex-open", {"vertex_credentials": str(env["key_file"])})
    assert exc.status_code == 400
    assert _error(exc)["param"] == "vertex_credentials"
    assert "path" in _error(exc)["message"]


def test_a_client_vertex_credentials_path_is_refused_in_user_config(env):
    user_config = {
        "model_list": [
            {
                "model_name": "mine",
                "litellm_params": {
                    "model": "vertex_ai/gemini-2.5-flash",
                    "api_base": env["vertex"].url,
                    "vertex_project": env["vertex"].project,
                    "vertex_credentials": str(env["key_file"]),
                },
            }
        ]
    }
    exc = _refused(env, "mine", {"user_config": user_config})
    assert exc.status_code == 400
    assert _error(exc)["param"] == "user_config.model_list[0].litellm_params.vertex_credentials"


def test_a_client_token_uri_is_refused(env):
    # A valid service-account JSON whose token_uri points at a host of the client's choosing:
    # google-auth would POST a signed assertion there from inside the gateway's network.
    info = env["client_vertex"].service_account_info()
    for sent in (info, json.dumps(info)):
        exc = _refused(env, "vertex-open", {"vertex_credentials": sent})
        assert exc.status_code == 400
        assert _error(exc)["param"] == "vertex_credentials.token_uri"
    assert info["private_key"] not in json.dumps(_error(exc))


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("vertex_location", "attacker.example:8080"),
        ("vertex_location", "us-central1.evil"),
        ("vertex_project", "proj.attacker.example"),
        ("vertex_project", "a"),
    ],
)
def test_vertex_url_values_from_clients_are_validated(env, param, value):
    exc = _refused(env, "vertex-open", {param: value})
    assert exc.status_code == 400
    assert _error(exc)["param"] == param


@pytest.mark.parametrize("value", ["127.0.0.1:8080", "us-east-1.attacker.example", "US-EAST-1"])
def test_aws_region_from_clients_is_validated(env, value):
    exc = _refused(env, "bedrock-open", {"aws_region_name": value})
    assert exc.status_code == 400
    assert _error(exc)["param"] == "aws_region_name"


def test_user_config_url_values_are_validated_naming_the_field(env):
    user_config = {
        "model_list": [
            {
                "model_name": "mine",
                "litellm_params": {
                    "model": "vertex_ai/gemini-2.5-flash",
                    "vertex_project": "my-project-1",
                    "vertex_location": "127.0.0.1:8080/x?",
                    "vertex_credentials": {"type": "service_account"},
                },
            }
        ]
    }
    exc = _refused(env, "mine", {"user_config": user_config})
    assert exc.status_code == 400
    assert _error(exc)["param"] == "user_config.model_list[0].litellm_params.vertex_location"


def test_aws_profile_name_is_refused_from_clients(env):
    # Listed by the operator, and still refused: a profile is read from the gateway's own files.
    exc = _refused(env, "bedrock-open", {"aws_profile_name": "default"})
    assert exc.status_code == 403
    assert _error(exc)["param"] == "aws_profile_name"
    user_config = {
        "model_list": [
            {
                "model_name": "mine",
                "litellm_params": {
                    "model": f"bedrock/{BEDROCK_MODEL}",
                    "aws_region_name": "us-east-1",
                    "aws_profile_name": "default",
                },
            }
        ]
    }
    exc = _refused(env, "mine", {"user_config": user_config})
    assert exc.status_code == 403
    assert _error(exc)["param"] == "user_config.model_list[0].litellm_params.aws_profile_name"


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({"model": f"bedrock/{BEDROCK_MODEL}", "aws_region_name": "us-east-1"}, "aws_access_key_id"),
        (
            {
                "model": f"bedrock/{BEDROCK_MODEL}",
                "aws_region_name": "us-east-1",
                "aws_access_key_id": "AKIAX",
            },
            "aws_secret_access_key",
        ),
        ({"model": "vertex_ai/gemini-2.5-flash", "vertex_project": "my-project-1"}, "vertex_credentials"),
    ],
)
def test_user_config_cloud_deployments_need_the_clients_own_credentials(env, params, missing):
    # Without them botocore / google-auth would use the gateway's ambient identity.
    exc = _refused(
        env, "mine", {"user_config": {"model_list": [{"model_name": "mine", "litellm_params": params}]}}
    )
    assert exc.status_code == 400
    assert _error(exc)["code"] == "missing_required_parameter"
    assert _error(exc)["param"] == f"user_config.model_list[0].litellm_params.{missing}"


def test_user_config_bedrock_with_the_clients_keys_goes_to_the_checked_url(env):
    env["client_bedrock"].script(Reply(text="hi from the client's bedrock"))
    user_config = {
        "model_list": [
            {
                "model_name": "mine",
                "litellm_params": {
                    "model": f"bedrock/{BEDROCK_MODEL}",
                    "api_base": env["client_bedrock"].url,  # loopback: allowed on this gateway
                    "aws_region_name": "us-east-1",
                    "aws_access_key_id": CLIENT_AWS_ID,
                    "aws_secret_access_key": CLIENT_AWS_SECRET,
                },
            }
        ]
    }
    client = env["gateway"].client()
    raw = client.chat.completions.with_raw_response.create(
        model="mine", messages=MESSAGES, extra_body={"user_config": user_config}
    )
    assert raw.parse().choices[0].message.content == "hi from the client's bedrock"
    assert f"Credential={CLIENT_AWS_ID}/" in env["client_bedrock"].requests[-1].headers["authorization"]
    assert CLIENT_AWS_SECRET not in raw.text
    assert not env["bedrock"].requests


def test_a_client_bedrock_endpoint_never_gets_the_operators_keys(env):
    # The operator's model with its own keys; the client names another endpoint without keys.
    exc = _refused(env, "bedrock-open", {"aws_bedrock_runtime_endpoint": env["client_bedrock"].url})
    assert exc.status_code == 400
    assert _error(exc)["param"] == "aws_access_key_id"


def test_a_client_bedrock_endpoint_with_the_clients_keys_is_used(env):
    env["client_bedrock"].script(Reply(text="client endpoint"))
    client = env["gateway"].client()
    answer = client.chat.completions.create(
        model="bedrock-open",
        messages=MESSAGES,
        extra_body={
            "aws_bedrock_runtime_endpoint": env["client_bedrock"].url,
            "aws_access_key_id": CLIENT_AWS_ID,
            "aws_secret_access_key": CLIENT_AWS_SECRET,
        },
    )
    assert answer.choices[0].message.content == "client endpoint"
    assert f"Credential={CLIENT_AWS_ID}/" in env["client_bedrock"].requests[-1].headers["authorization"]
    assert not env["bedrock"].requests


def test_a_client_api_base_on_a_vertex_model_needs_the_clients_credentials(env):
    exc = _refused(env, "vertex-open", {"api_base": env["client_vertex"].url})
    assert exc.status_code == 400
    assert _error(exc)["param"] == "vertex_credentials"


def test_user_config_bedrock_endpoint_is_checked_naming_it(env, tmp_path):
    # A gateway without the loopback allowance: the client's endpoint is refused after DNS.
    user_config = {
        "model_list": [
            {
                "model_name": "mine",
                "litellm_params": {
                    "model": f"bedrock/{BEDROCK_MODEL}",
                    "aws_bedrock_runtime_endpoint": env["client_bedrock"].url,
                    "aws_region_name": "us-east-1",
                    "aws_access_key_id": CLIENT_AWS_ID,
                    "aws_secret_access_key": CLIENT_AWS_SECRET,
                },
            }
        ]
    }
    with GatewayServer({"model_list": [], "general_settings": {"master_key": MASTER}}, tmp_path) as strict:
        with pytest.raises(openai.APIStatusError) as caught:
            strict.client().chat.completions.create(
                model="mine", messages=MESSAGES, extra_body={"user_config": user_config}
            )
    assert caught.value.status_code == 403
    assert _error(caught.value)["code"] == "unsafe_upstream_address"
    assert (
        _error(caught.value)["param"]
        == "user_config.model_list[0].litellm_params.aws_bedrock_runtime_endpoint"
    )
    assert not env["client_bedrock"].requests


def test_no_cloud_secret_reaches_a_log_line(env):
    # Runs last in this module: every request above was logged by the gateway (support.LOG_LINES).
    private_key = env["client_vertex"].service_account_info()["private_key"].splitlines()[1]
    secrets = (CLIENT_AWS_SECRET, OPERATOR_AWS_SECRET, private_key)
    assert LOG_LINES, "the gateway's log lines were not captured"
    assert not [line for line in LOG_LINES if any(secret in line for secret in secrets)]
