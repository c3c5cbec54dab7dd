"""Vertex AI: addressing, the Anthropic-on-Vertex body, embeddings, error format detection,
config checks, and google-auth tokens refreshed off the request path (against the fake's real
token endpoint, with an injected clock)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import orjson
import pytest

from polyroute.config.loader import ConfigError, load_config
from polyroute.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    RateLimitError,
    ServiceUnavailableError,
)
from polyroute.providers.base import ProviderCall
from polyroute.providers.vertex.adapter import VertexAdapter
from polyroute.providers.vertex.auth import TokenSource
from polyroute.providers.vertex.embeddings import to_openai_embeddings, to_predict_body
from tests.fakes.vertex import FakeVertex


def _call(model, **extras):
    return ProviderCall("vertex_ai", model, extras={"vertex_project": "proj-1", **extras})


@pytest.mark.parametrize(
    "location, host",
    [
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
    ],
)
def test_urls_by_location(location, host):
    url = VertexAdapter().model_url(
        _call("gemini-2.5-pro", vertex_location=location), "google", "generateContent"
    )
    where = f"v1/projects/proj-1/locations/{location}"
    assert url == f"{host}/{where}/publishers/google/models/gemini-2.5-pro:generateContent"


def test_claude_body_is_anthropics_without_model_and_with_vertex_version():
    wire = VertexAdapter().chat_request(
        _call("claude-sonnet-4-5@20250929"),
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
        True,
    )
    body = orjson.loads(wire.body)
    assert wire.url.endswith(
        "/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    )
    assert body["anthropic_version"] == "vertex-2023-10-16" and "model" not in body
    assert body["messages"] == [{"role": "user", "content": "hi"}] and body["stream"] is True


def test_embeddings_translation():
    body = to_predict_body({"input": ["a b", "c"], "dimensions": 4, "task_type": "RETRIEVAL_QUERY"})
    assert body == {
        "instances": [
            {"content": "a b", "task_type": "RETRIEVAL_QUERY"},
            {"content": "c", "task_type": "RETRIEVAL_QUERY"},
        ],
        "parameters": {"outputDimensionality": 4},
    }
    answer = {"predictions": [{"embeddings": {"values": [0.1], "statistics": {"token_count": 2}}}] * 2}
    out = to_openai_embeddings(answer, "text-embedding-005")
    assert [d["index"] for d in out["data"]] == [0, 1] and out["usage"]["prompt_tokens"] == 4


def test_errors_in_google_or_anthropic_format():
    adapter = VertexAdapter()
    google = {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}
    assert isinstance(adapter.map_error(429, orjson.dumps(google), {}), RateLimitError)
    assert isinstance(adapter.map_error(429, orjson.dumps([google]), {}), RateLimitError)  # list-wrapped
    too_long = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 2 > 1"},
    }
    assert isinstance(adapter.map_error(400, orjson.dumps(too_long), {}), ContextWindowExceededError)
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    mapped = adapter.map_error(529, orjson.dumps(overloaded), {})
    assert isinstance(mapped, ServiceUnavailableError) and mapped.provider == "vertex_ai"


def test_project_is_required_and_read_from_fastchats_variable(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        json.dumps(
            {"model_list": [{"model_name": "v", "litellm_params": {"model": "vertex_ai/gemini-2.5-pro"}}]}
        )
    )
    with pytest.raises(ConfigError, match="needs a project"):
        load_config(path, {})
    [deployment] = load_config(
        path, {"GCP_PROJECT_ID": "proj-9", "GCP_LOCATION": "asia-east1"}
    ).models.resolve("v")
    assert deployment.call.extras == {"vertex_project": "proj-9", "vertex_location": "asia-east1"}


def test_fastchat_vertex_endpoint_entries_are_served(tmp_path):
    endpoints = {
        "gemini-vertex": {"model_name": "gemini-2.5-pro", "api_type": "vertex"},
        "claude-vertex": {"model_name": "claude-sonnet-4-5@20250929", "api_type": "anthropic_message_vertex"},
    }
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps(endpoints))
    loaded = load_config(None, {"GCP_PROJECT_ID": "proj-9"}, endpoint_file=path)
    for name in endpoints:
        [deployment] = loaded.models.resolve(name)
        assert deployment.provider == "vertex_ai"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def fake():
    with FakeVertex(expires_in=3600) as server:
        yield server


def test_tokens_are_refreshed_in_the_background_before_they_expire(fake):
    clock = Clock()
    source = TokenSource(json.dumps(fake.service_account_info()), refresh_ahead=300, clock=clock)

    async def scenario():
        first = await source.token()  # nothing usable yet: this request waits for the exchange
        assert fake.token_requests == 1 and await source.token() == first and source.refreshing.done()
        clock.offset = 3600 - 200  # inside the refresh window, still valid
        assert await source.token() == first  # answered at once with the current token ...
        refresh = source.refreshing
        assert refresh is not None and not refresh.done()  # ... while a refresh runs aside
        await refresh
        second = await source.token()
        assert second != first and fake.token_requests == 2
        return second

    fake.reset()
    asyncio.run(scenario())


def test_an_expired_token_is_never_used(fake):
    clock = Clock()
    source = TokenSource(json.dumps(fake.service_account_info()), clock=clock)

    async def scenario():
        first = await source.token()
        clock.offset = 3600 + 1
        assert await source.token() != first

    asyncio.run(scenario())


def test_refused_credentials_are_an_authentication_error_without_key_material(fake):
    info = fake.service_account_info()
    info["client_email"] = "someone-else@proj.iam.gserviceaccount.com"
    source = TokenSource(json.dumps(info))
    with pytest.raises(AuthenticationError) as raised:
        asyncio.run(source.token())
    assert "PRIVATE KEY" not in raised.value.message and "RefreshError" in raised.value.message


def test_external_account_credentials_are_refused():
    source = TokenSource(json.dumps({"type": "external_account", "credential_source": {"executable": {}}}))
    with pytest.raises(AuthenticationError, match="external_account"):
        asyncio.run(source.token())


def test_without_the_extra_start_up_says_which_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.auth", None)
    path = tmp_path / "c.yaml"
    path.write_text(
        json.dumps({"model_list": [{"model_name": "v", "litellm_params": {"model": "vertex_ai/g"}}]})
    )
    with pytest.raises(ConfigError, match="install polyroute with the 'vertex' extra"):
        load_config(path, {"GCP_PROJECT_ID": "p"})


def test_no_config_route_from_fastchats_variables():
    loaded = load_config(None, {"GCP_PROJECT_ID": "proj-9", "GCP_LOCATION": "europe-west4"})
    [deployment] = loaded.models.resolve("vertex_ai/gemini-2.5-flash")
    assert deployment.call.model == "gemini-2.5-flash"
    assert deployment.call.extras == {"vertex_project": "proj-9", "vertex_location": "europe-west4"}
    url = deployment.adapter.model_url(deployment.call, "google", "generateContent")
    assert url.startswith(
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj-9/locations/europe-west4/"
    )


def test_no_config_route_needs_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.auth", None)
    loaded = load_config(None, {"GCP_PROJECT_ID": "proj-9"})
    assert not [d for d in loaded.models.deployments if d.provider == "vertex_ai"]
    assert (
        "GCP_PROJECT_ID is set but vertex_ai needs google-auth: install polyroute with the 'vertex' extra: "
        "vertex_ai/<model> is not routable" in loaded.warnings
    )
