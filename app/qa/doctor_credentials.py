"""The doctor's check of the client credentials: the app's own Step 3 with a made-up code.

A token endpoint authenticates the client before it reads the code (RFC 6749 sections
3.2.1 and 5.2), so a code nobody issued comes back ``invalid_grant`` ("this code is wrong")
when the client ID, secret and ``PAGERO_TOKEN_AUTH_METHOD`` are right, and
``invalid_client`` ("who are you?") when they are not. That proves the credentials without
a browser or a user, sent exactly as a login sends them, through
:meth:`PageroClient.exchange_code`. Run by :func:`app.qa.doctor.diagnose`.
"""

from __future__ import annotations

import secrets
import time

from flask import Flask

from pagero_oauth import errors, logins

from .doctor_login import Add
from .doctor_probe import Reached


def check_credentials(
    add: Add, app: Flask, token: Reached, token_unknown: bool, wait: tuple[float, float]
) -> None:
    """Step 3 with a made-up code, through the app's own client (same authentication).

    Skipped when the token endpoint gave no usable answer above (``token``), or when the
    app would take its address from metadata that could not be read (``token_unknown``):
    the request would only wait for the same failure again.
    """
    name = "PAGERO_CLIENT_ID and _SECRET"
    if token_unknown:
        why = "the app takes PAGERO_TOKEN_URL from the server metadata, which was not read"
        add("skip", name, f"not checked: {why}")
        return
    if token.status != "ok":
        add(
            "skip",
            name,
            f"not checked: needs an answer from PAGERO_TOKEN_URL, which failed above ({token.why})",
        )
        return
    client = app.extensions["pagero_client"]
    settings = client.settings
    made_up = logins.PendingLogin(state="doctor", created_at=time.time(), scope=settings.scope)
    try:
        client.exchange_code(made_up, "pagero-doctor-" + secrets.token_urlsafe(16), timeout=wait)
    except errors.TokenEndpointRejectedClient:
        add(
            "fail",
            name,
            "invalid_client: Pagero does not accept them; check PAGERO_CLIENT_ID, "
            f"PAGERO_CLIENT_SECRET and PAGERO_TOKEN_AUTH_METHOD ({settings.token_auth_method})",
        )
    except errors.TokenRequestError as exc:
        if exc.code == "invalid_grant":
            add(
                "ok",
                name,
                "accepted: a made-up code came back invalid_grant, not invalid_client",
            )
        else:
            add("fail", name, f"{exc.code}: {exc.description}")
    except errors.PageroError as exc:
        add("fail", name, f"{exc.code}: {exc.description}")
    else:
        add("fail", name, "the token endpoint accepted a made-up code")
