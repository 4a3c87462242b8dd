"""Pagero's API, as far as the demo needs it: documents and their files, per company.

Versioned sub-APIs under ``/api`` answering JSON, like the real one. Every call needs a live
access token, and a user only ever sees their own company's documents.
"""

from __future__ import annotations

import hashlib
import time

from flask import Blueprint, Flask, Response, g, jsonify, request

from sandbox import faults, latency, uploads
from sandbox.bearer import ApiError, authenticate_bearer
from sandbox.documents import (
    company_documents,
    file_parts,
    find_by_file,
    find_document,
    render_document,
    stream_large_document,
)
from sandbox.state import current_state
from sandbox.users import User

bp = Blueprint("api", __name__, url_prefix="/api")

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
DIRECTIONS = ("inbound", "outbound")


def _user() -> User:
    return g.api_token.login.user


def require_acceptable(mimetype: str) -> None:
    """406 unless the Accept header admits ``mimetype`` (RFC 9110 §12.5.1); no Accept
    header admits anything."""
    accept = request.accept_mimetypes
    if request.headers.get("Accept") and accept.quality(mimetype) <= 0:
        raise ApiError(406, "not_acceptable", f"This resource is only available as {mimetype}")


def _int_param(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ApiError(400, "invalid_request", f"{name} must be an integer {bounds}")
    return value


@bp.before_request
def authenticate() -> None:
    state = current_state()
    latency.delay(state.settings.api_delay_ms)
    if faults.API_503 in state.faults:
        raise ApiError(
            503,
            "service_unavailable",
            "The API is temporarily unavailable (sandbox fault api_503)",
            {"Retry-After": "1"},
        )
    if faults.API_SLOW in state.faults:
        time.sleep(state.settings.slow_seconds)
    g.api_token = authenticate_bearer(state)


@bp.after_request
def count_call(response: Response) -> Response:
    if response.status_code < 400:
        current_state().count("api")
    # Like the load balancer in front of a real API, pin the client to a node with a
    # cookie. A backend-for-frontend must neither pass it to the browser nor keep it
    # in a connection pool shared by all users.
    response.set_cookie("AWSALB", "sandbox-node-1", httponly=True)
    return response


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    body = {"error": error.error, "error_description": error.description}
    return jsonify(body), error.status, error.headers


@bp.get("/document/v1/documents")
def list_documents():
    """The user's company documents, newest first, a page at a time."""
    require_acceptable("application/json")
    user = _user()
    direction = request.args.get("direction")
    if direction is not None:
        direction = direction.lower()
        if direction not in DIRECTIONS:
            raise ApiError(400, "invalid_request", "direction must be inbound or outbound")
    company_id = request.args.get("companyId")
    if company_id is not None and company_id != user.company_id:
        raise ApiError(403, "forbidden", "The user may not read this company's documents")
    limit = _int_param("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param("offset", 0, 0)

    documents = company_documents(user, direction)
    page = documents[offset : offset + limit]
    meta = {"count": len(page), "limit": limit, "offset": offset, "total": len(documents)}
    response = jsonify({"items": [d.to_json() for d in page], "meta": meta})
    # A strong ETag, so clients (and the proxy's tests) can revalidate with If-None-Match.
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    return response.make_conditional(request)


@bp.post("/document/v1/documents")
def send_document():
    """Send a document: the body is the document itself (e.g. an XML invoice)."""
    require_acceptable("application/json")
    return uploads.send_document(_user().company_id)


@bp.get("/document/v1/documents/<document_id>")
def sent_document(document_id: str):
    require_acceptable("application/json")
    return uploads.get_document(_user().company_id, document_id)


@bp.get("/document/v1/documents/<document_id>/file")
def sent_document_file(document_id: str):
    """A sent document itself, with the Content-Type it was sent with (sandbox.uploads)."""
    return uploads.get_file(_user().company_id, document_id)


@bp.route("/document/v1/documents/<document_id>", methods=["PATCH"])
@bp.put("/document/v1/documents/<document_id>/status")
def document_status(document_id: str):
    require_acceptable("application/json")
    return uploads.set_status(_user().company_id, document_id)


@bp.delete("/document/v1/documents/<document_id>")
def withdraw_document(document_id: str):
    return uploads.withdraw(_user().company_id, document_id)


@bp.get("/document/v1/documents/<document_id>/targetdocument")
def target_document(document_id: str):
    """The document itself, as XML; the large one is streamed with its exact length."""
    doc = find_document(_user(), document_id)
    if doc is None:
        raise ApiError(404, "not_found", "No such document")
    require_acceptable("application/xml")
    if doc.large:
        chunks, length = stream_large_document(doc, current_state().settings.large_document_bytes)
        return Response(chunks, mimetype="application/xml", headers={"Content-Length": str(length)})
    return Response(render_document(doc), mimetype="application/xml")


@bp.get("/file/v1/files/<file_id>/fileparts")
def list_file_parts(file_id: str):
    """The parts (XML, PDF) of a file behind one of the user's documents."""
    doc = find_by_file(_user(), file_id)
    if doc is None:
        raise ApiError(404, "not_found", "No such file")
    require_acceptable("application/json")
    return jsonify(file_parts(doc, current_state().settings.large_document_bytes))


def init_app(app: Flask) -> None:
    """JSON for unknown API paths too, so clients never have to parse an HTML 404."""
    app.register_blueprint(bp)

    @app.errorhandler(404)
    def not_found(error):
        if request.path.startswith("/api/"):
            return api_error(ApiError(404, "not_found", "No such API resource"))
        return error
