"""The connector registry's writer: a source is saved only with a map or config that its connector accepts."""

from __future__ import annotations

from django.db import transaction

from c360.lib.errors import ValidationFailed
from c360.lib.history import Actor, acting_as
from dsar.models import DataSource


def source_problems(source: DataSource) -> dict[str, list[str]]:
    """Every problem of the source's map or config, each with its path (empty when usable)."""
    if source.kind in {DataSource.Kind.POSTGRES, DataSource.Kind.MYSQL}:
        from dsar.datasets import DatasetMapError, parse_dataset_map

        try:
            parse_dataset_map(source.dataset_map)
        except DatasetMapError as exc:
            return {"dataset_map": [f"{path}: {message}" for path, message in exc.errors]}
        if not source.secret_env:
            return {"secret_env": ["Name the environment variable that holds the connection URL."]}
    if source.kind == DataSource.Kind.HTTP:
        from dsar.connectors.http_api import HttpApiConnector, InvalidConfig

        try:
            # A placeholder secret: only the shape of the config is checked here, the real one stays in the env.
            HttpApiConnector(source.code, source.config, secret="placeholder" if source.secret_env else None)
        except InvalidConfig as exc:
            return {"config": exc.errors}
    if source.kind == DataSource.Kind.MANUAL and not source.instructions.strip():
        return {"instructions": ["Say what the person must do in this system."]}
    return {}


@transaction.atomic
def source_save(*, source: DataSource, actor: Actor) -> DataSource:
    if problems := source_problems(source):
        raise ValidationFailed("The source cannot be used as configured.", errors=problems)
    with acting_as(actor):
        source.save()
    return source
