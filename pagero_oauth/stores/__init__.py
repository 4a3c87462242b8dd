"""Where the core keeps what outlives a request: tokens, pending logins, flow traces.

:func:`build` is the one place that chooses the backend, from ``SESSION_BACKEND``:
the filesystem (one machine, any number of workers) or Redis (``REDIS_URL`` in any of
its forms: one node, Sentinel or Cluster, :mod:`.redis_client`). Every part gets its
store from here, so tokens, pending logins, traces and the sessions sharing the Redis
client (app/sessions.py) always live in one place. The interface is in :mod:`.base`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..sealing import Sealer
from . import redis_client
from .base import LockTimeout, Store, TraceStore
from .files import FileStore, FileTraceStore
from .redis import RedisStore, RedisTraceStore

__all__ = ["LockTimeout", "Store", "Stores", "TraceStore", "build"]


@dataclass(frozen=True)
class Stores:
    """The stores of one app, all on the backend :func:`build` chose."""

    tokens: Store
    #: Pending logins (:mod:`pagero_oauth.logins`): the tokens' backend, their own names.
    logins: Store
    #: The flow trace's events; None unless ``PAGERO_FLOW_TRACE`` is on.
    traces: TraceStore | None
    #: The Redis client (``SESSION_BACKEND=redis``), for the sessions that share it.
    redis: Any = None
    #: The folder of the filesystem sessions (``SESSION_BACKEND=filesystem``).
    session_folder: str | None = None


def build(settings: Any, instance_path: str, sealer: Sealer | None = None) -> Stores:
    """The stores ``settings`` name: Redis at ``REDIS_URL``, or folders beside the
    sessions' (``SESSION_FILE_DIR``, else ``instance_path/flask_session``). With a
    ``sealer`` (the app always gives one) every record is sealed at rest
    (:mod:`pagero_oauth.sealing`); the trace's events hold no secret and are not."""
    if settings.session_backend == "redis":
        client = redis_client.connect(settings.redis_url, settings.redis_sentinel_password)
        tokens: Store = RedisStore(client, prefix=settings.session_key_prefix)
        tokens.sealer = sealer
        traces = RedisTraceStore(client, settings.session_key_prefix)
        return Stores(
            tokens, tokens.sibling("logins"), traces if settings.flow_trace else None, client
        )
    folder = settings.session_file_dir or os.path.join(instance_path, "flask_session")
    beside = os.path.dirname(folder)
    tokens = FileStore(os.path.join(beside, "tokens"))
    tokens.sealer = sealer
    traces = None
    if settings.flow_trace:
        traces = FileTraceStore(os.path.join(beside, "traces"), ttl=settings.session_lifetime)
    return Stores(tokens, tokens.sibling("logins"), traces, session_folder=folder)
