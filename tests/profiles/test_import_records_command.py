from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from profiles.models import Source, SourceRecord, Subject

pytestmark = pytest.mark.django_db

CSV = (
    "Código;Nome;E-mail;Celular;CPF;Cidade\n"
    "C1;Maria Souza; Maria.Souza@Gmail.com ;(11) 98765-4321;529.982.247-25;São Paulo\n"
    "C2;Pedro Lima;pedro@example.com;11912345678;;Recife\n"
    "C3;Ana;not-an-email;123;;\n"
    "C4;Maria S.;maria.souza@gmail.com;;52998224725;\n"
)
MAPPING = [
    "--map",
    "Código=external_id",
    "--map",
    "Nome=full_name",
    "--map",
    "E-mail=email",
    "--map",
    "Celular=phone",
    "--map",
    "CPF=cpf",
    "--map",
    "Cidade=address.city",
]


@pytest.fixture
def crm():
    return Source.objects.create(code="crm", name="CRM", trust_rank=80)


def run(*args):
    out = io.StringIO()
    call_command("import_records", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_csv_is_imported_with_a_summary(crm, tmp_path):
    path = tmp_path / "crm.csv"
    path.write_text(CSV, encoding="utf-8")

    summary = run(str(path), "--source", "crm", "--delimiter", ";", *MAPPING)

    assert "4 records" in summary
    assert "3 linked, 2 new subjects, 0 merged, 1 quarantined" in summary
    assert Subject.objects.count() == 2
    assert SourceRecord.objects.filter(status="quarantined").count() == 1

    again = run(str(path), "--source", "crm", "--delimiter", ";", *MAPPING)
    assert "3 unchanged" in again
    assert SourceRecord.objects.count() == 4


def test_jsonl_with_a_broken_line_is_imported_and_the_line_quarantined(crm, tmp_path):
    path = tmp_path / "crm.jsonl"
    path.write_text('{"external_id": "C1", "email": "a@example.com"}\n{broken\n', encoding="utf-8")

    summary = run(str(path), "--source", "crm")

    assert "1 linked" in summary
    assert "1 quarantined" in summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "nope"], "No source has that code."),
        (["--source", "crm", "--map", "Nome"], "COLUMN=FIELD"),
        (["--source", "crm", "--delimiter", ";"], "Unknown column(s)"),
        (["--source", "crm", "--batch-size", "0"], "--batch-size"),
    ],
)
def test_bad_invocations_fail_clearly_and_import_nothing(crm, tmp_path, args, message):
    path = tmp_path / "crm.csv"
    path.write_text(CSV, encoding="utf-8")

    with pytest.raises(CommandError, match=message.replace("(", "\\(").replace(")", "\\)")):
        run(str(path), *args)
    assert not SourceRecord.objects.exists()


def test_a_missing_file_or_wrong_encoding_fails_clearly(crm, tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        run(str(tmp_path / "absent.csv"), "--source", "crm")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("external_id,full_name\nC1,João\n".encode("latin-1"))
    with pytest.raises(CommandError, match="--encoding"):
        run(str(latin), "--source", "crm")
    assert "1 linked" in run(str(latin), "--source", "crm", "--encoding", "latin-1")
