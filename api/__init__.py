"""The HTTP API: FastAPI routes, dependencies, error mapping and response helpers.

Thin adapters over `models`, which is all it imports of lrlab; it never imports `worker/` or
TensorFlow, and enqueues by task name after its commit.
"""
