"""The `vllm` engine, where vllm is installed (a GPU machine): runs vLLM's own OpenAI-compatible
server for the model as a child process on a loopback port and fronts it like the `openai`
engine. vLLM's server applies the model's chat template and serves streaming and embeddings;
using its public CLI keeps this engine independent of vLLM's internal Python API, which changes
between releases."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys

import aiohttp

from polyroute.worker.engines.openai_proxy import OpenAIProxyEngine

STARTUP_TIMEOUT_S = 900.0  # loading a large model onto a GPU takes minutes


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VllmEngine(OpenAIProxyEngine):
    name = "vllm"

    def __init__(self, model_path: str, model_name: str, timeout_s: float, extra_args: list[str]) -> None:
        self.port = _free_port()
        super().__init__(f"http://127.0.0.1:{self.port}/v1", None, model_name, timeout_s)
        self.model_path = model_path
        self.model_name = model_name
        self.extra_args = extra_args
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if not vllm_available():
            raise RuntimeError("the vllm engine needs the vllm package (pip install vllm) on a GPU machine")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model_path,
            "--served-model-name",
            self.model_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.extra_args,
        )
        await super().start()
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_S
        assert self._session is not None
        while asyncio.get_running_loop().time() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"vLLM's server exited with status {self.process.returncode}")
            try:
                async with self._session.get(f"http://127.0.0.1:{self.port}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1.0)
        raise RuntimeError("vLLM's server did not become ready in time")

    async def close(self) -> None:
        await super().close()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
