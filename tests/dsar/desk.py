"""A real HTTP support-desk API (served by pytest-httpserver on 127.0.0.1) for the HTTP connector's tests."""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug import Request, Response

SECRET = "desk-key-5b0f2e9a"
EMAIL = "maria.silva@example.com"
PHONE = "+5511987654321"


class SupportDesk:
    """The API of a support desk: customers with tickets, behind a bearer token.

    It refuses (400) any request whose URL carries an identity: the connector must send them in the body.
    """

    def __init__(self) -> None:
        self.customers: dict[int, dict[str, Any]] = {
            7: {"id": 7, "name": "Maria Silva", "email": EMAIL, "phone": PHONE, "plan": "pro"},
            8: {"id": 8, "name": "João Souza", "email": "joao@example.com", "phone": "+5521912345678", "plan": "free"},
        }
        self.tickets: dict[int, list[dict[str, Any]]] = {
            7: [
                {"id": 101, "subject": "Invoice copy", "body": "Please send my invoice"},
                {"id": 102, "subject": "Cancel", "body": "Cancel my plan"},
            ],
            8: [],
        }
        self.restricted: set[int] = set()
        self.anonymized: set[int] = set()
        self.status_override: int | None = None

    def handle(self, incoming: Request) -> Response:
        if self.status_override is not None:
            return self._json({"error": "unavailable"}, self.status_override)
        if incoming.headers.get("Authorization") != f"Bearer {SECRET}":
            return self._json({"error": "unauthorized"}, 401)
        url = incoming.environ["RAW_URI"]
        if any(value in url for value in ("maria", "joao", "5511987654321", "%40")):
            return self._json({"error": "identities do not belong in URLs"}, 400)
        if incoming.path in {"/api/customers/search", "/api/customers"}:  # POST with a body, or GET with a query
            return self._search(incoming.get_json() if incoming.method == "POST" else dict(incoming.args))
        routes = {
            ("GET", ""): self._json,
            ("GET", "/tickets"): lambda customer: self._json({"tickets": self.tickets[customer["id"]]}),
            ("DELETE", ""): self._delete,
            ("PATCH", ""): lambda customer: self._patch(customer, incoming.get_json()),
            ("POST", "/restriction"): self._restrict,
            ("POST", "/anonymize"): self._anonymize,
        }
        found = re.fullmatch(r"/api/customers/(\d+)(/\w+)?", incoming.path)
        action = routes.get((incoming.method, found.group(2) or "")) if found else None
        if action is None:
            return self._json({"error": "no such route"}, 404)
        customer = self.customers.get(int(found.group(1)))
        return self._json({"error": "not found"}, 404) if customer is None else action(customer)

    def _search(self, criteria: dict[str, str]) -> Response:
        found = [
            {"id": customer["id"], "name": customer["name"]}
            for customer in self.customers.values()
            if any(customer.get(key) == value for key, value in criteria.items() if key in {"email", "phone"})
        ]
        return self._json({"customers": found, "total": len(found)})

    def _delete(self, customer: dict[str, Any]) -> Response:
        del self.customers[customer["id"]]
        return Response(status=204)

    def _patch(self, customer: dict[str, Any], changes: dict[str, Any]) -> Response:
        customer.update({key: value for key, value in changes.items() if key in {"email", "phone", "name"}})
        return self._json(customer)

    def _restrict(self, customer: dict[str, Any]) -> Response:
        self.restricted.add(customer["id"])
        return self._json({"status": "restricted"})

    def _anonymize(self, customer: dict[str, Any]) -> Response:
        if customer["id"] in self.anonymized:
            return self._json({"status": "already_anonymized"})
        self.anonymized.add(customer["id"])
        customer.update(name="", email="", phone="")
        return self._json({"status": "anonymized"})

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")


def desk_config(base_url: str) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "auth": {"header": "Authorization", "scheme": "Bearer"},
        "allow_private": True,  # the desk runs on 127.0.0.1 in tests
        "timeout": {"connect": 1, "read": 2, "total": 5},
        "endpoints": {
            "locate": {
                "method": "POST",
                "path": "/customers/search",
                "by": {"email": {"body": {"email": "{email}"}}, "phone": {"body": {"phone": "{phone}"}}},
                "results_path": "$.customers[*]",
                "id_path": "$.id",
                "collection": "customers",
            },
            "export": [
                {
                    "path": "/customers/{id}",
                    "categories": {"name": "identification", "email": "contact", "phone": "contact"},
                    "default_category": "account",
                },
                {"path": "/customers/{id}/tickets", "records_path": "$.tickets[*]", "collection": "tickets"},
            ],
            "erase": {"method": "DELETE", "path": "/customers/{id}"},
            "rectify": {"method": "PATCH", "path": "/customers/{id}", "fields": {"email": "email", "phone": "phone"}},
            "restrict": {"method": "POST", "path": "/customers/{id}/restriction", "body": {"restricted": True}},
        },
    }
