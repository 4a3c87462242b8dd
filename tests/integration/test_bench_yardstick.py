"""``bench/bare_proxy.py``, the slow-Pagero table's yardstick, relays what the API says.

Its figures are only a fair ceiling for ``/api-proxy`` if it does the same call and
hands back the same answer; ``make bench`` itself is not part of the suite.
"""

from __future__ import annotations

import importlib
import sys

import pytest

from bench.slow_api import serve_in_thread as slow_api


@pytest.fixture
def bare_proxy(monkeypatch):
    with slow_api(0) as api:
        monkeypatch.setenv("PAGERO_API_BASE_URL", api)
        sys.modules.pop("bench.bare_proxy", None)
        module = importlib.import_module("bench.bare_proxy")
        yield module.app.test_client()
        module._api.close()  # its kept-alive connection, before the API stops
    sys.modules.pop("bench.bare_proxy", None)


def test_the_yardstick_relays_the_apis_answer_through_the_apps_own_pool(bare_proxy):
    from bench import bare_proxy as module
    from pagero_oauth.http import FreshResendPool

    answer = bare_proxy.get("/api-proxy/document/v1/documents")
    assert answer.status_code == 200
    assert answer.content_type.startswith("application/json")
    assert answer.get_json()  # the stand-in API's documents
    assert isinstance(module._api, FreshResendPool)
