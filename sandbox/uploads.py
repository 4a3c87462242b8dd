"""Writing to the API: send a document, change its status, withdraw it.

Pagero's API also takes documents in (sending an invoice is a POST of the
document itself). The sandbox reads the body as a stream, hashing it on the way,
and keeps only the metadata: a 200 MB upload costs it a few buffers, which is
what the proxy's streaming tests need to see.
"""

from __future__ import annotations

import hashlib
import uuid

from flask import jsonify, request, url_for

from sandbox.bearer import ApiError
from sandbox.state import current_state

STATUSES = ("received", "approved", "rejected", "paid")
CHUNK = 64 * 1024


def send_document(company_id: str):
    """``POST /api/document/v1/documents``: 201 with the stored document's metadata."""
    digest = hashlib.sha256()
    size = 0
    while chunk := request.stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    if size == 0:
        raise ApiError(400, "invalid_request", "The document body is empty")
    document = {
        "id": f"up-{uuid.uuid4()}",
        "companyId": company_id,
        "contentType": request.mimetype or "application/octet-stream",
        "size": size,
        "sha256": digest.hexdigest(),
        "status": "received",
    }
    current_state().uploads[document["id"]] = document
    location = url_for("api.sent_document", document_id=document["id"], _external=True)
    return jsonify(document), 201, {"Location": location}


def _own_upload(company_id: str, document_id: str) -> dict:
    document = current_state().uploads.get(document_id)
    if document is None or document["companyId"] != company_id:
        raise ApiError(404, "not_found", "No such document")
    return document


def get_document(company_id: str, document_id: str):
    return jsonify(_own_upload(company_id, document_id))


def set_status(company_id: str, document_id: str):
    """``PUT .../status`` and ``PATCH .../{id}`` with ``{"status": ...}``."""
    document = _own_upload(company_id, document_id)
    body = request.get_json(silent=True)
    status = body.get("status") if isinstance(body, dict) else None
    if status not in STATUSES:
        raise ApiError(400, "invalid_request", "status must be one of " + ", ".join(STATUSES))
    document["status"] = status
    return jsonify(document)


def withdraw(company_id: str, document_id: str):
    _own_upload(company_id, document_id)
    del current_state().uploads[document_id]
    return "", 204
