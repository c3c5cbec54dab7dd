"""`polyroute serve --workers 2`: a scrape answered by either process reports both processes' figures."""

from __future__ import annotations

import time

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.serve_process import serve_process

MASTER = "sk-workers-master-0123456789"


def _requests_and_processes(port: int) -> tuple[float, float]:
    # A fresh connection per scrape: the kernel hands it to either worker process.
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"authorization": f"Bearer {MASTER}"}).text
    requests = processes = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "polyroute_requests_total" and sample.labels["model_group"] == "m":
                requests += sample.value
            elif sample.name == "polyroute_metrics_processes":
                processes = sample.value
    return requests, processes


def test_a_scrape_sums_every_worker_process(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
                "general_settings": {"master_key": MASTER},
            }
        )
    )
    process, port = serve_process(
        ["--config", str(config), "--workers", "2"], {"POLYROUTE_DATA_DIR": str(tmp_path / "data")}
    )
    try:
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        for _ in range(30):
            response = httpx.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json=body,
                headers={"authorization": f"Bearer {MASTER}"},
            )
            assert response.status_code == 200
        deadline = time.monotonic() + 15
        seen: list[tuple[float, float]] = []
        while time.monotonic() < deadline:
            seen.append(_requests_and_processes(port))
            if len(seen) >= 6 and all(s == (30, 2) for s in seen[-6:]):
                break
            time.sleep(0.3)
        assert seen[-6:] == [(30, 2)] * 6, seen
    finally:
        process.terminate()
        process.wait(15)
