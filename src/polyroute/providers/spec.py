"""A provider's facts, declared once: its `ProviderSpec`.

Everything the rest of the gateway needs to know about a provider, apart from the translation
code itself, lives in the spec its adapter carries (`ProviderAdapter.spec`): the model prefix and
its aliases, the environment variables (FastChat's names first, then LiteLLM's), the default
base URL, what it can do, how its streams are framed, FastChat's `api_type` names for it, its
OpenTelemetry name, its docs page. Config loading (`config/env_models.py`, `config/loader.py`),
FastChat's endpoint files, tracing, the controller's worker directory and the README's provider
table all read specs; none keeps a list of its own. What is code rather than fact stays on the
adapter (`providers/base.py`): the translation, the stream decoder choice per call, and the
error mapping (`map_error`, from the provider's documented error types).

Adding a provider is one package plus one registry line:
  1. a package `polyroute/providers/<name>/` with `spec.py` (`SPEC = ProviderSpec(...)`, and
     anything the spec needs, such as its prices), an adapter whose `spec` is that `SPEC`, and
     an `__init__` that defines `specs()`, returning the specs, and `adapters()`, returning the
     adapter instances; `__init__` imports the adapter inside `adapters()` only, so a process
     loads a provider's translation code when a deployment first uses it (issue 20: idle RSS);
  2. the package's import path added to `PROVIDER_PACKAGES` in `providers/builtin.py`.
Then run `python -m polyroute.providers.table --write` to regenerate the README table (a test
fails while the README and the specs disagree).

Fields a reader may not guess:
  * `key_env`: the first variable set wins. A provider with no key (local servers) sets
    `key_optional`.
  * `setting_env`: (setting, variables) pairs: a provider setting (`litellm_params` key among its
    `setting_prefixes`, e.g. YandexGPT's `folder_id`) read from the first variable set when the
    config entry leaves it unset.
  * `route_env`: for a provider without an API key (cloud credentials): the variables whose
    being set makes `provider/*` routable with no config file (Vertex's `GCP_PROJECT_ID`), once
    the adapter's `check_call` accepts the deployment the environment describes.
  * `retired_env`: (variable, service) pairs for a retired service this provider replaces
    (Bard -> Gemini): the variable set while no `key_env` is set gets a one-line start-up notice.
  * `bare_model_prefixes`: model names without `provider/` that mean this provider (LiteLLM
    infers `claude-...` as Anthropic); checked in registry order.
  * `setting_prefixes`: `litellm_params` keys that configure the provider (`mock_latency_ms`,
    `anthropic_version`) rather than being request defaults; they go to `ProviderCall.extras`.
  * `capabilities`: operations (`chat`, `completions`, `embeddings`, `rerank`) and features
    (`tools`, `vision`, `reasoning`); the routes check operations, the README shows all.
  * `stream_decoder`: the `protocol.framing.StreamDecoder` class for its streams (SSE default).
  * `fastchat_api_types`: the `api_type` values of FastChat's `--register-api-endpoint-file`
    served by this provider.
  * `prices`: the provider's list prices by model id (USD per token, LiteLLM's field names); the
    price table (`router/pricing.py`) is built from every spec's.
  * `worker_protocol`: set on the adapters that reach registered model workers (the controller's
    `protocol` field); `worker_api_path` is appended to a worker's address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from polyroute.protocol.framing import BoundedSSEDecoder, StreamDecoder

OPERATIONS = frozenset({"chat", "completions", "embeddings", "rerank"})
FEATURES = frozenset({"tools", "vision", "reasoning"})
CAPABILITIES = OPERATIONS | FEATURES


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str  # registry key and the `provider/` prefix of model names
    label: str  # the provider as people name it (README table)
    aliases: tuple[str, ...] = ()
    key_env: tuple[str, ...] = ()
    key_optional: bool = False
    base_env: tuple[str, ...] = ()
    version_env: tuple[str, ...] = ()
    default_api_base: str | None = None
    capabilities: frozenset[str] = frozenset({"chat", "tools"})
    stream_decoder: type[StreamDecoder] = BoundedSSEDecoder
    #: the upstream already streams OpenAI's SSE chunks: relayed as they are (SSE only)
    passthrough_stream: bool = False
    bare_model_prefixes: tuple[str, ...] = ()
    setting_prefixes: tuple[str, ...] = ()
    fastchat_api_types: tuple[str, ...] = ()
    retired_env: tuple[tuple[str, str], ...] = ()
    setting_env: tuple[tuple[str, tuple[str, ...]], ...] = ()
    route_env: tuple[str, ...] = ()
    otel_name: str | None = None  # gen_ai.provider.name when the conventions name it
    docs: str | None = None  # docs page, relative to the repository root
    worker_protocol: str | None = None
    worker_api_path: str = ""
    #: the wire API it speaks, for people ("OpenAI-compatible", "Anthropic Messages"): the
    #: README table's column (a test requires it of every provider)
    api: str = ""
    notes: str = ""  # one short line for the README table
    #: list prices by the provider's model id: LiteLLM's per-token fields (router/pricing.py), and
    #: `max_output_tokens` (bounds a budget reservation when a request sets no max_tokens)
    prices: Mapping[str, Mapping[str, float | int]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        unknown = self.capabilities - CAPABILITIES
        if unknown:
            raise ValueError(f"provider {self.name}: unknown capabilities {sorted(unknown)}")
        if self.passthrough_stream and self.stream_decoder is not BoundedSSEDecoder:
            raise ValueError(f"provider {self.name}: a pass-through stream must be SSE")

    @property
    def operations(self) -> frozenset[str]:
        return self.capabilities & OPERATIONS

    @property
    def framing(self) -> str:
        return self.stream_decoder.framing

    def key_from(self, env: Mapping[str, str]) -> tuple[str, str] | None:
        """(variable, key) of the first key variable set in `env`, or None."""
        return _first_set(env, self.key_env)

    def base_from(self, env: Mapping[str, str]) -> str | None:
        found = _first_set(env, self.base_env)
        return found[1] if found else None

    def version_from(self, env: Mapping[str, str]) -> str | None:
        found = _first_set(env, self.version_env)
        return found[1] if found else None

    def settings_from(self, env: Mapping[str, str]) -> dict[str, str]:
        """The provider settings `setting_env` finds set in `env`."""
        found = {setting: _first_set(env, names) for setting, names in self.setting_env}
        return {setting: hit[1] for setting, hit in found.items() if hit}

    def route_from(self, env: Mapping[str, str]) -> str | None:
        """The first `route_env` variable set in `env`, or None."""
        found = _first_set(env, self.route_env)
        return found[0] if found else None

    def retired_notices(self, env: Mapping[str, str]) -> list[str]:
        """One line per retired service's variable set while this provider has no key."""
        if not self.key_env or self.key_from(env):
            return []
        return [
            f"{variable} is set but {service} is retired: set {self.key_env[0]} to reach {self.name}/<model>"
            for variable, service in self.retired_env
            if env.get(variable)
        ]


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = env.get(name)
        if value:
            return name, value
    return None
