"""The `openai` engine: fronts any OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp's
server, or an external API, as FastChat's `--worker-type openai`). Requests pass through with
the model name replaced by the upstream's; answers and streams come back byte for byte."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from polyroute.secrets import Secret
from polyroute.worker.engines.base import Engine, EngineResponse, openai_error


class OpenAIProxyEngine(Engine):
    name = "openai"
    supports_embeddings = True

    def __init__(
        self,
        api_base: str,
        api_key: Secret | None,
        upstream_model: str,
        timeout_s: float,
        context_length: int | None = None,
    ) -> None:
        self.context_length_override = context_length
        if context_length is not None:
            self.context_length = context_length
        self.api_base = api_base.rstrip("/")
        self.api_key = api_key
        self.upstream_model = upstream_model
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            skip_auto_headers=("User-Agent",),
            cookie_jar=aiohttp.DummyCookieJar(),  # every client's request: no cookie carried between them
        )
        if self.context_length_override is None:
            await self._learn_context_length()

    async def _learn_context_length(self) -> None:
        """vLLM (and SGLang) list `max_model_len` in /v1/models; other servers keep the default."""
        assert self._session is not None
        try:
            async with self._session.get(
                f"{self.api_base}/models", headers=self._headers(), timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                listed = await response.json(content_type=None) if response.status == 200 else {}
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return
        models = listed.get("data") if isinstance(listed, dict) else None
        for model in models if isinstance(models, list) else ():
            if not isinstance(model, dict) or model.get("id") != self.upstream_model:
                continue
            length = model.get("max_model_len")
            if isinstance(length, int) and not isinstance(length, bool) and length > 0:
                self.context_length = length

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.api_key:
            headers["authorization"] = "Bearer " + self.api_key.reveal()
        return headers

    async def _forward(self, path: str, body: dict[str, Any]) -> EngineResponse:
        assert self._session is not None
        payload = orjson.dumps({**body, "model": self.upstream_model})
        try:
            response = await self._session.post(
                f"{self.api_base}/{path}", data=payload, headers=self._headers()
            )
        except TimeoutError:
            return self._timed_out()
        except aiohttp.ClientError as exc:
            return openai_error(502, f"upstream unreachable: {type(exc).__name__}", kind="api_error")
        content_type = response.headers.get("content-type", "application/json")
        if body.get("stream") and response.status == 200:
            return EngineResponse(200, stream=_relay(response), content_type=content_type)
        try:
            data = await response.read()
        except TimeoutError:
            return self._timed_out()
        except aiohttp.ClientError as exc:
            return openai_error(
                502, f"upstream failed while answering: {type(exc).__name__}", kind="api_error"
            )
        finally:
            response.release()
        return EngineResponse(response.status, data, content_type=content_type.split(";")[0])

    def _timed_out(self) -> EngineResponse:
        # 504, as FastChat's worker timeout (50006 on its worker API): the gateway fails it over.
        return openai_error(
            504,
            f"upstream did not answer within {self.timeout_s:g}s (FASTCHAT_WORKER_API_TIMEOUT)",
            kind="timeout_error",
        )

    async def chat(self, body: dict[str, Any]) -> EngineResponse:
        return await self._forward("chat/completions", body)

    async def completions(self, body: dict[str, Any]) -> EngineResponse:
        return await self._forward("completions", body)

    async def embeddings(self, body: dict[str, Any]) -> EngineResponse:
        return await self._forward("embeddings", body)


async def _relay(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        response.close()
