"""RELREC through the spec's `relate` step (mappings/sdtm/relate.py, mappings/spec/relate_step.py), read
against SDTMIG 3.4 section 8.2 (Relating Peer Records: two or more records of one subject, one RELREC
record each, sharing a RELID, RELTYPE null) and 8.3 (Relating Datasets: USUBJID and IDVARVAL null, RELTYPE
ONE or MANY), on small tables and end to end on REVALLO and a generated study."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from trialbridge.converters.cli import main
from trialbridge.converters.pipeline import convert
from trialbridge.converters.readers.spec_files import read_spec
from trialbridge.converters.xpt.files import read_xpt
from trialbridge.mappings.sdtm.relate import Relation, parse_days, relate

ROOT = Path(__file__).resolve().parents[1]
REVALLO = ROOT / "examples" / "revallo"


def records(domain: str, **columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({**columns, "_file": [f"{domain.lower()}.csv"] * n, "_line": list(range(2, n + 2))})


AE = records("AE", USUBJID=["S-1", "S-1", "S-2", "S-3"], AESEQ=[1.0, 2.0, 1.0, 1.0],
             AEACN=["DOSE REDUCED", "DOSE REDUCED", "DOSE REDUCED", "DOSE REDUCED"],
             AESTDTC=["2012-02-01", "2012-05-20", "2012-03", "2012-07-01"])  # S-2: a partial onset date
EX = records("EX", USUBJID=["S-1", "S-1", "S-1", "S-2", "S-3"], EXSEQ=[1.0, 2.0, 3.0, 1.0, 1.0],
             EXADJ=["", "DOSE REDUCED FOR TOXICITY", "DOSE REDUCED FOR TOXICITY", "DOSE REDUCED FOR TOXICITY", ""],
             EXSTDTC=["2012-01-10", "2012-02-02", "2012-05-21", "2012-03-20", "2012-01-01"])
REDUCTION = Relation("AE", "EX", "AESEQ", "EXSEQ", "AEEX", "AESTDTC", "EXSTDTC", 0, 30, "nearest")


def test_each_pair_is_two_records_under_one_relid_with_reltype_null():
    reduced = EX[EX["EXADJ"] == "DOSE REDUCED FOR TOXICITY"]
    rows, unlinked = relate(AE, reduced, REDUCTION, "S")
    assert rows[["RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELTYPE", "RELID"]].values.tolist() == [
        ["AE", "S-1", "AESEQ", "1", "", "AEEX1"], ["EX", "S-1", "EXSEQ", "2", "", "AEEX1"],  # onset + 1 day
        ["AE", "S-1", "AESEQ", "2", "", "AEEX2"], ["EX", "S-1", "EXSEQ", "3", "", "AEEX2"],  # the nearest only
    ]
    assert set(rows["STUDYID"]) == {"S"}
    # every RELREC record names the input row of the record it relates
    assert rows[["_file", "_line"]].values.tolist() == [["ae.csv", 2], ["ex.csv", 3], ["ae.csv", 3], ["ex.csv", 4]]
    # S-2's onset is partial (no day count), S-3 has no reduced dose: related to nothing, reported
    assert unlinked.tolist() == [False, False, True, True]


def test_all_pairs_within_the_window_without_pick_and_an_open_bound():
    reduced = EX[EX["EXADJ"] != ""]
    rows, _ = relate(AE, reduced, replace(REDUCTION, pick="all", high=None), "S")
    pairs = rows.groupby("RELID")["IDVARVAL"].apply(tuple).tolist()
    assert pairs == [("1", "2"), ("1", "3"), ("2", "3")]  # AESEQ 1 -> EXSEQ 2 and 3; AESEQ 2 -> EXSEQ 3
    assert parse_days("0;") == (0, None) and parse_days(";-1") == (None, -1) and parse_days("-3;3") == (-3, 3)
    with pytest.raises(ValueError):
        parse_days("30;0")


def test_dataset_level_relationship_names_the_datasets_not_the_records():
    rows, unlinked = relate(AE, EX, Relation("AE", "EX", "AELNKID", "EXLNKID", "1", reltype=("ONE", "MANY")), "S")
    assert rows[["RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELTYPE", "RELID"]].values.tolist() == [
        ["AE", "", "AELNKID", "", "ONE", "1"], ["EX", "", "EXLNKID", "", "MANY", "1"]]
    assert not unlinked.any()


def test_no_pair_gives_no_records():
    rows, unlinked = relate(AE.iloc[0:0], EX, REDUCTION, "S")
    assert rows.empty and list(rows.columns[:7]) == ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL",
                                                     "RELTYPE", "RELID"]


# ---------------------------------------------------------------------------------- the spec step
def test_a_relate_row_naming_an_unknown_variable_stops_with_its_cell(tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(REVALLO, folder)
    mappings = folder / "spec" / "mappings.csv"
    text = mappings.read_text(encoding="utf-8").replace("where=EXADJ =", "where=EXADJX =")
    mappings.write_text(text, encoding="utf-8")
    row = next(i for i, line in enumerate(text.splitlines(), start=1) if "EXADJX" in line)
    result = convert(folder, tmp_path / "out", fhir_releases=())
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert [(f.rule, f.location) for f in result.findings if f.severity == "error"] == [
        ("SPEC-STEP", f"spec/mappings.csv:{row}:arguments")]
    assert main(["spec", "check", str(folder / "spec"), str(folder), "--format", "json"]) != 0


@pytest.fixture(scope="module")
def revallo_sdtm(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("relrec") / "out"
    assert main(["convert", str(REVALLO), "--out", str(out), "--fhir", "none", "--format", "json"]) == 0
    return out / "sdtm"


def test_revallo_relates_each_drug_withdrawal_to_the_end_of_treatment_it_caused(revallo_sdtm):
    relrec, _ = read_xpt(revallo_sdtm / "relrec.xpt")
    ae, _ = read_xpt(revallo_sdtm / "ae.xpt")
    ds, _ = read_xpt(revallo_sdtm / "ds.xpt")
    assert set(relrec["RELID"].str.rstrip("0123456789")) == {"AEDS"}  # REVALLO has no dose reduction
    for relid, pair in relrec.groupby("RELID"):
        (subject,) = set(pair["USUBJID"])
        ae_seq = float(pair.loc[pair["RDOMAIN"] == "AE", "IDVARVAL"].iloc[0])
        ds_seq = float(pair.loc[pair["RDOMAIN"] == "DS", "IDVARVAL"].iloc[0])
        event = ae[(ae["USUBJID"] == subject) & (ae["AESEQ"] == ae_seq)].iloc[0]
        end = ds[(ds["USUBJID"] == subject) & (ds["DSSEQ"] == ds_seq)].iloc[0]
        assert event["AEACN"] == "DRUG WITHDRAWN" and end["DSDECOD"] == "ADVERSE EVENT"
        assert end["DSSCAT"] == "STUDY TREATMENT" and event["AESTDTC"] <= end["DSSTDTC"]
    assert sorted(set(relrec["USUBJID"])) == ["REVALLO-01-001", "REVALLO-01-002", "REVALLO-01-010"]


def test_relrec_is_in_define_with_its_keys_and_method(revallo_sdtm):
    from lxml import etree

    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
    root = etree.parse(str(revallo_sdtm / "define.xml")).getroot()
    group = root.find(".//odm:ItemGroupDef[@Name='RELREC']", ns)
    assert group.find("def:Class", ns).get("Name") == "RELATIONSHIP"
    keys = {r.get("ItemOID"): r.get("KeySequence") for r in group.findall("odm:ItemRef", ns) if r.get("KeySequence")}
    assert keys == {"IT.RELREC.STUDYID": "1", "IT.RELREC.RDOMAIN": "2", "IT.RELREC.USUBJID": "3",
                    "IT.RELREC.IDVAR": "4", "IT.RELREC.IDVARVAL": "5", "IT.RELREC.RELID": "6"}
    relid = [r for r in group.findall("odm:ItemRef", ns) if r.get("ItemOID") == "IT.RELREC.RELID"][0]
    assert relid.get("MethodOID") == "MT.RELREC"


def test_a_generated_study_relates_every_dose_reduction_to_its_adverse_event(tmp_path):
    study, out = tmp_path / "study", tmp_path / "out"
    assert main(["synth", "--subjects", "100", "--seed", "7", "--out", str(study)]) == 0
    assert main(["convert", str(study), "--out", str(out), "--fhir", "none", "--format", "json"]) in (0, 1)
    relrec, _ = read_xpt(out / "sdtm" / "relrec.xpt")
    ex, _ = read_xpt(out / "sdtm" / "ex.xpt")
    reductions = ex[ex["EXADJ"] == "DOSE REDUCED FOR TOXICITY"]
    linked = relrec[relrec["RDOMAIN"] == "EX"]
    assert len(reductions) > 0
    assert sorted(zip(linked["USUBJID"], linked["IDVARVAL"].astype(float))) == sorted(
        zip(reductions["USUBJID"], reductions["EXSEQ"]))  # each reduced dose has its AE
    assert relrec.groupby("RELID").size().eq(2).all()
