"""REDCap flat export reader: real REDCapR exports and dictionaries, instruments, checkboxes, decodes, errors."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from trialbridge.converters.readers.raw import values_in
from trialbridge.converters.readers.redcap import find_dictionary, read_redcap, redcap_metadata

FLAT = Path(__file__).parent / "fixtures" / "edc" / "redcap-flat"
PROJECTS = ["dag-write", "checkboxes-1", "longitudinal-with-repeating-instrument"]


def _errors(result) -> list[tuple[str, str]]:
    return [(f.rule, f.location) for f in result.findings if f.severity == "error"]


@pytest.mark.parametrize("project", PROJECTS)
def test_every_cell_of_a_real_export_is_accounted_for(project: str) -> None:
    result = read_redcap(FLAT / project / "data.csv")
    assert _errors(result) == []
    with (FLAT / project / "data.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    record = next(iter(rows[0]))
    system = {record, "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
              "redcap_data_access_group"}
    in_file = sum(1 for row in rows for column, value in row.items() if column not in system and value != "")
    counts = [f for f in result.findings if f.rule == "REDCAP-COUNTS"]
    read = sum(int(f.message.split(": ")[1].split(" ")[0]) for f in counts)
    handed = sum(int(f.message.split("= ")[1].split(" ")[0]) for f in counts)
    placeholders = sum(int(f.message.split("+ ")[1].split(" ")[0]) for f in counts)
    assert read == in_file and read == handed + placeholders
    tables = result.datasets.values()
    item_cells = sum(int(t.drop(columns=[c for c in t.columns if c.endswith("_DECODE") or c.startswith(("_", "redcap_"))
                                         or c in ("SubjectKey", record)]).ne("").to_numpy().sum()) for t in tables)
    assert item_cells == handed
    assert all(values_in(t) == result.values_read[name] for name, t in result.datasets.items())
    assert {r[record] for r in rows} <= set().union(*(set(t["SubjectKey"]) for t in tables))


def test_repeating_instruments_split_into_instrument_datasets() -> None:
    result = read_redcap(FLAT / "longitudinal-with-repeating-instrument" / "data.csv")
    assert list(result.datasets) == ["demographics", "visit", "laboratory", "medication"]
    lab = result.datasets["laboratory"]
    assert len(lab) == 16 and set(lab["redcap_repeat_instrument"]) == {"laboratory"}
    first = lab.iloc[0]
    assert (first["SubjectKey"], first["redcap_event_name"], first["redcap_arm"], first["redcap_repeat_instance"],
            first["lab"], first["conc"], first["_line"]) == ("1", "visit_1_arm_1", "1", "1", "RBC", "111.1", 3)
    assert list(result.datasets["demographics"]["county"]) == ["Adair", "Alfalfa"]
    assert list(result.datasets["visit"]["visit_date"])[:3] == ["2011-01-01", "2011-01-02", "2011-01-03"]
    unknown = [f for f in result.findings if f.rule == "REDCAP-CODE-UNKNOWN"]
    assert [(f.location, f.values) for f in unknown] == [("data.csv:laboratory:laboratory_complete", ("3",))]


def test_checkboxes_are_kept_and_decoded_and_empty_instruments_dropped() -> None:
    result = read_redcap(FLAT / "checkboxes-1" / "data.csv")
    form = result.datasets["form_2"]
    assert list(form["SubjectKey"]) == ["1", "2", "3"]  # record 4 has nothing ticked and status 0
    assert list(form["check_one___1_DECODE"]) == ["one", "", "one"]
    assert list(form["check_two___b_DECODE"]) == ["", "B", ""]
    assert list(form["form_2_complete_DECODE"]) == ["Complete", "Incomplete", "Complete"]
    assert list(result.datasets["form_1"]["SubjectKey"]) == ["1", "2", "3", "4"]  # every record is listed


def test_data_access_groups_and_radio_decodes() -> None:
    result = read_redcap(FLAT / "dag-write" / "data.csv", FLAT / "dag-write" / "dictionary.csv")
    table = result.datasets["demographics"]
    assert list(table["redcap_data_access_group"]) == ["daga", "dagb", "dagb"]
    assert list(table["record_id"]) == ["331-1", "331-2", "332-3"]
    assert list(table["last_name"]) == ["last name 1", "last name 2", ""]
    assert list(table["demographics_complete_DECODE"]) == ["Incomplete"] * 3


def test_multiline_notes_keep_their_physical_line(tmp_path: Path) -> None:
    shutil.copy(FLAT / "dag-write" / "dictionary.csv", tmp_path / "dictionary.csv")
    (tmp_path / "export.csv").write_text(
        'record_id,first_name,comments,ethnicity,demographics_complete\n'
        '1,Ann,"two\nlines",1,2\n'
        '2,Bob,,7,1\n', encoding="utf-8")
    result = read_redcap(tmp_path / "export.csv")
    table = result.datasets["demographics"]
    assert list(table["_line"]) == [2, 4]
    assert list(table["ethnicity_DECODE"]) == ["NOT Hispanic or Latino", ""]
    assert [f.rule for f in result.findings if f.severity == "warning"] == ["REDCAP-CODE-UNKNOWN"]


@pytest.mark.parametrize(("data", "rule", "location"), [
    (b"record_id,first_name\n1,Ann\n1,Ann\n", "REDCAP-KEY-DUPLICATE", "export.csv:2"),
    (b"record_id,first_name\n1,Ann,extra\n", "REDCAP-CSV", "export.csv:2"),
    (b"record_id,first_name\n1,Ren\xe9e\n", "REDCAP-ENCODING", "export.csv:2"),
    (b"Study ID,First Name\n1,Ann\n", "REDCAP-RECORD-ID", "export.csv:1"),
    (b"", "REDCAP-CSV", "export.csv:1"),
])
def test_bad_exports_are_errors_with_their_line(tmp_path: Path, data: bytes, rule: str, location: str) -> None:
    shutil.copy(FLAT / "dag-write" / "dictionary.csv", tmp_path / "dictionary.csv")
    (tmp_path / "export.csv").write_bytes(data)
    assert _errors(read_redcap(tmp_path / "export.csv")) == [(rule, location)]


def test_unknown_columns_are_kept_and_a_missing_dictionary_is_an_error(tmp_path: Path) -> None:
    shutil.copy(FLAT / "dag-write" / "dictionary.csv", tmp_path / "dictionary.csv")
    (tmp_path / "export.csv").write_text("record_id,first_name,shoe_size\n1,Ann,38\n", encoding="utf-8")
    result = read_redcap(tmp_path / "export.csv")
    assert result.datasets["unassigned"]["shoe_size"].tolist() == ["38"]
    assert [f.rule for f in result.findings if f.severity == "warning"] == ["REDCAP-COLUMN-UNKNOWN"]
    (tmp_path / "dictionary.csv").unlink()
    assert _errors(read_redcap(tmp_path / "export.csv")) == [("REDCAP-DICTIONARY-MISSING", "export.csv")]
    assert find_dictionary(FLAT / "dag-write" / "data.csv") == FLAT / "dag-write" / "dictionary.csv"


def test_dictionary_metadata_names_the_read_columns() -> None:
    meta = redcap_metadata(FLAT / "dag-write" / "dictionary.csv")
    assert meta.system == "REDCap" and list(meta.datasets) == ["demographics"]
    race = meta.items["race"]
    assert (race.field_type, race.label, race.codelist) == ("dropdown", "Race", "race.choices")
    assert meta.codelists["race.choices"].decodes()["4"] == "White"
    assert meta.items["dob"].data_type == "date" and meta.items["weight"].data_type == "integer"
    checkbox = redcap_metadata(FLAT / "checkboxes-1" / "dictionary.csv")
    assert checkbox.items["check_two___c"].choices[2] == ("c", "C")
    table = read_redcap(FLAT / "checkboxes-1" / "data.csv").datasets["form_2"]
    for column in checkbox.datasets["form_2"].columns:
        assert column.name in table.columns and (not column.decode or column.decode in table.columns)
