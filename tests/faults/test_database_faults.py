"""PostgreSQL down under a real `polyroute serve` process, which is then stopped with SIGTERM:
requests keep being answered during the outage, the graceful stop spools what it could not
write, and the next start (the database back) writes every row exactly once, from the spool and
the journal together. The database is taken away by stopping a loopback TCP proxy in front of
the real server (tests/store/tcp_proxy.py: it also cuts the open connections)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import openai
import yaml

from tests.keys.conftest import Admin
from tests.serve_process import serve_process
from tests.store.databases import PG_HOST, PG_PORT, pg_database_sync, pg_url
from tests.store.tcp_proxy import TcpProxy

MASTER = "sk-database-faults-master-6262"
MESSAGES = [{"role": "user", "content": "hi"}]
BEFORE, DURING = 3, 6


def _wait_for(condition, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_sigterm_during_a_database_outage_spools_and_the_next_start_writes_each_row_once(tmp_path: Path):
    with pg_database_sync() as direct, TcpProxy(PG_HOST, PG_PORT) as proxy:
        config = {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m", "mock_response": "ok"}}],
            "general_settings": {
                "master_key": MASTER,
                "database_url": pg_url(direct.rsplit("/", 1)[1], proxy.port),
                "proxy_batch_write_at": 0.05,
            },
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        data = tmp_path / "data"
        env = {"POLYROUTE_MASTER_KEY": "", "POLYROUTE_DATA_DIR": str(data)}

        process, port = serve_process(["--config", str(path)], env, timeout_s=90)
        url = f"http://127.0.0.1:{port}"
        client = openai.OpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=0, timeout=30)
        try:
            for i in range(BEFORE):
                assert client.chat.completions.create(model="m", messages=MESSAGES, stream=i == 1)
            assert len(Admin(url, MASTER).wait_for_logs(BEFORE)) == BEFORE

            proxy.stop()
            for _ in range(DURING):  # answered although the database is gone
                answer = client.chat.completions.create(model="m", messages=MESSAGES)
                assert answer.choices[0].message.content == "ok"
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == -signal.SIGTERM, output
        spool = data / "spend-spool.jsonl"
        assert spool.exists() and spool.stat().st_size > 0, "the stop spooled nothing"

        proxy.start()
        for restart in range(2):  # the second start must find nothing left to add
            process, port = serve_process(["--config", str(path)], env, timeout_s=90)
            try:
                admin = Admin(f"http://127.0.0.1:{port}", MASTER)
                admin.wait_for_logs(BEFORE + DURING)
                empty = lambda: not spool.exists() or spool.stat().st_size == 0  # noqa: E731
                _wait_for(empty, "the spool was not emptied")
                rows = admin.logs()
                assert len(rows) == BEFORE + DURING, (restart, len(rows))
                assert len({r["request_id"] for r in rows}) == BEFORE + DURING
                assert all(r["status"] == "success" for r in rows)
            finally:
                process.terminate()
                process.wait(60)
