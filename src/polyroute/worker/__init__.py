"""`polyroute worker`: a model worker that registers with a polyroute (or FastChat-style) controller,
heartbeats, and serves the OpenAI API for its engine (an OpenAI-compatible server, a local
Hugging Face model, or vLLM)."""
