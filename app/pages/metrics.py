"""``/metrics``: every worker's Prometheus metrics (app/metrics.py), behind a bearer token.

``/metrics`` is not public: without ``METRICS_TOKEN`` it is a 404 like any unknown path;
with it, only ``Authorization: Bearer <METRICS_TOKEN>`` gets an answer (RFC 6750
section 2.1), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

from flask import Blueprint, Response, abort, request
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from pagero_oauth import errors

from ..error_pages import render_error
from ..extension import pagero

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)


class MetricsUnauthorized(errors.PageroError):
    status = 401
    code = "metrics_unauthorized"
    title = "Metrics need a bearer token"
    restart_login = False


@bp.get("/metrics")
def scrape():
    """The metrics of every worker, for a scraper that sends the configured token."""
    expected = pagero.configured.metrics_token
    if not expected:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not _same_secret(given.strip(), expected):
        log.warning("metrics: scrape refused (%s)", "wrong token" if given else "no token")
        response = render_error(MetricsUnauthorized("Send Authorization: Bearer <METRICS_TOKEN>."))
        # RFC 6750 section 3: a 401 names the scheme it expects.
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # Prometheus' text format, or OpenMetrics when the scraper asks for it.
    encode, content_type = choose_encoder(request.headers.get("Accept"))
    return Response(
        encode(_registry()),
        headers={"Content-Type": content_type, "Cache-Control": "no-store"},
    )


def _same_secret(given: str, expected: str) -> bool:
    """Constant time, length included: ``compare_digest`` of two equal-length digests."""
    digest = lambda text: hashlib.sha256(text.encode()).digest()  # noqa: E731
    return hmac.compare_digest(digest(given), digest(expected))


def _registry():
    """Every worker's files under gunicorn; this process's registry otherwise."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
