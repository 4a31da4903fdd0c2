"""sdtm.oak's CM example, run from sdtm.oak's own spec CSV and study CT as they are (examples/sdtm-oak-cm, with
a small supplementary mappings.csv for what the vignette derives in R code): every CM value is compared with
the result of the vignette interventions_domain.Rmd (tests/fixtures/sdtm-oak/cm_vignette.csv, see the README
there for how it was transcribed).

Every difference is pinned in DIFFERENCES with the value each side gives; the reasons:

| records (oak_id) | variable | vignette | trialbridge | why |
|---|---|---|---|---|
| 1,4-11,13,14 | CMDOSFRQ | QD (EVERY DAY) ... | QD, BID, PRN, Q2H | the vignette's R code passes codelist C66728 (Start/End Relative to Reference) where the spec says C71113 (Frequency); sdtm.oak upper-cases values it cannot map |
| 12 | CMDOSFRQ | " " (a blank cell) | "" | a blank-only cell is no value (and XPT cannot keep trailing blanks) |
| 6, 7, 8, 12 | CMENDTC | NA | 2019, 2019---20, 2020, 2020---20 | the vignette gives the end date only the layout d-m-y, which "UN UNK 2019" does not fit; the spec's MDEDR layout is dd-MMM-yyyy like MDBDR's |
| all | CMDOS | (column) | CMDOSE | the vignette names the dose CMDOS, not an SDTM variable; the spec's target is CMDOSE |
| all | CMPROPH, CMDRG, CMDRGCD, CMPNCD | CM columns | SUPPCM qualifiers | the spec's role for them is Supplemental Qualifier ("... in SUPPCM") |
| all | CMSEQ | (not derived: commented out) | 1, 2, ... | SDTMIG requires --SEQ; the supplementary mappings.csv derives it |
"""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from trialbridge.converters.pipeline import convert
from trialbridge.converters.xpt.files import read_xpt

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sdtm-oak-cm"
FIXTURE = Path(__file__).parent / "fixtures" / "sdtm-oak" / "cm_vignette.csv"
RENAMED = {"CMDOS": "CMDOSE"}  # vignette column -> the SDTM variable the spec names
IN_SUPP = ("CMPROPH", "CMDRG", "CMDRGCD", "CMPNCD")
NOT_COMPARED = ("oak_id", "raw_source", "patient_number")  # sdtm.oak's work columns
FREQUENCY = {1: "QD", 4: "BID", 5: "BID", 6: "PRN", 7: "PRN", 8: "QD", 9: "BID", 10: "QD", 11: "BID", 13: "PRN", 14: "Q2H"}
DIFFERENCES: dict[tuple[int, str], str] = {
    **{(oak_id, "CMDOSFRQ"): code for oak_id, code in FREQUENCY.items()},
    (12, "CMDOSFRQ"): "",
    (6, "CMENDTC"): "2019", (7, "CMENDTC"): "2019---20", (8, "CMENDTC"): "2020", (12, "CMENDTC"): "2020---20",
}


def _blank(value: object) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()
    return "" if text == "NA" else text


def _same(expected: str, actual: object) -> bool:
    a, b = _blank(expected), _blank(actual)
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("oak-cm") / "out"
    run = convert(EXAMPLE, out, fhir_releases=())
    assert run.exit_code == 0, [f.message for f in run.findings if f.severity == "error"]
    return out / "sdtm"


@pytest.fixture(scope="module")
def result(written: Path) -> pd.DataFrame:
    """CM with its SUPPCM qualifiers as columns (joined on USUBJID and CMSEQ)."""
    cm, _ = read_xpt(written / "cm.xpt")
    supp, _ = read_xpt(written / "suppcm.xpt")
    assert set(supp["IDVAR"]) == {"CMSEQ"}
    wide = supp.pivot(index=["USUBJID", "IDVARVAL"], columns="QNAM", values="QVAL").reset_index()
    cm = cm.assign(IDVARVAL=cm["CMSEQ"].map(lambda v: f"{v:g}"))
    return cm.merge(wide, on=["USUBJID", "IDVARVAL"], how="left")


def _expected() -> list[dict[str, str]]:
    with FIXTURE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_vignette_record_is_written_once(result: pd.DataFrame) -> None:
    keys = [(row["USUBJID"], row["CMGRPID"]) for row in _expected()]
    assert sorted(keys) == sorted(zip(result["USUBJID"], result["CMGRPID"]))


def test_every_value_equals_the_vignette_or_its_difference_is_explained(result: pd.DataFrame) -> None:
    mismatches = []
    compared = 0
    for row in _expected():
        ours = result[(result["USUBJID"] == row["USUBJID"]) & (result["CMGRPID"] == row["CMGRPID"])].iloc[0]
        for column, expected in row.items():
            if column in NOT_COMPARED:
                continue
            actual = ours.get(RENAMED.get(column, column), "")
            wanted = DIFFERENCES.get((int(row["oak_id"]), column), expected)
            compared += 1
            if not _same(wanted, actual):
                mismatches.append((row["oak_id"], column, expected, wanted, actual))
    assert not mismatches, mismatches
    assert compared == 14 * 27


def test_the_pinned_differences_really_differ_from_the_vignette() -> None:
    rows = {int(row["oak_id"]): row for row in _expected()}
    assert all(not _same(rows[oak_id][column], ours) or _blank(ours) == "" and rows[oak_id][column] == " "
               for (oak_id, column), ours in DIFFERENCES.items())


def test_qualifiers_are_in_suppcm_not_cm(written: Path) -> None:
    cm, _ = read_xpt(written / "cm.xpt")
    supp, _ = read_xpt(written / "suppcm.xpt")
    assert not set(IN_SUPP) & set(cm.columns)
    assert set(supp["QNAM"]) == set(IN_SUPP)


def test_the_translation_reports_targets_it_leaves_out() -> None:
    from trialbridge.converters.readers.oak_spec import oak_tables

    tables, findings = oak_tables(EXAMPLE / "spec")
    unfilled = sorted(f.values[0] for f in findings if f.rule == "SPEC-OAK-UNFILLED")
    assert unfilled == ["CM.CMSPID", "CM.EPOCH", "CM.VISIT", "CM.VISITNUM"]
    mappings = tables["mappings"][0]
    cmstdtc = mappings[mappings["variable"] == "CMSTDTC"].iloc[0]
    assert (cmstdtc["source_variable"], cmstdtc["arguments"]) == ("MDBDR;MDBTM", "format=dd-MMM-yy;HH nn")
    assert cmstdtc["_where"].endswith("cm_sdtm_oak_spec.csv:8")


def test_fhir_of_a_study_without_dm_ex_or_registry(tmp_path: Path) -> None:
    """No DM, EX nor registry record: the ResearchStudy is identified by the domains' STUDYID and nothing is
    administered (before: MedicationAdministration stopped with an error on an empty EX)."""
    import json

    run = convert(EXAMPLE, tmp_path / "out", fhir_releases=("R4",))
    assert run.exit_code == 0, [f.message for f in run.findings if f.severity == "error"]
    lines = (tmp_path / "out" / "fhir" / "R4" / "bundles.ndjson").read_text(encoding="utf-8").splitlines()
    resources = [e["resource"] for line in lines for e in json.loads(line)["entry"]]
    study = [r for r in resources if r["resourceType"] == "ResearchStudy"]
    assert [i["value"] for i in study[0]["identifier"]] == ["test_study"]
    assert not [r for r in resources if r["resourceType"] == "MedicationAdministration"]
