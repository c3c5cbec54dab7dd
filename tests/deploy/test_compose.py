"""compose.yaml against the Compose Specification's JSON schema (vendored in check-jsonschema, so
offline) and structurally (`docker compose config` cannot run here: the docker CLI has no compose
plugin and no daemon), and the Dockerfile's promises: pinned base, lock with hashes, non-root, probe."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.support import COMPOSE, ROOT


def compose() -> dict:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def validate_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_matches_the_compose_specification(tmp_path: Path) -> None:
    result = validate_compose(COMPOSE / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "compose.yaml"
    text = (COMPOSE / "compose.yaml").read_text()
    broken.write_text(text.replace("    restart: unless-stopped\n", "    restart_policy: always\n", 1))
    result = validate_compose(broken)
    assert result.returncode == 1 and "restart_policy" in result.stdout


def test_two_gateway_replicas_behind_nginx_with_shared_postgres_and_redis() -> None:
    services = compose()["services"]
    gateways = [name for name in services if name.startswith("gateway-")]
    assert gateways == ["gateway-1", "gateway-2"]
    for name in gateways:
        service = services[name]
        assert service["command"][0] == "serve"
        assert set(service["depends_on"]) == {"postgres", "redis"}
        assert "@postgres:5432/" in service["environment"]["DATABASE_URL"]
        assert service["healthcheck"]["test"][1:4] == ["python", "-m", "polyroute.probe"]
        assert service["read_only"] is True
    # each replica keeps its own spool of spend rows (a volume per replica, never shared)
    volumes = [services[name]["volumes"][1].split(":")[0] for name in gateways]
    assert len(set(volumes)) == 2
    nginx = (COMPOSE / "nginx.conf").read_text()
    for name in gateways:
        assert f"server {name}:4000;" in nginx
    assert set(services) >= {"nginx", "postgres", "redis", "prometheus", "grafana"}


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, service in compose()["services"].items():
        image = service.get("image")
        if image is None or image == "polyroute:local":
            continue
        pinned = re.fullmatch(r"[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.-]+)?", image)
        assert pinned, f"{name}: {image} is not pinned"


def test_secrets_come_from_the_environment_never_the_file() -> None:
    text = (COMPOSE / "compose.yaml").read_text()
    for variable in ("POLYROUTE_MASTER_KEY", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert f"${{{variable}:?" in text, f"{variable} must be required from .env"
    assert "sk-" not in text
    assert (COMPOSE / ".gitignore").read_text().split() == ["certs/", ".env"]


def test_mounted_files_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE / source).exists() or source == "./certs", f"{name}: {source} is missing"


def test_gen_cert_makes_a_certificate_and_key(tmp_path) -> None:
    script = tmp_path / "gen-cert.sh"
    script.write_text((COMPOSE / "gen-cert.sh").read_text())
    result = subprocess.run(["sh", str(script), "gw.example"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    cert = (tmp_path / "certs" / "polyroute.crt").read_text()
    assert "BEGIN CERTIFICATE" in cert
    assert (tmp_path / "certs" / "polyroute.key").stat().st_mode & 0o077 == 0


def test_dockerfile_is_pinned_non_root_from_the_lock_with_a_liveness_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+", text)
    assert re.search(r'pip install --no-cache-dir "uv==\$\{UV_VERSION\}"', text)
    assert re.search(r"ARG UV_VERSION=\d+\.\d+\.\d+", text)
    assert text.count("uv sync --frozen --no-dev") == 2
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert 'CMD ["python", "-m", "polyroute.probe", "liveness"' in text
    assert 'ENTRYPOINT ["polyroute"]' in text
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if not line.startswith("#")]
    assert ignored[0] == "*" and "!uv.lock" in ignored and "!src/" in ignored
