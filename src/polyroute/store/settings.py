"""`general_settings` keys for keys, spend logs and the database (LiteLLM's names where it has one)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: seconds a cached virtual key is trusted before it is looked up again (revocation delay)
    key_cache_ttl_s: float = Field(default=5.0, gt=0, le=3600)
    #: lookups of keys this process does not know, per client address (a token bucket; past it, 429)
    unknown_key_lookups_per_s: float = Field(default=5.0, gt=0, le=100_000)
    unknown_key_lookup_burst: float = Field(default=20.0, ge=1, le=1_000_000)
    #: failed authentications from one address within the window that lock it out for the
    #: duration (auth/lockout.py; 0 turns the lockout off)
    auth_lockout_failures: int = Field(default=20, ge=0, le=1_000_000)
    auth_lockout_window_s: float = Field(default=60.0, gt=0, le=86_400)
    auth_lockout_duration_s: float = Field(default=300.0, gt=0, le=86_400)
    #: keep the request's messages in its spend row (LiteLLM: store_prompts_in_spend_logs)
    store_prompts_in_spend_logs: bool = False
    #: write no spend rows at all (budgets still hold: they count in the shared state)
    disable_spend_logs: bool = False
    #: seconds between spend-log batch writes (LiteLLM: proxy_batch_write_at)
    proxy_batch_write_at: float = Field(default=1.0, gt=0, le=600)
    spend_logs_batch_size: int = Field(default=500, ge=1, le=10_000)
    spend_logs_queue_size: int = Field(default=10_000, ge=1, le=10_000_000)
    spend_logs_spool_max_mb: float = Field(default=64.0, gt=0)
    #: connections per process to PostgreSQL (LiteLLM: database_connection_pool_limit)
    database_connection_pool_limit: int = Field(default=10, ge=1, le=1000)
    #: stored Responses (`/v1/responses`, store/responses_store.py): kept this many days
    responses_ttl_days: float = Field(default=30.0, gt=0, le=3650)
    #: the largest response (its input items and output, as JSON) that is stored
    responses_max_stored_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    #: a previous_response_id chain longer than this (responses, or bytes in all) is a 400
    responses_max_chain_depth: int = Field(default=100, ge=1, le=100_000)
    responses_max_chain_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    #: responses held in process memory when the database cannot take them (MB, oldest dropped)
    responses_memory_max_mb: float = Field(default=64.0, gt=0, le=65536)


STORE_KEYS = frozenset(StoreSettings.model_fields)
