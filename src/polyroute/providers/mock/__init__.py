"""The mock provider: an in-process OpenAI-compatible upstream for trying and testing offline.

`mock/<anything>` answers deterministically, in OpenAI's real wire format (JSON, or SSE chunks
ending in [DONE]), through the same pipeline as a real upstream. Settings (litellm_params):

  mock_response           fixed reply text (LiteLLM's name), or `litellm.<ExceptionName>`
                          (e.g. litellm.RateLimitError) to answer as a provider sending that error
  mock_latency_ms         delay before the first byte            (default 0)
  mock_chunk_latency_ms   delay between stream chunks            (default 0)
  mock_stream_chunks      how many content chunks a stream has   (default: one per word)
  mock_error_rate         share of requests answered with an error, 0..1, from a seeded RNG
  mock_error_status       status of those errors                 (default 429)
  mock_seed               seed of that RNG                       (default 0)
  mock_max_output_tokens  tokens per choice at most              (default 4096)

Without `mock_response`, the reply echoes the last user text; with `response_format` it is JSON
(json_object, or a value of the json_schema); with tools offered (and tool_choice not "none")
and no tool result yet, it calls the chosen or first tool with arguments built from the tool's
JSON schema; after a tool result it answers with that result. `logprobs` / `top_logprobs` give
OpenAI's logprobs for the same tokens usage counts. Embeddings are deterministic vectors.
"""

from __future__ import annotations

from polyroute.providers.mock.spec import SPEC
from polyroute.providers.package import single_provider

specs, adapters = single_provider(SPEC, "polyroute.providers.mock.adapter:MockAdapter")

__all__ = ["adapters", "specs"]
