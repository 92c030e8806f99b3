from __future__ import annotations

import pytest

from c360.lib.history import Actor
from consent.models import Notice, NoticeVersion, Purpose

DPO = Actor.system("tests-dpo")


@pytest.fixture
def newsletter(db):
    return Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Newsletter", "en": "Newsletter"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email"],
        data_categories=["contact"],
        direct_marketing=True,
        is_active=True,
    )


@pytest.fixture
def fraud(db):
    """Rests on legitimate interest: an activity using it needs an LIA reference."""
    return Purpose.objects.create(
        code="security.fraud",
        names={"pt-br": "Prevenção a fraudes"},
        lgpd_basis="art7_ix",
        gdpr_basis="6_1_f",
        channels=["email"],
        lia_reference="LIA-2026-01",
        data_categories=["device"],
        is_active=True,
    )


@pytest.fixture
def notice(newsletter):
    entry = Notice.objects.create(code="privacy", title="Aviso de privacidade")
    entry.purposes.add(newsletter)
    return NoticeVersion.objects.create(notice=entry, version=1, language="pt-br", text="Usamos seu e-mail para ...")
