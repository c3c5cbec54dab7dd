"""Engines behind `polyroute worker`: each serves OpenAI chat completions (streamed or not) and,
where it can, embeddings."""
