"""`validate PATH` takes whatever it is given and says what it took it for: native folder (same verdict
as convert), SDTM package (any .xpt case, any text encoding, ADaM read with exact values), a single XPT,
define.xml 2.0 and 2.1 by their own schemas, FHIR bundles and NDJSON (R4/R5), a convert output."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import write_native_folder
from damaged_package import SUBJECTS, write_damaged_package
from trialbridge.converters import pipeline
from trialbridge.converters.package_reader import read_package
from trialbridge.converters.validate import validate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "standards"
MSG = SHARED / "examples" / "sdtm-msg-v2.0"
FIXTURES = Path(__file__).parent / "fixtures"


def kind(result) -> str:
    return next(f.values[0] for f in result.findings if f.rule == "VALIDATE-KIND")


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_damaged_package(tmp_path_factory.mktemp("any") / "package")


def test_a_package_is_read_whatever_the_case_and_encoding_with_adam_values_exact(damaged):
    package = read_package(damaged)
    assert sorted(package.sdtm) == ["DM", "LB", "SUPPAE", "TS"] and sorted(package.adam) == ["ADSL"]
    assert package.sdtm["TS"].table["TSVAL"].tolist() == ["Etude café au lait"]  # Windows-1252 decoded
    assert package.sdtm["TS"].encoding == "WINDOWS-1252" and package.sdtm["DM"].encoding == "UTF-8"
    adsl = package.adam["ADSL"].table
    assert adsl["TRTSDT"].tolist()[:2] == [18995.0, 18996.0]  # DATE9.: the SAS day count, not a failure
    assert adsl["TRTSTM"].tolist()[0] == 3600.0 and adsl["TRTSDTM"].tolist()[0] == 1.64e9
    assert adsl["USUBJID"].tolist() == SUBJECTS
    result = validate(damaged)
    assert kind(result) == "SDTM package"
    assert {"PACKAGE-XPT-ENCODING", "PACKAGE-XPT-CASE", "ADAM-NOT-CHECKED"} <= rules(result)
    assert "PACKAGE-XPT-UNREADABLE" not in rules(result)
    assert "read 5 of 5 XPT file(s)" in result.summary


def test_one_xpt_file(damaged):
    result = validate(damaged / "LB.XPT")
    assert kind(result) == "SDTM package" and result.exit_code == 1
    assert "LB (50)" in result.summary and "DM" not in result.summary.split("SDTM:")[1]


def test_a_damaged_file_is_a_finding_and_the_others_are_still_checked(damaged, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(damaged, folder)
    (folder / "dm.xpt").write_bytes((folder / "dm.xpt").read_bytes()[:500])
    result = validate(folder)
    assert "PACKAGE-XPT-UNREADABLE" in rules(result) and "read 4 of 5 XPT file(s)" in result.summary
    assert "unreadable: dm.xpt" in result.summary


def test_a_native_folder_gets_the_verdict_convert_gives(tmp_path):
    native = write_native_folder(tmp_path / "native")
    converted = pipeline.convert(native.path, tmp_path / "out")
    checked = validate(native.path)
    assert kind(checked) == "native record folder" and checked.exit_code == converted.exit_code
    assert {f.rule for f in checked.findings} - {"VALIDATE-KIND"} == {f.rule for f in converted.findings}
    native.set_cell("dosing", 2, "EXSTDAT", "2012-02-30")  # bad input: convert rejects it, so does validate
    assert validate(native.path).exit_code == 2 == pipeline.convert(native.path, tmp_path / "o2").exit_code


def test_a_convert_output_is_checked_whole_fhir_included(tmp_path):
    native = write_native_folder(tmp_path / "native")
    pipeline.convert(native.path, tmp_path / "out", fhir_releases=("R4",))
    bundle_path = tmp_path / "out" / "fhir" / "R4" / "bundles.ndjson"  # one Bundle per line
    assert kind(validate(tmp_path / "out")) == "convert output"
    bundles = [json.loads(line) for line in bundle_path.read_text().splitlines()]
    patient = next(e["resource"] for b in bundles for e in b["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["gender"] = "banana"
    bundle_path.write_text("".join(json.dumps(b) + "\n" for b in bundles))
    result = validate(tmp_path / "out")
    assert result.exit_code == 1 and any(f.rule.startswith("FHIR-") and "banana" in " ".join(f.values) + f.message
                                         for f in result.findings if f.severity == "error")


def test_fhir_bundles_and_ndjson_are_validated_alone(tmp_path):
    native = write_native_folder(tmp_path / "native")
    pipeline.convert(native.path, tmp_path / "out", fhir_releases=("R4", "R5"))
    for release in ("R4", "R5"):
        bundle = tmp_path / "out" / "fhir" / release / "bundles.ndjson"
        copy = tmp_path / f"{release}-bundles.ndjson"
        shutil.copy(bundle, copy)  # outside its fhir/R4 folder: the release is detected
        result = validate(copy)
        assert kind(result) == f"FHIR resources ({release})" and result.exit_code == 0, [
            (f.rule, f.location, f.message) for f in result.findings if f.severity == "error"][:3]
    ndjson = validate(tmp_path / "out" / "fhir" / "R5" / "ndjson")
    assert kind(ndjson) == "FHIR resources (R5)" and ndjson.exit_code == 0


def test_nothing_to_validate_is_exit_2(tmp_path):
    assert validate(tmp_path / "missing").exit_code == 2
    (tmp_path / "notes.txt").write_text("hello")
    assert validate(tmp_path / "notes.txt").exit_code == 2
    assert validate(tmp_path).exit_code == 2


@pytest.mark.skipif(not MSG.is_dir(), reason="the CDISC SDTM-MSG sample is not in ../shared")
def test_the_cdisc_sample_package_with_its_declared_standard(tmp_path):
    result = validate(MSG, sdtmig="3.2", report=tmp_path / "r")
    assert kind(result) == "SDTM package" and "read 27 of 27 XPT file(s)" in result.summary
    unavailable = [f for f in result.findings if f.rule == "STANDARD-UNAVAILABLE"]
    assert [f.values for f in unavailable] == [("3.2",)] and "checked against SDTMIG 3.4" in unavailable[0].message
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    records = {d["dataset"]: d["records"] for d in doc["datasets"]}
    assert (records["LB"], records["EC"], records["TS"]) == (3488, 1590, 51)


@pytest.mark.skipif(not (SHARED / "define-xml-2.0").is_dir(), reason="Define-XML 2.0 examples not in ../shared")
def test_define_20_is_checked_against_the_20_schema(tmp_path):
    example = SHARED / "define-xml-2.0" / "examples" / "define.cdisc.sdtm.xml"
    result = validate(example)
    assert kind(result) == "define.xml" and "DEFINE-XSD" not in rules(result)
    version = [f for f in result.findings if f.rule == "DEFINE-VERSION"]
    assert version and version[0].values == ("2.0",)
    assert "DEFINE-XSD-VERSION" not in rules(result)  # the official example is valid against its schema
    broken = tmp_path / "define.xml"
    broken.write_text(example.read_text(encoding="utf-8").replace('Repeating="No"', 'Repeating="Maybe"', 1),
                      encoding="utf-8")
    found = [f for f in validate(broken).findings if f.rule == "DEFINE-XSD-VERSION"]
    assert found and "Maybe" in found[0].message
