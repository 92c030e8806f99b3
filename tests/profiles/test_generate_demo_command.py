from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from profiles.models import Source, SourceRecord

pytestmark = pytest.mark.django_db


def test_it_writes_the_sources_and_truth_apart_ingests_and_measures(tmp_path):
    out = io.StringIO()

    call_command("generate_demo", "--subjects", "150", "--output", str(tmp_path), stdout=out)

    assert {path.name for path in tmp_path.iterdir()} == {"crm.jsonl", "shop.jsonl", "support.jsonl", "truth.csv"}
    assert set(Source.objects.values_list("code", flat=True)) == {"crm", "shop", "support"}
    assert SourceRecord.objects.count() > 300
    precision, recall = map(float, re.search(r"precision (\d\.\d+), recall (\d\.\d+)", out.getvalue()).groups())
    assert precision >= 0.98
    assert recall >= 0.9

    again = io.StringIO()
    call_command("generate_demo", "--subjects", "150", "--output", str(tmp_path), "--if-empty", stdout=again)
    assert "already loaded" in again.getvalue()
