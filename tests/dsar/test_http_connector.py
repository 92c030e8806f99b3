"""The HTTP API connector against a small support-desk API served by a real local HTTP server."""

from __future__ import annotations

import copy
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dsar.connectors.base import Connector, ConnectorError, ExportedRecord, FieldAction, Identity, Match
from dsar.connectors.http_api import HttpApiConnector, InvalidConfig, JsonPath
from tests.dsar.desk import EMAIL, PHONE, SECRET, SupportDesk, desk_config


@pytest.fixture(scope="module")
def make_httpserver() -> Iterator[HTTPServer]:
    """The server behind ``httpserver``, bound to IPv4 (the connector resolves 127.0.0.1 only)."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def desk(httpserver: HTTPServer) -> SupportDesk:
    desk = SupportDesk()
    httpserver.expect_request(re.compile(r"^/api/.*")).respond_with_handler(desk.handle)
    return desk


@pytest.fixture
def connector(httpserver: HTTPServer, desk: SupportDesk) -> HttpApiConnector:
    return HttpApiConnector("desk", desk_config(httpserver.url_for("/api")), secret=SECRET)


MARIA = Match(collection="customers", locator={"id": 7}, via="identity:email")


def test_it_is_a_connector(connector):
    assert isinstance(connector, Connector)


# ---------------------------------------------------------------- locate


def test_it_locates_by_email(connector, httpserver):
    matches = connector.locate([Identity("email", EMAIL)])

    assert matches == [MARIA]
    # The identity went in the body, not the URL
    search = httpserver.log[-1][0]
    assert search.environ["RAW_URI"] == "/api/customers/search"
    assert search.get_json() == {"email": EMAIL}


def test_it_locates_by_phone(connector):
    matches = connector.locate([Identity("phone", PHONE)])

    assert matches == [Match(collection="customers", locator={"id": 7}, via="identity:phone")]


def test_two_identities_of_one_customer_give_one_match(connector, httpserver):
    matches = connector.locate([Identity("email", EMAIL), Identity("phone", PHONE)])

    assert matches == [MARIA]
    assert len(httpserver.log) == 2


def test_an_unknown_person_is_not_found(connector):
    assert connector.locate([Identity("email", "nobody@example.com")]) == []


def test_identity_kinds_the_source_cannot_search_are_skipped(connector, httpserver):
    assert connector.locate([Identity("cpf", "52998224725")]) == []
    assert httpserver.log == []


def test_an_answer_that_does_not_fit_the_config_is_a_clear_error(httpserver, desk):
    config = desk_config(httpserver.url_for("/api"))
    config["endpoints"]["locate"]["results_path"] = "$.clients[*]"
    connector = HttpApiConnector("desk", config, secret=SECRET)

    with pytest.raises(ConnectorError, match=r"'desk': locate: the answer does not fit.*\$\.clients\[\*\]") as caught:
        connector.locate([Identity("email", EMAIL)])

    assert caught.value.retryable is False


def test_identities_go_in_the_query_only_when_the_config_says_so(httpserver, desk):
    # Given a desk whose search is GET /customers?email=... (the desk refuses identities in URLs, so
    # this test lifts that rule for the one request)
    config = desk_config(httpserver.url_for("/api"))
    config["endpoints"]["locate"] = {
        "method": "GET",
        "path": "/customers",
        "by": {"email": {"query": {"email": "{email}"}}},
        "results_path": "$.customers[*]",
        "collection": "customers",
    }
    with pytest.raises(InvalidConfig, match=r"endpoints\.locate\.by\.email\.query: \{email\} in a query string needs"):
        HttpApiConnector("desk", config, secret=SECRET)

    config["allow_identity_in_query"] = True
    connector = HttpApiConnector("desk", config, secret=SECRET)
    httpserver.clear()
    httpserver.expect_request("/api/customers", query_string={"email": EMAIL}).respond_with_json(
        {"customers": [{"id": 7}]}
    )

    assert connector.locate([Identity("email", EMAIL)]) == [MARIA]


# ---------------------------------------------------------------- export


def test_it_exports_the_customer_and_their_tickets_with_categories(connector):
    records = connector.export([MARIA])

    assert records == [
        ExportedRecord(
            collection="customers",
            fields={"id": 7, "name": "Maria Silva", "email": EMAIL, "phone": PHONE, "plan": "pro"},
            categories={
                "id": "account",
                "name": "identification",
                "email": "contact",
                "phone": "contact",
                "plan": "account",
            },
            provenance="http:desk/customers/7",
        ),
        ExportedRecord(
            collection="tickets",
            fields={"id": 101, "subject": "Invoice copy", "body": "Please send my invoice"},
            provenance="http:desk/customers/7/tickets",
        ),
        ExportedRecord(
            collection="tickets",
            fields={"id": 102, "subject": "Cancel", "body": "Cancel my plan"},
            provenance="http:desk/customers/7/tickets",
        ),
    ]


# ---------------------------------------------------------------- erase, rectify, restrict


def test_erase_deletes_then_reports_unchanged(connector, desk):
    # When the customer is erased
    first = connector.erase([MARIA])

    # Then the desk no longer has them
    assert 7 not in desk.customers
    assert first.actions == [FieldAction(collection="customers", locator={"id": 7}, action="deleted")]
    assert first.changed == 1

    # And a second run changes nothing and says so
    second = connector.erase([MARIA])

    assert second.actions == [
        FieldAction(collection="customers", locator={"id": 7}, action="unchanged", reason="already erased")
    ]
    assert second.changed == 0


def test_erase_by_anonymizing_reads_the_status_from_the_answer(httpserver, desk):
    config = desk_config(httpserver.url_for("/api"))
    config["endpoints"]["erase"] = {
        "method": "POST",
        "path": "/customers/{id}/anonymize",
        "action": "masked",
        "status_path": "$.status",
        "done_values": ["anonymized"],
        "unchanged_values": ["already_anonymized"],
    }
    connector = HttpApiConnector("desk", config, secret=SECRET)

    first, second = connector.erase([MARIA]), connector.erase([MARIA])

    assert [action.action for action in first.actions] == ["masked"]
    assert desk.customers[7]["email"] == ""
    assert [(action.action, action.reason) for action in second.actions] == [("unchanged", "already erased")]


def test_rectify_patches_the_fields_this_source_holds(connector, desk, httpserver):
    outcome = connector.rectify([MARIA], {"email": "maria.nova@example.com", "cpf": "52998224725"})

    assert desk.customers[7]["email"] == "maria.nova@example.com"
    assert outcome.actions == [
        FieldAction(collection="customers", locator={"id": 7}, action="rectified", field="email")
    ]
    # Only what the source holds was sent
    assert httpserver.log[-1][0].get_json() == {"email": "maria.nova@example.com"}


def test_rectify_with_nothing_this_source_holds_sends_nothing(connector, httpserver):
    assert connector.rectify([MARIA], {"cpf": "52998224725"}).actions == []
    assert httpserver.log == []


def test_restrict_posts_the_flag(connector, desk, httpserver):
    outcome = connector.restrict([MARIA])

    assert desk.restricted == {7}
    assert outcome.actions == [FieldAction(collection="customers", locator={"id": 7}, action="restricted")]
    assert httpserver.log[-1][0].get_json() == {"restricted": True}


def test_an_operation_the_source_does_not_offer_is_a_clear_error(httpserver, desk):
    config = desk_config(httpserver.url_for("/api"))
    del config["endpoints"]["restrict"]
    connector = HttpApiConnector("desk", config, secret=SECRET)

    with pytest.raises(ConnectorError, match=r"endpoints\.restrict is not configured") as caught:
        connector.restrict([MARIA])

    assert caught.value.retryable is False


def test_a_match_without_an_id_is_refused(connector, httpserver):
    with pytest.raises(ConnectorError, match="a match of customers has no id"):
        connector.erase([Match(collection="customers", locator={"table": "x"})])

    assert httpserver.log == []


# ---------------------------------------------------------------- failures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_source_that_is_down_is_retryable():
    connector = HttpApiConnector("desk", desk_config(f"http://127.0.0.1:{free_port()}/api"), secret=SECRET)

    with pytest.raises(ConnectorError) as caught:
        connector.locate([Identity("email", EMAIL)])

    assert caught.value.retryable is True
    assert str(caught.value).startswith("http source 'desk': locate: POST 127.0.0.1:")
    assert "could not connect" in str(caught.value)
    assert EMAIL not in str(caught.value)


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_an_unavailable_source_is_retryable(connector, desk, status):
    desk.status_override = status

    with pytest.raises(
        ConnectorError, match=f"erase: DELETE 127.0.0.1:\\d+/api/customers/{{id}}: HTTP {status}"
    ) as caught:
        connector.erase([MARIA])

    assert caught.value.retryable is True


@pytest.mark.parametrize("status", [400, 401, 403])
def test_a_refusal_is_not_retryable(connector, desk, status):
    desk.status_override = status

    with pytest.raises(ConnectorError, match=f"http source 'desk': export: GET .*: HTTP {status}$") as caught:
        connector.export([MARIA])

    assert caught.value.retryable is False


def test_a_wrong_secret_is_a_401_that_names_source_and_step_but_no_secret(httpserver, desk):
    connector = HttpApiConnector("desk", desk_config(httpserver.url_for("/api")), secret="wrong-secret-value")

    with pytest.raises(ConnectorError) as caught:
        connector.locate([Identity("email", EMAIL)])

    message = str(caught.value)
    assert caught.value.retryable is False
    assert re.fullmatch(r"http source 'desk': locate: POST 127\.0\.0\.1:\d+/api/customers/search: HTTP 401", message)
    for secret in ("wrong-secret-value", SECRET, EMAIL):
        assert secret not in message


def test_a_source_on_a_private_address_is_refused_unless_allowed(httpserver, desk):
    config = desk_config(httpserver.url_for("/api"))
    del config["allow_private"]
    connector = HttpApiConnector("desk", config, secret=SECRET)

    with pytest.raises(ConnectorError, match="destination refused") as caught:
        connector.locate([Identity("email", EMAIL)])

    assert caught.value.retryable is False
    assert httpserver.log == []


def test_a_private_source_can_be_allowed_by_address_instead(httpserver, desk):
    config = desk_config(httpserver.url_for("/api"))
    del config["allow_private"]
    config["allow"] = ["127.0.0.1"]
    connector = HttpApiConnector("desk", config, secret=SECRET)

    assert connector.locate([Identity("email", EMAIL)]) == [MARIA]


# ---------------------------------------------------------------- config


def broken(change: Any) -> dict[str, Any]:
    config = desk_config("http://127.0.0.1:8000/api")
    change(config)
    return config


def _set(path: str, value: Any) -> Any:
    def change(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = config
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("endpoints.erase.method", "GET"), "endpoints.erase.method: must be one of DELETE, POST, PUT, PATCH"),
        (_set("endpoints.locate.method", "PUT"), "endpoints.locate.method: must be one of POST, GET"),
        (_set("base_url", "ftp://desk.example.com"), "base_url: must be an http or https URL with a host"),
        (_set("base_url", "https://desk.example.com/api?key=1"), "base_url: must not hold a query"),
        (_set("base_url", _DELETE), "base_url: must be a non-empty string"),
        (
            _set("endpoints.locate.path", "/customers/{email}"),
            "endpoints.locate.path: placeholder {email} is not allowed",
        ),
        (
            _set("endpoints.erase.path", "/customers/{email}"),
            "endpoints.erase.path: placeholder {email} is not allowed",
        ),
        (_set("endpoints.export.1.path", "/tickets?customer={id}"), "endpoints.export[1].path: must not hold a query"),
        (_set("endpoints.export.1.records_path", "$..tickets"), "endpoints.export[1].records_path: unsupported"),
        (_set("endpoints.locate.by.email", {"body": {"q": "{phone}"}}), "endpoints.locate.by.email.body.q: unknown"),
        (_set("endpoints.locate.by.email", {"body": {"all": True}}), "endpoints.locate.by.email: must send {email}"),
        (_set("endpoints.locate.by.fax", {"body": {"fax": "{fax}"}}), "endpoints.locate.by.fax: unknown key"),
        (_set("endpoints.locate", _DELETE), "endpoints.locate: is required"),
        (_set("endpoints.rectify.fields", {}), "endpoints.rectify.fields: must map correction keys"),
        (_set("endpoints.erase.gone_status", [200]), "endpoints.erase.gone_status: must be a list of HTTP statuses"),
        (_set("endpoints.erase.action", "shredded"), "endpoints.erase.action: must be one of deleted, masked, nulled"),
        (_set("timeout", 0), "timeout: must be a number of seconds above 0"),
        (_set("timeout", {"read": 5, "slow": 1}), "timeout.slow: unknown key"),
        (_set("allow_private", "yes"), "allow_private: must be true or false"),
        (_set("auth.token", SECRET), "auth.token: secrets do not belong in the config"),
        (_set("endpoints.erase.methd", "DELETE"), "endpoints.erase.methd: unknown key"),
        (_set("endpoints.restrict", {"method": "GET", "path": "/x", "body": {"on": "{email}"}}), "endpoints.restrict"),
    ],
)
def test_a_bad_config_is_refused_with_its_path(change, message):
    config = broken(change)

    with pytest.raises(InvalidConfig) as caught:
        HttpApiConnector("desk", config, secret=SECRET)

    assert caught.value.retryable is False
    assert any(error.startswith(message) for error in caught.value.errors), caught.value.errors
    assert SECRET not in str(caught.value)


def test_every_problem_of_a_config_is_listed_at_once():
    config = broken(_set("endpoints.erase.method", "GET"))
    config["endpoints"]["restrict"]["method"] = "DELETE"

    with pytest.raises(InvalidConfig) as caught:
        HttpApiConnector("desk", config, secret=SECRET)

    assert caught.value.errors == [
        "endpoints.erase.method: must be one of DELETE, POST, PUT, PATCH",
        "endpoints.restrict.method: must be one of POST, PUT, PATCH",
    ]
    assert str(caught.value).startswith("http source 'desk': invalid config: endpoints.erase.method")


def test_auth_needs_a_secret():
    with pytest.raises(InvalidConfig, match="auth: is configured but the connector was given no secret"):
        HttpApiConnector("desk", desk_config("https://desk.example.com/api"))


def test_a_secret_on_two_lines_is_refused_without_being_echoed():
    with pytest.raises(InvalidConfig, match="secret: must be a non-empty string on one line") as caught:
        HttpApiConnector("desk", desk_config("https://desk.example.com/api"), secret="abc\r\nX-Evil: 1")

    assert "X-Evil" not in str(caught.value)


def test_the_config_is_not_changed_by_the_connector():
    config = desk_config("https://desk.example.com/api")
    before = copy.deepcopy(config)

    HttpApiConnector("desk", config, secret=SECRET)

    assert config == before


# ---------------------------------------------------------------- the JSONPath subset


@pytest.mark.parametrize(
    ("path", "data", "values", "complete"),
    [
        ("$", {"a": 1}, [{"a": 1}], True),
        ("$.a", {"a": 1}, [1], True),
        ("$.a.b", {"a": {"b": [1, 2]}}, [[1, 2]], True),
        ("$.a.b[*]", {"a": {"b": [1, 2]}}, [1, 2], True),
        ("$.a.b[1]", {"a": {"b": [1, 2]}}, [2], True),
        ("$.a.b[-1]", {"a": {"b": [1, 2]}}, [2], True),
        ("$['odd key'][*].id", {"odd key": [{"id": 1}, {"id": 2}]}, [1, 2], True),
        ('$["x"].*', {"x": {"p": 1, "q": 2}}, [1, 2], True),
        ("$.items[*]", {"items": []}, [], True),
        ("$.items[*]", {"other": []}, [], False),
        ("$.a.b", {"a": 3}, [], False),
    ],
)
def test_json_paths_select_what_they_say(path, data, values, complete):
    assert JsonPath.parse(path).select(data) == (values, complete)


@pytest.mark.parametrize("path", ["a.b", "$..a", "$.a[?(@.x)]", "$.a[1:2]", "$.", "$[a]"])
def test_unsupported_json_paths_are_refused(path):
    with pytest.raises(ValueError, match=r"JSONPath"):
        JsonPath.parse(path)
