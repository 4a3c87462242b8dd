"""Writing to the API: send a document, change its status, withdraw it.

Pagero's API also takes documents in (sending an invoice is a POST of the
document itself). The sandbox reads the body as a stream, hashing it on the way,
and keeps only the metadata: a 200 MB upload costs it a few buffers, which is
what the proxy's streaming tests need to see.

A small document (up to :data:`KEPT_FILE_BYTES`) is also kept as it came, and
``GET .../documents/{id}/file`` gives it back with the ``Content-Type`` it was sent
with, byte for byte: the way a partner's file reaches a user through Pagero, type
and all. Tests change what that answer says (:class:`UploadedFile` ``headers``) to
play an API that answers with odd or hostile headers.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from flask import Response, jsonify, request, url_for

from sandbox.bearer import ApiError
from sandbox.state import current_state

STATUSES = ("received", "approved", "rejected", "paid")
CHUNK = 64 * 1024
#: Uploads up to this size are kept whole and can be read back (``.../file``).
KEPT_FILE_BYTES = 64 * 1024


@dataclass
class UploadedFile:
    """A kept upload: its body, and the headers its ``.../file`` answer carries (the
    raw ``Content-Type`` it was sent with; a test may put any header here, twice)."""

    body: bytes
    headers: list[tuple[str, str]]


def send_document(company_id: str):
    """``POST /api/document/v1/documents``: 201 with the stored document's metadata."""
    digest = hashlib.sha256()
    size = 0
    kept = bytearray()
    while chunk := request.stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if size <= KEPT_FILE_BYTES:
            kept += chunk
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
    state = current_state()
    state.uploads[document["id"]] = document
    if size <= KEPT_FILE_BYTES:
        raw_type = request.headers.get("Content-Type", "application/octet-stream")
        state.upload_files[document["id"]] = UploadedFile(bytes(kept), [("Content-Type", raw_type)])
    location = url_for("api.sent_document", document_id=document["id"], _external=True)
    return jsonify(document), 201, {"Location": location}


def _own_upload(company_id: str, document_id: str) -> dict:
    document = current_state().uploads.get(document_id)
    if document is None or document["companyId"] != company_id:
        raise ApiError(404, "not_found", "No such document")
    return document


def get_document(company_id: str, document_id: str):
    return jsonify(_own_upload(company_id, document_id))


def get_file(company_id: str, document_id: str) -> Response:
    """``GET .../documents/{id}/file``: the document as it was sent, with its type as sent."""
    _own_upload(company_id, document_id)
    kept = current_state().upload_files.get(document_id)
    if kept is None:
        raise ApiError(404, "not_found", f"Only documents up to {KEPT_FILE_BYTES} bytes are kept")
    response = Response(kept.body)
    del response.headers["Content-Type"]
    for name, value in kept.headers:
        response.headers.add(name, value)  # as they are: repeated, odd, hostile
    return response


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
    current_state().upload_files.pop(document_id, None)
    return "", 204
