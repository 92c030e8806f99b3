from __future__ import annotations

import pytest

from consent.models import Notice, NoticeVersion, Purpose


@pytest.fixture
def newsletter(db):
    return Purpose.objects.create(
        code="marketing.newsletter",
        names={"pt-br": "Newsletter", "en": "Newsletter", "es": "Boletín"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email", "sms", "whatsapp"],
        direct_marketing=True,
        validity_days=365,
        is_active=True,
    )


@pytest.fixture
def offers(db):
    return Purpose.objects.create(
        code="marketing.offers-post",
        names={"pt-br": "Ofertas por correio"},
        lgpd_basis="art7_ix",
        gdpr_basis="6_1_f",
        channels=["post", "email"],
        direct_marketing=True,
        lia_reference="LIA-2026-04",
        is_active=True,
    )


@pytest.fixture
def partners(db):
    return Purpose.objects.create(
        code="partners.share",
        names={"pt-br": "Compartilhar com parceiros"},
        lgpd_basis="art7_i",
        gdpr_basis="6_1_a",
        channels=["email", "paid_media"],
        sale_or_share=True,
        is_active=True,
    )


@pytest.fixture
def notice(newsletter, partners):
    entry = Notice.objects.create(code="privacy", title="Aviso de privacidade")
    entry.purposes.add(newsletter, partners)
    return NoticeVersion.objects.create(notice=entry, version=3, language="pt-br", text="Usamos seu e-mail para ...")
