"""Configuration: one class per profile, every value overridable from the environment.

``load_settings()`` is the single entry point. It picks the profile named by
``PAGERO_ENV`` (``sandbox`` by default), overlays environment variables (and a
``.env`` file, read by the caller), validates everything at once and either
returns a :class:`Settings` or raises :class:`ConfigError` naming *every* bad
variable, so an operator fixes the whole deployment in one pass.
"""

from .base import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
