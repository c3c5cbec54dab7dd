# polyroute: one image, three entrypoints (docs/deploy.md).
#   docker run IMAGE                                  -> the gateway (polyroute serve on :4000)
#   docker run IMAGE ui --gateway-url http://gw:4000      -> the web UI
#   docker run IMAGE worker --model-name ...          -> a model worker
# Dependencies come from uv.lock (`uv sync --frozen` checks every wheel against its hash).
# Base pinned by exact tag; pin by digest too where your registry policy asks for it
# (docker buildx imagetools inspect python:3.11.11-slim-bookworm).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
# Extras to install besides the gateway, comma separated (e.g. "worker-transformers,otel").
ARG EXTRAS=""
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /app
# Dependencies first (a layer that changes only with the lock), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN extras=""; for e in $(echo "$EXTRAS" | tr ',' ' '); do extras="$extras --extra $e"; done; \
    uv sync --frozen --no-dev --no-install-project $extras
COPY src ./src
RUN extras=""; for e in $(echo "$EXTRAS" | tr ',' ' '); do extras="$extras --extra $e"; done; \
    uv sync --frozen --no-dev --no-editable $extras

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 polyroute \
 && useradd --system --uid 10001 --gid polyroute --home-dir /var/lib/polyroute --create-home polyroute
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    POLYROUTE_DATA_DIR=/var/lib/polyroute
USER 10001:10001
WORKDIR /var/lib/polyroute
EXPOSE 4000
# Liveness needs no key; the probe uses only the standard library (no curl in a slim image).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-m", "polyroute.probe", "liveness", "--port", "4000"]
ENTRYPOINT ["polyroute"]
CMD ["serve", "--host", "0.0.0.0", "--port", "4000", "--config", "/etc/polyroute/config.yaml"]
