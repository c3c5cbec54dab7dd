"""`RedisState`: the shared-state interface on Redis, for several gateway processes or machines.

Every change is one round trip: a Lua script runs the read, the decision and the write as one
atomic step on the server, so two processes can never both take the last unit of a limit. Reads
of several keys are one MGET or one non-transactional pipeline.

Time is the caller's (`now` arguments, passed into the scripts), never Redis TIME, so tests can
move the clock and every backend agrees on window boundaries. Key expiries are only garbage
collection: window keys carry their window index, so a new window starts at zero by itself.

Keys: `<prefix><family>:<key>`, family one of win / inflight / fail / cool / lat / worker / val. The family
keeps one caller key (say a deployment id used for both cooldowns and latencies) from hitting
another family's key of a different Redis type, which MemoryState's separate dicts never do.
The worker registry is one hash per worker (`worker:<address>`, expiring with its heartbeat TTL)
plus a sorted set `workers` of addresses scored by expiry time, so listing is one script that
prunes the expired and returns the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import secrets

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from polyroute.state.base import Admission, Cooldown, LatencyStats, SharedState, WorkerRecord
from polyroute.state.memory import check_alpha, check_ttl, window_index, window_retry_after

DEFAULT_PREFIX = "polyroute:"
INFLIGHT_TTL_MS = 600_000  # a crashed process's in-flight counts vanish after 10 idle minutes
LATENCY_TTL_S = 86_400  # stats of a deployment unused for a day are dropped
# Expiries are set from the caller's clock, and clocks of several machines differ a little: the
# slack keeps a key alive until every process has left its window. It never carries counts into
# the next window, whose key has a different index.
EXPIRY_SLACK_MS = 1_000
# Counts, limits and deltas sent to the scripts are clamped to this: Lua reads them as doubles
# (exact up to 2**53) and INCRBY refuses what would pass 2**63. A request's budget reservation
# grows with its max_tokens, and a client can send max_tokens near 2**64: unclamped, that was
# a Redis error (a 500) for every such request. 2**53 micro-dollars is about 9 billion USD.
MAX_COUNT = 2**53

# KEYS[1] window key; ARGV amount, limit, ttl_ms. Returns {allowed 0/1, used}.
TRY_TAKE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if used + amount > tonumber(ARGV[2]) then
  return {0, used}
end
used = redis.call('INCRBY', KEYS[1], amount)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, used}
"""

# KEYS[1] window key; ARGV amount, limit, seed, ttl_ms. Budgets: an absent window starts at the
# seed (the spend the database knows of); refused when spend plus reservations reach the limit.
TRY_RESERVE = """
local used = redis.call('GET', KEYS[1])
if used then
  used = tonumber(used)
else
  used = math.max(0, tonumber(ARGV[3]))
  redis.call('SET', KEYS[1], used, 'PX', ARGV[4])
end
if used >= tonumber(ARGV[2]) then
  return {0, used}
end
used = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, used}
"""

# KEYS[1] counter; ARGV delta, ttl_ms. Returns the new value, floored at 0 (adjust, inflight_add).
ADD_FLOORED = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if value < 0 then
  redis.call('SET', KEYS[1], 0)
  value = 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return value
"""

# KEYS[1] sorted set; ARGV now, cutoff (now - window), unique member, ttl_ms. Returns the count.
RECORD_FAILURE = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return count
"""

# KEYS[1] hash {until, reason}; ARGV until, reason, now, ttl_ms. A stored later-or-equal `until`
# wins (one that has ended cannot be later than a new one that has not); a cooldown that has
# already ended is never written. Returns 1 when written.
SET_COOLDOWN = """
local ends = tonumber(ARGV[1])
local now = tonumber(ARGV[3])
local current = tonumber(redis.call('HGET', KEYS[1], 'until'))
if ends <= now or (current and current >= ends) then
  return 0
end
redis.call('HSET', KEYS[1], 'until', ARGV[1], 'reason', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS[1] hash {ttft, total, samples}; ARGV ttft ('' when none), total, alpha, ttl_s.
# Same expression and order as memory.ewma, and %.17g round-trips a double exactly, so both
# backends store bit-identical averages.
RECORD_LATENCY = """
local alpha = tonumber(ARGV[3])
local function fold(field, sample)
  local previous = tonumber(redis.call('HGET', KEYS[1], field))
  local value = sample
  if previous then
    value = alpha * sample + (1 - alpha) * previous
  end
  redis.call('HSET', KEYS[1], field, string.format('%.17g', value))
end
if ARGV[1] ~= '' then
  fold('ttft', tonumber(ARGV[1]))
end
fold('total', tonumber(ARGV[2]))
redis.call('HINCRBY', KEYS[1], 'samples', 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


# Worker registry. The hash's fields are WORKER_FIELDS; `expires_at` is the caller's clock, and the
# key's own PEXPIRE (TTL plus slack) only collects it afterwards. The index set must never expire
# before a member's hash, so its expiry is only ever pushed later.
WORKER_FIELDS = (
    "address",
    "models",
    "speed",
    "queue_length",
    "protocol",
    "multimodal",
    "heartbeat_at",
    "expires_at",
    "owner",
)

# KEYS[1] hash, KEYS[2] index; ARGV address, expires_at, ttl_ms, then field/value pairs.
REGISTER_WORKER = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
"""

# KEYS[1] hash, KEYS[2] index; ARGV address, queue_length, now, expires_at, ttl_ms.
# Returns the updated hash as a flat list, or an empty list when unknown or expired.
REFRESH_WORKER = """
local ends = tonumber(redis.call('HGET', KEYS[1], 'expires_at'))
if not ends or ends <= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {}
end
redis.call('HSET', KEYS[1], 'queue_length', ARGV[2], 'heartbeat_at', ARGV[3], 'expires_at', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS[1] index; ARGV now, hash key prefix. Returns one flat HGETALL list per live worker.
# The hashes' names are built here from the index: fine on a single Redis (not Redis Cluster).
LIST_WORKERS = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, address in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  local fields = redis.call('HGETALL', ARGV[2] .. address)
  if #fields == 0 then
    redis.call('ZREM', KEYS[1], address)
  else
    table.insert(out, fields)
  end
end
return out
"""

# KEYS[1] hash, KEYS[2] index; ARGV address. Returns 1 when the worker was registered.
REMOVE_WORKER = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""


def _worker_fields(record: WorkerRecord) -> list[str]:
    values = {
        "address": record.address,
        "models": orjson.dumps(list(record.model_names)).decode(),
        "speed": repr(float(record.speed)),
        "queue_length": str(int(record.queue_length)),
        "protocol": record.protocol,
        "multimodal": "1" if record.multimodal else "0",
        "heartbeat_at": repr(float(record.heartbeat_at)),
        "expires_at": repr(float(record.expires_at)),
        "owner": record.owner,
    }
    return [item for name in WORKER_FIELDS for item in (name, values[name])]


def _worker_record(flat: list) -> WorkerRecord:
    fields = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
    return WorkerRecord(
        address=fields["address"] or "",
        model_names=tuple(orjson.loads(fields["models"] or "[]")),
        speed=float(fields.get("speed") or 1.0),
        queue_length=int(fields.get("queue_length") or 0),
        protocol=fields.get("protocol") or "fastchat",
        multimodal=fields.get("multimodal") == "1",
        heartbeat_at=float(fields.get("heartbeat_at") or 0.0),
        expires_at=float(fields.get("expires_at") or 0.0),
        owner=fields.get("owner") or "",
    )


def _text(value: bytes | str | None) -> str | None:
    """Works whether or not the client was built with decode_responses."""
    if isinstance(value, bytes):
        return value.decode()
    return value


def _number(value: bytes | str | None) -> float | None:
    text = _text(value)
    return None if text is None else float(text)


def _count(value: int) -> int:
    return max(-MAX_COUNT, min(MAX_COUNT, int(value)))


def _ttl_ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000)) + EXPIRY_SLACK_MS


class RedisState(SharedState):
    """Shared state in Redis; limits hold across every process that uses the same Redis and prefix."""

    backend = "redis"

    def __init__(self, client: aioredis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix
        # register_script sends nothing: the first call loads the script (EVALSHA, then SCRIPT
        # LOAD on NOSCRIPT), every later call is a single EVALSHA.
        self._try_take = client.register_script(TRY_TAKE)
        self._try_reserve = client.register_script(TRY_RESERVE)
        self._add_floored = client.register_script(ADD_FLOORED)
        self._record_failure = client.register_script(RECORD_FAILURE)
        self._set_cooldown = client.register_script(SET_COOLDOWN)
        self._record_latency = client.register_script(RECORD_LATENCY)
        self._register_worker = client.register_script(REGISTER_WORKER)
        self._refresh_worker = client.register_script(REFRESH_WORKER)
        self._list_workers = client.register_script(LIST_WORKERS)
        self._remove_worker = client.register_script(REMOVE_WORKER)

    @classmethod
    def from_settings(
        cls,
        url: str | None = None,
        host: str | None = None,
        port: int | None = None,
        password: str | None = None,
        db: int = 0,
        prefix: str = DEFAULT_PREFIX,
        *,
        socket_timeout: float = 1.0,
        connect_timeout: float = 1.0,
        max_connections: int = 64,
    ) -> RedisState:
        """Build from LiteLLM's router_settings names (redis_url, or redis_host/port/password)."""
        # Short timeouts and a single immediate retry (which covers a pooled connection that a
        # Redis restart closed): admission sits on the request path, and FailoverState can only
        # fall back once the client gives up. redis-py's default retries for seconds.
        options: dict = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
            "retry": Retry(NoBackoff(), 1),
            "max_connections": max_connections,
            # A blocking pool: under a burst, calls wait briefly for a connection. redis-py's
            # default pool raises MaxConnectionsError (a ConnectionError) at 100 concurrent calls,
            # which would read as "Redis is down".
            "timeout": socket_timeout,
        }
        if password is not None:
            options["password"] = password
        if url:
            pool = aioredis.BlockingConnectionPool.from_url(url, db=db, **options)  # the URL's /db wins
        elif host:
            pool = aioredis.BlockingConnectionPool(host=host, port=port or 6379, db=db, **options)
        else:
            raise ValueError("redis settings need a url or a host")
        client = aioredis.Redis.from_pool(pool)  # the client owns the pool: close() closes both
        return cls(client, prefix)

    # -- naming -------------------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def target(self) -> str:
        """Where this state lives, for logs: host, port and db, never credentials."""
        kwargs = self._client.connection_pool.connection_kwargs
        if kwargs.get("path"):
            return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
        return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"

    def redact(self, text: str) -> str:
        """`text` with the client's password masked (for error messages in logs)."""
        password = self._client.connection_pool.connection_kwargs.get("password")
        return text.replace(str(password), "***") if password else text

    def _key(self, family: str, key: str) -> str:
        return f"{self._prefix}{family}:{key}"

    def _window_key(self, key: str, window_s: float, index: int) -> str:
        # float() so window_s=60 and window_s=60.0 name the same window, as they do in MemoryState.
        return f"{self._prefix}win:{key}:{float(window_s)!r}:{index}"

    # -- windowed counters --------------------------------------------------------------------------
    async def try_take(self, key: str, amount: int, limit: int, window_s: float, now: float) -> Admission:
        index = window_index(now, window_s)
        retry_after = window_retry_after(index, window_s, now)
        allowed, used = await self._try_take(
            keys=[self._window_key(key, window_s, index)],
            args=[_count(amount), _count(limit), _ttl_ms(retry_after)],
        )
        if allowed:
            return Admission(True, int(used), 0.0)
        return Admission(False, int(used), retry_after)

    async def try_reserve(
        self, key: str, amount: int, limit: int, seed: int, window_s: float, now: float
    ) -> Admission:
        index = window_index(now, window_s)
        retry_after = window_retry_after(index, window_s, now)
        allowed, used = await self._try_reserve(
            keys=[self._window_key(key, window_s, index)],
            args=[_count(amount), _count(limit), _count(seed), _ttl_ms(retry_after)],
        )
        if allowed:
            return Admission(True, int(used), 0.0)
        return Admission(False, int(used), retry_after)

    async def adjust(self, key: str, delta: int, window_s: float, now: float) -> int:
        index = window_index(now, window_s)
        ttl = _ttl_ms(window_retry_after(index, window_s, now))
        value = await self._add_floored(
            keys=[self._window_key(key, window_s, index)], args=[_count(delta), ttl]
        )
        return int(value)

    async def window_usage(self, keys: list[str], window_s: float, now: float) -> list[int]:
        if not keys:
            return []
        index = window_index(now, window_s)
        values = await self._client.mget([self._window_key(key, window_s, index) for key in keys])
        return [int(value) if value is not None else 0 for value in values]

    # -- in-flight counts ---------------------------------------------------------------------------
    async def inflight_add(self, key: str, delta: int) -> int:
        value = await self._add_floored(
            keys=[self._key("inflight", key)], args=[_count(delta), INFLIGHT_TTL_MS]
        )
        return int(value)

    async def inflight(self, keys: list[str]) -> list[int]:
        if not keys:
            return []
        values = await self._client.mget([self._key("inflight", key) for key in keys])
        return [int(value) if value is not None else 0 for value in values]

    # -- failures and cooldowns ---------------------------------------------------------------------
    async def record_failure(self, key: str, window_s: float, now: float) -> int:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        # Two failures at the same instant (or from two processes) must both count: the random
        # suffix keeps sorted-set members distinct.
        member = f"{now!r}:{secrets.token_hex(8)}"
        count = await self._record_failure(
            keys=[self._key("fail", key)],
            args=[repr(float(now)), repr(float(now - window_s)), member, _ttl_ms(window_s)],
        )
        return int(count)

    async def clear_failures(self, key: str) -> None:
        await self._client.delete(self._key("fail", key))

    async def set_cooldown(self, key: str, cooldown: Cooldown, now: float) -> None:
        until = float(cooldown.until)
        await self._set_cooldown(
            keys=[self._key("cool", key)],
            args=[repr(until), cooldown.reason, repr(float(now)), _ttl_ms(max(0.0, until - now))],
        )

    async def clear_cooldown(self, key: str) -> None:
        await self._client.delete(self._key("cool", key))

    async def cooldowns(self, keys: list[str], now: float) -> list[Cooldown | None]:
        if not keys:
            return []
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(self._key("cool", key), ["until", "reason"])
        active: list[Cooldown | None] = []
        for until, reason in await pipe.execute():
            ends = _number(until)
            # The key outlives its cooldown by the expiry slack; the caller's clock decides.
            active.append(Cooldown(ends, _text(reason) or "") if ends is not None and ends > now else None)
        return active

    # -- latency statistics -------------------------------------------------------------------------
    async def record_latency(self, key: str, ttft: float | None, total: float, alpha: float = 0.2) -> None:
        check_alpha(alpha)
        await self._record_latency(
            keys=[self._key("lat", key)],
            args=[
                "" if ttft is None else repr(float(ttft)),
                repr(float(total)),
                repr(float(alpha)),
                LATENCY_TTL_S,
            ],
        )

    async def latencies(self, keys: list[str]) -> list[LatencyStats]:
        if not keys:
            return []
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(self._key("lat", key), ["ttft", "total", "samples"])
        return [
            LatencyStats(_number(ttft), _number(total), int(samples) if samples is not None else 0)
            for ttft, total, samples in await pipe.execute()
        ]

    # -- worker registry ----------------------------------------------------------------------------
    def _worker_keys(self, address: str) -> list[str]:
        return [self._key("worker", address), self._key("workers", "index")]

    async def register_worker(self, record: WorkerRecord, ttl_s: float, now: float) -> WorkerRecord:
        check_ttl(ttl_s)
        stored = dataclasses.replace(record, heartbeat_at=float(now), expires_at=float(now + ttl_s))
        await self._register_worker(
            keys=self._worker_keys(record.address),
            args=[record.address, repr(stored.expires_at), _ttl_ms(ttl_s), *_worker_fields(stored)],
        )
        return stored

    async def refresh_worker(
        self, address: str, queue_length: int, ttl_s: float, now: float
    ) -> WorkerRecord | None:
        check_ttl(ttl_s)
        flat = await self._refresh_worker(
            keys=self._worker_keys(address),
            args=[address, int(queue_length), repr(float(now)), repr(float(now + ttl_s)), _ttl_ms(ttl_s)],
        )
        return _worker_record(flat) if flat else None

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        found = await self._list_workers(
            keys=[self._key("workers", "index")], args=[repr(float(now)), self._key("worker", "")]
        )
        return sorted((_worker_record(flat) for flat in found), key=lambda r: r.address)

    async def get_worker(self, address: str, now: float) -> WorkerRecord | None:
        flat = await self._client.hgetall(self._key("worker", address))
        if not flat:
            return None
        pairs = [item for key, value in flat.items() for item in (key, value)]
        record = _worker_record(pairs)
        return record if record.expires_at > now else None

    async def remove_worker(self, address: str) -> bool:
        removed = await self._remove_worker(keys=self._worker_keys(address), args=[address])
        return bool(removed)

    # -- small shared values ------------------------------------------------------------------------
    async def get_value(self, key: str) -> bytes | None:
        value = await self._client.get(self._key("val", key))
        return value.encode() if isinstance(value, str) else value

    async def set_value(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._client.set(self._key("val", key), value, px=max(1, math.ceil(ttl_s * 1000)))

    async def delete_values(self, keys: list[str]) -> None:
        if keys:
            await self._client.delete(*[self._key("val", key) for key in keys])

    # -- lifecycle ----------------------------------------------------------------------------------
    async def healthy(self, timeout_s: float = 1.0) -> bool:
        try:
            return bool(await asyncio.wait_for(self._client.ping(), timeout_s))
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        await self._client.aclose()
