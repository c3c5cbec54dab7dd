"""`polyroute worker`: serve a model and register it with a controller (polyroute's or FastChat's
endpoints), heartbeating with the queue length and deregistering on shutdown."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from polyroute.cli.log_options import LogDirOption, LogFormatOption, LogLevelOption, start_logging
from polyroute.cli.serve import DEFAULT_GRACEFUL_SHUTDOWN_S, GracefulShutdownOption
from polyroute.controller.settings import fastchat_timings
from polyroute.logs import protect_secrets
from polyroute.secrets import Secret

log = logging.getLogger("polyroute.cli")
ENGINES = ("openai", "transformers", "vllm")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"polyroute worker: {message}", err=True)
    return typer.Exit(2)


def _ssl_files(env: dict[str, str]) -> tuple[str, str]:
    """FastChat's --ssl: the key and certificate paths come from SSL_KEYFILE and SSL_CERTFILE."""
    for name in ("SSL_KEYFILE", "SSL_CERTFILE"):
        if not env.get(name):
            raise _fail(
                f"--ssl needs the environment variable {name} (path of the TLS {name[4:-4].lower()} file)"
            )
        if not os.path.isfile(env[name]):
            raise _fail(f"{name} names {env[name]!r}, which is not a file")
    return env["SSL_KEYFILE"], env["SSL_CERTFILE"]


def worker(
    controller: Annotated[
        str | None,
        typer.Option(
            "--controller", "--controller-address", help="The controller's URL (a polyroute gateway)."
        ),
    ] = None,
    model_name: Annotated[str | None, typer.Option(help="The model name clients use.")] = None,
    model_names: Annotated[
        str | None, typer.Option(help="Several model names, comma-separated (FastChat's --model-names).")
    ] = None,
    engine: Annotated[str, typer.Option(help="openai, transformers or vllm.")] = "openai",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (FastChat's worker default).")] = 21002,
    worker_address: Annotated[
        str | None,
        typer.Option(help="The URL the controller reaches this worker at (default: from host/port)."),
    ] = None,
    worker_token: Annotated[
        str | None, typer.Option(envvar="POLYROUTE_WORKER_TOKEN", help="Token for the controller.")
    ] = None,
    api_base: Annotated[
        str | None, typer.Option(help="openai engine: the upstream's base URL (…/v1).")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="OPENAI_API_KEY", help="openai engine: the upstream's key.", show_default=False),
    ] = None,
    upstream_model: Annotated[
        str | None, typer.Option(help="openai engine: the upstream's model id (default: the model name).")
    ] = None,
    model_path: Annotated[
        str | None, typer.Option(help="transformers/vllm engine: the model directory.")
    ] = None,
    device: Annotated[str, typer.Option(help="transformers engine: cpu, cuda or auto.")] = "auto",
    limit_worker_concurrency: Annotated[int, typer.Option(min=1, help="Requests served at once.")] = 5,
    context_length: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Context length reported on FastChat's /model_details (default: the model's own; "
            "the openai engine asks its upstream's /v1/models, else 2048).",
        ),
    ] = None,
    speed: Annotated[float, typer.Option(min=0, help="Relative speed reported to the controller.")] = 1.0,
    ssl: Annotated[
        bool, typer.Option("--ssl", help="Serve HTTPS; needs SSL_KEYFILE and SSL_CERTFILE.")
    ] = False,
    standalone: Annotated[
        bool,
        typer.Option(
            "--standalone",
            help="Serve without registering with a controller (clients call this worker's /v1 "
            "directly). Without it, --controller is required.",
        ),
    ] = False,
    log_level: LogLevelOption = "info",
    log_format: LogFormatOption = "auto",
    log_dir: LogDirOption = None,
    timeout_graceful_shutdown: GracefulShutdownOption = DEFAULT_GRACEFUL_SHUTDOWN_S,
) -> None:
    """Run a model worker. Engines: `openai` fronts any OpenAI-compatible server, `transformers`
    serves a local Hugging Face model, `vllm` runs vLLM (where it is installed)."""
    import uvicorn

    from polyroute.worker.agent import WorkerAgent, split_controller_url
    from polyroute.worker.app import WorkerApp

    start_logging(log_level, log_format, log_dir, "worker")
    protect_secrets(values=(api_key, worker_token))
    env = dict(os.environ)
    if engine not in ENGINES:
        raise _fail(f"--engine must be one of {', '.join(ENGINES)}")
    names = [n.strip() for n in (model_names or "").split(",") if n.strip()]
    if model_name and model_name not in names:
        names.insert(0, model_name)
    if not names and model_path:
        names = [os.path.basename(model_path.rstrip("/"))]  # FastChat's default: the directory name
    if not names:
        raise _fail("give --model-name (or --model-names)")
    ssl_files = _ssl_files(env) if ssl else None
    try:
        timings = fastchat_timings(env)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    cpu_isa = env.get("CPU_ISA") or None  # FastChat's setting (worker/engines/cpu_isa.py)
    built = _engine(
        engine,
        names[0],
        api_base,
        api_key,
        upstream_model,
        model_path,
        device,
        timings,
        context_length,
        cpu_isa,
    )
    if not controller and not standalone:
        raise _fail(
            "give --controller URL (the gateway to register with), or --standalone to serve this "
            "worker's OpenAI API directly without registering anywhere"
        )
    if controller and standalone:
        raise _fail("--standalone and --controller exclude each other")
    if cpu_isa and engine != "transformers":
        log.info("CPU_ISA applies to the transformers engine only; the %s engine ignores it", engine)
    agent = None
    if controller:
        url, url_token = split_controller_url(controller)
        token = worker_token or url_token
        address = worker_address or f"{'https' if ssl else 'http'}://{_reachable(host)}:{port}"
        agent = WorkerAgent(
            controller_url=url,
            worker_address=address.rstrip("/"),
            model_names=names,
            token=Secret(token, "worker token") if token else None,
            queue_length=lambda: app.limit.queue_length,
            interval_s=timings["heart_beat_interval_s"],
            speed=speed,
        )
    app = WorkerApp(built, names, limit_worker_concurrency, agent)
    options: dict = {
        "host": host,
        "port": port,
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "http": "httptools",
        "access_log": False,
        "log_level": log_level.lower(),
        "log_config": None,  # uvicorn's loggers go through ours (polyroute/logs.py)
        "lifespan": "on",
        "server_header": False,
        "timeout_graceful_shutdown": timeout_graceful_shutdown,
    }
    if ssl_files:
        options.update(ssl_keyfile=ssl_files[0], ssl_certfile=ssl_files[1])
    log.info("worker %s (%s engine) on %s:%d", ",".join(names), engine, host, port)
    if standalone:
        log.warning(
            "standalone worker: registered with no controller; no gateway routes to it, clients "
            "call %s://%s:%d/v1 directly",
            "https" if ssl else "http",
            _reachable(host),
            port,
        )
    server = uvicorn.Server(uvicorn.Config(app, **options))
    server.run()
    if not server.started:
        raise typer.Exit(1)


def _reachable(host: str) -> str:
    # A worker listening on every interface is reached on loopback unless --worker-address says otherwise.
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else (f"[{host}]" if ":" in host else host)


def _engine(
    name,
    model_name,
    api_base,
    api_key,
    upstream_model,
    model_path,
    device,
    timings,
    context_length,
    cpu_isa=None,
):
    timeout = timings["worker_api_timeout_s"]
    if name == "openai":
        if not api_base:
            raise _fail(
                "the openai engine needs --api-base (the upstream's OpenAI base URL, e.g. http://host:8000/v1)"
            )
        from polyroute.worker.engines.openai_proxy import OpenAIProxyEngine

        key = Secret(api_key, "OPENAI_API_KEY") if api_key else None
        return OpenAIProxyEngine(api_base, key, upstream_model or model_name, timeout, context_length)
    if not model_path:
        raise _fail(f"the {name} engine needs --model-path (a model directory)")
    if name == "vllm":
        from polyroute.worker.engines.vllm_engine import MISSING, VllmEngine, vllm_available

        if not vllm_available():
            raise _fail(MISSING)
        return VllmEngine(model_path, model_name, timeout, context_length)
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise _fail(
            f"the transformers engine needs torch and transformers ({exc.name} is missing): "
            "pip install 'polyroute[worker-transformers]' and a torch build for your machine"
        ) from None
    from polyroute.worker.engines.transformers_engine import TransformersEngine

    return TransformersEngine(
        model_path,
        model_name,
        device,
        timeout,
        int(timings["embedding_batch_size"]),
        context_length,
        cpu_isa=cpu_isa,
    )
