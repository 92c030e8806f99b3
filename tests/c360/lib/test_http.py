"""c360.lib.http against a real local HTTP server (pytest-httpserver): limits, SSRF guard, errors, secrecy."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from c360.lib.http import (
    USER_AGENT,
    HttpError,
    Timeout,
    request,
    request_json,
)

SECRET = "Bearer tok-9f8e7d6c5b4a"
EMAIL = "maria.silva@example.com"


@pytest.fixture(scope="module")
def make_httpserver() -> Iterator[HTTPServer]:
    """The server behind the ``httpserver`` fixture, threaded: a handler still sleeping after the client
    gave up must not hold up the next test's request."""
    server = HTTPServer(host="localhost", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def loopback_url(server: HTTPServer, path: str) -> str:
    """The server's URL by IPv4 address: 'localhost' may also resolve to ::1, which the server does not serve."""
    return f"http://127.0.0.1:{server.port}{path}"


def requests_to(server: HTTPServer, *paths: str) -> list[str]:
    """The requests the server received for these paths (a sleeping handler of an earlier test may log late)."""
    return [entry[0].full_path for entry in server.log if entry[0].path in paths]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the happy path


def test_it_sends_json_and_parses_the_answer(httpserver: HTTPServer):
    # Given an API that echoes what it received
    seen: dict[str, object] = {}

    def handler(incoming: Request) -> Response:
        seen.update(
            raw_uri=incoming.environ["RAW_URI"],
            query=dict(incoming.args),
            body=incoming.get_json(),
            user_agent=incoming.headers.get("User-Agent"),
            host=incoming.headers.get("Host"),
            content_type=incoming.headers.get("Content-Type"),
        )
        return Response(json.dumps({"ok": True}), status=201, content_type="application/json")

    httpserver.expect_request("/customers/c/1/notes", method="POST").respond_with_handler(handler)

    # When a JSON body is posted to a path template
    response = request_json(
        "post",
        loopback_url(httpserver, "/customers/{id}/notes"),
        path_params={"id": "c/1"},
        params={"page": 2},
        json={"text": "olá"},
        allow_private=True,
    )

    # Then the answer is parsed and the request went out as described
    assert response.status == 201
    assert response.data == {"ok": True}
    assert response.headers["content-type"] == "application/json"
    assert seen == {
        "raw_uri": "/customers/c%2F1/notes?page=2",  # the id stayed one path segment
        "query": {"page": "2"},
        "body": {"text": "olá"},
        "user_agent": USER_AGENT,
        "host": f"127.0.0.1:{httpserver.port}",
        "content_type": "application/json",
    }
    assert USER_AGENT.startswith("c360/")


def test_it_keeps_the_hostname_in_the_host_header_when_connecting_to_the_checked_address(httpserver: HTTPServer):
    httpserver.expect_request("/ping").respond_with_handler(
        lambda incoming: Response(json.dumps({"host": incoming.headers["Host"]}), content_type="application/json")
    )

    response = request_json("GET", httpserver.url_for("/ping"), allow=["localhost"])

    assert response.data == {"host": f"localhost:{httpserver.port}"}


def test_an_empty_answer_is_none(httpserver: HTTPServer):
    httpserver.expect_request("/gone", method="DELETE").respond_with_data("", status=204)

    response = request_json("DELETE", loopback_url(httpserver, "/gone"), allow_private=True)

    assert (response.status, response.data) == (204, None)


def test_a_2xx_answer_that_is_not_json_is_refused(httpserver: HTTPServer):
    httpserver.expect_request("/html").respond_with_data("<html>login</html>", content_type="text/html")

    with pytest.raises(HttpError, match="answer is not JSON") as caught:
        request_json("GET", loopback_url(httpserver, "/html"), allow_private=True)

    assert (caught.value.retryable, caught.value.status) == (False, 200)


# ---------------------------------------------------------------- timeouts


def test_a_slow_answer_times_out_and_is_retryable(httpserver: HTTPServer):
    # Given a handler that sleeps longer than the read timeout
    def slow(incoming: Request) -> Response:
        time.sleep(1.0)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/slow").respond_with_handler(slow)

    # When it is called with a short read timeout
    started = time.monotonic()
    with pytest.raises(HttpError, match=r"timed out \(read\)") as caught:
        request_json("GET", loopback_url(httpserver, "/slow"), timeout=Timeout(read=0.2), allow_private=True)

    # Then the call gave up early, and says trying again may help
    assert time.monotonic() - started < 0.9
    assert (caught.value.retryable, caught.value.status) == (True, None)


def test_a_trickling_answer_hits_the_total_timeout(httpserver: HTTPServer):
    # Given an answer that keeps every read under the read timeout but takes long overall
    def trickle() -> Iterator[bytes]:
        yield b"["
        for _ in range(12):
            time.sleep(0.1)
            yield b"1,"
        yield b"1]"

    httpserver.expect_request("/trickle").respond_with_handler(lambda incoming: Response(trickle()))

    started = time.monotonic()
    with pytest.raises(HttpError, match=r"timed out \(total\)") as caught:
        request("GET", loopback_url(httpserver, "/trickle"), timeout=Timeout(read=1, total=0.4), allow_private=True)

    assert time.monotonic() - started < 1.0
    assert caught.value.retryable is True


def test_a_number_as_timeout_bounds_the_whole_call(httpserver: HTTPServer):
    def slow(incoming: Request) -> Response:
        time.sleep(0.8)
        return Response("{}")

    httpserver.expect_request("/slow").respond_with_handler(slow)

    with pytest.raises(HttpError, match="timed out") as caught:
        request("GET", loopback_url(httpserver, "/slow"), timeout=0.2, allow_private=True)

    assert caught.value.retryable is True


def test_connection_refused_is_retryable():
    with pytest.raises(HttpError, match="could not connect") as caught:
        request("GET", f"http://127.0.0.1:{free_port()}/x", allow_private=True)

    assert (caught.value.retryable, caught.value.status) == (True, None)


# ---------------------------------------------------------------- size cap


def test_an_answer_declared_too_large_is_refused(httpserver: HTTPServer):
    httpserver.expect_request("/big").respond_with_data(b"x" * 2000)

    with pytest.raises(HttpError, match="larger than 1000 bytes") as caught:
        request("GET", loopback_url(httpserver, "/big"), max_bytes=1000, allow_private=True)

    assert caught.value.retryable is False


def test_an_undeclared_answer_is_cut_off_while_streaming(httpserver: HTTPServer):
    # Given an answer with no Content-Length that would go on for a megabyte
    produced: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(1024):
            produced.append(1)
            yield b"y" * 1024

    httpserver.expect_request("/stream").respond_with_handler(lambda incoming: Response(endless()))

    with pytest.raises(HttpError, match="larger than 4096 bytes"):
        request("GET", loopback_url(httpserver, "/stream"), max_bytes=4096, allow_private=True)


def test_an_answer_of_exactly_the_cap_is_accepted(httpserver: HTTPServer):
    httpserver.expect_request("/exact").respond_with_data(b"z" * 1000)

    response = request("GET", loopback_url(httpserver, "/exact"), max_bytes=1000, allow_private=True)

    assert response.content == b"z" * 1000


# ---------------------------------------------------------------- redirects


def test_a_redirect_is_not_followed_by_default(httpserver: HTTPServer):
    httpserver.expect_request("/old").respond_with_data("", status=302, headers={"Location": "/new"})
    httpserver.expect_request("/new").respond_with_json({"moved": True})

    with pytest.raises(HttpError, match="302 redirect refused") as caught:
        request_json("GET", loopback_url(httpserver, "/old"), allow_private=True)

    assert (caught.value.retryable, caught.value.status) == (False, 302)
    assert requests_to(httpserver, "/old", "/new") == ["/old?"]


def test_a_redirect_on_the_same_host_is_followed_when_allowed(httpserver: HTTPServer):
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new?x=1"})
    httpserver.expect_request("/new").respond_with_json({"moved": True})

    response = request_json("GET", loopback_url(httpserver, "/old"), max_redirects=1, allow_private=True)

    assert response.data == {"moved": True}
    assert requests_to(httpserver, "/old", "/new") == ["/old?", "/new?x=1"]


def test_more_redirects_than_allowed_are_refused(httpserver: HTTPServer):
    httpserver.expect_request("/a").respond_with_data("", status=307, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=307, headers={"Location": "/a"})

    with pytest.raises(HttpError, match="more than 3 redirects"):
        request("GET", loopback_url(httpserver, "/a"), max_redirects=3, allow_private=True)

    assert requests_to(httpserver, "/a", "/b") == ["/a?", "/b?", "/a?", "/b?"]


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.1.2.3/internal",
        "http://192.168.0.1/",
        "http://[::1]:8080/",
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_a_redirect_to_a_private_address_is_refused_even_when_following(httpserver: HTTPServer, location):
    # Given a public-looking API (allowed to be private here, to be reachable at all) that redirects inward
    httpserver.expect_request("/export").respond_with_data("", status=302, headers={"Location": location})

    # When redirects may be followed
    with pytest.raises(HttpError) as caught:
        request("GET", loopback_url(httpserver, "/export"), max_redirects=5, allow_private=True)

    # Then the redirect target is refused: allow_private covers the host the caller named, not others
    assert caught.value.retryable is False
    assert "destination refused" in str(caught.value)
    assert requests_to(httpserver, "/export") == ["/export?"]


def test_a_cross_origin_redirect_drops_the_callers_headers(httpserver: HTTPServer):
    # Given a redirect from one origin (localhost) to another (127.0.0.1) on the same server
    received: list[dict[str, str]] = []

    def record(incoming: Request) -> Response:
        received.append(
            {"authorization": incoming.headers.get("Authorization", ""), "accept": incoming.headers["Accept"]}
        )
        return Response(json.dumps({"done": True}), content_type="application/json")

    httpserver.expect_request("/hop").respond_with_data(
        "", status=307, headers={"Location": loopback_url(httpserver, "/land")}
    )
    httpserver.expect_request("/land").respond_with_handler(record)

    response = request_json(
        "GET",
        httpserver.url_for("/hop"),
        headers={"Authorization": SECRET},
        max_redirects=1,
        allow=["localhost", "127.0.0.1"],
    )

    # Then the credential did not follow the redirect, while content negotiation did
    assert response.data == {"done": True}
    assert received == [{"authorization": "", "accept": "application/json"}]
    assert [entry[0].headers["Authorization"] for entry in httpserver.log if entry[0].path == "/hop"] == [SECRET]


def test_a_303_turns_a_post_into_a_get_without_body(httpserver: HTTPServer):
    httpserver.expect_request("/jobs", method="POST").respond_with_data("", status=303, headers={"Location": "/jobs/1"})
    httpserver.expect_request("/jobs/1", method="GET").respond_with_json({"state": "queued"})

    response = request_json(
        "POST", loopback_url(httpserver, "/jobs"), json={"a": 1}, max_redirects=1, allow_private=True
    )

    assert response.data == {"state": "queued"}
    assert [entry[0].get_data() for entry in httpserver.log if entry[0].path == "/jobs/1"] == [b""]


# ---------------------------------------------------------------- SSRF guard


def test_a_loopback_destination_is_refused_unless_allowed(httpserver: HTTPServer):
    httpserver.expect_request("/data").respond_with_json({"ok": True})

    with pytest.raises(
        HttpError, match=r"destination refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, a loopback"
    ) as caught:
        request_json("GET", loopback_url(httpserver, "/data"))

    assert caught.value.retryable is False
    assert requests_to(httpserver, "/data") == []  # nothing was sent


@pytest.mark.parametrize(
    "allowance",
    [{"allow_private": True}, {"allow": ["127.0.0.0/8"]}, {"allow": ["127.0.0.1"]}],
    ids=["allow_private", "network", "address"],
)
def test_a_private_destination_is_reached_when_allowed(httpserver: HTTPServer, allowance):
    httpserver.expect_request("/data").respond_with_json({"ok": True})

    response = request_json("GET", loopback_url(httpserver, "/data"), **allowance)

    assert response.data == {"ok": True}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.7/", "a private address"),
        ("http://172.16.5.4/", "a private address"),
        ("http://192.168.1.1/", "a private address"),
        ("http://100.64.0.1/", "a private address"),
        ("http://[fd12::1]/", "a private address"),
        ("http://[::1]/", "a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "a loopback address"),
        ("http://[2002:7f00:1::1]/", "a loopback address"),  # 6to4 carrying 127.0.0.1
        ("http://0.0.0.0/", "a non-routable address"),
        ("http://224.0.0.1/", "a non-routable address"),
    ],
)
def test_private_and_special_addresses_are_refused_by_default(url, reason):
    with pytest.raises(HttpError, match=f"destination refused: .*{reason}") as caught:
        request("GET", url, timeout=0.5)

    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://100.100.100.200/latest/meta-data/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
        ("http://169.254.10.10/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
    ],
)
def test_metadata_and_link_local_addresses_are_refused_even_with_allow_private(url, reason):
    with pytest.raises(HttpError, match=f"destination refused: .*{reason}"):
        request("GET", url, timeout=0.5, allow_private=True)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/file", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://user:pw@example.com/", "credentials in the URL are refused"),
        ("http:///nohost", "no host"),
    ],
)
def test_bad_destinations_are_refused_before_anything_is_sent(url, message):
    with pytest.raises(HttpError, match=message) as caught:
        request("GET", url)

    assert caught.value.retryable is False
    assert "pw" not in str(caught.value)


# ---------------------------------------------------------------- status classification


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (409, False),
        (422, False),
        (429, True),
        (500, False),
        (501, False),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_each_status_is_classified(httpserver: HTTPServer, status, retryable):
    httpserver.expect_request("/x").respond_with_data("{}", status=status)

    with pytest.raises(HttpError, match=f"GET 127.0.0.1:{httpserver.port}/x: HTTP {status}$") as caught:
        request_json("GET", loopback_url(httpserver, "/x"), allow_private=True)

    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (status, retryable, None)


def test_retry_after_in_seconds_is_kept(httpserver: HTTPServer):
    httpserver.expect_request("/busy").respond_with_data("", status=429, headers={"Retry-After": "120"})

    with pytest.raises(HttpError) as caught:
        request("GET", loopback_url(httpserver, "/busy"), allow_private=True)

    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (429, True, 120.0)


def test_retry_after_as_a_date_becomes_seconds(httpserver: HTTPServer):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    header = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    httpserver.expect_request("/down").respond_with_data("", status=503, headers={"Retry-After": header})

    with pytest.raises(HttpError) as caught:
        request("GET", loopback_url(httpserver, "/down"), allow_private=True)

    assert caught.value.retry_after is not None
    assert 80 <= caught.value.retry_after <= 91


def test_a_garbled_retry_after_is_ignored(httpserver: HTTPServer):
    httpserver.expect_request("/down").respond_with_data("", status=503, headers={"Retry-After": "soon"})

    with pytest.raises(HttpError) as caught:
        request("GET", loopback_url(httpserver, "/down"), allow_private=True)

    assert (caught.value.retryable, caught.value.retry_after) == (True, None)


# ---------------------------------------------------------------- nothing secret in text


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def client_log() -> Iterator[list[logging.LogRecord]]:
    """Records of the client side (c360.lib.http, httpx, httpcore) as logged, before the project's redacting
    filter on the root handler rewrites them (it would hide an email that leaked, and caplog sees its output)."""
    handler = _Keep()
    names = ("c360.lib.http", "httpx", "httpcore")
    ours = logging.getLogger(names[0])
    level = ours.level
    ours.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).addHandler(handler)
    yield handler.records
    for name in names:
        logging.getLogger(name).removeHandler(handler)
    ours.setLevel(level)


def _client_text(caplog: pytest.LogCaptureFixture) -> str:
    """What caplog holds, less the test server's own access log (werkzeug logs the URLs it receives)."""
    return "\n".join(record.getMessage() for record in caplog.records if record.name != "werkzeug")


def _assert_clean(text: str) -> None:
    for secret in (SECRET, "tok-9f8e7d6c5b4a", EMAIL, "maria.silva", "cust-777", "s3cr3t", "olá"):
        assert secret not in text


@pytest.mark.parametrize("failure", ["status", "timeout", "refused", "too_large"])
def test_no_secret_reaches_exception_text_or_logs(httpserver: HTTPServer, caplog, client_log, failure):
    # Given a call carrying a credential, a query string with an email, a resource id and a body
    caplog.set_level(logging.DEBUG)

    def slow(incoming: Request) -> Response:
        time.sleep(0.6)
        return Response("{}")

    expectation = httpserver.expect_request("/customers/cust-777")
    if failure == "status":
        expectation.respond_with_data(json.dumps({"echo": EMAIL}), status=503)
    elif failure == "timeout":
        expectation.respond_with_handler(slow)
    else:
        expectation.respond_with_data(json.dumps({"email": EMAIL, "pad": "x" * 500}))
    port = free_port() if failure == "refused" else httpserver.port

    # When the call fails
    with pytest.raises(HttpError) as caught:
        request_json(
            "PUT",
            f"http://127.0.0.1:{port}/customers/{{id}}?api_key=s3cr3t",
            path_params={"id": "cust-777"},
            params={"email": EMAIL},
            headers={"Authorization": SECRET},
            json={"name": "olá"},
            timeout=Timeout(read=0.2),
            max_bytes=100,
            allow_private=True,
        )

    # Then the message says which call failed, by method, host and path template only
    message = str(caught.value)
    assert message.startswith(f"PUT 127.0.0.1:{port}/customers/{{id}}")
    _assert_clean(message)
    _assert_clean(repr(caught.value))
    assert caught.value.__cause__ is None
    # And so do the log lines
    assert "/customers/{id}" in _client_text(caplog)
    _assert_clean(_client_text(caplog))
    raw = "\n".join(record.getMessage() for record in client_log)
    assert "/customers/{id}" in raw
    _assert_clean(raw)


def test_a_success_is_logged_without_query_or_ids(httpserver: HTTPServer, caplog, client_log):
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/customers/cust-777").respond_with_json({"ok": True})

    request_json(
        "GET",
        loopback_url(httpserver, "/customers/{id}"),
        path_params={"id": "cust-777"},
        params={"email": EMAIL},
        headers={"Authorization": SECRET},
        allow_private=True,
    )

    raw = "\n".join(record.getMessage() for record in client_log)
    assert f"http GET 127.0.0.1:{httpserver.port}/customers/{{id}} -> 200" in raw
    _assert_clean(raw)
    _assert_clean(_client_text(caplog))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": "FETCH"}, ValueError, "method must be one of"),
        ({"url": "http://127.0.0.1/customers/{id}"}, ValueError, r"\{id\} has no value"),
        ({"path_params": {"id": "7"}}, ValueError, "do not appear in the url path"),
        ({"url": "http://127.0.0.1/c/{id}", "path_params": {"id": ".."}}, ValueError, "dot segment"),
        ({"url": "http://127.0.0.1/c?q={id}", "path_params": {"id": "1"}}, ValueError, "only appear in the path"),
        ({"headers": {"Host": "evil.example"}}, ValueError, "Host header is set by"),
        ({"headers": {"User-Agent": "curl"}}, ValueError, "User-Agent header is set by"),
        ({"headers": {"X-Token": "a\r\nb"}}, ValueError, "line break"),
        ({"max_bytes": 0}, ValueError, "max_bytes must be a positive"),
        ({"max_redirects": -1}, ValueError, "max_redirects must be"),
        ({"timeout": -1}, ValueError, "timeout must be"),
        ({"allow": "10.0.0.0/8"}, TypeError, "not one string"),
        ({"allow": ["not a host!"]}, ValueError, "neither a hostname nor an IP network"),
    ],
)
def test_bad_arguments_get_a_clear_error(kwargs, error, message):
    arguments = {"method": "GET", "url": "http://127.0.0.1/x", **kwargs}

    with pytest.raises(error, match=message):
        request_json(**arguments)


def test_a_timeout_must_be_positive():
    with pytest.raises(ValueError, match=r"Timeout.read must be a positive number"):
        Timeout(read=0)


# ---------------------------------------------------------------- TLS: the checked address, the named host


def _certificate(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp(f"tls-{name}")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def _tls_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[HTTPServer, ssl.SSLContext]]:
    cert_file, key_file = _certificate(tmp_path_factory, name)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context)
    server.start()
    yield server, ssl.create_default_context(cafile=cert_file)
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HTTPServer, ssl.SSLContext]]:
    """An https server on 127.0.0.1 whose certificate names 'localhost', and a context that trusts it."""
    yield from _tls_server(tmp_path_factory, "localhost")


@pytest.fixture(scope="module")
def wrong_name_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HTTPServer, ssl.SSLContext]]:
    """The same, but the certificate names another host."""
    yield from _tls_server(tmp_path_factory, "wrong.example")


def test_tls_is_verified_against_the_hostname_while_connecting_to_the_checked_address(tls_server):
    # Given an https server whose certificate names 'localhost'
    server, trust = tls_server
    server.expect_request("/secure").respond_with_json({"tls": True})

    # When it is called by hostname (the connection itself goes to the address that was checked)
    response = request_json(
        "GET", f"https://localhost:{server.port}/secure", allow=["localhost"], ssl_context=trust, timeout=2
    )

    # Then the handshake verified the certificate against the hostname, and the call went through
    assert response.data == {"tls": True}


def test_a_certificate_for_another_name_is_refused(wrong_name_tls_server):
    server, trust = wrong_name_tls_server
    server.expect_request("/secure").respond_with_json({"tls": True})

    with pytest.raises(HttpError, match="TLS handshake or certificate check failed") as caught:
        request_json(
            "GET", f"https://localhost:{server.port}/secure", allow=["localhost"], ssl_context=trust, timeout=2
        )

    assert caught.value.retryable is False
    assert server.log == []


def test_an_unknown_certificate_authority_is_refused(tls_server):
    server, _ = tls_server

    with pytest.raises(HttpError, match="certificate check failed"):
        request("GET", f"https://localhost:{server.port}/", allow=["localhost"], timeout=2)


def test_a_redirect_from_https_to_http_is_refused(tls_server, httpserver: HTTPServer):
    server, trust = tls_server
    server.expect_request("/down").respond_with_data(
        "", status=302, headers={"Location": loopback_url(httpserver, "/landing")}
    )

    with pytest.raises(HttpError, match="redirect from https to http refused"):
        request("GET", f"https://localhost:{server.port}/down", allow=["localhost"], ssl_context=trust, max_redirects=2)

    assert requests_to(httpserver, "/landing") == []
