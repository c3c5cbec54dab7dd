"""The worker's side of the controller protocol (FastChat's shapes): register, heartbeat every
FASTCHAT_WORKER_HEART_BEAT_INTERVAL seconds with the queue length, register again when the
controller has forgotten the worker, deregister on shutdown.

The token goes as `Authorization: Bearer`; a controller URL with credentials
(`http://worker:TOKEN@host:port`) works too, as it does for FastChat's own workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from polyroute.secrets import Secret

log = logging.getLogger("polyroute.worker")

RETRY_S = 5.0  # FastChat's worker waits 5 s between failed heartbeats
CALL_TIMEOUT_S = 10.0


class RegistrationRefused(Exception):
    """The controller said no (bad token, address not allowed, ...): retrying will not help."""


def split_controller_url(url: str) -> tuple[str, str | None]:
    """The controller URL without credentials, and the token its password held (if any)."""
    parts = urlsplit(url.rstrip("/"))
    token = unquote(parts.password) if parts.password else None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")), token


@dataclass
class WorkerAgent:
    controller_url: str
    worker_address: str
    model_names: list[str]
    token: Secret | None
    queue_length: Callable[[], int]
    interval_s: float = 45.0
    speed: float = 1.0
    protocol: str = "openai"

    def _headers(self) -> dict[str, str]:
        return {"authorization": "Bearer " + self.token.reveal()} if self.token else {}

    async def _post(self, session: aiohttp.ClientSession, path: str, body: dict) -> tuple[int, object]:
        async with session.post(
            self.controller_url + path,
            json=body,
            headers=self._headers(),
            timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S),
        ) as response:
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = None
            return response.status, data

    async def register(self, session: aiohttp.ClientSession) -> None:
        body = {
            "worker_name": self.worker_address,
            "check_heart_beat": True,
            "worker_status": {
                "model_names": self.model_names,
                "speed": self.speed,
                "queue_length": self.queue_length(),
            },
            "protocol": self.protocol,
        }
        status, data = await self._post(session, "/register_worker", body)
        if status != 200:
            message = data.get("error", {}).get("message") if isinstance(data, dict) else None
            raise RegistrationRefused(f"the controller refused the registration (HTTP {status}): {message}")
        log.info(
            "registered with %s as %s: %s",
            self.controller_url,
            self.worker_address,
            ",".join(self.model_names),
        )

    async def heartbeat(self, session: aiohttp.ClientSession) -> bool:
        """One heartbeat; registers again when the controller no longer knows this worker."""
        status, data = await self._post(
            session,
            "/receive_heart_beat",
            {"worker_name": self.worker_address, "queue_length": self.queue_length()},
        )
        if status != 200 or not isinstance(data, dict):
            raise RegistrationRefused(f"the controller refused the heartbeat (HTTP {status})")
        if not data.get("exist"):
            log.info("the controller forgot this worker; registering again")
            await self.register(session)
        return True

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Heartbeats until cancelled; a controller that cannot be reached is retried every 5 s."""
        while True:
            await asyncio.sleep(self.interval_s)
            while True:
                try:
                    await self.heartbeat(session)
                    break
                except (aiohttp.ClientError, TimeoutError, RegistrationRefused) as exc:
                    log.warning("heartbeat failed (%s); retrying in %gs", exc, RETRY_S)
                    await asyncio.sleep(RETRY_S)

    async def deregister(self, session: aiohttp.ClientSession) -> None:
        try:
            status, data = await self._post(
                session, "/deregister_worker", {"worker_name": self.worker_address}
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not deregister (%s); the controller drops this worker when its TTL ends", exc)
            return
        if status == 200 and isinstance(data, dict) and data.get("removed"):
            log.info("deregistered from %s", self.controller_url)
        elif status == 200:
            log.info("the controller had already dropped this worker")
        elif status == 404:  # FastChat's own controller has no /deregister_worker
            log.info("the controller cannot deregister workers; it drops this one when heartbeats stop")
        else:
            log.warning("the controller did not deregister this worker (HTTP %d)", status)
