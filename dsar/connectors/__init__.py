"""The connector registry: which connector serves a configured ``DataSource``.

Connection URLs and API secrets come from the environment (``secret_env``, or ``<secret_env>_FILE``),
never from the database.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

from c360.env import envsecret
from c360.lib.history import Actor
from dsar.connectors.base import Connector, ConnectorError
from dsar.connectors.manual import ManualConnector, ManualStep

if TYPE_CHECKING:
    from dsar.datasets import DatasetMap
    from dsar.models import DataSource

__all__ = ["ManualStep", "connector_for"]


def _secret(source: DataSource) -> str:
    missing = ConnectorError(
        f"{source.code}: the secret is missing (set {source.secret_env or 'secret_env'} or its _FILE)",
        retryable=False,
    )
    if not source.secret_env:
        raise missing
    try:
        value = envsecret(source.secret_env, required=False, form="a connection URL or an API secret")
    except ImproperlyConfigured as exc:
        raise ConnectorError(f"{source.code}: {exc}", retryable=False) from None
    if not value:
        raise missing
    return str(value)


@functools.lru_cache(maxsize=64)
def _parsed_map(text: str) -> DatasetMap:
    """Parsing and validating a map costs ~15 ms: once per map text, not once per task."""
    from dsar.datasets import parse_dataset_map

    return parse_dataset_map(text)


def connector_for(source: DataSource, *, actor: Actor, reason: str) -> Connector:
    """A ready connector for ``source``; a configuration problem is a non-retryable ConnectorError."""
    kind = source.kind
    if kind == "c360":
        from dsar.connectors.c360_store import C360StoreConnector

        return C360StoreConnector(actor=actor, reason=reason)
    if kind in {"postgres", "mysql"}:
        from dsar.connectors.sql import SqlConnector
        from dsar.datasets import DatasetMapError

        try:
            dataset_map = _parsed_map(source.dataset_map)
        except DatasetMapError as exc:
            raise ConnectorError(f"{source.code}: the dataset map is invalid ({exc})", retryable=False) from None
        return SqlConnector(source.code, _secret(source), dataset_map)
    if kind == "http":
        from dsar.connectors.http_api import HttpApiConnector

        return HttpApiConnector(source.code, source.config, secret=_secret(source) if source.secret_env else None)
    if kind == "manual":
        return ManualConnector(instructions=source.instructions)
    raise ConnectorError(f"{source.code}: unknown source kind {kind!r}", retryable=False)
