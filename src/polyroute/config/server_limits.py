"""What one gateway process lets an unauthenticated peer hold: connections, header bytes, time.

The limits are read once from `general_settings` (pydantic validates each, naming the key) and
enforced in two places: the HTTP protocol (server/connections.py), before a request reaches the
app, and the app itself, before it reads a body. docs/security.md gives the defaults' reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

# nginx's large_client_header_buffers are 4 x 8 KiB; Node's default is 16 KiB. 32 KiB leaves room
# for long bearer tokens and trace headers without letting a peer park megabytes per connection.
DEFAULT_MAX_HEADER_KB = 32
DEFAULT_MAX_HEADER_COUNT = 100  # Apache's LimitRequestFields
DEFAULT_HEADER_TIMEOUT_S = 10.0  # nginx's client_header_timeout is 60 s; clients send headers at once
# Longer than the 60 s idle timeout of common load balancers, which must close first.
DEFAULT_KEEP_ALIVE_S = 75.0
DEFAULT_MAX_CONNECTIONS = 4096  # per process; uvicorn's default fd limit is often 1024-65536
DEFAULT_MAX_CONTROL_BODY_KB = 1024  # admin and controller bodies: key lists, worker registrations
# Model requests in flight per process before the next is shed (server/load.py): off by default,
# as the right number depends on the upstreams; max_connections bounds a peer meanwhile.
DEFAULT_MAX_IN_FLIGHT: int | None = None


class ServerLimitSettings(BaseModel):
    """The `general_settings` keys of these limits (mixed into GeneralSettings)."""

    model_config = ConfigDict(extra="allow")

    max_header_size_kb: int = Field(default=DEFAULT_MAX_HEADER_KB, ge=1, le=1024)
    max_header_count: int = Field(default=DEFAULT_MAX_HEADER_COUNT, ge=8, le=10_000)
    header_timeout_s: float = Field(default=DEFAULT_HEADER_TIMEOUT_S, gt=0, le=600)
    keep_alive_timeout_s: float = Field(default=DEFAULT_KEEP_ALIVE_S, gt=0, le=3600)
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1, le=1_000_000)
    max_admin_request_size_kb: int = Field(default=DEFAULT_MAX_CONTROL_BODY_KB, ge=1, le=64 * 1024)
    max_in_flight_requests: int | None = Field(default=DEFAULT_MAX_IN_FLIGHT, ge=1, le=1_000_000)
    # Shedding by the event loop's lag (server/loop_lag.py). Off by default: a closed-loop load at
    # capacity (a benchmark's 64 connections, a batch job) also stands a queue, and would get 503s
    # where it only needs to wait; turn it on where open-ended traffic can exceed the capacity.
    shed_on_event_loop_lag: bool = False


SERVER_LIMIT_KEYS = frozenset(ServerLimitSettings.model_fields)


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The limits in force, in the units the code compares against."""

    max_header_bytes: int = DEFAULT_MAX_HEADER_KB * 1024
    max_header_count: int = DEFAULT_MAX_HEADER_COUNT
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    keep_alive_timeout_s: float = DEFAULT_KEEP_ALIVE_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_control_body_bytes: int = DEFAULT_MAX_CONTROL_BODY_KB * 1024
    max_in_flight_requests: int | None = DEFAULT_MAX_IN_FLIGHT
    shed_on_event_loop_lag: bool = False

    @classmethod
    def from_settings(cls, settings: ServerLimitSettings) -> ServerLimits:
        return cls(
            max_header_bytes=settings.max_header_size_kb * 1024,
            max_header_count=settings.max_header_count,
            header_timeout_s=settings.header_timeout_s,
            keep_alive_timeout_s=settings.keep_alive_timeout_s,
            max_connections=settings.max_connections,
            max_control_body_bytes=settings.max_admin_request_size_kb * 1024,
            max_in_flight_requests=settings.max_in_flight_requests,
            shed_on_event_loop_lag=settings.shed_on_event_loop_lag,
        )
