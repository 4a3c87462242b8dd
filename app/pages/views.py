"""The pages a user sees: home (log in), profile (who am I), documents (a live API call)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, render_template, request, session

from pagero_oauth.tokens import TokenSet, mask

from .. import security
from ..extension import pagero

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def login_context() -> dict:
    """Every page (error pages too) knows whether someone is logged in, and
    gets the logout form's anti-forgery token when they are."""
    token_set = pagero.tokens(session)
    return {
        "tokens": token_set,
        "csrf_token": security.csrf_token(session) if token_set else None,
        # Said once, on whichever page comes first after a timeout ended the session.
        "session_ended": None if token_set else pagero.why_ended(session),
    }


@bp.get("/")
def home():
    token_set = pagero.tokens(session)
    return render_template(
        "home.html",
        scope_choices=pagero.settings.scope_choices.split(),
        default_scope=pagero.settings.scope.split(),
        logged_out=request.args.get("logged_out") == "1" and token_set is None,
    )


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the pages link; the same small SVG."""
    return current_app.send_static_file("favicon.svg")


@bp.get("/profile")
def profile():
    token_set = pagero.require(session)
    return render_template(
        "profile.html",
        identity=_identity(token_set),
        masked={
            "access_token": mask(token_set.access_token),
            "refresh_token": mask(token_set.refresh_token),
            "id_token": mask(token_set.id_token),
        },
        expires_in=token_set.expires_in(),
    )


@bp.get("/documents")
def documents():
    """Lists the user's documents with fetch() through /api-proxy (static/js/documents.js)."""
    pagero.require(session)
    return render_template("documents.html")


@bp.get("/explorer")
def explorer():
    """An API explorer: any method and path through /api-proxy (static/js/explorer.js)."""
    pagero.require(session)
    return render_template("explorer.html")


def _identity(token_set: TokenSet) -> list[tuple[str, str]]:
    """Rows for the profile page: OpenID claims when we have them, else what the
    token response told us (Pagero's ``claims`` field names what it granted)."""
    if token_set.id_claims:
        hidden = {"nonce", "at_hash", "c_hash"}
        claims = sorted(token_set.id_claims.items())
        return [(k, _text(v, k)) for k, v in claims if k not in hidden]
    return []


TIME_CLAIMS = {"exp", "iat", "auth_time", "nbf", "updated_at"}


def _text(value, name: str = "") -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if name in TIME_CLAIMS and isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{moment} ({value})"
    return str(value)
