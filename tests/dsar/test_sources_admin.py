"""Sources are configured in the admin, and a map or config the connector would refuse is never saved."""

from __future__ import annotations

import pytest

from c360.lib.errors import ValidationFailed
from c360.lib.history import Actor
from dsar.models import DataSource
from dsar.services.sources import source_save
from tests.dsar.sources import map_yaml

pytestmark = pytest.mark.django_db

DPO = Actor.system("dpo-tests")


def test_a_valid_map_is_saved_and_a_broken_one_is_refused_with_the_path_of_each_error():
    source_save(
        source=DataSource(
            code="shop", name="Loja", kind="postgres", dataset_map=map_yaml("postgres"), secret_env="SHOP_URL"
        ),
        actor=DPO,
    )
    broken = map_yaml("postgres").replace("references: customers.id", "references: clients.id", 1)

    with pytest.raises(ValidationFailed) as refused:
        source_save(
            source=DataSource(code="shop2", name="Loja 2", kind="postgres", dataset_map=broken, secret_env="X"),
            actor=DPO,
        )

    problems = refused.value.errors["dataset_map"]
    assert any("clients" in problem and problem.startswith("tables.") for problem in problems)
    assert list(DataSource.objects.values_list("code", flat=True)) == ["shop"]


def test_an_http_source_config_is_checked_and_a_manual_one_needs_instructions():
    with pytest.raises(ValidationFailed) as refused:
        source_save(source=DataSource(code="api", name="API", kind="http", config={"base_url": "ftp://x"}), actor=DPO)
    assert refused.value.errors["config"]
    with pytest.raises(ValidationFailed) as refused:
        source_save(source=DataSource(code="paper", name="Papel", kind="manual"), actor=DPO)
    assert "instructions" in refused.value.errors


def test_the_admin_shows_the_map_errors_and_the_request_pages_load(admin_client):
    response = admin_client.post(
        "/admin/dsar/datasource/add/",
        {
            "code": "shop",
            "name": "Loja",
            "kind": "postgres",
            "secret_env": "SHOP_URL",
            "dataset_map": "tables: [",
            "config": "{}",
            "categories": "[]",
            "purposes": "[]",
            "recipients": "[]",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "dataset_map" in response.context["adminform"].form.errors
    assert DataSource.objects.count() == 0
    for path in ("/admin/dsar/datarequest/", "/admin/dsar/datasource/"):
        assert admin_client.get(path).status_code == 200
