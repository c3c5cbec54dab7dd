"""Health probes for containers and orchestrators: `python -m polyroute.probe liveness|readiness`.

Why a module rather than `curl`: the slim image has no curl, and readiness needs the master key,
which an HTTP probe in a Kubernetes pod spec could only carry as plain text in the manifest. Here
the key is read from the process environment (POLYROUTE_MASTER_KEY or LITELLM_MASTER_KEY, as the
gateway reads it), sent only to the loopback gateway, and never printed. Standard library only, so
a probe costs one short interpreter start and nothing of the gateway's imports.

Exit status: 0 healthy, 1 not (the reason on stderr, without the key).
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys

PATHS = {"liveness": "/health/liveliness", "readiness": "/health/readiness"}
KEY_VARIABLES = ("POLYROUTE_MASTER_KEY", "LITELLM_MASTER_KEY")


def probe(kind: str, host: str, port: int, timeout: float, environ: dict[str, str]) -> str | None:
    """None when the gateway answers 200; else why not (never containing the key)."""
    headers = {}
    if kind == "readiness":
        key = next((environ[name] for name in KEY_VARIABLES if environ.get(name)), None)
        if key is None:
            return f"readiness needs the master key in {' or '.join(KEY_VARIABLES)}"
        headers["Authorization"] = f"Bearer {key}"
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", PATHS[kind], headers=headers)
        status = connection.getresponse().status
    except OSError as exc:
        return f"{PATHS[kind]} on {host}:{port}: {type(exc).__name__}"
    finally:
        connection.close()
    return None if status == 200 else f"{PATHS[kind]} on {host}:{port} answered {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m polyroute.probe", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(PATHS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds")
    args = parser.parse_args(argv)
    problem = probe(args.kind, args.host, args.port, args.timeout, dict(os.environ))
    if problem is not None:
        print(f"polyroute probe: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
