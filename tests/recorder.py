"""WSGI middleware that records what reached the sandbox, for assertions such as
"the token request used HTTP Basic" or "the proxy never called outside the API"."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    form: dict[str, list[str]]


class RecordingApp:
    def __init__(self, app):
        self.app = app
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def __call__(self, environ, start_response):
        form: dict[str, list[str]] = {}
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            form = parse_qs(body.decode("utf-8"))
        headers = {
            k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        with self._lock:
            self.requests.append(
                Recorded(
                    environ["REQUEST_METHOD"],
                    environ.get("PATH_INFO", ""),
                    environ.get("QUERY_STRING", ""),
                    headers,
                    form,
                )
            )
        return self.app(environ, start_response)


def token_requests(recorder: RecordingApp) -> list[Recorded]:
    """What reached the sandbox's token endpoint (Step 3: exchanging the code for a token)."""
    return recorder.to("/oauth/v2/oauth-token")
