"""The doctor's checks of what a login needs from Pagero, before anyone logs in.

* :func:`check_issuer`: ``PAGERO_ISSUER`` is what the server publishes. The callback's
  ``iss`` (RFC 9207) and every id_token are compared with it, so a wrong value lets every
  login get as far as Pagero and fail on the way back. With discovery off (the staging
  default) nothing else reads the server's metadata, so this looks for it where the specs
  and Pagero put it, and compares.
* :func:`authorization_request`: sends the app's own Step 1 (a throwaway ``state``, the
  PKCE challenge, the scope) without following the login, and reads the answer: a redirect
  URI the server does not accept gets an error page (RFC 6749 section 4.1.2.1 forbids
  redirecting to it), an accepted one the login page or a redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urljoin, urlsplit

from config import Settings
from config.base import WELL_KNOWN_OPENID
from pagero_oauth.client import PageroClient
from pagero_oauth.logins import new_login

from .doctor_probe import Probe, Reached, origin_of

#: RFC 8414 section 3: inserted between the origin and the issuer's path.
WELL_KNOWN_OAUTH = "/.well-known/oauth-authorization-server"
#: Pagero's (Curity's) issuer path, where the sandbox publishes its metadata too.
PAGERO_ISSUER_PATH = "/oauth/v2/oauth-anonymous"

Add = Callable[[str, str, str], None]


# -- the issuer -------------------------------------------------------------------------


def metadata_candidates(s: Settings) -> list[str]:
    """Where the server's metadata may be, most specific first: derived from
    ``PAGERO_ISSUER`` (OIDC Discovery section 4, RFC 8414 section 3), then on the
    authorize endpoint's origin: the issuer's path there (an issuer on the wrong host),
    Pagero's convention (a wrong path), the origin's own well-known documents."""
    issuer = urlsplit(s.issuer)
    path = issuer.path.rstrip("/")
    found = [
        s.issuer.rstrip("/") + WELL_KNOWN_OPENID,
        f"{issuer.scheme}://{issuer.netloc}{WELL_KNOWN_OAUTH}{path}",
    ]
    parts = urlsplit(s.authorize_url or "")
    if parts.netloc:
        base = f"{parts.scheme}://{parts.netloc}"
        found += [
            f"{base}{path}{WELL_KNOWN_OPENID}",
            f"{base}{PAGERO_ISSUER_PATH}{WELL_KNOWN_OPENID}",
            f"{base}{WELL_KNOWN_OPENID}",
            f"{base}{WELL_KNOWN_OAUTH}",
        ]
    return list(dict.fromkeys(found))


def check_issuer(add: Add, s: Settings, probe: Probe) -> None:
    """Compare ``PAGERO_ISSUER`` with the issuer the server's metadata names.

    The first document naming the configured issuer settles it. Otherwise a document that
    lists this app's authorize or token endpoint is this server's, and its issuer is the
    one the callbacks will carry: a FAIL. Without any document, an issuer on another host
    than both endpoints is a warning (it can be right, but is a common slip).
    """
    others: list[tuple[str, dict]] = []
    silent: list[str] = []
    for url in metadata_candidates(s):
        reached = probe.reach("GET", url, headers={"Accept": "application/json"})
        if reached.response is None:
            if origin_of(url) in probe.silent:
                silent.append(reached.why)
            continue
        document = _json_object(reached)
        if not isinstance(document.get("issuer"), str):
            continue
        if document["issuer"] == s.issuer:
            add("ok", "PAGERO_ISSUER", f"{s.issuer}: the server's metadata names it ({url})")
            return
        others.append((url, document))
    endpoints = {s.authorize_url, s.token_url}
    for url, document in others:
        listed = {document.get("authorization_endpoint"), document.get("token_endpoint")}
        if listed & endpoints:
            add(
                "fail",
                "PAGERO_ISSUER",
                f"{s.issuer} is not the issuer the server publishes: {document['issuer']} "
                f"(metadata at {url}, which lists PAGERO_AUTHORIZE_URL/PAGERO_TOKEN_URL); "
                "every login would end in issuer_mismatch. Set PAGERO_ISSUER to "
                f"{document['issuer']}",
            )
            return
    if others:
        url, document = others[0]
        add(
            "warn",
            "PAGERO_ISSUER",
            f"{s.issuer}: not found; metadata at {url} names {document['issuer']}, for "
            "other endpoints than this app's. The first login's iss check will tell",
        )
        return
    where = f" ({silent[0]})" if silent else ""
    hosts = {name: _host(url) for name, url in _endpoint_urls(s)}
    differ = [name for name, host in hosts.items() if host != _host(s.issuer)]
    if differ:
        add(
            "warn",
            "PAGERO_ISSUER",
            f"{s.issuer}: no server metadata found{where}, and its host is not the host of "
            f"{' and '.join(differ)}; check it: the callback's iss must equal it exactly",
        )
    else:
        add(
            "note",
            "PAGERO_ISSUER",
            f"{s.issuer}: no server metadata found{where} to compare with; the host matches "
            "the endpoints'. The first login's iss check will tell",
        )


def _json_object(reached: Reached) -> dict:
    if reached.response.status_code != 200:
        return {}
    try:
        document = reached.response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _endpoint_urls(s: Settings) -> list[tuple[str, str]]:
    return [
        (name, url)
        for name, url in (
            ("PAGERO_AUTHORIZE_URL", s.authorize_url),
            ("PAGERO_TOKEN_URL", s.token_url),
        )
        if url
    ]


def _host(url: str) -> str:
    """host:port of ``url``, the scheme's default port spelt out."""
    return origin_of(url).split("://", 1)[1]


# -- Step 1 -----------------------------------------------------------------------------


def authorization_request(client: PageroClient, s: Settings) -> str:
    """The URL of the app's own Step 1 for a throwaway login (never stored, so a
    callback it might cause matches no login and is refused)."""
    if not s.authorize_url:
        return ""
    return client.authorization_url(s.authorize_url, new_login(s, s.scope), settings=s)


def check_authorization_request(add: Add, s: Settings, sent: str, reached: Reached) -> None:
    """Read the server's answer to Step 1 (``reached``, the request ``sent``)."""
    name = "PAGERO_REDIRECT_URI registered"
    if reached.response is None or reached.status != "ok":
        why = f"needs an answer from PAGERO_AUTHORIZE_URL, which failed above ({reached.why})"
        add("skip", name, f"not checked: {why}")
        return
    response = reached.response
    status = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400 and response.headers.get("Location"):
        location = urljoin(s.authorize_url, response.headers["Location"])
        back = urlsplit(location)
        if f"{back.scheme}://{back.netloc}{back.path}" != s.redirect_uri:
            add("ok", name, f"{s.redirect_uri}: accepted ({status} to the server's login)")
            return
        add("ok", name, f"{s.redirect_uri}: accepted ({status} back to it)")
        error = dict(parse_qsl(back.query)).get("error")
        if error:
            hint = "; check PAGERO_SCOPE" if error == "invalid_scope" else ""
            add(
                "fail",
                "Authorization request",
                f"the server sent the browser back with error={error}{hint}",
            )
        return
    if response.status_code < 300:
        add("ok", name, f"{s.redirect_uri}: accepted ({status}, the login page)")
        return
    add(
        "fail",
        name,
        f"{s.redirect_uri}: the server refused the authorization request ({status} "
        f"{response.reason}, an error page instead of its login page): most often this "
        f"redirect URI is not registered for PAGERO_CLIENT_ID {s.client_id} exactly as "
        "sent (scheme, host, port, path), or the client ID is unknown. Set "
        "PAGERO_REDIRECT_URI to the registered one, or ask Pagero to register it",
    )
    add("note", "Authorization request", f"to see the server's page, open {sent}")
