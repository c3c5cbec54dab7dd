"""Response caching (LiteLLM's `litellm_settings.cache`): exact answers in memory, on disk or in
Redis, and semantic answers in Qdrant. A model route calls `cache.hook.serve_from_cache` once,
after admission and before routing; see docs/caching.md."""
