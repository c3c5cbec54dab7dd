"""Runs the gateway on a real loopback port inside the test process (uvicorn in a thread).

The app, its config loader and uvicorn are the production ones; only the process boundary is
skipped so a test can read the gateway's logs. Tests that need a real process use the CLI.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import openai
import uvicorn
import yaml

from polyroute.config.loader import load_config
from polyroute.server.app import create_app
from polyroute.server.connections import uvicorn_options
from polyroute.server.state import AppState
from polyroute.state.base import SharedState
from tests.fakes.base import free_port


class GatewayServer:
    def __init__(
        self,
        config: dict[str, Any] | None,
        tmp_dir: Path,
        env: dict[str, str] | None = None,
        open_access: bool = False,
        shared: SharedState | None = None,
    ) -> None:
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = tmp_dir / f"config-{id(self)}.yaml"
            self.config_path.write_text(yaml.safe_dump(config))
        # Each gateway keeps its database and spend spool in its own directory.
        self.env = {"POLYROUTE_DATA_DIR": str(tmp_dir / f"data-{id(self)}"), **(env or {})}
        self.loaded = load_config(self.config_path, self.env)
        self.state = AppState.build(self.loaded, open_access=open_access, shared=shared)
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def master_key(self) -> str | None:
        return self.loaded.master_key.reveal() if self.loaded.master_key else None

    def client(self, api_key: str | None = None, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 20)
        return openai.OpenAI(
            base_url=self.url + "/v1", api_key=api_key or self.master_key or "none", **kwargs
        )

    def async_client(self, api_key: str | None = None, **kwargs: Any) -> openai.AsyncOpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 20)
        return openai.AsyncOpenAI(
            base_url=self.url + "/v1", api_key=api_key or self.master_key or "none", **kwargs
        )

    def start(self) -> GatewayServer:
        config = uvicorn.Config(
            create_app(self.state),
            host="127.0.0.1",
            port=self.port,
            loop="uvloop",
            log_level="warning",
            **uvicorn_options(self.loaded.limits),  # the production protocol and its limits
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"gateway:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
