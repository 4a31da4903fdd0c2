"""The bad-input corpus: altered copies of examples/revallo (built in tmp folders), each answered precisely.

Every case (`tests/bad_input_cases.py`, 60+ of them: files, CSV structure, values, text the SDTM
package cannot hold, size limits) must give its exact exit code and an error finding with its rule,
its exact location (file:line:column, dataset:variable:record or JSON path) and the offending value
in the message or values; no traceback; and nothing may be left beside the input: no output
folder, no `.partial` folder, no lock. Then the odd-but-legal cases: converted, reported, whole.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from bad_input_cases import CASES, A, L, Case, ident, registry, set_cell
from trialbridge.converters import pipeline
from trialbridge.converters.xpt.files import read_xpt

EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"


def altered(tmp_path: Path, case: Case) -> Path:
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLE, folder)
    case.mutate(folder)
    return folder


def test_the_corpus_has_at_least_60_distinct_cases():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_bad_input_is_refused_precisely_and_leaves_nothing(tmp_path, case):
    folder = altered(tmp_path, case)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    result = pipeline.convert(folder, tmp_path / "out", fhir_releases=())
    assert result.exit_code == case.exit_code
    matching = [f for f in result.findings if f.rule == case.rule and f.location == case.location]
    assert matching, [(f.rule, f.location) for f in result.findings if f.severity == "error"][:10]
    assert matching[0].severity == "error"
    assert any(case.text in f.message or case.text in f.values for f in matching), matching[0].message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]            # no output, no partial, no lock
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before   # the input untouched


@pytest.mark.parametrize("out, rule", [
    (lambda tmp, src: src, "OUT-OVERLAPS-INPUT"),
    (lambda tmp, src: src / "out", "OUT-OVERLAPS-INPUT"),
    (lambda tmp, src: tmp, "OUT-OVERLAPS-INPUT"),
    (lambda tmp, src: src / "registry.json", "OUT-OVERLAPS-INPUT"),
])
def test_an_out_folder_that_overlaps_the_input_is_refused_and_nothing_is_deleted(tmp_path, out, rule):
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLE, folder)
    target = out(tmp_path, folder)
    result = pipeline.convert(folder, target, fhir_releases=(), force=True)
    assert result.exit_code == 2 and [f.rule for f in result.findings] == [rule]
    assert result.findings[0].location == str(target)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in EXAMPLE.iterdir())


def test_a_greek_letter_in_the_registry_title_is_spelled_out_in_ts(tmp_path):
    case = Case("beta", registry(ident({"officialTitle": "Lenalidomide and β2-microglobulin after Allo-SCT"})),
                0, "", "", "")
    folder = altered(tmp_path, case)
    result = pipeline.convert(folder, tmp_path / "out", fhir_releases=())
    assert result.exit_code in (0, 1)
    ts, _ = read_xpt(tmp_path / "out" / "sdtm" / "ts.xpt")
    assert "Lenalidomide and beta2-microglobulin after Allo-SCT" in set(ts["TSVAL"])
    assert any(f.rule == "XPT-ASCII-REPLACED" and f.location.startswith("ts:TSVAL") for f in result.findings)


def test_windows_line_ends_and_a_byte_order_mark_are_read_as_the_same_records(tmp_path):
    case = Case("crlf-bom", lambda f: (f / "dosing.csv").write_bytes(
        b"\xef\xbb\xbf" + (f / "dosing.csv").read_bytes().replace(b"\n", b"\r\n")), 0, "", "", "")
    folder = altered(tmp_path, case)
    result = pipeline.convert(folder, tmp_path / "out", fhir_releases=())
    assert result.exit_code in (0, 1)
    report = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert report["reconciliation"]["dosing.csv"]["written"] == 26


def test_lines_ended_by_a_lone_cr_are_read_as_the_same_records(tmp_path):
    """Classic-Mac line ends in a file longer than the field limit: the limits check read the whole file as one
    over-long line and crashed on its CRs (exit 3); the records must be read as with LF."""
    case = Case("cr", lambda f: (f / A).write_bytes((f / A).read_bytes().replace(b"\n", b"\r")), 0, "", "", "")
    folder = altered(tmp_path, case)
    result = pipeline.convert(folder, tmp_path / "out", fhir_releases=())
    assert result.exit_code in (0, 1), [f.message for f in result.findings if f.severity == "error"][:3]
    report = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert report["reconciliation"]["adverse_events.csv"]["written"] == 56


def test_a_40_digit_lab_result_is_a_float_in_fhir_not_a_crash(tmp_path):
    """An integral result beyond 64 bits went into FHIR as a Python int the JSON writer cannot hold: exit 3
    after the SDTM side had passed. Beyond 2**53 it is written as the float it is."""
    folder = altered(tmp_path, Case("big", set_cell(L, 2, "LBRES", "1" * 40), 0, "", "", ""))
    result = pipeline.convert(folder, tmp_path / "out", fhir_releases=("R4",))
    assert result.exit_code in (0, 1), [f.message for f in result.findings if f.severity == "error"][:3]
    bundles = (tmp_path / "out" / "fhir" / "R4" / "bundles.ndjson").read_text(encoding="utf-8")
    values = [e["resource"]["valueQuantity"]["value"] for line in bundles.splitlines()
              for e in json.loads(line)["entry"] if "valueQuantity" in e["resource"]]
    assert max(values) == pytest.approx(float("1" * 41))      # g/dL to the standard g/L: x 10
    assert all(abs(v) < 2 ** 53 or isinstance(v, float) for v in values)


def test_with_the_placeholder_opt_in_the_emoji_case_converts_and_reports(tmp_path):
    case = Case("emoji", set_cell(A, 2, "AETERM", "Fièvre 🤒 発熱"), 0, "", "", "")
    folder = altered(tmp_path, case)
    result = pipeline.convert(folder, tmp_path / "out", fhir_releases=(), ascii_placeholder=True)
    assert result.exit_code in (0, 1)
    ae, _ = read_xpt(tmp_path / "out" / "sdtm" / "ae.xpt")
    assert "Fievre [U+1F912] [U+767A][U+71B1]" in set(ae["AETERM"])


@pytest.mark.parametrize("mutate, rule, location, source", [
    (set_cell("dosing.csv", 2, "DOSE", "0"), "CLIN-DOSE-LEVEL", "ex:EXDOSE:", "dosing.csv:2"),   # 0 mg under 5/10/15
    (set_cell("adverse_events.csv", 2, "AESTDAT", "2011-09-01"), "CLIN-BEFORE-CONSENT", "ae:AESTDTC:",
     "adverse_events.csv:2"),                                                                   # before consent
    (set_cell("enrolment.csv", 2, "BRTHDAT", "2099-01-01"), "CLIN-BORN-AFTER", "dm:BRTHDTC:", "enrolment.csv:2"),
], ids=["dose-0", "ae-before-consent", "born-after-consent"])
def test_odd_but_legal_data_converts_with_a_clinical_warning_naming_the_record(tmp_path, mutate, rule, location,
                                                                                source):
    folder = altered(tmp_path, Case("odd", mutate, 0, "", "", ""))
    result = pipeline.convert(folder, tmp_path / "out", fhir_releases=())
    assert result.exit_code in (0, 1)
    hits = [f for f in result.findings if f.rule == rule]
    assert len(hits) == 1 and hits[0].location.startswith(location) and source in hits[0].message
    assert hits[0].severity == "warning"
    report = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert report["counts"]["by_rule"][rule] == 1


@pytest.mark.parametrize("example, name", [("edc-extract", "ae_raw.csv"), ("sdtm-oak-vs", "vitals_raw_data.csv")])
def test_a_raw_csv_cut_short_is_refused_not_padded(tmp_path, example, name):
    """A raw export cut mid-record (an interrupted download): pandas padded the last row with empty values and the
    conversion went on (exit 0) without the end of that record. It is now refused, naming the line."""
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLE.parent / example, folder)
    data = (folder / name).read_bytes()
    cut = data.rindex(b",", 0, len(data) * 2 // 3)          # inside a record, after a field separator
    (folder / name).write_bytes(data[:cut])
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    line = data[:cut].count(b"\n") + 1
    result = pipeline.convert(folder, tmp_path / "out", fhir_releases=())
    assert result.exit_code == 2
    errors = [f for f in result.findings if f.rule == "SOURCE-UNREADABLE"]
    assert [f.location for f in errors] == [name] and f"line {line} has " in errors[0].message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_a_header_only_dm_source_gives_findings_not_a_crash_in_the_fhir_stage(tmp_path):
    """No DM subject at all while AE has records: the FHIR stage's block split indexed an empty array (exit 3)."""
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLE.parent / "edc-extract", folder)
    (folder / "dm_raw.csv").write_bytes((folder / "dm_raw.csv").read_bytes().split(b"\n")[0] + b"\n")
    result = pipeline.convert(folder, tmp_path / "out", fhir_releases=("R4",))
    assert result.exit_code == 1
    assert any(f.rule == "SD-USUBJID-DM" and f.location.startswith("ae:USUBJID") for f in result.findings)
    assert (tmp_path / "out" / "fhir" / "R4" / "bundles.ndjson").is_file()


def test_an_out_name_too_long_for_the_system_is_refused_not_a_crash(tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLE, folder)
    result = pipeline.convert(folder, tmp_path / ("x" * 300), fhir_releases=())
    assert result.exit_code == 2 and [f.rule for f in result.findings] == ["OUT-UNWRITABLE"]
    assert "File name too long" in result.findings[0].message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes: POSIX")
def test_a_fifo_given_as_waivers_or_to_validate_is_refused_without_waiting(tmp_path):
    """`--waivers` naming a FIFO waited for ever for a writer (the run hung); `validate FIFO` crashed (exit 3)."""
    from trialbridge.converters.readers.waivers import read_waivers
    from trialbridge.converters.validate import validate

    fifo = tmp_path / "waivers.csv"
    os.mkfifo(fifo)
    waivers, problems = read_waivers(fifo)
    assert waivers == [] and [f.rule for f in problems] == ["WAIVER-FILE"]
    assert "not a regular file" in problems[0].message
    result = validate(fifo)
    assert result.exit_code == 2 and [f.rule for f in result.findings][0] == "VALIDATE-PATH"
    assert "not a regular file nor a folder" in result.findings[0].message


@pytest.mark.skipif(sys.platform != "linux", reason="names of arbitrary bytes: Linux file systems")
@pytest.mark.parametrize("bad", ["input", "out"])
def test_a_path_that_is_not_utf8_text_is_refused_before_anything_is_written(tmp_path, bad):
    """A folder named in Latin-1 (byte 0xFF): the JSON and XML writers crashed on its lone surrogate (exit 3)."""
    odd = os.fsdecode(b"\xe9tude\xff")
    folder = tmp_path / (odd if bad == "input" else "in")
    shutil.copytree(EXAMPLE, folder)
    out = tmp_path / (odd + "-out" if bad == "out" else "out")
    result = pipeline.convert(folder, out, fhir_releases=())
    assert result.exit_code == 2 and [f.rule for f in result.findings] == ["PATH-NOT-UTF8"]
    assert "byte 0xE9" in result.findings[0].message
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_synth_beyond_its_subject_limit_is_a_usage_error_not_an_internal_one(tmp_path, capsys):
    from trialbridge.converters.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["synth", "--subjects", "99999999999", "--seed", "1", "--out", str(tmp_path / "s")])
    assert stopped.value.code == 2 and "at most 999,999" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_creation_stamp_in_year_9999_still_writes_the_workbook(tmp_path):
    """`--created 9999-12-31T23:59:59`: the xlsx zip entries cannot date past 2107 (struct.error, exit 3)."""
    from datetime import datetime

    result = pipeline.convert(EXAMPLE, tmp_path / "out", fhir_releases=(), created=datetime(9999, 12, 31, 23, 59, 59))
    assert result.exit_code in (0, 1) and (tmp_path / "out" / "report.xlsx").stat().st_size > 0
    assert '"created": "9999-12-31T23:59:59"' in (tmp_path / "out" / "findings.json").read_text(encoding="utf-8")
