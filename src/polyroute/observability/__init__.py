"""Metrics, logs and traces: what the gateway tells the tools operators already run."""
