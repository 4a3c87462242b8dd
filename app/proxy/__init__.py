"""``/api-proxy``: making an API request with the session's access token, on the server.

One view (:mod:`.views`) and the rules it applies to paths and headers (:mod:`.rules`).
"""

from .views import bp

__all__ = ["bp"]
