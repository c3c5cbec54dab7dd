"""The two entry points a one-provider package gives the registry (providers/builtin.py).

`specs()` is read at start-up and imports no translation code; `adapters()` imports the
adapter's module when a deployment first uses the provider (providers/registry.py)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from polyroute.providers.base import ProviderAdapter
from polyroute.providers.spec import ProviderSpec


def single_provider(
    spec: ProviderSpec, adapter: str
) -> tuple[Callable[[], list[ProviderSpec]], Callable[[], list[ProviderAdapter]]]:
    """`specs` and `adapters` for a package serving `spec` with the adapter class at `adapter`
    ("module:Class", built with no arguments)."""
    module, _, name = adapter.partition(":")

    def specs() -> list[ProviderSpec]:
        return [spec]

    def adapters() -> list[ProviderAdapter]:
        return [getattr(import_module(module), name)()]

    return specs, adapters
