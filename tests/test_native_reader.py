"""Reading a native record folder: a valid folder gives a Trial; each broken input gives its finding."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from trialbridge.converters import csv_records as native_reader  # the byte scan of the native reader
from trialbridge.converters.csv_records import scan_records
from trialbridge.converters.native_reader import read_native
from trialbridge.schemas.findings import Finding, has_errors
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns

from conftest import NativeFolder


def rejected(folder: NativeFolder) -> list[Finding]:
    trial, findings = read_native(folder.path)
    assert trial is None and has_errors(findings)
    return findings


def the_one(findings: list[Finding], rule: str) -> Finding:
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, findings
    return matching[0]


# --- the valid folder ---------------------------------------------------------------------------------

def test_valid_folder_reads_with_no_finding(native_folder: NativeFolder) -> None:
    trial, findings = read_native(native_folder.path)
    assert findings == []
    assert trial is not None
    assert trial.registry["protocolSection"]["identificationModule"]["nctId"] == "NCT01421927"
    assert trial.row_counts() == {form: len(native_folder.rows[form]) for form in FORM_NAMES}
    assert trial.forms["enrolment"]["SUBJID"].tolist() == ["001", "002", "003"]


def test_trial_tables_hold_the_cells_verbatim_with_provenance(native_folder: NativeFolder) -> None:
    trial, _ = read_native(native_folder.path)
    assert trial is not None
    for form in FORM_NAMES:
        table = trial.forms[form]
        assert list(table.columns) == [*form_columns(form), "_file", "_line"]
        assert set(table["_file"]) == {f"{form}.csv"}
        assert list(table["_line"]) == list(range(2, len(table) + 2))  # header = line 1
        expected = [{c: row.get(c, "") for c in form_columns(form)} for row in native_folder.rows[form]]
        assert table[form_columns(form)].to_dict("records") == expected
    assert trial.forms["enrolment"].loc[2, "CONDIT"] == "Fludarabine, busulfan"  # quoted comma kept
    assert trial.forms["laboratory"].loc[3, "LBRES"] == ">95"


def test_na_is_a_value_not_a_missing_cell(native_folder: NativeFolder) -> None:
    native_folder.set_cell("laboratory", 6, "LBREASND", "NA")  # a text cell; pandas would read NaN by default
    trial, findings = read_native(native_folder.path)
    assert trial is not None and findings == []
    assert trial.forms["laboratory"].loc[4, "LBREASND"] == "NA"


def test_a_quoted_line_break_does_not_shift_line_numbers(native_folder: NativeFolder) -> None:
    native_folder.set_cell("enrolment", 2, "CONDIT", "Fludarabine\nbusulfan")  # line 2 spans 2 lines
    native_folder.set_cell("enrolment", 3, "SEX", "X")  # so this row starts on physical line 4
    finding = the_one(rejected(native_folder), "NATIVE-CODE")
    assert finding.location == "enrolment.csv:4:SEX"


def test_warnings_alone_do_not_reject_and_the_value_is_kept(native_folder: NativeFolder) -> None:
    native_folder.set_cell("enrolment", 3, "CONDIT", "Fludarabine, busulfan ")  # trailing space
    trial, findings = read_native(native_folder.path)
    assert trial is not None
    finding = the_one(findings, "NATIVE-WHITESPACE")
    assert (finding.severity, finding.location) == ("warning", "enrolment.csv:3:CONDIT")
    assert trial.forms["enrolment"].loc[1, "CONDIT"] == "Fludarabine, busulfan "


# --- one test per broken input ------------------------------------------------------------------------

def test_missing_required_column(native_folder: NativeFolder) -> None:
    native_folder.drop_column("dosing", "EXSTDAT")
    finding = the_one(rejected(native_folder), "NATIVE-COLUMN-MISSING")
    assert finding.location == "dosing.csv:1"
    assert finding.values == ("EXSTDAT",)
    assert "EXSTDAT (required) is missing" in finding.message
    assert "SITEID, SUBJID, EXLINE, EXSTDAT, EXENDAT, DOSE, DOSEU, CHGREAS" in finding.message


def test_missing_optional_column_is_an_error_too(native_folder: NativeFolder) -> None:
    native_folder.drop_column("adverse_events", "GVHDSR")
    finding = the_one(rejected(native_folder), "NATIVE-COLUMN-MISSING")
    assert (finding.location, finding.values) == ("adverse_events.csv:1", ("GVHDSR",))
    assert "(optional)" in finding.message


def test_impossible_date(native_folder: NativeFolder) -> None:
    native_folder.set_cell("dosing", 3, "EXSTDAT", "2012-02-30")
    finding = the_one(rejected(native_folder), "NATIVE-DATE")
    assert finding.location == "dosing.csv:3:EXSTDAT"
    assert finding.values == ("2012-02-30",)
    assert "'2012-02-30', not a real calendar date" in finding.message
    assert "February 2012 has days 01 to 29" in finding.message
    assert "YYYY-MM-DD" in finding.message


def test_month_13_in_a_partial_date_is_impossible_but_unknown_day_is_fine(native_folder: NativeFolder) -> None:
    native_folder.set_cell("enrolment", 2, "BRTHDAT", "UNK-02-1958")  # fine
    native_folder.set_cell("enrolment", 3, "BRTHDAT", "UNK-13-1961")
    finding = the_one(rejected(native_folder), "NATIVE-DATE")
    assert finding.location == "enrolment.csv:3:BRTHDAT"
    assert "no month 13" in finding.message


def test_required_value_is_empty(native_folder: NativeFolder) -> None:
    native_folder.set_cell("dosing", 4, "DOSE", "")
    finding = the_one(rejected(native_folder), "NATIVE-REQUIRED")
    assert (finding.location, finding.values) == ("dosing.csv:4:DOSE", ("",))
    assert finding.message.startswith("DOSE is empty; expected a value: Daily dose taken in the period")


def test_unknown_code(native_folder: NativeFolder) -> None:
    native_folder.set_cell("response", 3, "RESP", "MR")  # minimal response: not an IMWG code of the form
    finding = the_one(rejected(native_folder), "NATIVE-CODE")
    assert finding.location == "response.csv:3:RESP"
    assert finding.values == ("MR",)
    assert "'MR'" in finding.message and "sCR, CR, VGPR, PR, SD, PD" in finding.message


def test_subject_not_enrolled(native_folder: NativeFolder) -> None:
    line = native_folder.add_row("response", SITEID="01", SUBJID="004", VISIT="INCLUSION", RSDAT="2012-02-01", RESP="CR")
    finding = the_one(rejected(native_folder), "NATIVE-NOT-ENROLLED")
    assert finding.location == f"response.csv:{line}:SUBJID"
    assert finding.values == ("004",)
    assert "004 is not enrolled" in finding.message and "enrolment.csv" in finding.message


def test_site_differs_from_the_enrolment_site(native_folder: NativeFolder) -> None:
    native_folder.set_cell("dosing", 2, "SITEID", "02")
    finding = the_one(rejected(native_folder), "NATIVE-SITE-MISMATCH")
    assert finding.location == "dosing.csv:2:SITEID"
    assert "'02'" in finding.message and "enrolled at site '01' (enrolment.csv line 2)" in finding.message


@pytest.mark.parametrize("content, detail", [(b"", "0 bytes"), (b"\xef\xbb\xbf\n\n", "no header line")])
def test_empty_file(native_folder: NativeFolder, content: bytes, detail: str) -> None:
    native_folder.write_bytes("end_of_study", content)
    finding = the_one(rejected(native_folder), "NATIVE-FILE-EMPTY")
    assert finding.location == "end_of_study.csv"
    assert detail in finding.message and "SITEID, SUBJID, EOTDAT" in finding.message


def test_header_only_file_is_a_form_with_no_rows(native_folder: NativeFolder) -> None:
    native_folder.rows["end_of_study"] = []
    native_folder.write_form("end_of_study")
    trial, findings = read_native(native_folder.path)
    assert trial is not None and findings == [] and trial.row_counts()["end_of_study"] == 0


def test_bytes_that_are_not_utf8(native_folder: NativeFolder) -> None:
    native_folder.replace_bytes("adverse_events", "Neutropénie".encode(), "Neutropénie".encode("latin-1"))
    offset = native_folder.file("adverse_events").read_bytes().index(b"\xe9")
    finding = the_one(rejected(native_folder), "NATIVE-ENCODING")
    assert finding.location == "adverse_events.csv:2:AETERM"
    assert finding.values == ("0xE9",)
    assert f"byte 0xE9 at byte offset {offset}" in finding.message
    assert "Neutrop\\xe9nie" in finding.message and "expected UTF-8" in finding.message


def test_a_utf8_byte_order_mark_is_accepted(native_folder: NativeFolder) -> None:
    path = native_folder.file("enrolment")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    registry = native_folder.file("registry.json")
    registry.write_bytes(b"\xef\xbb\xbf" + registry.read_bytes())
    trial, findings = read_native(native_folder.path)
    assert trial is not None and findings == []


def test_registry_that_is_not_json(native_folder: NativeFolder) -> None:
    native_folder.write_bytes("registry.json", b'{\n  "protocolSection": {\n    "identificationModule": ,\n  }\n}\n')
    finding = the_one(rejected(native_folder), "NATIVE-JSON")
    assert finding.location == "registry.json:3:29"
    assert finding.values == (",\\n  }\\n}\\n",)
    assert "Expecting value at line 3 column 29 (text there: ',\\n  }\\n}\\n')" in finding.message
    assert "expected a JSON object" in finding.message


def test_registry_against_its_schema(native_folder: NativeFolder) -> None:
    native_folder.replace_bytes("registry.json", b'"overallStatus": "COMPLETED"', b'"overallStatus": "FINISHED"')
    finding = the_one(rejected(native_folder), "NATIVE-REGISTRY-SCHEMA")
    assert finding.location == "registry.json:$.protocolSection.statusModule.overallStatus"
    assert finding.values == ("FINISHED",)
    assert "'FINISHED' is not one of" in finding.message and "'COMPLETED'" in finding.message


def test_several_problems_in_several_files_are_all_reported(native_folder: NativeFolder) -> None:
    native_folder.set_cell("enrolment", 2, "SEX", "H")
    native_folder.set_cell("enrolment", 4, "TXDAT", "2011-09-31")
    native_folder.set_cell("dosing", 4, "DOSE", "")
    native_folder.set_cell("laboratory", 2, "LBUNIT", "g/L")
    native_folder.write_bytes("response.csv", b"")
    native_folder.write_bytes("registry.json", b"{")
    native_folder.file("end_of_study").unlink()
    found = [(f.rule, f.location) for f in rejected(native_folder) if f.severity == "error"]
    assert found == [
        ("NATIVE-CODE", "enrolment.csv:2:SEX"),
        ("NATIVE-DATE", "enrolment.csv:4:TXDAT"),
        ("NATIVE-REQUIRED", "dosing.csv:4:DOSE"),
        ("NATIVE-FILE-EMPTY", "response.csv"),
        ("NATIVE-UNIT", "laboratory.csv:2:LBUNIT"),
        ("NATIVE-FILE-MISSING", "end_of_study.csv"),
        ("NATIVE-JSON", "registry.json:1:2"),
    ]


def test_extra_unknown_column(native_folder: NativeFolder) -> None:
    native_folder.write_form("response", [*form_columns("response"), "COMMENT"])
    finding = the_one(rejected(native_folder), "NATIVE-COLUMN-UNKNOWN")
    assert finding.location == "response.csv:1:COMMENT"
    assert "'COMMENT' (position 6)" in finding.message and "SITEID, SUBJID, VISIT, RSDAT, RESP" in finding.message


def test_duplicate_key_is_reported_on_every_duplicate_line(native_folder: NativeFolder) -> None:
    native_folder.set_cell("dosing", 3, "EXLINE", "1")  # subject 001 has two dose periods numbered 1
    findings = [f for f in rejected(native_folder) if f.rule == "NATIVE-KEY-DUPLICATE"]
    assert [f.location for f in findings] == ["dosing.csv:2", "dosing.csv:3"]
    assert all("SUBJID=001, EXLINE=1 appears on lines 2, 3" in f.message for f in findings)
    assert findings[0].values == ("001", "1")


def test_wrong_unit_for_a_lab_code(native_folder: NativeFolder) -> None:
    native_folder.set_cell("laboratory", 4, "LBUNIT", "g/L")  # haemoglobin in g/L; the form fixes g/dL
    finding = the_one(rejected(native_folder), "NATIVE-UNIT")
    assert finding.location == "laboratory.csv:4:LBUNIT"
    assert finding.values == ("g/L",)
    assert "'g/L' for LBCODE HB; expected g/dL" in finding.message


def test_conditional_requirement_death_without_date(native_folder: NativeFolder) -> None:
    native_folder.set_cell("end_of_study", 3, "DTHDAT", "")
    finding = the_one(rejected(native_folder), "NATIVE-CONDITIONAL")
    assert finding.location == "end_of_study.csv:3:DTHDAT"
    assert finding.values == ("EOSREAS=DEATH",)
    assert finding.message == "DTHDAT is required when EOSREAS is 'DEATH'; found DTHDAT empty"


def test_conditional_any_of_is_reported_on_the_row(native_folder: NativeFolder) -> None:
    native_folder.set_cell("adverse_events", 3, "AESHOSP", "")  # serious, but no seriousness criterion
    finding = the_one(rejected(native_folder), "NATIVE-CONDITIONAL")
    assert finding.location == "adverse_events.csv:3"
    assert "one of AESDTH, AESLIFE, AESHOSP, AESDISAB, AESCONG or AESMIE is required when AESER is 'Y'" in finding.message


def test_dates_out_of_order_are_warnings(native_folder: NativeFolder) -> None:
    native_folder.set_cell("dosing", 2, "EXENDAT", "2011-10-01")  # ends before it starts (2011-10-03)
    native_folder.set_cell("dosing", 5, "EXSTDAT", "2012-01-10")  # before subject 003's consent, 2012-01-16
    trial, findings = read_native(native_folder.path)
    assert trial is not None
    assert [(f.severity, f.rule, f.location) for f in findings] == [
        ("warning", "NATIVE-DATE-ORDER", "dosing.csv:2:EXENDAT"),
        ("warning", "NATIVE-DATE-ORDER", "dosing.csv:5:EXSTDAT"),
    ]
    assert "EXENDAT 2011-10-01 is before EXSTDAT 2011-10-03 in the same row" in findings[0].message
    assert "EXSTDAT 2012-01-10 is before CONSDAT 2012-01-16 of subject 003 (enrolment.csv line 4)" in findings[1].message


# --- CSV structure ------------------------------------------------------------------------------------

HEADER = b"SITEID,SUBJID,VISIT,RSDAT,RESP\n"


def test_rows_with_the_wrong_field_count(native_folder: NativeFolder) -> None:
    native_folder.write_bytes("response", HEADER + b"01,001,INCLUSION,2011-09-28\n"  # 4 fields: not padded
                              b"01,002,INCLUSION,2011-10-13,PR,x\n")  # 6 fields
    findings = [f for f in rejected(native_folder) if f.rule == "NATIVE-CSV-PARSE"]
    assert [(f.location, f.values) for f in findings] == [("response.csv:2", ("4",)), ("response.csv:3", ("6",))]
    assert "4 fields; expected 5 fields, as many as the header line" in findings[0].message


def test_blank_line_is_a_warning(native_folder: NativeFolder) -> None:
    native_folder.write_bytes("response", HEADER + b"01,001,INCLUSION,2011-09-28,CR\n\n01,002,INCLUSION,2011-10-13,PR\n")
    trial, findings = read_native(native_folder.path)
    assert trial is not None and list(trial.forms["response"]["_line"]) == [2, 4]
    assert [(f.rule, f.location) for f in findings] == [("NATIVE-BLANK-LINE", "response.csv:3")]


def test_unclosed_quote(native_folder: NativeFolder) -> None:
    native_folder.write_bytes("response", HEADER + b'01,001,INCLUSION,2011-09-28,CR\n01,002,"INCLUSION,2011-10-13,PR\n')
    finding = the_one(rejected(native_folder), "NATIVE-CSV-PARSE")
    assert finding.location == "response.csv:3"
    assert "never closed" in finding.message


def test_a_stray_quote_inside_a_value_keeps_line_numbers(native_folder: NativeFolder) -> None:
    native_folder.write_bytes("response", HEADER + b'01,001,INCLUSION,2011-09-28,CR\n01,002,INCLUSION,2011-10-13,P"R\n')
    finding = the_one(rejected(native_folder), "NATIVE-CODE")
    assert (finding.location, finding.values) == ("response.csv:3:RESP", ('P"R',))


def test_duplicate_header_names(native_folder: NativeFolder) -> None:
    native_folder.write_bytes("response", b"SITEID,SUBJID,VISIT,RSDAT,RESP,RESP\n01,001,INCLUSION,2011-09-28,CR,CR\n")
    finding = the_one(rejected(native_folder), "NATIVE-COLUMN-DUPLICATE")
    assert finding.location == "response.csv:1:RESP" and "positions 5, 6" in finding.message


def test_a_data_file_the_format_does_not_define_is_a_warning(native_folder: NativeFolder) -> None:
    native_folder.write_bytes("concomitant_medications.csv", b"SUBJID,CMTRT\n001,Ciclosporine\n")
    native_folder.write_bytes("README.md", b"# REVALLO export\n")  # not data: no finding
    trial, findings = read_native(native_folder.path)
    assert trial is not None
    assert [(f.severity, f.rule, f.location) for f in findings] == [
        ("warning", "NATIVE-FILE-UNKNOWN", "concomitant_medications.csv")]


def test_missing_file_and_missing_folder(native_folder: NativeFolder, tmp_path: Path) -> None:
    native_folder.file("dosing").unlink()
    finding = the_one(rejected(native_folder), "NATIVE-FILE-MISSING")
    assert finding.location == "dosing.csv" and "dosing.csv is missing" in finding.message
    trial, findings = read_native(tmp_path / "nowhere")
    assert trial is None and [f.rule for f in findings] == ["NATIVE-FOLDER"]


@pytest.mark.parametrize("data", [
    b"a,b\n1,2\n",
    b'a,b\r\n"x\r\ny",2\r\n\r\n3,"4,5"\r\n',
    b'\xef\xbb\xbf"a",b\n"",""\n"say ""hi""",x',
    b"a,b\n \n1,2,3\n4\n",
    b'a,"b\n,\n",c\n"1,""2""\n3",,\n',
])
@pytest.mark.parametrize("chunk", [native_reader._CHUNK, 3])  # 3: every chunk boundary falls inside a record
def test_record_scan_agrees_with_the_csv_module(data: bytes, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_reader, "_CHUNK", chunk)

    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    expected, previous = [], 0
    for row in reader:
        expected.append((previous + 1, max(len(row), 1)))
        previous = reader.line_num
    records = scan_records(data)
    assert records is not None and records.starts.size  # the vectorised path, not the fallback
    assert list(zip(records.lines.tolist(), records.fields.tolist())) == expected


def test_bad_bytes_are_found_the_same_chunk_by_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    data = "Hôpital Haut-Lévêque, µmol/L, Vandœuvre".encode() + b"\xe9\xff" + "é".encode() + b"\xc3"
    whole = native_reader.decode_utf8(data)[1]
    assert [data[a:b] for a, b in whole] == [b"\xe9", b"\xff", b"\xc3"]
    for chunk in (4, 5, 7):  # chunk edges fall inside multi-byte characters
        monkeypatch.setattr(native_reader, "_CHUNK", chunk)
        assert native_reader.bad_utf8(data) == whole
