"""A canary upstream (a loopback listener that only counts TCP connections): a cached answer is
served without a single connection leaving the gateway, and another key's identical request is
not served from that entry (it goes to the upstream: the canary counts it)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import openai
import pytest

from polyroute.auth.keys import hash_key
from polyroute.cache.entry import CachedAnswer
from tests.conftest import MASTER_KEY, OPENAI_KEY
from tests.fakes.canary import Canary
from tests.gateway import GatewayServer
from tests.keys.conftest import Admin

MESSAGES = [{"role": "user", "content": "seeded question"}]
SEEDED = {
    "id": "chatcmpl-seeded",
    "object": "chat.completion",
    "created": 1,
    "model": "canary-gpt",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "from the cache"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
}


def test_a_hit_opens_no_connection_and_another_key_never_reads_it(tmp_path) -> None:
    with Canary() as canary:
        config = {
            "model_list": [
                {
                    "model_name": "canary-gpt",
                    "litellm_params": {
                        "model": "openai/gpt-4o",
                        "api_base": canary.url(),
                        "api_key": OPENAI_KEY,
                    },
                }
            ],
            "general_settings": {"master_key": MASTER_KEY},
            "router_settings": {"num_retries": 0},
            "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},
        }
        with GatewayServer(config, tmp_path) as gateway:
            admin = Admin(gateway.url)
            owner = admin.new_key()
            # Seed the entry as the owner's own earlier answer would have been stored.
            principal = SimpleNamespace(
                key=SimpleNamespace(token=hash_key(owner["key"]), team_id=None), role="virtual_key"
            )
            request = SimpleNamespace(
                account=SimpleNamespace(call_type="chat_completion"), principal=principal
            )
            cache = gateway.state.cache

            async def seed() -> None:
                found = await cache.lookup(request, {"model": "canary-gpt", "messages": MESSAGES})
                await found.remember(CachedAnswer.of_chat(answer=SEEDED, cost=0.01, now=time.time()))

            asyncio.run(seed())
            canary.reset()
            raw = gateway.client(api_key=owner["key"]).chat.completions.with_raw_response.create(
                model="canary-gpt", messages=MESSAGES
            )
            assert raw.headers["x-polyroute-cache"] == "hit"
            assert raw.parse().choices[0].message.content == "from the cache"
            assert canary.settle() == 0
            other = gateway.client(api_key=admin.new_key()["key"])
            with pytest.raises(openai.APIError):  # the canary speaks no HTTP: the attempt fails
                other.chat.completions.create(model="canary-gpt", messages=MESSAGES)
            assert canary.settle() >= 1
