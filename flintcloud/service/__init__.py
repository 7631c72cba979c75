"""flintcloud as a service: an HTTP API over the same library functions the DVC stages call.

settings (typed, read once) -> store (SQLite WAL) + queue (huey/SQLite) -> app (FastAPI routers)
-> jobs (worker processes supervising one runner process per run) -> flintcloud.pipeline.
"""
