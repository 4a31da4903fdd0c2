"""`validate` on SDTM and ADaM transport files others made (tests/fixtures/thirdparty/, origin in its README):
the PHUSE CDISC pilot CDISCPILOT01 (SDTMIG 3.1.2: split LB, SUPPLBCH, a Windows-1252 byte in TS, ADaM ADSL
with DATE9.), its ADTTE as xport-js ships it, SAS's own Alfalfa sample, a version 8 ADSL with a long name and
label; and CDISC's SDTM-MSG v2.0 package from ../shared. Every file read with its exact rows and text (against
pyreadstat and pandas' own XPORT reader), and the findings a reviewer expects, not a flood."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from trialbridge.converters.package_reader import read_package
from trialbridge.converters.validate import validate

FIXTURES = Path(__file__).parent / "fixtures" / "thirdparty"
PILOT = FIXTURES / "cdiscpilot01"
MSG = Path(__file__).resolve().parents[2] / "shared" / "standards" / "examples" / "sdtm-msg-v2.0"
ALZHEIMER = "Patients with Probable Mild to Moderate Alzheimer\u2019s Disease"


def rules(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in result.findings:
        out.setdefault(f.rule, []).append(f)
    return out


@pytest.mark.parametrize("folder", ["cdiscpilot01", "xport-js", "adam-v8"])
def test_every_file_is_read_with_the_rows_and_text_an_independent_reader_gives(folder):
    package = read_package(FIXTURES / folder)
    assert not package.unreadable
    for name, read in {**package.sdtm, **package.adam}.items():
        encoding = {"UTF-8": None, "WINDOWS-1252": "cp1252"}[read.encoding]
        if read.version == 5:  # pandas' XPORT reader is pure Python and reads version 5 only
            theirs = pd.read_sas(read.path, format="xport", encoding=encoding or "utf-8")
            assert len(theirs) == len(read.table) == read.meta.rows, name
        other, _ = pyreadstat.read_xport(str(read.path), encoding=read.encoding, disable_datetime_conversion=True)
        assert list(other.columns) == list(read.table.columns)
        for column in other.columns:
            if read.meta.column(column).is_char:
                assert read.table[column].tolist() == other[column].fillna("").tolist(), (name, column)
                if read.version == 5:
                    assert read.table[column].str.rstrip().tolist() == theirs[column].fillna("").str.rstrip().tolist()
            else:
                pd.testing.assert_series_equal(read.table[column], other[column].astype("float64"), check_names=False)


def test_the_cdisc_pilot_package():
    result = validate(PILOT)
    assert result.exit_code == 1
    assert "read 8 of 8 XPT file(s)" in result.summary
    said = " ".join(result.summary.split())  # the summary wraps at 80 columns
    assert "SDTM: AE (8), DM (3), LBCH (414), SUPPAE (8), SUPPLBCH (468), TS (48), VS (379)" in said
    listing = [line for line in result.summary.splitlines() if line.startswith(("  SDTM:", "  ADaM", "    "))]
    assert listing and all(len(line) <= 80 for line in listing)
    assert "ADaM (read, not checked against SDTMIG): ADSL (3)" in result.summary
    package = read_package(PILOT)
    ts = package.sdtm["TS"]
    assert ts.encoding == "WINDOWS-1252" and ts.table["TSVAL"].tolist()[7] == ALZHEIMER  # byte 0x92, decoded
    assert package.sdtm["DM"].table["USUBJID"].tolist() == ["01-701-1015", "01-701-1023", "01-701-1028"]
    adsl = package.adam["ADSL"]
    assert adsl.meta.column("TRTSDT").type == "Num" and adsl.table["TRTSDT"].tolist()[0] == 19725.0  # 2014-01-02
    found = rules(result)
    # the reviewer's findings: the cp1252 text (not ASCII, as v5 for the FDA needs), read all the same
    assert found["PACKAGE-XPT-ENCODING"][0].values == ("WINDOWS-1252",)
    assert {f.row for f in found["SD-XPT-ASCII"]} == {8, 28}
    assert {f.rule for f in result.findings if f.severity == "error"} == {"SD-XPT-ASCII"}
    # the split LBCH is LB, and its SUPPLBCH finds its parent records: no SUPP-- finding, no undeclared dataset
    assert not {"SD-SUPP-PARENT", "SD-DATASET-DECLARED", "PACKAGE-DATASET-NOT-SDTMIG"} & set(found)
    assert len(result.findings) < 40


def test_a_missing_parent_gives_a_handful_of_findings(tmp_path):
    shutil.copytree(PILOT, tmp_path / "p")
    (tmp_path / "p" / "lbch.xpt").unlink()
    (tmp_path / "p" / "ae.xpt").unlink()
    result = validate(tmp_path / "p")
    parents = rules(result)["SD-SUPP-PARENT"]
    assert len(parents) == 2 and sum(f.count for f in parents) == 8 + 468


def test_v8_long_names_labels_and_dates_are_read_and_said():
    result = validate(FIXTURES / "adam-v8" / "adsl.xpt")
    assert result.exit_code == 0 and "ADaM (read, not checked against SDTMIG): ADSL (3)" in result.summary
    assert [f.values for f in rules(result)["PACKAGE-XPT-VERSION"]] == [("v8",)]
    read = read_package(FIXTURES / "adam-v8").adam["ADSL"]
    column = read.meta.column("TRTSDT_FIRST_EXPOSURE")
    assert column.label == "Date of First Exposure to Treatment (as the exposure CRF collected it)"
    assert read.table["TRTSDT_FIRST_EXPOSURE"].tolist()[0] == 19725.0


def test_other_peoples_files_names_and_members():
    result = validate(FIXTURES / "xport-js")
    found = rules(result)
    assert result.exit_code == 0 and "ADaM (read, not checked against SDTMIG): ADTTE (254)" in result.summary
    assert found["PACKAGE-XPT-MEMBER"][0].values == ("SPEC",)  # Alfalfa.xpt holds SAS's SPEC dataset
    assert found["PACKAGE-XPT-CASE"][0].values == ("Alfalfa.xpt",)
    assert found["PACKAGE-DATASET-NOT-SDTMIG"][0].values == ("ALFALFA",)  # not an SDTMIG domain: a warning
    adtte = read_package(FIXTURES / "xport-js").adam["ADTTE"].table
    assert adtte["EVNTDESC"].tolist()[0] == "Dematologic Event Occured"  # as the pilot spelled it
    assert adtte["TRTSDT"].tolist()[0] == 19725.0 and adtte["USUBJID"].tolist()[-1] == "01-718-1427"


def test_latin1_bytes_that_windows_1252_does_not_define_are_read_as_latin1(tmp_path):
    shutil.copy(PILOT / "dm.xpt", tmp_path / "dm.xpt")
    raw = (tmp_path / "dm.xpt").read_bytes()
    (tmp_path / "dm.xpt").write_bytes(raw.replace(b"Placebo", b"Plac\x81bo", 1))  # 0x81: no cp1252 character
    read = read_package(tmp_path).sdtm["DM"]
    assert read.encoding == "LATIN1" and read.table["ARM"].tolist()[0] == "Plac\x81bo"


@pytest.mark.skipif(not MSG.is_dir(), reason="the CDISC SDTM-MSG v2.0 sample is not in ../shared")
def test_the_cdisc_msg_package_gets_the_findings_of_its_own_defects_not_a_flood(tmp_path):
    result = validate(MSG, report=tmp_path / "r")
    found = rules(result)
    assert "read 27 of 27 XPT file(s)" in result.summary
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert {d["dataset"]: d["records"] for d in doc["datasets"]}["LB"] == 3488
    # the known defects of the sample: the STDTMIG typo, ft.xpt not in the snapshot, AEDECOD empty (no MedDRA)
    assert "STDTMIG" in found["DEFINE-XSD"][0].message
    assert [f.values for f in found["DEFINE-XPT-MISSING"]] == [("ft.xpt",)]
    assert "SD-REQ-NULL" in found
    # DI is SDTMIG-MD's, said as such (a warning); split/lb*.xpt are parts of lb.xpt, which define.xml describes
    assert [f.values for f in found["PACKAGE-DATASET-NOT-SDTMIG"]] == [("DI",)]
    assert "DEFINE-DATASET-NOT-IN-DEFINE" not in found
    # '.09' is a float (xs:double), CMDOSE 0.625 and 500 are 4 and 3 digits wide (Length 5), "3.3" 2 digits
    assert not any("'.09'" in f.message for f in found.get("DEFINE-TYPE", []))
    assert not any(f.location.startswith(("cm:CMDOSE", "ts:TSVAL:TSPARMCD IN SDTIGVER"))
                   for f in found.get("DEFINE-LENGTH", []))
    assert sum(f.severity == "error" for f in result.findings) < 30
