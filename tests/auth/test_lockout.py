"""Brute force (auth/lockout.py): failed authentications from one address lock it out for a while
(429 `auth_locked_out` + Retry-After, a fail2ban line, a metric), in process or through Redis,
while the master key and keys already proven from that address keep working. Clocks injected."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from polyroute.auth.authenticator import Authenticator
from polyroute.auth.key_cache import KeyCache
from polyroute.auth.keys import KeyRecord, hash_key
from polyroute.auth.lockout import AuthLockout, LockoutSettings
from polyroute.auth.unknown_keys import UnknownKeyLimiter
from polyroute.errors import AuthenticationError, RateLimitError
from polyroute.secrets import Secret
from tests.conftest import MASTER_KEY
from tests.gateway import GatewayServer
from tests.keys.test_key_cache import Clock
from tests.observability.test_metrics import Scrape
from tests.state.support import delete_prefix, open_redis_state

ATTACKER = "203.0.113.7"
NEIGHBOUR = "203.0.113.8"
SETTINGS = LockoutSettings(failures=3, window_s=60, duration_s=300)
VALID = "sk-valid-key-of-a-real-user-0001"


def _random_key() -> str:
    return "sk-" + secrets.token_hex(16)


async def test_failures_within_the_window_lock_the_address_for_the_duration(caplog) -> None:
    clock = Clock()
    lockout = AuthLockout(SETTINGS, clock=clock)
    await lockout.failed(ATTACKER)
    await lockout.failed(ATTACKER)
    await lockout.check(ATTACKER)  # two failures: not yet
    with caplog.at_level(logging.WARNING, logger="polyroute.auth"):
        await lockout.failed(ATTACKER)
    assert f"auth lockout: address={ATTACKER} failures=3 retry_after=300" in caplog.text
    with pytest.raises(RateLimitError) as locked:
        await lockout.check(ATTACKER)
    assert locked.value.status == 429 and locked.value.code == "auth_locked_out"
    assert locked.value.response_headers()["retry-after"] == "300"
    await lockout.check(NEIGHBOUR)  # another address is not affected
    clock.now += 299
    with pytest.raises(RateLimitError) as later:
        await lockout.check(ATTACKER)
    assert later.value.response_headers()["retry-after"] == "1"
    clock.now += 1
    await lockout.check(ATTACKER)  # over: and the address starts afresh
    await lockout.failed(ATTACKER)
    await lockout.check(ATTACKER)


async def test_failures_spread_wider_than_the_window_never_lock() -> None:
    clock = Clock()
    lockout = AuthLockout(SETTINGS, clock=clock)
    for _ in range(10):
        await lockout.failed(ATTACKER)
        clock.now += 30.0  # two per minute against a limit of three
        await lockout.check(ATTACKER)


async def test_loopback_is_never_locked_and_zero_turns_it_off() -> None:
    lockout = AuthLockout(SETTINGS, clock=Clock())
    for _ in range(10):
        await lockout.failed("127.0.0.1")
        await lockout.failed("::1")
    await lockout.check("127.0.0.1")
    await lockout.check("::1")
    off = AuthLockout(LockoutSettings(failures=0), clock=Clock())
    for _ in range(10):
        await off.failed(ATTACKER)
    await off.check(ATTACKER)


async def test_memory_is_bounded_by_the_address_lru() -> None:
    lockout = AuthLockout(SETTINGS, clock=Clock(), max_addresses=50)
    for i in range(1_000):
        await lockout.failed(f"198.51.{i // 250}.{i % 250}")
    assert len(lockout._local) == 50


class _Loader:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, token: str) -> KeyRecord | None:
        self.calls += 1
        return KeyRecord(token=token, key_alias="real") if token == hash_key(VALID) else None


def _authenticator(lockout: AuthLockout, loader: _Loader) -> Authenticator:
    cache = KeyCache(loader, ttl_s=60)
    # A generous lookup bucket, so what refuses below is the lockout and not the bucket.
    unknown = UnknownKeyLimiter(rate_per_s=1000, burst=1000)
    return Authenticator(Secret(MASTER_KEY), False, cache, unknown, lockout)


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_a_locked_address_keeps_its_master_key_and_proven_keys_and_looks_nothing_up() -> None:
    loader = _Loader()
    auth = _authenticator(AuthLockout(SETTINGS, clock=Clock()), loader)
    assert (await auth.authenticate(_bearer(VALID), ATTACKER)).key.key_alias == "real"  # proven here
    with pytest.raises(AuthenticationError):
        await auth.authenticate({}, ATTACKER)  # a missing key is no guess: not counted
    for key in (_random_key(), "not-even-sk", _random_key()):
        with pytest.raises(AuthenticationError) as refused:
            await auth.authenticate(_bearer(key), ATTACKER)
        assert refused.value.code == "invalid_api_key"
    calls = loader.calls
    for key in (_random_key(), "not-even-sk"):
        with pytest.raises(RateLimitError) as locked:
            await auth.authenticate(_bearer(key), ATTACKER)
        assert locked.value.code == "auth_locked_out"
    assert loader.calls == calls  # a locked address's guesses cost no lookup
    assert (await auth.authenticate(_bearer(MASTER_KEY), ATTACKER)).is_admin
    assert (await auth.authenticate(_bearer(VALID), ATTACKER)).key.key_alias == "real"
    with pytest.raises(AuthenticationError):  # the neighbour gets the plain answer
        await auth.authenticate(_bearer(_random_key()), NEIGHBOUR)


@pytest.fixture
async def redis_states() -> AsyncIterator[tuple]:
    first = await open_redis_state()
    second = await open_redis_state(first.prefix)  # two processes of one fleet
    try:
        yield first, second
    finally:
        await delete_prefix(first.prefix)
        await first.close()
        await second.close()


async def test_through_redis_a_lock_taken_by_one_process_holds_in_all(redis_states) -> None:
    first, second = redis_states
    clock = Clock()
    one, two = AuthLockout(SETTINGS, first, clock=clock), AuthLockout(SETTINGS, second, clock=clock)
    await one.failed(ATTACKER)
    await two.failed(ATTACKER)  # counted together
    await two.check(ATTACKER)
    await one.failed(ATTACKER)
    for lockout in (one, two):
        with pytest.raises(RateLimitError) as locked:
            await lockout.check(ATTACKER)
        assert locked.value.response_headers()["retry-after"] == "300"
    await two.check(NEIGHBOUR)
    clock.now += 300
    await one.check(ATTACKER)
    await two.check(ATTACKER)


def test_end_to_end_a_client_address_is_locked_out_and_its_valid_key_still_works(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="polyroute")
    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m", "mock_response": "ok"}}],
        "general_settings": {"master_key": MASTER_KEY, "auth_lockout_failures": 3},
    }
    with GatewayServer(config, tmp_path) as gateway:
        admin = httpx.Client(base_url=gateway.url, headers=_bearer(MASTER_KEY), timeout=20)
        key = admin.post("/key/generate", json={}).json()["key"]
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

        def chat(api_key: str, address: str = ATTACKER) -> httpx.Response:
            # Through a reverse proxy on loopback: uvicorn takes the client's address from it.
            headers = {**_bearer(api_key), "x-forwarded-for": address}
            return httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)

        assert chat(key).status_code == 200
        for _ in range(3):
            assert chat(_random_key()).status_code == 401
        locked = chat(_random_key())
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "auth_locked_out"
        assert locked.json()["error"]["type"] == "rate_limit_error"
        assert 0 < int(locked.headers["retry-after"]) <= 300
        assert chat(key).status_code == 200
        assert chat(MASTER_KEY).status_code == 200
        assert chat(_random_key(), NEIGHBOUR).status_code == 401
        for _ in range(5):
            assert chat(_random_key()).status_code == 429
        # One fail2ban line for the lock; the refusals an attacker can repeat are not logged each.
        assert caplog.text.count(f"auth lockout: address={ATTACKER} failures=3") == 1
        assert "code=auth_locked_out" not in caplog.text
        metrics = Scrape(admin.get("/metrics").text)
        assert metrics.get("polyroute_auth_lockouts_total") >= 1
        assert metrics.get("polyroute_auth_lockout_refused_total") >= 1
