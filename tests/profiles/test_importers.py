from __future__ import annotations

import io

import pytest

from profiles.importers import ColumnMapping, ImportFileError, detect_format, read_csv, read_jsonl
from profiles.records import UnreadableRecord


def test_csv_rows_are_mapped_to_record_fields():
    mapping = ColumnMapping.parse(
        ["Código=external_id", "E-mail=email", "Cidade=address.city", "Segmento=extra.segment"],
        ignored=["Observação"],
    )
    text = "Código,E-mail,Cidade,Segmento,Observação,phone\nC1,a@example.com,Recife,premium,ligar depois,\n"

    (record,) = list(read_csv(io.StringIO(text), mapping))

    assert record == {
        "external_id": "C1",
        "email": "a@example.com",
        "address": {"city": "Recife"},
        "extra": {"segment": "premium"},
    }


def test_unknown_columns_stop_the_import_before_any_row():
    rows = read_csv(io.StringIO("external_id,Apelido,Time\nC1,Mari,Sport\n"), ColumnMapping())

    with pytest.raises(ImportFileError, match="Unknown column\\(s\\) 'Apelido', 'Time'"):
        next(rows)


@pytest.mark.parametrize("pair", ["email", "=email", "E-mail=", "E-mail=nickname", "Cidade=address.planet"])
def test_bad_mappings_are_refused(pair):
    with pytest.raises(ImportFileError):
        ColumnMapping.parse([pair])


def test_a_row_with_more_cells_than_the_header_is_kept_as_unreadable():
    (record,) = list(read_csv(io.StringIO("external_id,email\nC1,a@example.com,extra\n"), ColumnMapping()))

    assert isinstance(record, UnreadableRecord)
    assert "more cells" in record.reason


def test_jsonl_keeps_bad_lines_and_passes_other_values_on():
    text = '{"external_id": "1"}\n\nnot json\n[1, 2]\n{"Mail": "a@example.com", "external_id": "2"}\n'

    records = list(read_jsonl(io.StringIO(text), ColumnMapping.parse(["Mail=email"])))

    assert records[0] == {"external_id": "1"}
    assert isinstance(records[1], UnreadableRecord)
    assert records[1].reason == "Line 3 is not valid JSON."
    assert records[2] == [1, 2]
    assert records[3] == {"email": "a@example.com", "external_id": "2"}


def test_the_format_comes_from_the_extension_unless_given(tmp_path):
    assert detect_format(tmp_path / "x.CSV", None) == "csv"
    assert detect_format(tmp_path / "x.ndjson", None) == "jsonl"
    assert detect_format(tmp_path / "x.txt", "jsonl") == "jsonl"
    with pytest.raises(ImportFileError):
        detect_format(tmp_path / "x.txt", None)
