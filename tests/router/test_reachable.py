"""`Router.reachable_deployments`: what a request may be served by, in the router's own order
(its group, then its fallbacks, context-window and content-policy fallbacks, each chain cut at
max_fallbacks). Budget reservations (spend/cost.py) bound the dearest of these."""

from __future__ import annotations

import yaml

from polyroute.config.loader import load_config
from polyroute.router.engine import RequestOptions, Router
from polyroute.state.memory import MemoryState


def router(tmp_path, **settings) -> Router:
    entries = [
        {"model_name": name, "litellm_params": {"model": f"mock/{name}"}}
        for name in ("a", "b", "c", "d", "e")
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": entries, "router_settings": settings}))
    config = load_config(path, {})
    return Router(config.models, config.router, MemoryState())


def groups(router: Router, model: str, options: RequestOptions | None = None) -> list[str]:
    return [d.model_name for d in router.reachable_deployments(model, options)]


def test_the_configured_chains_in_the_order_the_router_tries_them(tmp_path) -> None:
    r = router(
        tmp_path,
        fallbacks=[{"a": ["b", "c"]}],
        context_window_fallbacks=[{"a": ["d"]}],
        content_policy_fallbacks=[{"a": ["e", "b"]}],
    )
    assert groups(r, "a") == ["a", "b", "c", "d", "e"]  # b once, though two chains name it
    assert groups(r, "b") == ["b"]


def test_the_request_s_own_lists_replace_the_configured_ones_and_are_cut(tmp_path) -> None:
    r = router(tmp_path, fallbacks=[{"a": ["b"]}], max_fallbacks=2)
    options = RequestOptions(fallbacks=["e", "d", "c"])
    assert groups(r, "a", options) == ["a", "e", "d"]  # c is past max_fallbacks
    # Unvalidated at admission: names that are not strings, or name nothing, reach nothing.
    assert groups(r, "a", RequestOptions(fallbacks=[7, "c"])) == ["a", "c"]  # type: ignore[list-item]
    assert groups(r, "a", RequestOptions(fallbacks=["nope", "c"])) == ["a", "c"]
    assert groups(r, "nope") == []
