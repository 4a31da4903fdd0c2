"""`trialbridge read`: real EDC exports end to end through the CLI; bad files exit 2 and write nothing."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from trialbridge.converters.cli import main
from trialbridge.converters.raw_output import file_names

EDC = Path(__file__).parent / "fixtures" / "edc"
SOURCES = ["redcap/simple.xml", "redcap/longitudinal.xml", "redcap/repeating-instruments.xml",
           "openclinica/extract-2014-01-31.xml", "redcap-flat/dag-write/data.csv", "redcap-flat/checkboxes-1/data.csv",
           "redcap-flat/longitudinal-with-repeating-instrument/data.csv"]


@pytest.mark.parametrize("name", SOURCES)
def test_real_exports_are_written_with_their_counts(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    assert main(["read", str(EDC / name), "--out", str(out)]) == 0
    report = json.loads((out / "counts.json").read_text(encoding="utf-8"))
    assert report["datasets"] and report["accounting"]
    for dataset in report["datasets"]:
        assert dataset["values_read"] == dataset["values_written"] > 0
        with (out / dataset["file"]).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        assert len(rows) - 1 == dataset["rows"] and len(rows[0]) == dataset["columns"]
        assert rows[0][-2:] == ["_file", "_line"]
        # the CSV holds every value: non-empty cells outside _file/_line equal the reader's count
        assert sum(1 for row in rows[1:] for cell in row[:-2] if cell != "") == dataset["values_read"]


def test_output_is_byte_identical_on_a_second_run(tmp_path: Path) -> None:
    source = str(EDC / "redcap" / "longitudinal.xml")
    assert main(["read", source, "--out", str(tmp_path / "a")]) == 0
    assert main(["read", source, "--out", str(tmp_path / "b")]) == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


XXE = ('<?xml version="1.0"?>\n<!DOCTYPE ODM [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
       '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><ClinicalData StudyOID="S"><SubjectData SubjectKey="&xxe;"/>'
       '</ClinicalData></ODM>\n')


@pytest.mark.parametrize(("name", "text", "rule"), [
    ("xxe.xml", XXE, "XML-UNSAFE"),
    ("cut.xml", (EDC / "redcap" / "simple.xml").read_text(encoding="utf-8")[:4000], "XML-SYNTAX"),
    ("odm2.xml", '<ODM xmlns="http://www.cdisc.org/ns/odm/v2.0" ODMVersion="2.0"><ClinicalData/></ODM>', "ODM-VERSION"),
    ("define.xml", '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:def="http://www.cdisc.org/ns/def/v2.1"/>',
     "READ-KIND"),
    ("data.sas7bdat", "binary", "READ-KIND"),
    ("lonely.csv", "record_id,x\n1,2\n", "REDCAP-DICTIONARY-MISSING"),
    ("dictionary.csv", (EDC / "redcap-flat" / "dag-write" / "dictionary.csv").read_text(encoding="utf-8"), "READ-KIND"),
])
def test_bad_inputs_exit_2_and_write_nothing(tmp_path: Path, capsys, name: str, text: str, rule: str) -> None:
    (tmp_path / "in").mkdir()
    source = tmp_path / "in" / name
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["read", str(source), "--out", str(out), "--format", "json"]) == 2
    assert not out.exists()
    found = json.loads(capsys.readouterr().out)["findings"]
    assert [f["rule"] for f in found if f["severity"] == "error"] == [rule]
    assert found[0]["location"].startswith(name)


def test_missing_file_and_metadata_only_odm(tmp_path: Path) -> None:
    assert main(["read", str(tmp_path / "nothing.xml"), "--out", str(tmp_path / "o")]) == 2
    assert main(["read", str(EDC / "odmlib" / "cdash-odm-test.xml"), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_dataset_file_names_are_safe_and_unique() -> None:
    assert file_names(["CONCOMITANT MEDICATIONS", "a/b", "A_B", "..", "ae 2"]) == {
        "CONCOMITANT MEDICATIONS": "CONCOMITANT_MEDICATIONS.csv", "a/b": "a_b.csv", "A_B": "A_B_2.csv",
        "..": "dataset.csv", "ae 2": "ae_2.csv"}


@pytest.mark.parametrize(("name", "code"), [("openclinica/extract-2014-01-31.xml", 0), ("redcap/longitudinal.xml", 0),
                                            ("redcap-flat/checkboxes-1/data.csv", 0), ("odmlib/cdash-odm-test.xml", 0)])
def test_validate_reads_edc_exports_with_their_reader(name: str, code: int, capsys) -> None:
    assert main(["validate", str(EDC / name), "--format", "json"]) == code
    found = json.loads(capsys.readouterr().out)["findings"]
    assert ("VALIDATE-KIND", ["EDC export"]) in [(f["rule"], f["values"]) for f in found]
    assert not [f for f in found if f["rule"].startswith("DEFINE-")]


def test_validate_refuses_an_odm_payload(tmp_path: Path) -> None:
    (tmp_path / "odm.xml").write_text(XXE, encoding="utf-8")
    assert main(["validate", str(tmp_path / "odm.xml")]) == 2
