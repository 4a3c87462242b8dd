"""Login, callback, logout and the return from Pagero's logout: the browser-facing half
of Pagero's flow (:mod:`.views`). The protocol itself is :mod:`pagero_oauth.client`."""

from .views import bp

__all__ = ["bp"]
