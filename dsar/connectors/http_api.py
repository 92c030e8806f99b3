"""A source that is reached through its HTTP/JSON API: a support desk, a CRM, a shop's back office.

The source is described by a config dict (stored in the database, so it never holds the secret: that is
given to the constructor) and checked when the connector is built, every problem named by its path::

    {
        "base_url": "https://desk.example.com/api",
        "auth": {"header": "Authorization", "scheme": "Bearer"},   # the secret comes separately
        "allow_private": False,        # True for an on-premises source on a private network
        "timeout": 10,                 # seconds for a whole call, or {"connect": 3, "read": 10, "total": 30}
        "endpoints": {
            "locate": {
                "method": "POST",
                "path": "/customers/search",
                "by": {                               # one request per identity of these kinds
                    "email": {"body": {"email": "{email}"}},
                    "phone": {"body": {"phone": "{phone}"}},
                },
                "results_path": "$.customers[*]",
                "id_path": "$.id",
                "collection": "customers",
            },
            "export": [
                {"path": "/customers/{id}", "categories": {"email": "contact", "name": "identification"}},
                {"path": "/customers/{id}/tickets", "records_path": "$.tickets[*]", "collection": "tickets",
                 "default_category": "support"},
            ],
            "erase": {"method": "DELETE", "path": "/customers/{id}"},
            "rectify": {"method": "PATCH", "path": "/customers/{id}", "fields": {"email": "email"}},
            "restrict": {"method": "POST", "path": "/customers/{id}/restriction", "body": {"restricted": True}},
        },
    }

Rules the config enforces:

- Identities travel in the JSON body. A path may only hold ``{id}``, the resource id that ``locate`` found
  (locators hold that id and nothing else). Identities in query parameters need
  ``"allow_identity_in_query": true``, a deliberate choice: proxies and servers log URLs.
- Templates (``body``, ``query``) are JSON with ``{placeholder}`` strings: ``{email}``, ``{phone}``,
  ``{cpf}``, ``{external_id}``, ``{namespace}`` in ``locate.by.<kind>``, ``{id}`` elsewhere. A string that is
  exactly one placeholder takes the value as is (an integer id stays an integer). Literal braces are not
  supported.
- Result paths are a JSONPath subset, implemented here because no JSONPath library is installed: ``$``,
  ``.name``, ``['name']``, ``[0]``, ``[*]`` and ``.*``; no filters, slices or recursive descent.
- ``erase`` counts 404 and 410 (``gone_status``) as "unchanged, already erased", so a second run is
  harmless. A 2xx answer is "deleted" (or ``action``: masked, nulled), unless ``status_path`` reads a value
  listed in ``unchanged_values``; ``done_values`` and ``expected_status`` make the check stricter.
- ``rectify.fields`` maps a correction key (email, phone, name...) to the body field it sets (dotted for
  nesting); corrections this source does not hold are skipped.

Every failure is a :class:`ConnectorError` naming the source, the step, and the method, host, path
template and status of the call, never an identity, a body or the secret. Whether it is retryable comes
from c360.lib.http: connection errors, timeouts, 429, 502, 503, 504 are; 400, 401, 403, 404 are not.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from c360.lib.http import HttpError, JsonResponse, Timeout, request_json

from .base import ConnectorError, ExportedRecord, FieldAction, Identity, Match, Outcome

IDENTITY_KINDS = ("email", "phone", "cpf", "external_id")
METHODS = {
    "locate": ("POST", "GET"),
    "export": ("GET", "POST"),
    "erase": ("DELETE", "POST", "PUT", "PATCH"),
    "rectify": ("PATCH", "PUT", "POST"),
    "restrict": ("POST", "PUT", "PATCH"),
}
ERASE_ACTIONS = ("deleted", "masked", "nulled")
# Keys that would put a credential into the stored config: refused with a message that says where it goes.
_SECRET_KEYS = frozenset({"secret", "token", "password", "api_key", "apikey", "key", "value", "credentials"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_MAX_TIMEOUT = 300
_Part = TypeVar("_Part")


class InvalidConfig(ConnectorError):
    """The source's config is wrong; ``errors`` lists every problem as "path: what is wrong"."""

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"http source '{source}': invalid config: {'; '.join(errors)}", retryable=False)
        self.errors = errors


# ---------------------------------------------------------------- JSONPath subset

_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\.\*|\[\*\]|\[(-?\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")
_WILDCARD = object()


@dataclass(frozen=True)
class JsonPath:
    """A compiled path of the JSONPath subset: ``$``, ``.name``, ``['name']``, ``[0]``, ``[*]``, ``.*``."""

    text: str
    steps: tuple[Any, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        if not isinstance(text, str) or not text.startswith("$"):
            raise ValueError("must be a JSONPath starting with $")
        steps: list[Any] = []
        position = 1
        while position < len(text):
            found = _STEP.match(text, position)
            if found is None:
                raise ValueError(
                    f"unsupported JSONPath syntax at character {position} (supported: $ .name ['name'] [0] [*])"
                )
            name, index, quoted_single, quoted_double = found.groups()
            if found.group(0) in {".*", "[*]"}:
                steps.append(_WILDCARD)
            elif index is not None:
                steps.append(int(index))
            else:
                steps.append(next(part for part in (name, quoted_single, quoted_double) if part is not None))
            position = found.end()
        return cls(text=text, steps=tuple(steps))

    def select(self, data: Any) -> tuple[list[Any], bool]:
        """Return the matched values, and whether every branch found what it looked for."""
        current, complete = [data], True
        for step in self.steps:
            following: list[Any] = []
            for value in current:
                if step is _WILDCARD:
                    if isinstance(value, list):
                        following.extend(value)
                    elif isinstance(value, dict):
                        following.extend(value.values())
                    elif value is not None:
                        complete = False
                elif isinstance(step, int):
                    if isinstance(value, list) and -len(value) <= step < len(value):
                        following.append(value[step])
                    else:
                        complete = False
                elif isinstance(value, dict) and step in value:
                    following.append(value[step])
                else:
                    complete = False
            current = following
        return current, complete


# ---------------------------------------------------------------- parsed config


@dataclass(frozen=True)
class _Call:
    step: str
    method: str
    path: str  # template: only {id}
    body: Any = None  # JSON template, None for no body
    query: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _Locate:
    by: Mapping[str, _Call]
    results_path: JsonPath
    id_path: JsonPath
    collection: str


@dataclass(frozen=True)
class _Export:
    call: _Call
    records_path: JsonPath
    collection: str
    categories: Mapping[str, str]
    default_category: str


@dataclass(frozen=True)
class _Erase:
    call: _Call
    action: str
    expected_status: frozenset[int]  # empty: any 2xx
    gone_status: frozenset[int]
    status_path: JsonPath | None
    done_values: tuple[Any, ...]
    unchanged_values: tuple[Any, ...]


@dataclass(frozen=True)
class _Rectify:
    call: _Call
    fields: Mapping[str, tuple[str, ...]]  # correction key -> body field path


@dataclass
class _Checker:
    """Collects every problem of a config, each with its path, so one error lists them all."""

    errors: list[str] = field(default_factory=list)

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def mapping(self, value: Any, path: str, known: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path or "config", "must be an object")
            return {}
        for key in value:
            where = f"{path}.{key}" if path else str(key)
            if str(key).lower() in _SECRET_KEYS:
                self.fail(where, "secrets do not belong in the config (it is stored): pass the secret to the connector")
            elif key not in known:
                self.fail(where, f"unknown key (known: {', '.join(known)})")
        return dict(value)

    def string(self, value: Any, path: str, *, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "must be a non-empty string")
            return default or ""
        return value

    def flag(self, value: Any, path: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")
            return False
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str:
        if value is None:
            return choices[0]
        if not isinstance(value, str) or value.upper() not in {choice.upper() for choice in choices}:
            self.fail(path, f"must be one of {', '.join(choices)}")
            return choices[0]
        return value.upper() if choices[0].isupper() else value.lower()

    def json_path(self, value: Any, path: str, *, default: str | None = None) -> JsonPath:
        text = default if value is None else value
        if text is None:
            self.fail(path, "is required")
            return JsonPath.parse("$")
        try:
            return JsonPath.parse(text)
        except ValueError as exc:
            self.fail(path, str(exc))
            return JsonPath.parse("$")

    def statuses(self, value: Any, path: str, *, low: int, high: int, default: tuple[int, ...]) -> frozenset[int]:
        if value is None:
            return frozenset(default)
        if not isinstance(value, list) or not all(
            isinstance(item, int) and not isinstance(item, bool) and low <= item <= high for item in value
        ):
            self.fail(path, f"must be a list of HTTP statuses between {low} and {high}")
            return frozenset(default)
        return frozenset(value)

    def scalars(self, value: Any, path: str) -> tuple[Any, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str | int | float | bool) for item in value):
            self.fail(path, "must be a list of strings, numbers or booleans")
            return ()
        return tuple(value)

    def template(self, value: Any, path: str, allowed: frozenset[str]) -> None:
        """Check that a template is JSON and uses only the placeholders allowed where it is."""
        if isinstance(value, str):
            for name in _PLACEHOLDER.findall(value):
                if name not in allowed:
                    shown = ", ".join(f"{{{item}}}" for item in sorted(allowed))
                    self.fail(path, f"unknown placeholder {{{name}}} (allowed here: {shown})")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    self.fail(path, "object keys must be strings")
                self.template(item, f"{path}.{key}", allowed)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.template(item, f"{path}[{index}]", allowed)
        elif value is not None and not isinstance(value, bool | int | float):
            self.fail(path, "must be JSON (objects, lists, strings, numbers, booleans, null)")


# ---------------------------------------------------------------- the connector


class HttpApiConnector:
    """A DSAR source reached over HTTP; ``config`` as in the module docstring, ``secret`` from the vault."""

    def __init__(self, name: str, config: Mapping[str, Any], *, secret: str | None = None) -> None:
        if not isinstance(name, str) or not _SOURCE_NAME.match(name):
            raise InvalidConfig("?", ["name: must be 1 to 64 letters, digits, '.', '_' or '-'"])
        self.name = name
        checker = _Checker()
        self._parse(config, secret, checker)
        if checker.errors:
            raise InvalidConfig(name, checker.errors)

    # ------------------------------------------------------------ the Connector protocol

    def locate(self, identities: list[Identity]) -> list[Match]:
        """Search the source once per identity whose kind the config knows; one match per resource id."""
        matches: dict[Any, Match] = {}
        for identity in identities:
            call = self._locate.by.get(identity.kind)
            if call is None:
                continue
            values = {identity.kind: identity.value, "namespace": identity.namespace}
            response = self._send(call, values)
            results, complete = self._locate.results_path.select(response.data)
            if not results and not complete:
                raise self._shape_error("locate", f"{self._locate.results_path.text} matches nothing in the answer")
            for result in results:
                ids, _ = self._locate.id_path.select(result)
                if len(ids) != 1 or isinstance(ids[0], bool) or not isinstance(ids[0], str | int):
                    raise self._shape_error("locate", f"{self._locate.id_path.text} is not one string or integer id")
                matches.setdefault(
                    ids[0],
                    Match(collection=self._locate.collection, locator={"id": ids[0]}, via=f"identity:{identity.kind}"),
                )
        return list(matches.values())

    def export(self, matches: list[Match]) -> list[ExportedRecord]:
        """Fetch every configured export endpoint for every match: the record itself, then related data."""
        self._require(self._exports, "export")
        records: list[ExportedRecord] = []
        for match in matches:
            resource_id = self._resource_id(match, "export")
            for export in self._exports:
                response = self._send(export.call, {"id": resource_id})
                found, complete = export.records_path.select(response.data)
                if not found and not complete:
                    raise self._shape_error("export", f"{export.records_path.text} matches nothing in the answer")
                for record in found:
                    if not isinstance(record, dict):
                        raise self._shape_error("export", f"{export.records_path.text} holds a non-object record")
                    categories = {
                        key: export.categories.get(key, export.default_category)
                        for key in record
                        if key in export.categories or export.default_category
                    }
                    records.append(
                        ExportedRecord(
                            collection=export.collection,
                            fields=record,
                            categories=categories,
                            provenance=f"http:{self.name}{export.call.path.replace('{id}', str(resource_id))}",
                        )
                    )
        return records

    def erase(self, matches: list[Match]) -> Outcome:
        """Erase each matched resource; one already gone (404, 410) is reported unchanged, not an error."""
        erase = self._require(self._erase, "erase")
        outcome = Outcome()
        for match in matches:
            resource_id = self._resource_id(match, "erase")
            action, reason = erase.action, ""
            try:
                response = self._send(erase.call, {"id": resource_id}, gone=erase.gone_status)
            except _Gone:
                action, reason = "unchanged", "already erased"
            else:
                if erase.expected_status and response.status not in erase.expected_status:
                    raise self._shape_error("erase", f"HTTP {response.status} is not one of expected_status")
                if erase.status_path is not None:
                    values, _ = erase.status_path.select(response.data)
                    value = values[0] if len(values) == 1 else None
                    if value in erase.unchanged_values:
                        action, reason = "unchanged", "already erased"
                    elif erase.done_values and value not in erase.done_values:
                        # The value itself is not quoted: it comes from the source and could be anything.
                        raise self._shape_error("erase", f"{erase.status_path.text} is not one of done_values")
            outcome.actions.append(
                FieldAction(collection=match.collection, locator={"id": resource_id}, action=action, reason=reason)
            )
        return outcome

    def rectify(self, matches: list[Match], corrections: dict[str, Any]) -> Outcome:
        """Send the corrections this source holds (``rectify.fields``) to each match; skip the others."""
        rectify = self._require(self._rectify, "rectify")
        mapped = {key: path for key, path in rectify.fields.items() if key in corrections}
        outcome = Outcome()
        if not mapped:
            return outcome
        for match in matches:
            resource_id = self._resource_id(match, "rectify")
            body = _fill(rectify.call.body, {"id": resource_id}) if rectify.call.body is not None else {}
            if not isinstance(body, dict):
                raise self._shape_error("rectify", "body must be an object to take the corrections")
            for key, path in mapped.items():
                _set_in(body, path, corrections[key])
            self._send(rectify.call, {"id": resource_id}, body=body)
            outcome.actions.extend(
                FieldAction(
                    collection=match.collection, locator={"id": resource_id}, action="rectified", field=".".join(path)
                )
                for path in mapped.values()
            )
        return outcome

    def restrict(self, matches: list[Match]) -> Outcome:
        """Ask the source to restrict processing of each match (a flag, a hold, a suspension)."""
        restrict = self._require(self._restrict, "restrict")
        outcome = Outcome()
        for match in matches:
            resource_id = self._resource_id(match, "restrict")
            self._send(restrict, {"id": resource_id})
            outcome.actions.append(
                FieldAction(collection=match.collection, locator={"id": resource_id}, action="restricted")
            )
        return outcome

    # ------------------------------------------------------------ calls

    def _send(
        self,
        call: _Call,
        values: Mapping[str, Any],
        *,
        body: Any = None,
        gone: frozenset[int] = frozenset(),
    ) -> JsonResponse:
        if body is None and call.body is not None:
            body = _fill(call.body, values)
        query = {key: _fill(value, values) for key, value in call.query.items()} if call.query else None
        path_params = {"id": values["id"]} if "{id}" in call.path else None
        try:
            return request_json(
                call.method,
                self._base_url + call.path,
                path_params=path_params,
                params=query,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
                max_bytes=self._max_bytes,
                allow_private=self._allow_private,
                allow=self._allow,
            )
        except HttpError as exc:
            if exc.status in gone:
                raise _Gone from None
            raise ConnectorError(f"http source '{self.name}': {call.step}: {exc}", retryable=exc.retryable) from exc

    def _resource_id(self, match: Match, step: str) -> str | int:
        resource_id = match.locator.get("id") if isinstance(match.locator, Mapping) else None
        if isinstance(resource_id, bool) or not isinstance(resource_id, str | int) or resource_id == "":
            raise ConnectorError(
                f"http source '{self.name}': {step}: a match of {match.collection} has no id in its locator",
                retryable=False,
            )
        return resource_id

    def _require(self, part: _Part | None, step: str) -> _Part:
        if not part:
            raise ConnectorError(
                f"http source '{self.name}': {step}: endpoints.{step} is not configured for this source",
                retryable=False,
            )
        return part

    def _shape_error(self, step: str, problem: str) -> ConnectorError:
        return ConnectorError(
            f"http source '{self.name}': {step}: the answer does not fit the config: {problem}", retryable=False
        )

    # ------------------------------------------------------------ config

    def _parse(self, config: Mapping[str, Any], secret: str | None, checker: _Checker) -> None:
        top = checker.mapping(
            config,
            "",
            (
                "base_url",
                "auth",
                "allow_private",
                "allow",
                "timeout",
                "max_bytes",
                "allow_identity_in_query",
                "endpoints",
            ),
        )
        self._base_url = self._parse_base_url(top.get("base_url"), checker)
        self._headers = self._parse_auth(top.get("auth"), secret, checker)
        self._allow_private = checker.flag(top.get("allow_private"), "allow_private")
        self._allow = self._parse_allow(top.get("allow"), checker)
        self._timeout = self._parse_timeout(top.get("timeout"), checker)
        self._max_bytes = self._parse_max_bytes(top.get("max_bytes"), checker)
        identity_in_query = checker.flag(top.get("allow_identity_in_query"), "allow_identity_in_query")

        endpoints = checker.mapping(top.get("endpoints", {}), "endpoints", tuple(METHODS))
        if "locate" in endpoints:
            self._locate = self._parse_locate(endpoints["locate"], checker, identity_in_query=identity_in_query)
        else:
            checker.fail("endpoints.locate", "is required")
            self._locate = _Locate(by={}, results_path=JsonPath.parse("$"), id_path=JsonPath.parse("$"), collection="")
        exports = endpoints.get("export")
        exports = exports if isinstance(exports, list) else [] if exports is None else [exports]
        self._exports = [
            self._parse_export(item, f"endpoints.export[{index}]" if len(exports) > 1 else "endpoints.export", checker)
            for index, item in enumerate(exports)
        ]
        self._erase = self._parse_erase(endpoints["erase"], checker) if "erase" in endpoints else None
        self._rectify = self._parse_rectify(endpoints["rectify"], checker) if "rectify" in endpoints else None
        self._restrict = (
            self._parse_call(
                checker.mapping(endpoints["restrict"], "endpoints.restrict", _CALL_KEYS), "restrict", checker
            )
            if "restrict" in endpoints
            else None
        )

    @staticmethod
    def _parse_base_url(value: Any, checker: _Checker) -> str:
        text = checker.string(value, "base_url")
        if not text:
            return ""
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - parsing the port is what validates it
        except ValueError:
            checker.fail("base_url", "is not a valid URL")
            return ""
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            checker.fail("base_url", "must be an http or https URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password or "{" in text:
            checker.fail("base_url", "must not hold a query, a fragment, credentials or placeholders")
        return text.rstrip("/")

    @staticmethod
    def _parse_auth(value: Any, secret: str | None, checker: _Checker) -> dict[str, str]:
        if secret is not None and (not isinstance(secret, str) or not secret or any(c in secret for c in "\r\n\0")):
            checker.fail("secret", "must be a non-empty string on one line")  # the value is never echoed
            return {}
        if value is None:
            return {} if secret is None else {"Authorization": f"Bearer {secret}"}
        auth = checker.mapping(value, "auth", ("header", "scheme"))
        header = checker.string(auth.get("header"), "auth.header", default="Authorization")
        if not _HEADER_NAME.match(header):
            checker.fail("auth.header", "is not a valid header name")
        scheme = auth.get("scheme", "Bearer")
        if not isinstance(scheme, str) or any(char.isspace() for char in scheme):
            checker.fail("auth.scheme", "must be a single word (Bearer, Token) or empty for a bare key")
            scheme = ""
        if secret is None:
            checker.fail("auth", "is configured but the connector was given no secret")
            return {}
        return {header: f"{scheme} {secret}" if scheme else secret}

    @staticmethod
    def _parse_allow(value: Any, checker: _Checker) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            checker.fail("allow", "must be a list of hostnames and networks (10.0.0.0/8)")
            return ()
        return tuple(value)

    @staticmethod
    def _parse_timeout(value: Any, checker: _Checker) -> Timeout | None:
        def seconds(item: Any, path: str) -> float | None:
            if isinstance(item, bool) or not isinstance(item, int | float) or not 0 < item <= _MAX_TIMEOUT:
                checker.fail(path, f"must be a number of seconds above 0 and at most {_MAX_TIMEOUT}")
                return None
            return float(item)

        if value is None:
            return None
        if isinstance(value, Mapping):
            parts = checker.mapping(value, "timeout", ("connect", "read", "total"))
            given = {
                key: seconds(item, f"timeout.{key}")
                for key, item in parts.items()
                if key in {"connect", "read", "total"}
            }
            if None in given.values():
                return None
            return Timeout(**{key: item for key, item in given.items() if item is not None})
        total = seconds(value, "timeout")
        return None if total is None else Timeout(connect=min(3.0, total), read=total, total=total)

    @staticmethod
    def _parse_max_bytes(value: Any, checker: _Checker) -> int:
        if value is None:
            return 5 * 1024 * 1024
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 100 * 1024 * 1024:
            checker.fail("max_bytes", "must be a whole number of bytes above 0 and at most 100 MiB")
            return 5 * 1024 * 1024
        return value

    def _parse_call(self, spec: Mapping[str, Any], step: str, checker: _Checker, *, path: str = "") -> _Call:
        where = path or f"endpoints.{step}"
        method = checker.choice(spec.get("method"), f"{where}.method", METHODS[step])
        route = checker.string(spec.get("path"), f"{where}.path")
        if route and not route.startswith("/"):
            checker.fail(f"{where}.path", "must start with /")
        if "?" in route or "#" in route:
            checker.fail(f"{where}.path", "must not hold a query or a fragment (query parameters go in query)")
        for name in _PLACEHOLDER.findall(route):
            if name != "id" or step == "locate":
                checker.fail(
                    f"{where}.path",
                    f"placeholder {{{name}}} is not allowed in a path: "
                    + (
                        "identities go in the body"
                        if step == "locate"
                        else "only {id} may appear, identities go in the body"
                    ),
                )
        body = spec.get("body")
        if body is not None:
            if method == "GET":
                checker.fail(f"{where}.body", "a GET request carries no body")
            checker.template(body, f"{where}.body", frozenset({"id"}))
        query = self._parse_query(spec.get("query"), f"{where}.query", frozenset({"id"}), checker)
        return _Call(step=step, method=method, path=route, body=body, query=query)

    @staticmethod
    def _parse_query(value: Any, path: str, allowed: frozenset[str], checker: _Checker) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, Mapping) or not all(
            isinstance(key, str) and isinstance(item, str | int | float) and not isinstance(item, bool)
            for key, item in value.items()
        ):
            checker.fail(path, "must be an object of strings and numbers")
            return None
        checker.template(dict(value), path, allowed)
        return dict(value)

    def _parse_locate(self, value: Any, checker: _Checker, *, identity_in_query: bool) -> _Locate:
        spec = checker.mapping(
            value, "endpoints.locate", ("method", "path", "by", "results_path", "id_path", "collection")
        )
        base = self._parse_call(spec, "locate", checker)
        by_spec = checker.mapping(spec.get("by", {}), "endpoints.locate.by", IDENTITY_KINDS)
        if not by_spec:
            checker.fail("endpoints.locate.by", f"must name at least one identity kind ({', '.join(IDENTITY_KINDS)})")
        by: dict[str, _Call] = {}
        for kind, kind_value in by_spec.items():
            if kind not in IDENTITY_KINDS:
                continue  # already reported as an unknown key
            where = f"endpoints.locate.by.{kind}"
            kind_spec = checker.mapping(kind_value, where, ("body", "query"))
            allowed = frozenset({kind, "namespace"})
            body = kind_spec.get("body")
            if body is not None:
                if base.method == "GET":
                    checker.fail(f"{where}.body", "a GET request carries no body: use POST")
                checker.template(body, f"{where}.body", allowed)
            query = self._parse_query(kind_spec.get("query"), f"{where}.query", allowed, checker)
            in_query = _placeholders(query) & {kind}
            if in_query and not identity_in_query:
                checker.fail(
                    f"{where}.query",
                    f"{{{kind}}} in a query string needs allow_identity_in_query: true "
                    "(URLs are logged by proxies and servers; prefer the body)",
                )
            if kind not in _placeholders(body) | in_query:
                checker.fail(where, f"must send {{{kind}}} in its body (or query): a search without it finds everyone")
            by[kind] = _Call(step="locate", method=base.method, path=base.path, body=body, query=query)
        return _Locate(
            by=by,
            results_path=checker.json_path(spec.get("results_path"), "endpoints.locate.results_path", default="$[*]"),
            id_path=checker.json_path(spec.get("id_path"), "endpoints.locate.id_path", default="$.id"),
            collection=checker.string(spec.get("collection"), "endpoints.locate.collection", default="records"),
        )

    def _parse_export(self, value: Any, where: str, checker: _Checker) -> _Export:
        spec = checker.mapping(
            value, where, (*_CALL_KEYS, "records_path", "collection", "categories", "default_category")
        )
        call = self._parse_call(spec, "export", checker, path=where)
        categories = spec.get("categories", {})
        if not isinstance(categories, Mapping) or not all(
            isinstance(key, str) and isinstance(item, str) and item for key, item in categories.items()
        ):
            checker.fail(f"{where}.categories", "must map field names to data categories (contact, financial...)")
            categories = {}
        default_category = spec.get("default_category", "")
        if not isinstance(default_category, str):
            checker.fail(f"{where}.default_category", "must be a string")
            default_category = ""
        return _Export(
            call=call,
            records_path=checker.json_path(spec.get("records_path"), f"{where}.records_path", default="$"),
            collection=checker.string(spec.get("collection"), f"{where}.collection", default=self._locate.collection),
            categories=dict(categories),
            default_category=default_category,
        )

    def _parse_erase(self, value: Any, checker: _Checker) -> _Erase:
        where = "endpoints.erase"
        spec = checker.mapping(
            value,
            where,
            (*_CALL_KEYS, "action", "expected_status", "gone_status", "status_path", "done_values", "unchanged_values"),
        )
        status_path = spec.get("status_path")
        return _Erase(
            call=self._parse_call(spec, "erase", checker),
            action=checker.choice(spec.get("action"), f"{where}.action", ERASE_ACTIONS),
            expected_status=checker.statuses(
                spec.get("expected_status"), f"{where}.expected_status", low=200, high=299, default=()
            ),
            gone_status=checker.statuses(
                spec.get("gone_status"), f"{where}.gone_status", low=400, high=499, default=(404, 410)
            ),
            status_path=None if status_path is None else checker.json_path(status_path, f"{where}.status_path"),
            done_values=checker.scalars(spec.get("done_values"), f"{where}.done_values"),
            unchanged_values=checker.scalars(spec.get("unchanged_values"), f"{where}.unchanged_values"),
        )

    def _parse_rectify(self, value: Any, checker: _Checker) -> _Rectify:
        where = "endpoints.rectify"
        spec = checker.mapping(value, where, (*_CALL_KEYS, "fields"))
        call = self._parse_call(spec, "rectify", checker)
        if call.body is not None and not isinstance(call.body, Mapping):
            checker.fail(f"{where}.body", "must be an object: the corrections are added to it")
        fields = spec.get("fields")
        parsed: dict[str, tuple[str, ...]] = {}
        if not isinstance(fields, Mapping) or not fields:
            checker.fail(f"{where}.fields", "must map correction keys (email, phone, name...) to body fields")
        else:
            for key, target in fields.items():
                if not isinstance(target, str) or not all(part.strip() for part in target.split(".")):
                    checker.fail(
                        f"{where}.fields.{key}", "must be a body field name, dotted for nesting (contact.email)"
                    )
                    continue
                parsed[str(key)] = tuple(target.split("."))
        return _Rectify(call=call, fields=parsed)


_CALL_KEYS = ("method", "path", "body", "query")


class _Gone(Exception):
    """The resource is already gone (404 or 410 on erase): not an error, an answer."""


def _fill(template: Any, values: Mapping[str, Any]) -> Any:
    """A copy of a JSON template with its placeholders replaced; a string that is one placeholder keeps the type."""
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            return values[whole.group(1)]
        return _PLACEHOLDER.sub(lambda found: str(values[found.group(1)]), template)
    if isinstance(template, Mapping):
        return {key: _fill(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [_fill(item, values) for item in template]
    return copy.deepcopy(template)


def _placeholders(template: Any) -> set[str]:
    if isinstance(template, str):
        return set(_PLACEHOLDER.findall(template))
    if isinstance(template, Mapping):
        return set().union(*(_placeholders(item) for item in template.values()))
    if isinstance(template, list):
        return set().union(*(_placeholders(item) for item in template))
    return set()


def _set_in(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = body
    for part in path[:-1]:
        nested = target.get(part)
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    target[path[-1]] = value
