"""Subject-level trial design: TV (planned visits), SV (visits done, from the findings' dates) and SE (each
subject's elements, from DM/EX/DS), as pure functions over small inline tables; then REVALLO end to end."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialbridge.mappings.sdtm.se import map_se
from trialbridge.mappings.sdtm.sv import map_sv
from trialbridge.mappings.sdtm.tv import map_tv
from revallo_domains import study_spec

SPEC = study_spec()
VISITS = pd.DataFrame({"VISITNUM": [1, 2, 3], "VISIT": ["INCLUSION", "M01", "M02"], "VISITDY": [None, 31.0, 61.0],
                       "window": ["", "+/- 3 days", "+/- 3 days"]})
ELEMENTS = pd.DataFrame({"ETCD": ["SCRN", "T01", "FU"], "ELEMENT": ["Screening", "Drug", "Follow-up"],
                         "TESTRL": ["", "", ""], "TEENRL": ["", "", ""],
                         "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"]})
DM = pd.DataFrame({"STUDYID": "S", "USUBJID": ["S-1", "S-2", "S-3"],
                   "RFICDTC": ["2012-01-02", "2012-02-01", "2012-03-01"],
                   "RFSTDTC": ["2012-01-10", "2012-02-10", ""], "RFXSTDTC": ["2012-01-10", "2012-02-10", ""],
                   "RFXENDTC": ["2012-06-30", "2012-04-30", ""],
                   "RFPENDTC": ["2012-09-30", "2012-04-30", ""],  # S-2 ends on its last dose: no follow-up
                   "_file": "enrolment.csv", "_line": [2, 3, 4]})
EX = pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-1", "S-2"], "EXDOSE": [5.0, 10.0, 5.0, 5.0],
                   "EXSTDTC": ["2012-01-10", "2012-04-10", "2012-06-01", "2012-02-10"],
                   "EXENDTC": ["2012-04-09", "2012-05-31", "2012-06-30", "2012-04-30"],
                   "_file": "dosing.csv", "_line": [2, 3, 4, 5]})
DS = pd.DataFrame({"USUBJID": ["S-3"], "DSSTDTC": ["2012-03-20"]})  # S-3: never dosed, left on 2012-03-20


def test_tv_states_each_planned_visit_and_its_start_rule():
    tv = map_tv(VISITS, "S", SPEC.dataset("TV")).table
    assert tv["VISITNUM"].tolist() == [1.0, 2.0, 3.0] and set(tv["DOMAIN"]) == {"TV"}
    assert tv["TVSTRL"].tolist() == ["Start of visit INCLUSION", "Study day 31 (+/- 3 days)", "Study day 61 (+/- 3 days)"]
    assert np.isnan(tv["VISITDY"].iloc[0]) and tv["VISITDY"].iloc[1] == 31.0
    assert tv.columns.tolist()[:-2] == SPEC.dataset("TV").names


def test_sv_lists_the_visits_with_data_dated_by_their_records():
    lb = pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-1", "S-2", "S-2"], "VISITNUM": [1.0, 2.0, 2.0, 1.0, 7.0],
                       "VISIT": ["INCLUSION", "M01", "M01", "INCLUSION", "UNSCHED"],
                       "LBDTC": ["2012-01-05", "2012-02-11", "2012-02-09", "2012-02-03", "2012-03-03"],
                       "_file": "laboratory.csv", "_line": [2, 3, 4, 5, 6]})
    rs = pd.DataFrame({"USUBJID": ["S-1"], "VISITNUM": [2.0], "VISIT": ["M01"], "RSDTC": ["2012-02-12"]})
    sv = map_sv(DM, {"LB": lb, "RS": rs}, VISITS, SPEC.dataset("SV")).table
    rows = list(zip(sv["USUBJID"], sv["VISITNUM"], sv["SVSTDTC"], sv["SVENDTC"], sv["SVPRESP"], sv["SVUPDES"]))
    assert rows == [("S-1", 1.0, "2012-01-05", "2012-01-05", "Y", ""),
                    ("S-1", 2.0, "2012-02-09", "2012-02-12", "Y", ""),  # LB and RS records of the same visit
                    ("S-2", 1.0, "2012-02-03", "2012-02-03", "Y", ""),
                    ("S-2", 7.0, "2012-03-03", "2012-03-03", "", "Unplanned visit UNSCHED")]
    assert sv["SVSTDY"].tolist() == [-5.0, 31.0, -7.0, 23.0]  # no day 0
    assert set(sv["SVOCCUR"]) == {"Y"}


def test_se_follows_consent_doses_and_end_of_participation():
    se = map_se(DM, EX, DS, ELEMENTS, SPEC.dataset("SE")).table
    rows = list(zip(se["USUBJID"], se["ETCD"], se["SESTDTC"], se["SEENDTC"], se["TAETORD"], se["SESEQ"]))
    assert rows == [("S-1", "SCRN", "2012-01-02", "2012-01-10", 1.0, 1.0),
                    ("S-1", "T01", "2012-01-10", "2012-06-30", 2.0, 2.0),  # three EX records, one element
                    ("S-1", "FU", "2012-06-30", "2012-09-30", 3.0, 3.0),
                    ("S-2", "SCRN", "2012-02-01", "2012-02-10", 1.0, 1.0),
                    ("S-2", "T01", "2012-02-10", "2012-04-30", 2.0, 2.0),  # no follow-up after the last dose
                    ("S-3", "SCRN", "2012-03-01", "2012-03-20", 1.0, 1.0)]  # never dosed: screening ends at DS
    assert se["SESTDY"].tolist()[:3] == [-8.0, 1.0, 173.0]
    assert set(se["EPOCH"]) == {"SCREENING", "TREATMENT", "FOLLOW-UP"}


def test_se_with_one_element_per_dose_level_makes_contiguous_elements_and_flags_an_unplanned_dose():
    levels = pd.concat([ELEMENTS.iloc[[0]], pd.DataFrame({
        "ETCD": ["L5", "L10"], "ELEMENT": ["5 mg", "10 mg"], "TESTRL": "", "TEENRL": "", "EPOCH": "TREATMENT",
        "EXDOSE": [5.0, 10.0]}), ELEMENTS.iloc[[2]]], ignore_index=True)
    ex = pd.concat([EX, pd.DataFrame({"USUBJID": ["S-2"], "EXDOSE": [7.5], "EXSTDTC": ["2012-05-01"],
                                      "EXENDTC": ["2012-05-02"], "_file": "dosing.csv", "_line": [6]})])
    se = map_se(DM, ex, DS, levels, SPEC.dataset("SE")).table
    s1 = se[se["USUBJID"] == "S-1"]
    assert list(zip(s1["ETCD"], s1["SESTDTC"], s1["SEENDTC"])) == [
        ("SCRN", "2012-01-02", "2012-01-10"), ("L5", "2012-01-10", "2012-04-10"), ("L10", "2012-04-10", "2012-06-01"),
        ("L5", "2012-06-01", "2012-06-30"), ("FU", "2012-06-30", "2012-09-30")]  # a dose reduction: L5 again
    unplanned = se[se["ETCD"] == "UNPLAN"]
    assert len(unplanned) == 1 and np.isnan(unplanned["TAETORD"].iloc[0])
    assert unplanned["SEUPDES"].iloc[0].startswith("Dose 7.5")


REVALLO = Path(__file__).resolve().parents[1] / "examples" / "revallo"


@pytest.mark.skipif(not (REVALLO / "registry.json").exists(), reason="examples/revallo is not here")
def test_revallo_gets_tv_sv_se_agreeing_with_dm_and_the_findings():
    from trialbridge.converters.native_reader import read_native
    from trialbridge.converters.sdtm_package import map_sdtm

    trial, _ = read_native(REVALLO)
    tables = map_sdtm(trial).tables
    assert {"TV", "SV", "SE"} <= set(tables)
    se, sv, dm, lb = tables["SE"], tables["SV"], tables["DM"], tables["LB"]
    assert set(se["USUBJID"]) == set(dm["USUBJID"])
    first_dose = dict(zip(dm["USUBJID"], dm["RFXSTDTC"]))
    treatment = se[se["EPOCH"] == "TREATMENT"].groupby("USUBJID")["SESTDTC"].min()
    assert all(treatment[s] == first_dose[s] for s in treatment.index)
    visits_done = lb[["USUBJID", "VISITNUM"]].drop_duplicates()
    assert len(sv.merge(visits_done, on=["USUBJID", "VISITNUM"])) == len(visits_done)  # every LB visit is in SV
    assert set(sv["VISITNUM"]) <= set(tables["TV"]["VISITNUM"])  # REVALLO has no unplanned visit
