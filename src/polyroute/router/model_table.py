"""Model names -> deployments: exact names, then wildcard patterns (`anthropic/*`, `*`).

Besides the config's deployments the table holds *live* ones: model workers registered with the
controller. The worker directory swaps them in as a whole (`set_live`) when its snapshot
changes, so `resolve` stays one dict lookup on the request path.
"""

from __future__ import annotations

from polyroute.router.deployment import Deployment

_CACHE_LIMIT = 4096  # distinct wildcard model names remembered; bounded against abuse
_SERVED_LIMIT = 4096  # model names once served by workers, remembered to answer 503 (not 404)


class ModelTable:
    def __init__(self, deployments: list[Deployment]) -> None:
        self._exact: dict[str, list[Deployment]] = {}
        self._patterns: list[tuple[str, str, list[Deployment]]] = []
        by_pattern: dict[str, list[Deployment]] = {}
        for deployment in deployments:
            name = deployment.model_name
            if "*" in name:
                by_pattern.setdefault(name, []).append(deployment)
            else:
                self._exact.setdefault(name, []).append(deployment)
        # Most specific (longest fixed text) first, so `openai/gpt-4*` beats `openai/*` beats `*`.
        for pattern, group in sorted(by_pattern.items(), key=lambda item: -len(item[0].replace("*", ""))):
            prefix, _, suffix = pattern.partition("*")
            self._patterns.append((prefix, suffix, group))
        self.configured = list(deployments)
        # Wildcard matches are built once per requested name: the hot path reuses them.
        self._resolved: dict[str, list[Deployment]] = {}
        # Exact names with live deployments merged in (the config's own entries come first).
        self._merged: dict[str, list[Deployment]] = self._exact
        self._live: list[Deployment] = []
        self._worker_names: set[str] = set()

    @property
    def deployments(self) -> list[Deployment]:
        """Every deployment: the config's, then the live workers'."""
        return self.configured + self._live if self._live else self.configured

    def set_live(self, groups: dict[str, list[Deployment]]) -> None:
        """Replace the live (worker) deployments: model name -> deployments."""
        merged = dict(self._exact)
        for name, group in groups.items():
            merged[name] = self._exact.get(name, []) + group
            if name not in self._worker_names and len(self._worker_names) < _SERVED_LIMIT:
                self._worker_names.add(name)
        self._live = [d for group in groups.values() for d in group]
        self._merged = merged  # one reference swap: readers see the old or the new table whole

    def served_by_workers(self, name: str) -> bool:
        """True when workers served `name` at some point since start-up (so its absence now is an
        outage, not an unknown model)."""
        return name in self._worker_names

    def resolve(self, requested: str) -> list[Deployment]:
        """The deployments that can serve `requested` (empty when none)."""
        group = self._merged.get(requested)
        if group is not None:
            return group
        for prefix, suffix, candidates in self._patterns:
            if (
                len(requested) > len(prefix) + len(suffix)
                and requested.startswith(prefix)
                and requested.endswith(suffix)
            ):
                cached = self._resolved.get(requested)
                if cached is None:
                    star = requested[len(prefix) : len(requested) - len(suffix) if suffix else None]
                    cached = [d.for_requested(requested, star) for d in candidates]
                    if len(self._resolved) >= _CACHE_LIMIT:
                        self._resolved.clear()
                    self._resolved[requested] = cached
                return cached
        return []

    def public_names(self) -> list[str]:
        """Concrete model names for /v1/models (wildcards are routable but not listable)."""
        return list(self._merged)

    def patterns(self) -> list[str]:
        return [prefix + "*" + suffix for prefix, suffix, _ in self._patterns]
