"""The `polyroute` command as a user runs it: real processes."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import openai
import yaml

from tests.fakes.base import free_port
from tests.serve_process import serve_process

POLYROUTE = [sys.executable, "-m", "polyroute"]


def run(args, env=None, timeout=30):
    return subprocess.run(
        [*POLYROUTE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_check_config_ok_and_errors(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {"model_name": "m", "litellm_params": {"model": "openai/x", "api_key": "os.environ/K"}}
                ],
                "litellm_settings": {"turn_off_message_logging": True},
            }
        )
    )
    result = run(["check-config", "--config", str(good)], env={"K": "sk-secret-value-999"})
    assert result.returncode == 0, result.stderr
    assert "config OK" in result.stdout and "m" in result.stdout
    assert "litellm_settings.turn_off_message_logging" in result.stderr  # accepted, not implemented: warned
    assert "sk-secret-value-999" not in result.stdout + result.stderr
    missing = run(["check-config", "--config", str(good)], env={"K": ""})
    assert missing.returncode == 2
    lines = [line for line in missing.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "K" in lines[0] and "'m'" in lines[0] and "Traceback" not in missing.stderr


def test_refuses_public_bind_without_master_key():
    env = {"POLYROUTE_MASTER_KEY": "", "LITELLM_MASTER_KEY": ""}
    result = run(["serve", "--host", "0.0.0.0", "--port", str(free_port())], env=env)
    assert result.returncode == 2
    assert "--allow-unauthenticated" in result.stderr


def test_embedded_default_serves_the_mock_offline():
    env = {"POLYROUTE_MASTER_KEY": "", "LITELLM_MASTER_KEY": ""}
    process, port = serve_process([], env)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="anything", max_retries=0)
        reply = client.chat.completions.create(
            model="mock-gpt", messages=[{"role": "user", "content": "hello"}]
        )
        assert reply.choices[0].message.content == "This is a mock response to: hello"
    finally:
        process.terminate()
        process.wait(10)


def test_two_workers_serve_with_master_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
                "general_settings": {"master_key": "os.environ/MK"},
            }
        )
    )
    process, port = serve_process(["--config", str(config), "--workers", "2"], {"MK": "sk-mk-0123456789"})
    try:
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-mk-0123456789", max_retries=0
        )
        for _ in range(4):
            assert client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}]
            ).choices
        bad = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0)
        try:
            bad.models.list()
            raise AssertionError("wrong key was accepted")
        except openai.AuthenticationError:
            pass
    finally:
        process.terminate()
        process.wait(15)


def _non_loopback_address():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # no packet is sent: this only picks the interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_public_bind_without_master_key_needs_the_flag_and_says_so_loudly():
    env = {"POLYROUTE_MASTER_KEY": "", "LITELLM_MASTER_KEY": ""}
    process, port = serve_process(["--host", "0.0.0.0", "--allow-unauthenticated"], env)
    try:
        address = _non_loopback_address()
        if address is not None:  # a client that is not on loopback is served: the flag is explicit
            reply = httpx.post(
                f"http://{address}:{port}/v1/chat/completions",
                json={"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert reply.status_code == 200, reply.text
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "NO AUTHENTICATION" in output and "WARNING" in output.upper()
