"""The app's own pages and endpoints around the flow.

* :mod:`.views`: home, profile, documents, the API explorer;
* :mod:`.session_api`: ``/session``, the logged-in session as JSON for the pages' scripts;
* :mod:`.health`: ``/healthz`` and ``/readyz`` for the orchestrator;
* :mod:`.metrics`: ``/metrics`` for a Prometheus scraper (the counters: app/metrics.py).
"""

from . import health, metrics, session_api, views

#: Registered by create_app, in this order.
BLUEPRINTS = (views.bp, session_api.bp, health.bp, metrics.bp)
