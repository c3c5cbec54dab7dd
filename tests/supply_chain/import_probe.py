"""Run as a script: imports modules with every network entry point of `socket` blocked, and prints
one JSON object: {"network": [attempts], "errors": {module: error}, "imported": n}.

Blocked before anything else is imported, so a dependency that phones home at import time (a
telemetry ping, a version check, a model download) shows up as an attempt, whatever it catches.
"""

from __future__ import annotations

import importlib
import json
import socket
import sys
import traceback

attempts: list[str] = []


def _blocked(name: str):
    def refuse(*args, **kwargs):
        attempts.append(f"{name}{args[1:2] if name.startswith('socket.') else args[:1]}")
        raise OSError(f"network blocked at import time ({name})")

    return refuse


socket.socket.connect = _blocked("socket.connect")  # type: ignore[method-assign]
socket.socket.connect_ex = _blocked("socket.connect_ex")  # type: ignore[method-assign]
socket.socket.sendto = _blocked("socket.sendto")  # type: ignore[method-assign]
socket.getaddrinfo = _blocked("getaddrinfo")
socket.gethostbyname = _blocked("gethostbyname")
socket.create_connection = _blocked("create_connection")


def main(names: list[str]) -> None:
    errors: dict[str, str] = {}
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an optional extra that is not installed
            errors[name] = f"ModuleNotFoundError: {exc.name}"
        except BaseException as exc:  # noqa: BLE001 - any failure is reported, not raised
            errors[name] = "".join(traceback.format_exception_only(exc)).strip()
    print(json.dumps({"network": attempts, "errors": errors, "imported": len(names) - len(errors)}))


if __name__ == "__main__":
    main(sys.argv[1:])
