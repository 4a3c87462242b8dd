"""/api-proxy with any path, method, headers and body: never a 500, never an upstream
call outside PAGERO_API_BASE_URL, never a token or the API's cookie in the answer.

The hand-picked hostile paths are in test_api_proxy_paths.py; here Hypothesis combines
their pieces (dot segments, encoded slashes and backslashes, ``@``, NUL, CR LF, double
encoding, non-ASCII) with plain API paths, any method, and the headers a proxy must
think about (Authorization, Cookie, Host, X-Forwarded-*, Origin, Transfer-Encoding ...).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import FUZZ, check_answer, log_in

SEGMENTS = st.one_of(
    st.sampled_from(["document", "v1", "documents", "file", "files", "fileparts", "x"]),
    st.sampled_from(["..", ".", "...", "", "%2e%2e", "%2E", ".%2e", "%252e%252e", "%2f"]),
    st.sampled_from(["%5c", "\\", "@evil.example", "http:", "evil.example", "%00", "%0d%0a"]),
    st.sampled_from(["%09", "%20", ";", "%u002e", "%c0%ae", "%ef%bc%8e", "~", "a:b", "%7f"]),
    st.text(st.characters(exclude_characters="?#"), max_size=10).map(quote),
    st.text(st.characters(exclude_characters="?#/%"), max_size=10),
)
PLAIN = st.sampled_from(["document/v1/documents", "document/v1/documents/d-1/targetdocument"])
#: Half plain API paths (so headers and bodies reach the API), half anything.
PATHS = st.one_of(PLAIN, st.lists(SEGMENTS, max_size=6).map("/".join))
METHODS = st.sampled_from(
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]
)
HEADER_NAMES = st.sampled_from(
    [
        "Accept",
        "Accept-Encoding",
        "Content-Type",
        "Range",
        "If-None-Match",
        "Origin",
        "Sec-Fetch-Site",
        "Sec-Fetch-Mode",
        "X-CSRF",
        "Authorization",
        "Cookie",
        "Host",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "Forwarded",
        "Transfer-Encoding",
        "Connection",
        "TE",
        "Proxy-Authorization",
        "X-Original-URL",
    ]
) | st.from_regex(r"\AX-[A-Za-z0-9-]{1,20}\Z")
HEADER_VALUES = st.sampled_from(
    [
        "1",
        "*/*",
        "text/html",
        "application/json",
        "bytes=0-10",
        "http://evil.example",
        "cross-site",
        "same-origin",
        "navigate",
        "Bearer x",
        "chunked",
        "close, Cookie",
        "evil.example",
        "127.0.0.1",
        "https",
        "gzip",
        "for=1.2.3.4;host=evil.example",
    ]
) | st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=60
)
HEADERS = st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5)


def test_any_proxy_request_stays_inside_the_api_and_answers_safely(
    make_app, app_url, new_browser, sandbox, ports, upstream_calls
):
    app = make_app()
    client = app.test_client()
    log_in(client, app_url, new_browser())
    api_base = f"http://localhost:{ports['sandbox']}/api/"
    hosts = {urlsplit(app_url).netloc, f"localhost:{ports['sandbox']}"}
    secrets = sandbox.issued_secrets()
    forwarded = []

    @FUZZ
    @given(
        path=PATHS,
        method=METHODS,
        headers=HEADERS,
        csrf=st.booleans(),
        query=st.text(max_size=30).map(quote),
        body=st.binary(max_size=2048),
    )
    def fuzz(path, method, headers, csrf, query, body):
        if csrf:
            headers = {**headers, "X-CSRF": "1"}
        upstream_calls.clear()
        response = client.open(
            f"/api-proxy/{path}",
            base_url=app_url,
            method=method,
            headers=headers,
            query_string=query,
            data=body if method not in ("GET", "HEAD") else None,
        )
        check_answer(response, secrets, hosts)
        for url in upstream_calls:
            target = urlsplit(url)
            assert url.startswith(api_base), url
            segments = target.path.split("/")[2:]
            assert all(s.strip(".") for s in segments), url  # no dot or empty segment
        forwarded.extend(upstream_calls)

    fuzz()
    assert len(forwarded) > 20, "too few examples reached the API: the fuzzing missed it"
    assert client.get("/session", base_url=app_url).status_code == 200
