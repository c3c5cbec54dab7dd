"""Model names -> deployments: exact names, then wildcard patterns (`anthropic/*`, `*`).

Besides the config's deployments the table holds *live* ones: model workers registered with the
controller. The worker directory adds and removes one worker's deployments at a time
(`add_live`, `remove_live`): a registration costs the size of its model groups, not a rebuild of
every worker's, and `resolve` stays one dict lookup on the request path.
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
        self._merged: dict[str, list[Deployment]] = dict(self._exact)
        self._live: dict[str, list[Deployment]] = {}  # by the caller's key (a worker's address)
        self._worker_names: set[str] = set()

    @property
    def deployments(self) -> list[Deployment]:
        """Every deployment: the config's, then the live workers'."""
        if not self._live:
            return self.configured
        return self.configured + [d for group in self._live.values() for d in group]

    def add_live(self, key: str, deployments: list[Deployment]) -> None:
        """Adds one worker's deployments (replacing any under the same key).

        Each touched group is replaced by a new list, never changed in place: a request that
        resolved the old one keeps iterating it unchanged.
        """
        self.remove_live(key)
        self._live[key] = deployments
        for deployment in deployments:
            name = deployment.model_name
            self._merged[name] = [*self._merged.get(name, ()), deployment]
            if name not in self._worker_names and len(self._worker_names) < _SERVED_LIMIT:
                self._worker_names.add(name)

    def live(self, key: str) -> list[Deployment]:
        """The deployments added under `key`."""
        return self._live.get(key, [])

    def remove_live(self, key: str) -> None:
        """Removes the deployments added under `key` (nothing when there are none)."""
        gone = self._live.pop(key, None)
        if not gone:
            return
        for name in {d.model_name for d in gone}:
            group = [d for d in self._merged.get(name, ()) if all(d is not g for g in gone)]
            if group or name in self._exact:
                self._merged[name] = group
            else:
                del self._merged[name]

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
