"""`validate` on define.xml and Dataset-JSON files others made: the CDISC pilot's own Define-XML 1.0 (ODM 1.2,
SDTMIG 3.1.2; trimmed to AE, tests/fixtures/thirdparty/define-1.0) beside the pilot's AE, the official
Define-XML 2.0 examples from ../shared, and CDISC's Dataset-JSON 1.1 examples. Each define is judged by its own
version's rules: 1.0 by the data cross-checks with its def:Label labels and its date types, 2.0 by its own schema."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyreadstat
import pytest

from trialbridge.converters.validate import validate

FIXTURES = Path(__file__).parent / "fixtures" / "thirdparty"
DEFINE_10 = FIXTURES / "define-1.0"
SHARED_20 = Path(__file__).resolve().parents[2] / "shared" / "standards" / "define-xml-2.0" / "examples"


def rules(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in result.findings:
        out.setdefault(f.rule, []).append(f)
    return out


def test_a_define_10_package_is_cross_checked_with_its_data_by_the_10_rules():
    result = validate(DEFINE_10)
    found = rules(result)
    assert "read 1 of 1 XPT file(s)" in result.summary and "AE (8)" in result.summary
    assert "checked define.xml (Define-XML 1.0)" in result.summary
    assert [f.values for f in found["DEFINE-VERSION"]] == [("1.0",)]
    assert [f.values for f in found["DEFINE-SCHEMA-UNAVAILABLE"]] == [("1.0",)]
    assert [f.values for f in found["DEFINE-XPT-MISSING"]] == [("blankcrf.pdf",)]  # the aCRF is not in the package
    # the 2012 define describes 35 variables; the data has two more (EPOCH, AEDY: the pilot's later update)
    missing = {v for f in found.get("DEFINE-VARIABLE-NOT-IN-DEFINE", []) for v in f.values}
    assert missing == {"EPOCH", "AEDY"}, sorted(found)
    # def:Label is read as the label: the labels agree, as they do in the pilot
    assert "DEFINE-LABEL" not in found
    # the fixture's XPT was re-exported with each text as wide as its longest value; the 2012 define says 200
    assert ("200", "36") in {f.values for f in found["DEFINE-LENGTH"] if f.location == "ae:AETERM"}
    # AESTDTC is "date" in 1.0 (no partialDate type then): not a DEFINE-TYPE error
    assert not any("AESTDTC" in f.location or "AEENDTC" in f.location for f in found.get("DEFINE-TYPE", []))


def test_a_define_10_alone_is_read_and_its_missing_data_said(tmp_path):
    shutil.copy(DEFINE_10 / "define.xml", tmp_path / "define.xml")
    result = validate(tmp_path / "define.xml")
    found = rules(result)
    assert found["VALIDATE-KIND"][0].values == ("define.xml",) and result.exit_code == 1
    assert sorted(v for f in found["DEFINE-XPT-MISSING"] for v in f.values) == ["ae.xpt", "blankcrf.pdf"]


def test_a_partial_date_in_a_10_date_variable_is_not_a_type_error_but_a_number_in_text_is(tmp_path):
    table, meta = pyreadstat.read_xport(str(DEFINE_10 / "ae.xpt"))
    table.loc[0, "AESTDTC"] = "2014-01"  # partial: 1.0 had no partialDate type, "date" held it
    table.loc[0, "AETERM"] = "A" * 201  # longer than the define's 200
    pyreadstat.write_xport(table, str(tmp_path / "ae.xpt"), table_name="AE", file_label=meta.file_label,
                           column_labels=meta.column_labels)
    shutil.copy(DEFINE_10 / "define.xml", tmp_path / "define.xml")
    found = rules(validate(tmp_path))
    assert not any(f.location.startswith("ae:AESTDTC") for f in found.get("DEFINE-TYPE", []))
    assert any(f.location == "ae:AETERM" and f.values == ("200", "201") for f in found["DEFINE-LENGTH"])


@pytest.mark.skipif(not SHARED_20.is_dir(), reason="the Define-XML 2.0 examples are not in ../shared")
@pytest.mark.parametrize("name", ["define.cdisc.sdtm.xml", "define.cdisc.adam.xml",
                                  "define2-0-0-example-sdtm-2013-11-09.xml"])
def test_official_define_20_examples_pass_their_own_schema(name):
    result = validate(SHARED_20 / name)
    found = rules(result)
    assert [f.values for f in found["DEFINE-VERSION"]] == [("2.0",)]
    assert "DEFINE-XSD-VERSION" not in found and "DEFINE-XSD" not in found


def test_cdisc_dataset_json_examples_are_dataset_json_not_fhir():
    folder = FIXTURES / "dataset-json"
    result = validate(folder)
    found = rules(result)
    assert found["VALIDATE-KIND"][0].values == ("Dataset-JSON",) and result.exit_code == 0
    dm = json.loads((folder / "dm.json").read_text(encoding="utf-8"))
    ae_lines = (folder / "ae.ndjson").read_text(encoding="utf-8").splitlines()
    assert f"DM, {len(dm['rows'])} row(s), {len(dm['columns'])} column(s)" in result.summary  # 18 rows, 26 columns
    assert f"AE, {len(ae_lines) - 1} row(s)" in result.summary and len(ae_lines) - 1 == 74
    assert not any(rule.startswith("FHIR-") for rule in found)
    one = validate(folder / "dm.json")  # blank dates are "" in CDISC's own examples: no error
    assert rules(one)["VALIDATE-KIND"][0].values == ("Dataset-JSON",) and one.exit_code == 0


def test_an_upper_case_file_is_the_dataset_its_lower_case_leaf_names(tmp_path):
    shutil.copy(DEFINE_10 / "define.xml", tmp_path / "define.xml")
    shutil.copy(DEFINE_10 / "ae.xpt", tmp_path / "AE.XPT")  # made on Windows: define.xml says ae.xpt
    found = rules(validate(tmp_path))
    assert [f.values for f in found["PACKAGE-XPT-CASE"]] == [("AE.XPT",)]
    assert [f.values for f in found["DEFINE-XPT-MISSING"]] == [("blankcrf.pdf",)]  # ae.xpt is AE.XPT
    assert "DEFINE-DATASET-NOT-IN-DEFINE" not in found
    assert {v for f in found["DEFINE-VARIABLE-NOT-IN-DEFINE"] for v in f.values} == {"EPOCH", "AEDY"}  # checked
