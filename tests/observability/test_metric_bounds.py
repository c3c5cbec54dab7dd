"""Metric labels stay bounded whatever names clients send, and /metrics renders off the loop.

Wildcard routes (`fake/*`) serve any model name a client sends; each name used to become a new
series of every family (20,000 names: a 125 MB scrape that stalled the loop 6.4 s).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from polyroute.observability import metrics as metrics_module
from polyroute.observability import multiprocess
from polyroute.observability.metrics import METRICS, OTHER_LABEL, Counter, Histogram
from polyroute.server.routes import metrics as metrics_route
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer

KEY = "sk-fake-openai-key-0123456789abcdef"
MASTER = "sk-metric-bounds-master-0123456789"


def test_each_label_keeps_at_most_its_bound_of_values(monkeypatch):
    monkeypatch.setattr(metrics_module, "MAX_LABEL_VALUES", 5)
    counter = Counter("c_total", "doc", ("model_group", "status"))
    histogram = Histogram("h_seconds", "doc", ("model_group",), (0.1, 1.0))
    for i in range(8):
        counter.inc((f"name-{i}", "ok"))
        histogram.observe((f"name-{i}",), 0.5)
    counter.inc(("name-0", "ok"))  # a value seen before the bound keeps its own series
    assert counter.value(("name-0", "ok")) == 2
    assert counter.value((OTHER_LABEL, "ok")) == 3
    assert len(counter.values) == 6 and len(histogram.series) == 6
    assert histogram.count((OTHER_LABEL,)) == 3
    counter.clear()
    counter.inc(("fresh", "ok"))
    assert list(counter.values) == [("fresh", "ok")]


@pytest.fixture
def gw(tmp_path):
    with FakeOpenAI(api_key=KEY) as upstream:
        config = {
            "model_list": [
                {
                    "model_name": "fake/*",
                    "litellm_params": {"model": "openai/*", "api_base": upstream.url + "/v1", "api_key": KEY},
                }
            ],
            "general_settings": {"master_key": MASTER},
        }
        with GatewayServer(config, tmp_path) as server:
            yield server


def _scrape(gw: GatewayServer) -> list:
    response = httpx.get(gw.url + "/metrics", headers={"authorization": f"Bearer {MASTER}"})
    assert response.status_code == 200, response.text
    return list(text_string_to_metric_families(response.text))


def test_wildcard_model_names_do_not_grow_the_scrape(gw, monkeypatch):
    monkeypatch.setattr(metrics_module, "MAX_LABEL_VALUES", 10)
    METRICS.reset()
    client = gw.client()
    for i in range(16):
        client.chat.completions.create(model=f"fake/name-{i}", messages=[{"role": "user", "content": "hi"}])
    [requests] = [f for f in _scrape(gw) if f.name == "polyroute_requests"]
    groups = {s.labels["model_group"]: s.value for s in requests.samples if s.name.endswith("_total")}
    assert len(groups) == 11 and groups[OTHER_LABEL] == 6
    assert sum(groups.values()) == 16  # every request counted, none lost to the bound


def test_metrics_are_merged_and_rendered_off_the_event_loop(gw, monkeypatch):
    on_loop: dict[str, bool] = {}

    def watched(name, fn):
        def wrapper(*args, **kwargs):
            on_loop[name] = asyncio._get_running_loop() is not None
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(metrics_route, "render", watched("render", metrics_route.render))
    monkeypatch.setattr(multiprocess, "merge_snapshots", watched("merge", multiprocess.merge_snapshots))
    assert _scrape(gw)
    assert on_loop == {"render": False, "merge": False}
