"""What QA and integrators use to see the flow: the flow trace and the doctor.

* :mod:`.flow_trace` records each step of a browser's logins and API calls
  (``PAGERO_FLOW_TRACE``), :mod:`.trace_events` builds those steps, and
  :mod:`.trace_page` shows them at ``/trace``;
* :mod:`.doctor` (``flask --app wsgi pagero doctor``, or ``python -m app.qa.doctor``)
  checks a configuration against a real Pagero, with :mod:`.doctor_login`,
  :mod:`.doctor_credentials` and :mod:`.doctor_probe`.
"""

from __future__ import annotations

from flask import Flask

from config import Settings

from . import flow_trace, trace_page


def init_app(app: Flask, settings: Settings) -> None:
    """Switch the flow trace and its page on when ``PAGERO_FLOW_TRACE`` says so, and
    add the doctor's commands."""
    if settings.flow_trace:
        flow_trace.init_app(app, settings)
        app.register_blueprint(trace_page.bp)
    # Imported here, not at the top, so `python -m app.qa.doctor` runs one copy of it.
    from .doctor import cli

    app.cli.add_command(cli)
