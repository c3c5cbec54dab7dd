"""AWS Bedrock runtime: Converse and ConverseStream (SigV4, AWS event-stream)."""

from polyroute.providers.bedrock.adapter import BedrockAdapter

__all__ = ["BedrockAdapter", "adapters"]


def adapters() -> list[BedrockAdapter]:
    return [BedrockAdapter()]
