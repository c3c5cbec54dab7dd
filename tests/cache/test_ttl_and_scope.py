"""TTL, s-maxage and scopes, with the cache's clock injected (no sleeping)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyroute.cache.build import build_response_cache
from tests.cache.conftest import cache_config
from tests.gateway import GatewayServer
from tests.keys.conftest import Admin
from tests.state.support import FakeClock


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


def gateway_with(upstream, tmp: Path, clock: FakeClock, **params) -> GatewayServer:
    server = GatewayServer(cache_config(upstream.url, **params), tmp)
    server.state.cache = build_response_cache(server.state, clock=clock)
    return server


@pytest.fixture(scope="module")
def ttl_gateway(upstream, tmp_path_factory, clock) -> Iterator[GatewayServer]:
    with gateway_with(upstream, Path(tmp_path_factory.mktemp("ttl")), clock, type="local", ttl=60) as server:
        yield server


def ask(gateway: GatewayServer, messages, api_key: str | None = None, **extra) -> str:
    raw = gateway.client(api_key=api_key).chat.completions.with_raw_response.create(
        model="gpt", messages=messages, extra_body=extra or None
    )
    return raw.headers["x-polyroute-cache"]


def test_configured_ttl_expires(ttl_gateway, upstream, clock) -> None:
    messages = [{"role": "user", "content": uuid.uuid4().hex}]
    assert ask(ttl_gateway, messages) == "miss"
    clock.advance(59.5)
    assert ask(ttl_gateway, messages) == "hit"
    clock.advance(0.5)
    assert ask(ttl_gateway, messages) == "miss"
    assert len(upstream.requests) == 2


def test_request_ttl_wins(ttl_gateway, upstream, clock) -> None:
    messages = [{"role": "user", "content": uuid.uuid4().hex}]
    assert ask(ttl_gateway, messages, cache={"ttl": 5}) == "miss"
    clock.advance(4)
    assert ask(ttl_gateway, messages) == "hit"
    clock.advance(1)
    assert ask(ttl_gateway, messages) == "miss"


def test_s_maxage_reads_only_young_entries(ttl_gateway, upstream, clock) -> None:
    messages = [{"role": "user", "content": uuid.uuid4().hex}]
    assert ask(ttl_gateway, messages) == "miss"
    clock.advance(10)
    assert ask(ttl_gateway, messages, cache={"s-maxage": 20}) == "hit"
    assert ask(ttl_gateway, messages, cache={"s-maxage": 5}) == "miss"  # and stores a fresh one
    assert ask(ttl_gateway, messages, cache={"s-maxage": 5}) == "hit"
    assert len(upstream.requests) == 2


@pytest.mark.parametrize("scope", ["global", "team"])
def test_shared_scopes(upstream, tmp_path, clock, scope) -> None:
    with gateway_with(upstream, tmp_path, clock, type="local", scope=scope) as gateway:
        admin = Admin(gateway.url)
        team = admin.ok("POST", "/team/new", team_alias="t-" + uuid.uuid4().hex[:6])["team_id"]
        first = admin.new_key(team_id=team)["key"]
        second = admin.new_key(team_id=team)["key"]
        outsider = admin.new_key()["key"]
        messages = [{"role": "user", "content": uuid.uuid4().hex}]
        assert ask(gateway, messages, api_key=first) == "miss"
        assert ask(gateway, messages, api_key=second) == "hit"
        assert ask(gateway, messages, api_key=outsider) == ("hit" if scope == "global" else "miss")


def test_a_redis_that_is_down_is_a_miss_not_a_failure(upstream, tmp_path, caplog) -> None:
    from tests.fakes.base import free_port

    params = {"type": "redis", "host": "127.0.0.1", "port": free_port()}  # nothing listens there
    with GatewayServer(cache_config(upstream.url, **params), tmp_path) as gateway:
        messages = [{"role": "user", "content": uuid.uuid4().hex}]
        with caplog.at_level("WARNING", logger="polyroute.cache"):
            assert ask(gateway, messages) == "miss"
            assert ask(gateway, messages) == "miss"
        assert len(upstream.requests) == 2
        assert gateway.state.cache.failures == 4  # two lookups, two stores
        warnings = [r for r in caplog.records if "response cache redis unavailable" in r.getMessage()]
        assert len(warnings) == 1  # once a minute, not once a request
