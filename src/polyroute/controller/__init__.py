"""FastChat's serving plane inside the gateway: the controller (worker registry, heartbeats,
dispatch) and its security; the worker side lives in `polyroute.worker`."""
