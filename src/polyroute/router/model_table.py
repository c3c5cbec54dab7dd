"""Model names -> deployments: exact names, then wildcard patterns (`anthropic/*`, `*`)."""

from __future__ import annotations

from polyroute.router.deployment import Deployment

_CACHE_LIMIT = 4096  # distinct wildcard model names remembered; bounded against abuse


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
        self.deployments = list(deployments)
        # Wildcard matches are built once per requested name: the hot path reuses them.
        self._resolved: dict[str, list[Deployment]] = {}

    def resolve(self, requested: str) -> list[Deployment]:
        """The deployments that can serve `requested` (empty when none)."""
        group = self._exact.get(requested)
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
        return list(self._exact)

    def patterns(self) -> list[str]:
        return [prefix + "*" + suffix for prefix, suffix, _ in self._patterns]
