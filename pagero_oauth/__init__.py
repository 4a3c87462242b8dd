"""Pagero's OAuth 2.0 authorization-code flow, free of any web framework.

Copy this folder alone: it imports neither Flask nor Werkzeug, nor the project's
``config`` package. Its settings are duck-typed (the :class:`~pagero_oauth.settings.Settings`
Protocol lists every attribute it reads; the project's ``config.Settings`` is one such
object), and it is built from settings, an HTTP session and a store, as Authlib's
``base_client`` is::

    from pagero_oauth import stores
    from pagero_oauth.client import PageroClient
    from pagero_oauth.http import pooled_session

    built = stores.build(settings, instance_path)
    client = PageroClient(settings, http=pooled_session(), store=built.tokens)

Where each step lives:

* :mod:`.client` - Step 1 (``start_login``), Step 2 (``check_callback``), Step 3
  (``exchange_code``), ``refresh`` and ``revoke``; :mod:`.endpoints` - where Pagero's
  endpoints are and how one token-endpoint call goes;
* :mod:`.logins` - pending logins from Step 1 to Step 2 (``state``, PKCE, ``nonce``);
* :mod:`.tokens` - the token set; :mod:`.keeper` - a session's tokens in the store,
  refreshed exactly once under the store's lock;
* :mod:`.id_token` (validation, JWKS cache), :mod:`.discovery` (server metadata),
  :mod:`.end_session` (RP-initiated logout);
* :mod:`.http` - the pooled outgoing HTTP session; :mod:`.in_flight` - the cap on calls
  waiting for Pagero; :mod:`.observer` - what the core reports (metrics, a trace);
* :mod:`.errors` - the typed error family; :mod:`.failures` - why an endpoint gave no
  usable answer;
* :mod:`.stores` - one store interface, filesystem and Redis backends, :func:`stores.build`.

Sessions are plain ``MutableMapping`` objects; the web app passes Flask's.
"""
