"""Fixtures of the client-credential end-to-end tests: the gateways, upstreams and the canary
(see support.py for what each is)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.canary import Canary
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.server.client_credentials.support import (
    CLIENT_AZURE_KEY,
    CLIENT_KEY,
    LOG_LINES,
    OPERATOR_KEY,
    gateway_config,
)


@pytest.fixture(scope="module")
def operator_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPERATOR_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def client_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=CLIENT_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def client_azure() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=CLIENT_AZURE_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def client_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with Canary() as listener:
        yield listener


@pytest.fixture(autouse=True)
def _reset_upstreams(request: pytest.FixtureRequest) -> None:
    for name in ("operator_fake", "client_openai", "client_azure", "client_anthropic", "canary"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture(scope="module", autouse=True)
def capture_logs() -> Iterator[list[str]]:
    """Every record of the gateway's loggers, at every level, formatted as the CLI would."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            LOG_LINES.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("polyroute")
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield LOG_LINES
    root.removeHandler(handler)
    root.setLevel(old_level)


def _gateway(tmp: Path, operator_url: str, **general: object) -> GatewayServer:
    return GatewayServer(gateway_config(operator_url, general), tmp)


@pytest.fixture(scope="module")
def gw(operator_fake, tmp_path_factory) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("gw")
    with _gateway(tmp, operator_fake.url, allowed_client_url_hosts=["127.0.0.1"]) as server:
        yield server


@pytest.fixture(scope="module")
def gw_strict(operator_fake, tmp_path_factory) -> Iterator[GatewayServer]:
    with _gateway(tmp_path_factory.mktemp("strict"), operator_fake.url) as server:
        yield server


@pytest.fixture(scope="module")
def gw_off(operator_fake, tmp_path_factory) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("off")
    with _gateway(
        tmp, operator_fake.url, allow_user_config=False, allowed_client_url_hosts=["127.0.0.1"]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def gw_open(operator_fake, tmp_path_factory) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("open")
    with _gateway(
        tmp, operator_fake.url, allow_client_side_credentials=True, allowed_client_url_hosts=["127.0.0.1"]
    ) as server:
        yield server
