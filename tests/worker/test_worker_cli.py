"""`polyroute worker --engine openai` in front of a fake OpenAI server: registers with the gateway,
serves through it (openai SDK, streamed and not), reports its queue, deregisters on Ctrl-C;
FastChat's env vars and --ssl as FastChat has them."""

from __future__ import annotations

import signal
import ssl
import subprocess
import time

import httpx
import openai
import pytest
import yaml

from tests.controller.support import (
    MASTER,
    TOKEN_ALL,
    TOKEN_VICUNA,
    controller_post,
    serving_config,
    with_token,
)
from tests.fakes.base import Reply, free_port
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.serve_process import serve_process
from tests.worker.support import POLYROUTE, WorkerProcess

UPSTREAM_KEY = "sk-fake-openai-key-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def upstream():
    with FakeOpenAI(api_key=UPSTREAM_KEY) as fake:
        yield fake


@pytest.fixture
def gateway(tmp_path, upstream):
    upstream.reset()
    with GatewayServer(serving_config(), tmp_path) as server:
        yield server


def models(gateway) -> list[str]:
    return [m.id for m in gateway.client().models.list().data]


def openai_worker(gateway, upstream, port, *extra, env=None, controller=None):
    return WorkerProcess(
        [
            "--controller",
            controller or gateway.url,
            "--model-name",
            "vicuna",
            "--engine",
            "openai",
            "--api-base",
            upstream.url + "/v1",
            "--upstream-model",
            "gpt-upstream",
            "--port",
            str(port),
            *extra,
        ],
        env={"OPENAI_API_KEY": UPSTREAM_KEY, "POLYROUTE_WORKER_TOKEN": TOKEN_ALL, **(env or {})},
    )


def test_openai_engine_worker_registers_serves_and_deregisters(gateway, upstream):
    port = free_port()
    upstream.script(
        Reply(text="from the upstream behind the worker"), Reply(text="streamed through two hops")
    )
    with openai_worker(gateway, upstream, port, "--model-names", "vicuna,vicuna-7b") as worker:
        worker.wait_until(lambda: "vicuna-7b" in models(gateway))
        client = gateway.client()
        raw = client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES)
        assert raw.parse().choices[0].message.content == "from the upstream behind the worker"
        assert raw.headers["x-polyroute-provider"] == "polyroute_worker"
        assert raw.headers["x-polyroute-deployment"] == f"worker:http://127.0.0.1:{port}:vicuna"
        sent = upstream.requests[-1]
        assert (
            sent.json["model"] == "gpt-upstream" and sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        )
        chunks = list(client.chat.completions.create(model="vicuna-7b", messages=MESSAGES, stream=True))
        assert (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            == "streamed through two hops"
        )
        embedded = client.embeddings.create(model="vicuna", input=["a", "b"])
        assert len(embedded.data) == 2
        # Legacy completions: the worker forwards them to its upstream's /completions.
        completion = client.completions.create(model="vicuna", prompt="Once upon a time", max_tokens=5)
        assert completion.object == "text_completion"
        forwarded = [r.json for r in upstream.requests if r.path == "/v1/completions"]
        assert forwarded[-1]["prompt"] == "Once upon a time" and forwarded[-1]["model"] == "gpt-upstream"
        status = httpx.post(f"http://127.0.0.1:{port}/worker_get_status").json()
        assert status == {"model_names": ["vicuna", "vicuna-7b"], "speed": 1.0, "queue_length": 0}
    output = worker.output
    assert "deregistered" in output
    assert "vicuna" not in models(gateway)  # gone at once, not after the 90 s TTL
    assert UPSTREAM_KEY not in output and TOKEN_ALL not in output


def test_unmodified_url_credentials_and_heartbeat_interval(gateway, upstream):
    port = free_port()
    env = {"POLYROUTE_WORKER_TOKEN": "", "FASTCHAT_WORKER_HEART_BEAT_INTERVAL": "0.2"}
    controller = with_token(gateway.url, TOKEN_VICUNA)
    with openai_worker(gateway, upstream, port, env=env, controller=controller) as worker:
        worker.wait_until(lambda: "vicuna" in models(gateway))
        first = gateway.state.directory.workers()[0].heartbeat_at
        worker.wait_until(lambda: gateway.state.directory.workers()[0].heartbeat_at > first, timeout=10)
        # Deregistered behind its back: the next heartbeat hears "exist: false" and registers again.
        # (No check that the model is gone in between: a 0.2 s heartbeat may already have brought
        # it back; the worker's log below says it registered again.)
        removed_at = time.time()
        removal = httpx.post(  # by its own token: only a worker's registrant may deregister it
            gateway.url + "/deregister_worker",
            json={"worker_name": f"http://127.0.0.1:{port}"},
            headers={"authorization": f"Bearer {TOKEN_VICUNA}"},
        )
        assert removal.json() == {"removed": True}
        worker.wait_until(
            lambda: (
                "vicuna" in models(gateway)
                and gateway.state.directory.workers()[0].heartbeat_at >= removed_at
            ),
            timeout=10,
        )
    assert "the controller forgot this worker; registering again" in worker.output


def test_sigterm_deregisters_too(gateway, upstream):
    with openai_worker(gateway, upstream, free_port()) as worker:
        worker.wait_until(lambda: "vicuna" in models(gateway))
        output = worker.stop(signal.SIGTERM)  # what systemd, docker stop and Kubernetes send
    # Its last log lines are written out before SIGTERM ends it (uvicorn raises the signal again
    # after shutdown; they were lost in the log writer's queue), and it still ends by SIGTERM.
    assert "deregistered" in output and "Application shutdown complete" in output
    assert worker.process.returncode == -signal.SIGTERM
    assert "vicuna" not in models(gateway)


def test_a_controller_that_cannot_be_reached_at_start_stops_the_worker(upstream):
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with WorkerProcess(
        [
            *("--controller", unreachable, "--model-name", "vicuna", "--api-base", upstream.url + "/v1"),
            *("--port", str(free_port())),
        ],
        env={"OPENAI_API_KEY": UPSTREAM_KEY, "POLYROUTE_WORKER_TOKEN": TOKEN_ALL},
    ) as worker:
        assert worker.process.wait(timeout=60) != 0
    assert f"cannot reach the controller at {unreachable}" in worker.output
    assert "Traceback" not in worker.output


def test_worker_api_timeout_bounds_the_openai_engines_upstream_call(gateway, upstream):
    port = free_port()
    upstream.default = Reply(text="too late", ttfb=4.0)
    env = {"FASTCHAT_WORKER_API_TIMEOUT": "1"}
    with openai_worker(gateway, upstream, port, env=env) as worker:
        worker.wait_until(lambda: "vicuna" in models(gateway))
        body = {"model": "vicuna", "messages": MESSAGES}
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30)
        assert answer.status_code == 504  # the gateway fails a 504 over to the rest of the group
        assert "FASTCHAT_WORKER_API_TIMEOUT" in answer.json()["error"]["message"]
        # FastChat's worker API reports it as FastChat's worker timeout.
        generated = httpx.post(
            f"http://127.0.0.1:{port}/worker_generate",
            json={"model": "vicuna", "prompt": "hello", "echo": False},
            timeout=30,
        ).json()
        assert generated["error_code"] == 50006


def test_worker_refused_by_the_controller_exits_with_the_reason(gateway, upstream):
    with openai_worker(
        gateway, upstream, free_port(), "--model-name", "gpt-4o", env={"POLYROUTE_WORKER_TOKEN": TOKEN_VICUNA}
    ) as worker:
        assert worker.process.wait(timeout=30) != 0
    assert "refused the registration (HTTP 403)" in worker.output
    assert "gpt-4o" not in models(gateway)


def test_limit_worker_concurrency_queues_and_reports(gateway, upstream):
    import concurrent.futures

    port = free_port()
    upstream.default = Reply(text="slow", ttfb=2.0)

    def chats() -> int:
        return len([r for r in upstream.requests if r.path == "/v1/chat/completions"])

    env = {"FASTCHAT_WORKER_HEART_BEAT_INTERVAL": "0.2"}
    with openai_worker(gateway, upstream, port, "--limit-worker-concurrency", "1", env=env) as worker:
        worker.wait_until(lambda: "vicuna" in models(gateway))
        client = gateway.client(timeout=60)
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = [
                pool.submit(client.chat.completions.create, model="vicuna", messages=MESSAGES)
                for _ in range(3)
            ]
            # All three inside the worker (one running, two waiting for the slot) ...
            status_url = f"http://127.0.0.1:{port}/worker_get_status"
            worker.wait_until(lambda: httpx.post(status_url).json()["queue_length"] == 3 and chats() >= 1)
            # ... and only the running one reached the upstream (it answers after 2 s).
            assert chats() == 1
            # The heartbeats carry that queue to the controller (2 s per request leaves time).
            worker.wait_until(lambda: gateway.state.directory.workers()[0].queue_length >= 2)
            assert [f.result().choices[0].message.content for f in futures] == ["slow"] * 3
        assert chats() == 3
        assert httpx.post(status_url).json()["queue_length"] == 0


def test_ssl_needs_both_variables_named_in_one_line(tmp_path):
    result = subprocess.run(
        [*POLYROUTE, "worker", "--model-name", "m", "--api-base", "http://127.0.0.1:9/v1", "--ssl"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "SSL_CERTFILE": str(tmp_path / "cert.pem")},
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "SSL_KEYFILE" in lines[0] and "Traceback" not in result.stderr


def test_ssl_worker_serves_https(tmp_path, upstream, gateway):
    key, cert = self_signed_certificate(tmp_path)
    port = free_port()
    env = {"SSL_KEYFILE": str(key), "SSL_CERTFILE": str(cert)}
    worker = WorkerProcess(
        [
            "--model-name",
            "vicuna",
            "--api-base",
            upstream.url + "/v1",
            "--port",
            str(port),
            "--ssl",
            "--standalone",
        ],
        env=env,
    )
    trusted = ssl.create_default_context(cafile=str(cert))
    with worker:
        url = f"https://127.0.0.1:{port}/health"
        worker.wait_until(lambda: httpx.get(url, verify=trusted).status_code == 200)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/health")  # not trusted without the certificate
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{port}/health")  # and no plain HTTP


def test_gateway_reaches_an_ssl_worker_it_trusts(tmp_path, upstream):
    """`--ssl` end to end: the worker registers its https:// address, a gateway started with
    SSL_CERT_FILE naming the worker's certificate serves through it, and a gateway that does not
    trust that certificate refuses to talk to the same worker (verification is on)."""
    key, cert = self_signed_certificate(tmp_path)
    upstream.script(Reply(text="over TLS"))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(serving_config(allowed_worker_addresses=[r"https://127\.0\.0\.1:\d+"])))
    gateway, gateway_port = serve_process(
        ["--config", str(config)], {"SSL_CERT_FILE": str(cert), "POLYROUTE_DATA_DIR": str(tmp_path / "data")}
    )
    url = f"http://127.0.0.1:{gateway_port}"
    port = free_port()
    worker = WorkerProcess(
        [
            *("--controller", url, "--model-name", "vicuna", "--api-base", upstream.url + "/v1"),
            *("--port", str(port), "--ssl"),
        ],
        env={
            "SSL_KEYFILE": str(key),
            "SSL_CERTFILE": str(cert),
            "POLYROUTE_WORKER_TOKEN": TOKEN_ALL,
            "OPENAI_API_KEY": UPSTREAM_KEY,
        },
    )
    client = openai.OpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=0)
    try:
        with worker:
            worker.wait_until(lambda: "vicuna" in [m.id for m in client.models.list().data])
            raw = client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES)
            assert raw.parse().choices[0].message.content == "over TLS"
            assert raw.headers["x-polyroute-deployment"] == f"worker:https://127.0.0.1:{port}:vicuna"
            # The same worker registered with a gateway that does not trust its certificate.
            https = serving_config(allowed_worker_addresses=[r"https://127\.0\.0\.1:\d+"])
            with GatewayServer(https, tmp_path) as untrusting:
                registered = controller_post(
                    untrusting.url,
                    "/register_worker",
                    {
                        "worker_name": f"https://127.0.0.1:{port}",
                        "check_heart_beat": True,
                        "worker_status": {"model_names": ["vicuna"], "speed": 1, "queue_length": 0},
                        "protocol": "openai",
                    },
                    TOKEN_ALL,
                )
                assert registered.status_code == 200
                served_before = len(upstream.requests)
                with pytest.raises(openai.APIStatusError) as refused:
                    untrusting.client(max_retries=0).chat.completions.create(
                        model="vicuna", messages=MESSAGES
                    )
                assert refused.value.status_code == 502
                assert "certificate verify failed" in refused.value.message.lower()
                assert len(upstream.requests) == served_before  # nothing reached the worker's upstream
    finally:
        gateway.send_signal(signal.SIGINT)
        gateway.communicate(timeout=30)


def self_signed_certificate(directory):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "polyroute-test-worker")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "key.pem", directory / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def test_a_worker_without_a_controller_must_say_it_is_standalone(upstream):
    base = ["--model-name", "vicuna", "--api-base", upstream.url + "/v1", "--port", str(free_port())]
    refused = subprocess.run([*POLYROUTE, "worker", *base], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--controller" in refused.stderr and "--standalone" in refused.stderr
    both = subprocess.run(
        [*POLYROUTE, "worker", *base, "--standalone", "--controller", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert both.returncode == 2 and "exclude each other" in both.stderr
    upstream.script(Reply(text="served directly"))
    port = free_port()
    worker = WorkerProcess(
        ["--model-name", "vicuna", "--api-base", upstream.url + "/v1", "--port", str(port), "--standalone"],
        env={"OPENAI_API_KEY": UPSTREAM_KEY},
    )
    with worker:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        worker.wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200)
        reply = client.chat.completions.create(model="vicuna", messages=MESSAGES)
        assert reply.choices[0].message.content == "served directly"
    assert "standalone worker: registered with no controller" in worker.output
