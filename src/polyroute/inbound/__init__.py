"""The protocols clients speak to the gateway (OpenAI chat and legacy completions, Anthropic
Messages, OpenAI Responses): each decodes its requests to chat and encodes chat answers and
streams back (base.py has the seam; server/pipeline.py runs them). Unlike protocol/ (wire-level
pieces the provider adapters use), these sit above the adapters and may use their facts."""
