"""The API: bearer authentication, content negotiation, paging and company isolation."""

from __future__ import annotations

import xml.dom.minidom

import pytest

DOCUMENTS = "/document/v1/documents"


def _parse_xml(data: bytes):
    return xml.dom.minidom.parseString(data)  # noqa: S318 - the sandbox's own output


@pytest.fixture
def token(sso) -> str:
    return sso.tokens()["access_token"]


def _documents(sso, token, **query):
    return sso.api(DOCUMENTS, token, query_string=query)


def test_api_without_token_is_401_with_bare_bearer_challenge(sso):
    response = sso.api(DOCUMENTS, None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="pagero-sandbox"'
    assert response.is_json


def test_api_with_unknown_token_is_401_invalid_token(sso):
    response = sso.api(DOCUMENTS, "_0XBPWQQ_00000000-0000-4000-8000-000000000000")
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="pagero-sandbox", error="invalid_token"')
    assert 'error_description="' in challenge
    assert response.get_json()["error"] == "invalid_token"


def test_api_with_expired_token_is_401_invalid_token(sso, state, token):
    state.advance_clock(601)
    response = _documents(sso, token)
    assert response.status_code == 401
    assert "expired" in response.get_json()["error_description"]


def test_api_accepts_the_bearer_scheme_in_any_case(sso, token):
    response = sso.api(DOCUMENTS, None, headers={"Authorization": f"bEaReR {token}"})
    assert response.status_code == 200


def test_api_refuses_a_non_bearer_scheme(sso, token):
    response = sso.api(DOCUMENTS, None, headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401


def test_api_refuses_a_refresh_token_as_access_token(sso):
    refresh_token = sso.tokens()["refresh_token"]
    assert _documents(sso, refresh_token).status_code == 401


def test_documents_answers_a_page_with_meta(sso, token):
    body = _documents(sso, token).get_json()
    assert body["meta"] == {"count": 10, "limit": 25, "offset": 0, "total": 10}
    first = body["items"][0]
    assert set(first) >= {
        "id",
        "documentType",
        "direction",
        "documentNumber",
        "issueDate",
        "senderName",
        "receiverName",
        "currency",
        "totalAmount",
        "status",
        "companyId",
        "fileId",
    }
    dates = [d["issueDate"] for d in body["items"]]
    assert dates == sorted(dates, reverse=True)
    assert sum(d["large"] for d in body["items"]) == 1


def test_documents_pages_with_limit_and_offset(sso, token):
    pages = [_documents(sso, token, limit=4, offset=o).get_json() for o in (0, 4, 8)]
    assert [p["meta"]["count"] for p in pages] == [4, 4, 2]
    assert all(p["meta"]["total"] == 10 for p in pages)
    ids = [d["id"] for p in pages for d in p["items"]]
    assert len(set(ids)) == 10
    beyond = _documents(sso, token, offset=50).get_json()
    assert beyond["items"] == [] and beyond["meta"]["count"] == 0


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}, {"direction": "sideways"}],
)
def test_documents_rejects_bad_query_parameters(sso, token, query):
    response = _documents(sso, token, **query)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_documents_filters_by_direction_case_insensitively(sso, token):
    inbound = _documents(sso, token, direction="INBOUND").get_json()
    assert inbound["meta"]["total"] == 5
    assert {d["direction"] for d in inbound["items"]} == {"inbound"}
    outbound = _documents(sso, token, direction="outbound").get_json()
    assert {d["direction"] for d in outbound["items"]} == {"outbound"}


def test_documents_for_another_company_is_403(sso, token):
    assert _documents(sso, token, companyId="1000001").status_code == 200
    response = _documents(sso, token, companyId="1000002")
    assert response.status_code == 403 and response.is_json


def test_users_never_see_each_others_documents(sso, token):
    sso.client.delete_cookie("pagero_sandbox_sso")
    alice = sso.tokens("alice")["access_token"]
    mine = _documents(sso, token).get_json()["items"]
    hers = _documents(sso, alice).get_json()["items"]
    assert {d["companyId"] for d in mine} == {"1000001"}
    assert {d["companyId"] for d in hers} == {"1000002"}
    assert not {d["id"] for d in mine} & {d["id"] for d in hers}
    response = sso.api(f"{DOCUMENTS}/{hers[0]['id']}/targetdocument", token)
    assert response.status_code == 404 and response.is_json
    response = sso.api(f"/file/v1/files/{hers[0]['fileId']}/fileparts", token)
    assert response.status_code == 404 and response.is_json


def test_documents_with_unacceptable_accept_is_406(sso, token):
    response = sso.api(DOCUMENTS, token, headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert response.get_json()["error"] == "not_acceptable"
    for accept in ("application/json", "*/*", "application/*", "text/html, */*;q=0.1"):
        assert sso.api(DOCUMENTS, token, headers={"Accept": accept}).status_code == 200


def test_target_document_is_well_formed_xml(sso, token):
    doc = next(d for d in _documents(sso, token).get_json()["items"] if not d["large"])
    response = sso.api(f"{DOCUMENTS}/{doc['id']}/targetdocument", token)
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    root = _parse_xml(response.data).documentElement
    assert root.tagName == doc["documentType"]
    assert doc["documentNumber"] in response.get_data(as_text=True)


def test_target_document_refuses_json_only_accept(sso, token):
    doc = _documents(sso, token).get_json()["items"][0]
    path = f"{DOCUMENTS}/{doc['id']}/targetdocument"
    assert sso.api(path, token, headers={"Accept": "application/json"}).status_code == 406
    assert sso.api(path, token, headers={"Accept": "application/xml"}).status_code == 200


def test_unknown_document_is_404_json(sso, token):
    response = sso.api(f"{DOCUMENTS}/no-such-id/targetdocument", token)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_large_document_is_streamed_with_its_exact_length(sso, token):
    doc = next(d for d in _documents(sso, token).get_json()["items"] if d["large"])
    response = sso.api(f"{DOCUMENTS}/{doc['id']}/targetdocument", token, buffered=False)
    assert response.is_streamed
    assert response.headers["Content-Length"] == str(sso.LARGE_BYTES)
    body = response.get_data()
    assert len(body) == sso.LARGE_BYTES
    _parse_xml(body)


def _large_document(driver) -> tuple[int, bytes]:
    token = driver.tokens()["access_token"]
    doc = next(d for d in _documents(driver, token).get_json()["items"] if d["large"])
    response = driver.api(f"{DOCUMENTS}/{doc['id']}/targetdocument", token)
    body = response.get_data()
    assert int(response.headers["Content-Length"]) == len(body)
    _parse_xml(body)
    return len(body), body


@pytest.mark.parametrize("size", [3000, 65_536, 70_001, 300_007])
def test_large_document_has_exactly_the_configured_size(make_sso, size):
    length, _ = _large_document(make_sso(SANDBOX_LARGE_DOCUMENT_BYTES=str(size)))
    assert length == size


def test_large_document_smaller_than_its_envelope_is_still_well_formed(make_sso):
    length, body = _large_document(make_sso(SANDBOX_LARGE_DOCUMENT_BYTES="1"))
    assert length > 1 and body.rstrip().endswith(b"</Invoice>")


def test_file_parts_lists_the_parts_of_an_owned_file(sso, token):
    doc = _documents(sso, token).get_json()["items"][0]
    response = sso.api(f"/file/v1/files/{doc['fileId']}/fileparts", token)
    assert response.status_code == 200
    parts = response.get_json()
    assert isinstance(parts, list) and len(parts) == 2
    assert {p["mimeType"] for p in parts} == {"application/xml", "application/pdf"}
    assert all(p["fileId"] == doc["fileId"] for p in parts)


def test_unknown_api_path_is_404_json(sso, token):
    response = sso.api("/document/v9/nothing", token)
    assert response.status_code == 404 and response.is_json


def test_successful_api_calls_are_counted(sso, state, token):
    _documents(sso, token)
    _documents(sso, token, limit=1)
    _documents(sso, None)
    assert state.counts["api"] == 2
