"""A router over the in-memory state with a fake clock: sleeping advances time instantly (the
wall clock of cooldowns and windows and the deadline clock are the same fake)."""

from __future__ import annotations

import random
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import yaml

from polyroute.config.loader import load_config
from polyroute.errors import GatewayError
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptInfo, AttemptOutcome, RequestOptions, Router
from polyroute.state.memory import MemoryState


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


class ScriptedUpstreams:
    """Per deployment id (or model name), a queue of outcomes: a GatewayError to raise, or usage."""

    def __init__(self) -> None:
        self.script: dict[str, deque[Any]] = defaultdict(deque)
        self.calls: list[tuple[str, AttemptInfo]] = []

    def add(self, key: str, *outcomes: Any) -> None:
        self.script[key].extend(outcomes)

    async def attempt(self, deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
        self.calls.append((deployment.id, info))
        queue = self.script.get(deployment.id) or self.script.get(deployment.model_name)
        outcome = queue.popleft() if queue else None
        if isinstance(outcome, GatewayError):
            raise outcome
        if isinstance(outcome, AttemptOutcome):
            return outcome
        return AttemptOutcome(usage={"total_tokens": 10})

    @property
    def served_by(self) -> list[str]:
        return [deployment_id for deployment_id, _ in self.calls]


def deployment(model_name: str, dep_id: str, **params: Any) -> dict[str, Any]:
    info = {"id": dep_id, **params.pop("model_info", {})}
    return {
        "model_name": model_name,
        "litellm_params": {"model": f"mock/{dep_id}", **params},
        "model_info": info,
    }


def make_router(
    tmp_path: Path, models: list[dict[str, Any]], router_settings: dict[str, Any] | None = None, seed: int = 1
) -> tuple[Router, FakeClock, ScriptedUpstreams]:
    path = tmp_path / f"router-{len(list(tmp_path.iterdir()))}.yaml"
    # Only the deployments a test names: no built-in mock-gpt beside them.
    general = {"builtin_mock_model": False}
    document = {"model_list": models, "router_settings": router_settings or {}, "general_settings": general}
    path.write_text(yaml.safe_dump(document))
    config = load_config(path, {})
    clock = FakeClock()
    router = Router(
        config.models,
        config.router,
        MemoryState(),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(seed),
        monotonic=clock,  # waits spend the request's deadline too
    )
    router.budget.clock = clock
    return router, clock, ScriptedUpstreams()


async def run(router: Router, upstreams: ScriptedUpstreams, model: str, **options: Any) -> AttemptOutcome:
    return await router.execute(model, RequestOptions(**options), upstreams.attempt)
