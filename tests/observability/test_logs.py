"""Structured logs: JSON lines with the request id, secrets masked everywhere, LOGDIR files, and
a real `polyroute serve` whose stderr, LOGDIR file and REMOTE_LOGGER_URL records hold no key."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time

import httpx
import orjson
import pytest
import structlog
import yaml

from polyroute.logs import REQUEST_ID, configure_logging, log_file_name, protect_secrets
from polyroute.secrets import Redactor
from tests.fakes.base import Error, Reply, free_port
from tests.fakes.log_sink import LogSink
from tests.fakes.openai import FakeOpenAI
from tests.serve_process import serve_process

PROVIDER_KEY = "sk-fake-openai-key-0123456789abcdef"
MASTER = "sk-logs-master-key-0123456789abcdef"
ODD_SECRET = "hunter2-but-longer"  # not key-shaped: masked only because the config knows it


@pytest.fixture
def logging_setup():
    """configure_logging for one test, then the process's logging as it was."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    setups = []

    def configure(**kwargs):
        setup = configure_logging(**kwargs)
        setups.append(setup)
        return setup

    yield configure
    for setup in setups:
        setup.stop()
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    for name in ("polyroute", "uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    structlog.reset_defaults()


def lines_of(text: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_level_logger_time_and_the_request_id(logging_setup, tmp_path):
    stream = io.StringIO()
    setup = logging_setup(
        level="info", fmt="json", logdir=tmp_path / "logs", component="serve", stream=stream
    )
    log = logging.getLogger("polyroute.router")
    token = REQUEST_ID.set("req_abc123")
    try:
        log.info("retrying in %.2fs: deployment=%s", 0.5, "dep-a", extra={"attempt": 2})
    finally:
        REQUEST_ID.reset(token)
    log.warning("outside any request")
    log.debug("below the level")
    logging.getLogger("aiohttp.client").info("a library's info line")  # libraries: warning and up
    setup.stop()
    lines = lines_of(stream.getvalue())
    assert [line["event"] for line in lines] == ["retrying in 0.50s: deployment=dep-a", "outside any request"]
    first, second = lines
    assert first["level"] == "info" and first["logger"] == "polyroute.router"
    assert first["request_id"] == "req_abc123" and first["attempt"] == 2
    assert first["timestamp"].endswith("+00:00") and first["pid"] == os.getpid()
    assert "request_id" not in second
    file = tmp_path / "logs" / log_file_name("serve")
    assert lines_of(file.read_text()) == lines  # the LOGDIR file gets the same JSON lines


def test_a_stop_re_entered_by_the_sigterm_handler_returns_with_every_line_written(logging_setup):
    """SIGTERM's handler stops the log writer; when the signal lands while this thread is already
    stopping it (`polyroute serve` handing over to its serving process), the nested stop must not
    join the writer a second time (that join never returned) nor lose what was queued."""
    stream = io.StringIO()
    setup = logging_setup(level="info", fmt="json", stream=stream)
    for n in range(50):
        logging.getLogger("polyroute.cli").info("line %d", n)
    listener = setup.listener
    outer_stop = listener.stop

    def stop_interrupted_by_the_handler() -> None:
        listener.enqueue_sentinel()  # the writer is told to end, as the outer stop does first...
        setup.stop()  # ...and the handler's stop runs before the outer join: it must return
        outer_stop()

    listener.stop = stop_interrupted_by_the_handler
    setup.stop()
    assert [line["event"] for line in lines_of(stream.getvalue())] == [f"line {n}" for n in range(50)]


def test_secrets_are_masked_in_messages_fields_and_tracebacks(logging_setup):
    stream = io.StringIO()
    setup = logging_setup(level="debug", fmt="json", stream=stream)
    known = Redactor()
    known.add(ODD_SECRET)
    protect_secrets(known)
    log = logging.getLogger("polyroute.server")
    log.info("upstream said: Incorrect API key provided: %s", PROVIDER_KEY)
    log.info("headers", extra={"authorization": f"Bearer {MASTER}", "nested": {"x": [ODD_SECRET]}})
    try:
        raise RuntimeError(f"failed with key {MASTER} and {ODD_SECRET}")
    except RuntimeError:
        log.exception("boom")
    structlog.get_logger("polyroute.native").info("native", token=PROVIDER_KEY, note=f"key {MASTER}")
    setup.stop()
    text = stream.getvalue()
    for secret in (PROVIDER_KEY, MASTER, ODD_SECRET):
        assert secret not in text
    lines = lines_of(text)
    assert lines[0]["event"] == "upstream said: Incorrect API key provided: [redacted]"
    assert lines[1]["authorization"] == "[redacted]" and lines[1]["nested"] == {"x": ["[redacted]"]}
    assert "RuntimeError" in lines[2]["exception"] and "[redacted]" in lines[2]["exception"]
    assert lines[3]["logger"] == "polyroute.native" and lines[3]["token"] == "[redacted]"
    # Ordinary words that merely contain key-like prefixes are left alone.
    stream2 = io.StringIO()
    setup2 = logging_setup(level="info", fmt="json", stream=stream2)
    logging.getLogger("polyroute.x").info("network_error on worker-address risk-adjusted")
    setup2.stop()
    assert lines_of(stream2.getvalue())[0]["event"] == "network_error on worker-address risk-adjusted"


def test_console_format_is_readable_and_masked(logging_setup):
    stream = io.StringIO()
    setup = logging_setup(level="info", fmt="console", stream=stream)
    token = REQUEST_ID.set("req_console1")
    logging.getLogger("polyroute.cli").warning("key %s rejected", PROVIDER_KEY)
    REQUEST_ID.reset(token)
    setup.stop()
    text = stream.getvalue()
    assert not text.lstrip().startswith("{")
    assert "key [redacted] rejected" in text and "request_id=req_console1" in text and "warning" in text
    assert PROVIDER_KEY not in text


def test_bad_options_are_refused(logging_setup):
    with pytest.raises(ValueError, match="log format"):
        logging_setup(fmt="xml")
    with pytest.raises(ValueError, match="log level"):
        logging_setup(level="loud")


# -- a real gateway process -------------------------------------------------------------------------------


def test_a_real_gateway_logs_request_ids_to_logdir_and_ships_records_without_keys(tmp_path):
    """Every key of an end-to-end request (provider key, master key, a virtual key, a wrong client
    key, a key the upstream echoes in its error) is absent from stderr, LOGDIR and the sink."""
    logdir = tmp_path / "logs" / "nested"  # made if missing
    with FakeOpenAI(api_key=PROVIDER_KEY) as upstream, LogSink() as sink:
        config = {
            "model_list": [
                {
                    "model_name": "primary",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": upstream.url + "/v1",
                        "api_key": "os.environ/TEST_PROVIDER_KEY",
                    },
                },
                {"model_name": "backup", "litellm_params": {"model": "mock/backup"}},
            ],
            "general_settings": {"master_key": "os.environ/TEST_MASTER_KEY"},
            "router_settings": {"num_retries": 0, "fallbacks": [{"primary": ["backup"]}]},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {
            "TEST_PROVIDER_KEY": PROVIDER_KEY,
            "TEST_MASTER_KEY": MASTER,
            "POLYROUTE_DATA_DIR": str(tmp_path / "data"),
            "LOGDIR": str(logdir),
            "REMOTE_LOGGER_URL": sink.endpoint,
        }
        process, port = serve_process(["--config", str(path), "--log-level", "debug"], env)
        try:
            url = f"http://127.0.0.1:{port}"
            master = {"authorization": f"Bearer {MASTER}"}
            generated = httpx.post(
                url + "/key/generate", json={"models": ["primary", "backup"]}, headers=master
            )
            assert generated.status_code == 200, generated.text
            virtual_key = generated.json()["key"]
            # The upstream rejects the request and echoes our key (as OpenAI does); the gateway
            # falls back to the backup group, logging each step from the router's attempt loop.
            upstream.script(Error(401, message=f"Incorrect API key provided: {PROVIDER_KEY}."))
            body = {"model": "primary", "messages": [{"role": "user", "content": "hello"}]}
            response = httpx.post(
                url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {virtual_key}"}
            )
            assert response.status_code == 200, response.text
            request_id = response.headers["x-request-id"]
            wrong_key = "sk-wrong-client-key-abcdef0123456789"
            denied = httpx.post(url + "/v1/chat/completions", json=body, headers={"x-api-key": wrong_key})
            assert denied.status_code == 401
            # A client that pastes a key where the model name goes: the name reaches the debug
            # log line and the remote record, masked.
            pasted = "sk-client-pasted-into-model-0123456789"
            lost = httpx.post(url + "/v1/chat/completions", json={**body, "model": pasted}, headers=master)
            assert lost.status_code in (400, 404)
            upstream.script(Reply(text="fine"))
            assert httpx.post(url + "/v1/chat/completions", json=body, headers=master).status_code == 200
            deadline = time.monotonic() + 10
            while len(sink.records) < 3:
                assert time.monotonic() < deadline, sink.records
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGINT)
            output = process.communicate(timeout=20)[0]
        file = logdir / log_file_name("serve")
        file_text = file.read_text()
        file_lines = lines_of(file_text)
        stderr_lines = lines_of(output)  # every line of stderr is JSON too
        assert {line["event"] for line in file_lines} >= {line["event"] for line in stderr_lines} - {""}
        router_lines = [line for line in file_lines if line.get("request_id") == request_id]
        assert any(line["logger"] == "polyroute.router" for line in router_lines), router_lines
        assert any(line["event"] == "request finished" for line in router_lines)
        assert any(line["logger"] == "uvicorn.error" for line in file_lines)  # uvicorn's lines too
        served = next(r for r in sink.records if r["request_id"] == request_id)
        assert served["model"] == "primary" and served["model_group"] == "backup"
        assert served["attempts"] == 2 and served["status"] == "success"
        shipped = b"".join(r.body for r in sink.requests).decode()
        assert any(r["model"] == "[redacted]" for r in sink.records)
        assert any(line.get("model") == "[redacted]" for line in file_lines)
        for secret in (PROVIDER_KEY, MASTER, virtual_key, wrong_key, pasted):
            for where, text in (("stderr", output), ("LOGDIR file", file_text), ("remote records", shipped)):
                assert secret not in text, f"a key in the {where}"
        assert "hello" not in shipped  # never prompt text in the records


def test_every_command_documents_the_logging_options():
    for command in ("serve", "controller", "worker"):
        result = subprocess.run(
            [sys.executable, "-m", "polyroute", command, "--help"],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            check=True,
        )
        for option in ("--log-format", "--log-dir", "LOGDIR", "POLYROUTE_LOG_FORMAT"):
            assert option in result.stdout, (command, option)


def test_an_unusable_remote_logger_url_stops_start_up(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "polyroute", "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "REMOTE_LOGGER_URL": "ftp://logs.example.com/",
            "POLYROUTE_DATA_DIR": str(tmp_path),
        },
        timeout=60,
    )
    assert result.returncode == 2
    assert "REMOTE_LOGGER_URL must be an http:// or https:// URL" in result.stderr


def test_worker_processes_share_the_logdir_file_line_by_line(tmp_path):
    """--workers 2: both spawned processes set up logging again and append whole JSON lines."""
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
                "general_settings": {"master_key": MASTER},
            }
        )
    )
    env = {"POLYROUTE_DATA_DIR": str(tmp_path / "data"), "LOGDIR": str(tmp_path / "logs")}
    process, port = serve_process(["--config", str(config), "--workers", "2", "--log-level", "debug"], env)
    try:
        for _ in range(20):
            response = httpx.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
                headers={"authorization": f"Bearer {MASTER}"},
            )
            assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    lines = lines_of((tmp_path / "logs" / log_file_name("serve")).read_text())  # each line whole JSON
    finished = [line for line in lines if line["event"] == "request finished"]
    assert len(finished) == 20 and all(line["request_id"].startswith("req_") for line in finished)
    started = {line["pid"] for line in lines if line["event"].startswith("Started server process")}
    assert len(started) == 2  # uvicorn's line from each spawned process, in the one file
    assert MASTER not in (tmp_path / "logs" / log_file_name("serve")).read_text()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_format_is_console_on_a_terminal_and_json_elsewhere(logging_setup):
    terminal = _Terminal()
    setup = logging_setup(level="info", fmt="auto", stream=terminal)
    logging.getLogger("polyroute.cli").info("to a person")
    setup.stop()
    assert "to a person" in terminal.getvalue() and not terminal.getvalue().lstrip().startswith("{")
    pipe = io.StringIO()
    setup = logging_setup(level="info", fmt="auto", stream=pipe)
    logging.getLogger("polyroute.cli").info("to a program")
    setup.stop()
    assert lines_of(pipe.getvalue())[0]["event"] == "to a program"
    forced = _Terminal()
    setup = logging_setup(level="info", fmt="json", stream=forced)  # --log-format still wins
    logging.getLogger("polyroute.cli").info("json anyway")
    setup.stop()
    assert lines_of(forced.getvalue())[0]["event"] == "json anyway"
