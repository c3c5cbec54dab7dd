"""GET /metrics through real HTTP: present, authenticated, and changing with the traffic the
openai SDK sends through the gateway (successes, streams, failover, fallbacks, bad input)."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Error, Reply
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer

KEY = "sk-fake-openai-key-0123456789abcdef"
MASTER = "sk-metrics-master-0123456789"
MESSAGES = [{"role": "user", "content": "hi"}]


class Scrape:
    """One parsed scrape: samples by (name, frozenset of labels)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def get(self, name: str, **labels: str) -> float:
        """The sum over samples of `name` whose labels include `labels`; a metric the scrape does
        not have fails the test (a missing metric must never read as 0)."""
        wanted = set(labels.items())
        found = [v for (n, ls), v in self.samples.items() if n == name and wanted <= ls]
        if not found:
            names = sorted({n for n, _ in self.samples if n.startswith(name.rsplit("_", 1)[0])})
            raise AssertionError(f"no sample of {name} with {labels} in the scrape (near: {names[:10]})")
        return sum(found)

    def baseline(self, name: str, **labels: str) -> float:
        """A count before the action a test measures: 0 when its series does not exist yet."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)


def scrape(gw: GatewayServer) -> Scrape:
    response = httpx.get(gw.url + "/metrics", headers={"authorization": f"Bearer {MASTER}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


@pytest.fixture(scope="module")
def upstreams():
    with FakeOpenAI(api_key=KEY) as a, FakeOpenAI(api_key=KEY) as b, FakeAnthropic() as c:
        yield a, b, c


@pytest.fixture
def gw(upstreams, tmp_path):
    a, b, c = upstreams
    for fake in upstreams:
        fake.reset()
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": a.url + "/v1", "api_key": KEY},
                "model_info": {"id": "dep-a"},
            },
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": b.url + "/v1",
                    "api_key": KEY,
                    "order": 2,
                },
                "model_info": {"id": "dep-b"},
            },
            {
                "model_name": "claude",
                "litellm_params": {"model": "anthropic/claude-x", "api_base": c.url, "api_key": "sk-ant-x"},
                "model_info": {"id": "dep-c", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            },
        ],
        "general_settings": {"master_key": MASTER, "proxy_batch_write_at": 0.2},
        "router_settings": {
            "num_retries": 1,
            "cooldown_time": 30,
            "allowed_fails": 0,
            "fallbacks": [{"gpt": ["claude"]}],
        },
    }
    with GatewayServer(config, tmp_path) as server:
        yield server, a, b, c


def test_metrics_need_the_master_key(gw):
    server = gw[0]
    assert httpx.get(server.url + "/metrics").status_code == 401
    wrong = httpx.get(server.url + "/metrics", headers={"authorization": "Bearer sk-not-the-key"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "authentication_error"
    minted = httpx.post(
        server.url + "/key/generate", headers={"authorization": f"Bearer {MASTER}"}, json={}
    ).json()["key"]
    forbidden = httpx.get(server.url + "/metrics", headers={"authorization": f"Bearer {minted}"})
    assert forbidden.status_code == 403
    assert scrape(server).get("polyroute_build_info") == 1


def test_requests_tokens_cost_and_latency_count_streamed_and_not(gw):
    server, a, _, _ = gw
    before = scrape(server)
    a.script(Reply(text="one two three", prompt_tokens=20, completion_tokens=3))
    raw = server.client().chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
    cost_header = float(raw.headers["x-polyroute-response-cost"])
    a.script(Reply(text="four five", prompt_tokens=12, completion_tokens=2))
    stream = server.client().chat.completions.create(
        model="gpt", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "four five"
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return after.get(name, **labels) - before.baseline(name, **labels)

    ok = {"call_type": "chat_completion", "model_group": "gpt", "provider": "openai"}
    assert delta("polyroute_requests_total", **ok, status="success", code="200") == 2
    assert delta("polyroute_tokens_total", model_group="gpt", kind="prompt", source="provider") == 32
    assert delta("polyroute_tokens_total", model_group="gpt", kind="completion", source="provider") == 5
    assert delta("polyroute_request_duration_seconds_count", **ok) == 2
    assert delta("polyroute_time_to_first_token_seconds_count", model_group="gpt", provider="openai") == 1
    assert delta("polyroute_upstream_duration_seconds_count", deployment="dep-a", outcome="success") == 2
    # The price table knows gpt-4o-mini: the metric carries the same cost as the response header.
    cost = delta("polyroute_cost_usd_total", model_group="gpt", provider="openai")
    assert cost_header > 0 and cost > cost_header
    # Buckets are cumulative and end at the count.
    assert after.get("polyroute_request_duration_seconds_bucket", **ok, le="+Inf") == after.get(
        "polyroute_request_duration_seconds_count", **ok
    )
    assert after.get("polyroute_deployment_state", deployment="dep-a") == 0
    assert after.get("polyroute_database_up") == 1


def test_failover_fallback_and_cooldown_are_counted(gw):
    server, a, b, c = gw
    a.script(Error(429, message="slow down", headers={"retry-after": "20"}))
    b.script(Reply(text="from b"))
    before = scrape(server)
    answer = server.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert answer.choices[0].message.content == "from b"
    middle = scrape(server)
    assert (
        middle.get("polyroute_upstream_errors_total", deployment="dep-a", type="rate_limit_error")
        - before.baseline("polyroute_upstream_errors_total", deployment="dep-a", type="rate_limit_error")
        == 1
    )
    assert (
        middle.get("polyroute_cooldowns_total", deployment="dep-a")
        - before.baseline("polyroute_cooldowns_total", deployment="dep-a")
        == 1
    )
    assert middle.get("polyroute_deployment_state", deployment="dep-a", model_group="gpt") == 2
    assert (
        middle.get("polyroute_retries_total", model_group="gpt")
        - before.baseline("polyroute_retries_total", model_group="gpt")
        == 1
    )
    assert middle.get("polyroute_deployment_state", deployment="dep-b") == 0

    b.script(Error(500, message="boom"))
    c.script(Reply(text="from claude"))
    answer = server.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert answer.choices[0].message.content == "from claude"
    after = scrape(server)
    assert (
        after.get("polyroute_fallbacks_total", from_group="gpt", to_group="claude")
        - middle.baseline("polyroute_fallbacks_total", from_group="gpt", to_group="claude")
        == 1
    )
    assert (
        after.get("polyroute_requests_total", model_group="claude", provider="anthropic", status="success")
        - middle.baseline(
            "polyroute_requests_total", model_group="claude", provider="anthropic", status="success"
        )
        == 1
    )
    # model_info prices: 11 prompt tokens at 1e-6 and 7 completion tokens at 2e-6 (the fake's defaults)
    assert after.get("polyroute_cost_usd_total", model_group="claude") - middle.baseline(
        "polyroute_cost_usd_total", model_group="claude"
    ) == pytest.approx(11e-6 + 14e-6)


def test_errors_are_counted_by_type_and_unknown_models_share_one_label(gw):
    server = gw[0]
    before = scrape(server)
    with pytest.raises(openai.BadRequestError):
        server.client().chat.completions.create(model="gpt", messages="not a list")  # type: ignore[arg-type]
    for n in range(3):
        with pytest.raises(openai.NotFoundError):
            server.client().chat.completions.create(model=f"no-such-model-{n}", messages=MESSAGES)
    after = scrape(server)
    assert (
        after.get("polyroute_errors_total", type="invalid_request_error", status="400")
        - before.baseline("polyroute_errors_total", type="invalid_request_error", status="400")
        >= 1
    )
    assert (
        after.get("polyroute_requests_total", model_group="other", code="404")
        - before.baseline("polyroute_requests_total", model_group="other", code="404")
        == 3
    )
    assert "no-such-model" not in after.text


def test_spend_writer_figures_follow_the_rows(gw):
    server = gw[0]
    before = scrape(server)
    assert before.get("polyroute_spend_queue_depth") >= 0
    server.client().chat.completions.create(model="gpt", messages=MESSAGES)
    written = before.baseline("polyroute_spend_records_total", outcome="written")
    deadline = time.monotonic() + 10
    while True:  # the writer flushes every proxy_batch_write_at (0.2 s here)
        after = scrape(server)
        if after.get("polyroute_spend_records_total", outcome="written") >= written + 1:
            break
        assert time.monotonic() < deadline, "the spend row was never written"
        time.sleep(0.1)
    assert after.get("polyroute_spend_queue_depth") == 0


def test_event_loop_tasks_and_database_pool_are_gauges(gw):
    """What bench/soak.py watches for leaks: the loop's task count and the pool's connections."""
    server = gw[0]
    for _ in range(3):
        server.client().chat.completions.create(model="gpt", messages=MESSAGES)
    figures = scrape(server)
    names = {(name, labels) for name, labels in figures.samples}
    assert figures.get("polyroute_event_loop_tasks") >= 1  # at least the scrape's own task
    for state in ("checked_out", "idle"):
        assert ("polyroute_database_connections", frozenset({("state", state)})) in names
    # the spend writer has returned its connection to the pool between batches
    assert figures.get("polyroute_database_connections", state="idle") >= 1


def test_no_secret_in_the_metrics(gw):
    server, a, _, _ = gw
    server.client().chat.completions.create(model="gpt", messages=MESSAGES)
    text = scrape(server).text
    for secret in (KEY, MASTER, "sk-ant-x"):
        assert secret not in text


def test_error_codes_an_upstream_chooses_cannot_grow_the_label_set(upstreams, tmp_path):
    """An upstream (a client-chosen one, with client-side credentials) may put any `code` in
    its error bodies. Past MAX_OPEN_LABEL_VALUES distinct codes per process, new ones count as
    "other": each error is still counted, and the series stay bounded."""
    from polyroute.observability.metrics import MAX_OPEN_LABEL_VALUES

    a = upstreams[0]
    a.reset()
    config = {
        "model_list": [
            {
                "model_name": "chatty-errors",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": a.url + "/v1", "api_key": KEY},
            }
        ],
        "general_settings": {"master_key": MASTER},
        "router_settings": {"num_retries": 0},
    }
    sent = MAX_OPEN_LABEL_VALUES + 20
    a.script(*[Error(400, code=f"junk_code_{n}") for n in range(sent)])
    with GatewayServer(config, tmp_path) as server:
        before = scrape(server)
        for _ in range(sent):
            with pytest.raises(openai.BadRequestError):
                server.client().chat.completions.create(model="chatty-errors", messages=MESSAGES)
        after = scrape(server)
    codes = {dict(labels)["code"] for (name, labels) in after.samples if name == "polyroute_errors_total"}
    assert len(codes) <= MAX_OPEN_LABEL_VALUES + 1 and "other" in codes
    counted = after.get("polyroute_errors_total", provider="openai", status="400") - before.baseline(
        "polyroute_errors_total", provider="openai", status="400"
    )
    assert counted == sent
