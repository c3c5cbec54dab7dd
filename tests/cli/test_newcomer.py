"""What a newcomer notices first, as real processes: `--version`, help that fits an 80-column
terminal, readable logs on a terminal (JSON elsewhere), `scripts/serve` with a relative config
path from another folder, and a shutdown that does not wait forever for a stuck request."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import httpx
import orjson
import typer.main
import yaml

from polyroute import __version__
from polyroute.cli.main import app
from tests.fakes.base import Reply, free_port
from tests.fakes.openai import FakeOpenAI
from tests.serve_process import serve_process

REPO = Path(__file__).resolve().parents[2]
POLYROUTE = [sys.executable, "-m", "polyroute"]
NO_KEYS = {"POLYROUTE_MASTER_KEY": "", "LITELLM_MASTER_KEY": "", "POLYROUTE_LOG_FORMAT": ""}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*POLYROUTE, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )


def test_version_flag() -> None:
    result = _run(["--version"])
    assert result.returncode == 0 and result.stdout.strip() == f"polyroute {__version__}"


def test_every_help_fits_80_columns_and_names_every_option_in_full() -> None:
    group = typer.main.get_command(app)
    commands = {"": group, **group.commands}  # type: ignore[attr-defined]
    assert {"serve", "check-config", "worker", "controller", "version"} <= set(commands)
    for name, command in commands.items():
        result = _run([name, "--help"] if name else ["--help"], COLUMNS="80")
        assert result.returncode == 0, result.stderr
        text = result.stdout
        too_wide = [line for line in text.splitlines() if len(line) > 80]
        assert not too_wide, (name, too_wide)
        squeezed = "".join(text.split())  # wrapping moves words, never drops a letter
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue  # arguments show as their metavar (FILE), without help of their own
            for option in param.opts:
                assert option in text, (name, option)  # never cut short
            assert "".join((getattr(param, "help", None) or "").split()) in squeezed, (name, param.name)


def _read_until(fd: int, marker: bytes, timeout_s: float = 60) -> bytes:
    """What a terminal shows until `marker` appears (or the deadline passes)."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


def _serve_on_a_terminal(extra: list[str]) -> list[bytes]:
    """`polyroute serve` with its stderr on a pseudo-terminal: the lines up to 'polyroute serving'."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*POLYROUTE, "serve", "--port", str(free_port()), *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**os.environ, **NO_KEYS, "PYTHONUNBUFFERED": "1"},
    )
    os.close(follower)
    try:
        seen = _read_until(leader, b"polyroute serving")
    finally:
        process.terminate()
        process.wait(20)
        os.close(leader)
    lines = [line for line in seen.splitlines() if b"polyroute serving" in line]
    assert lines, seen.decode(errors="replace")
    return lines


def test_logs_are_readable_on_a_terminal_and_json_otherwise() -> None:
    line = _serve_on_a_terminal([])[0].strip()
    assert not line.startswith(b"{") and b"[info" in line  # structlog's console line
    line = _serve_on_a_terminal(["--log-format", "json"])[0].strip()
    assert orjson.loads(line)["event"].startswith("polyroute serving")  # the flag still wins
    process, _ = serve_process([], NO_KEYS)  # stderr is a pipe here
    process.terminate()
    output = process.communicate(timeout=20)[0]
    serving = [line for line in output.splitlines() if "polyroute serving" in line]
    assert serving and orjson.loads(serving[0])["level"] == "info"


def test_scripts_serve_takes_a_config_path_relative_to_the_callers_folder(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "relative.yaml").write_text(
        yaml.safe_dump(
            {"model_list": [{"model_name": "from-relative", "litellm_params": {"model": "mock/m"}}]}
        )
    )
    port = free_port()
    process = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "serve"), "--config", "conf/relative.yaml", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, **NO_KEYS},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        models = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert models is not None, process.communicate(timeout=20)[0] if process.poll() is not None else ""
        assert "from-relative" in [m["id"] for m in models["data"]]
    finally:
        process.terminate()
        process.wait(20)


def test_shutdown_cuts_requests_still_running_after_the_graceful_timeout(tmp_path: Path) -> None:
    """SIGTERM with a request stuck upstream: uvicorn waited for it without bound. With
    --timeout-graceful-shutdown 1 the request is cut (its upstream call cancelled) and the
    process exits."""
    with FakeOpenAI(api_key="sk-fake-shutdown-0123456789") as fake:
        config = tmp_path / "c.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "model_list": [
                        {
                            "model_name": "stuck",
                            "litellm_params": {
                                "model": "openai/stuck",
                                "api_base": fake.url + "/v1",
                                "api_key": "sk-fake-shutdown-0123456789",
                            },
                        }
                    ]
                }
            )
        )
        fake.script(Reply(ttfb=60))
        process, port = serve_process(["--config", str(config), "--timeout-graceful-shutdown", "1"], NO_KEYS)
        outcome: list[object] = []

        def call() -> None:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    json={"model": "stuck", "messages": [{"role": "user", "content": "hi"}]},
                    timeout=90,
                )
                outcome.append(response.status_code)
                outcome.append(response.json()["error"]["code"])
            except httpx.HTTPError as exc:
                outcome.append(exc)

        client = threading.Thread(target=call)
        client.start()
        deadline = time.monotonic() + 20
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.requests, "the request never reached the upstream"
        process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=30)[0]  # without the bound: 60 s and more
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError("the gateway did not exit within 30 s of SIGTERM") from None
        client.join(30)
        assert outcome == [503, "shutting_down"], outcome  # cut, and told so: OpenAI's shape, retryable
        # Said in the log: the gateway's own drain cut it (server/shutdown.py), or uvicorn's bound.
        assert "still running after" in output or "graceful shutdown exceeded" in output
        deadline = time.monotonic() + 10
        while fake.cancelled < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.cancelled == 1  # the upstream call was cancelled with it
