"""Random `sk-` tokens: "no such key" answers are cached apart from real keys (bounded, short
TTL, never evicting a real key), and each client address may make only so many lookups of keys
the gateway does not know (429 with Retry-After past it)."""

from __future__ import annotations

import secrets

import httpx
import pytest

from polyroute.auth.key_cache import KeyCache
from polyroute.auth.keys import KeyRecord
from polyroute.auth.unknown_keys import UnknownKeyLimiter
from polyroute.errors import RateLimitError
from tests.keys.test_key_cache import Clock, Loader


async def test_a_flood_of_unknown_tokens_never_evicts_a_real_key() -> None:
    loader, clock = Loader(), Clock()
    cache = KeyCache(loader, ttl_s=5, clock=clock, max_entries=10, max_misses=100)
    assert (await cache.get("known")).key_alias == "a"
    for i in range(1_000):  # ten times what the miss table holds
        assert await cache.get(f"random-{i}") is None
    assert cache.misses_cached <= 100 and len(cache) == 1
    calls = loader.calls
    assert (await cache.get("known")).key_alias == "a"
    assert loader.calls == calls  # still answered from the cache: no lookup


async def test_no_such_key_is_trusted_for_the_short_miss_ttl_only() -> None:
    loader, clock = Loader(), Clock()
    cache = KeyCache(loader, ttl_s=30, clock=clock, miss_ttl_s=2)
    assert await cache.get("new") is None
    assert cache.knows("new")
    loader.records["new"] = KeyRecord(token="new", key_alias="created elsewhere")
    clock.now += 1.9
    assert await cache.get("new") is None and loader.calls == 1
    clock.now += 0.2
    assert not cache.knows("new")
    assert (await cache.get("new")).key_alias == "created elsewhere"  # 2 s, not the 30 s key TTL
    assert cache.misses_cached == 0 and cache.knows("new")


def test_each_address_gets_a_bucket_of_unknown_key_lookups() -> None:
    clock = Clock()
    limiter = UnknownKeyLimiter(rate_per_s=2, burst=3, max_addresses=2, clock=clock)
    for _ in range(3):
        limiter.check("10.0.0.1")
    with pytest.raises(RateLimitError) as caught:
        limiter.check("10.0.0.1")
    assert caught.value.status == 429 and caught.value.code == "too_many_unknown_keys"
    assert caught.value.response_headers()["retry-after"] == "1"  # half a second, rounded up
    limiter.check("10.0.0.2")  # another address has its own bucket
    clock.now += 0.5
    limiter.check("10.0.0.1")  # one lookup back after 1 / rate seconds
    limiter.check("10.0.0.3")
    assert len(limiter) == 2  # bounded: the least recently seen address went


def test_random_tokens_get_429_after_the_burst_and_known_keys_keep_working(keys_gateway):
    admin_key = keys_gateway.master_key
    key = httpx.post(
        keys_gateway.url + "/key/generate", json={}, headers={"authorization": f"Bearer {admin_key}"}
    ).json()["key"]
    cache = keys_gateway.state.auth.keys
    models = keys_gateway.url + "/v1/models"
    assert httpx.get(models, headers={"authorization": f"Bearer {key}"}).status_code == 200
    # The configured rate and burst, on a clock that stands still: the count below is exact.
    limiter = keys_gateway.state.auth.unknown_keys = UnknownKeyLimiter(5, 20, clock=Clock())
    loads = cache.loads
    statuses = []
    for _ in range(30):
        token = "sk-" + secrets.token_hex(16)
        response = httpx.get(models, headers={"authorization": f"Bearer {token}"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "too_many_unknown_keys"
            assert int(response.headers["retry-after"]) >= 1
    assert statuses == [401] * 20 + [429] * 10
    assert cache.loads - loads == 20  # a 429 costs no lookup
    assert limiter.refused == 10
    assert httpx.get(models, headers={"authorization": f"Bearer {key}"}).status_code == 200
