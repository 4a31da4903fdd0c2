"""Clinical consistency warnings: each rule pinned on small SDTM tables, a comment on every row that must fail."""
from __future__ import annotations

import numpy as np
import pandas as pd

from trialbridge.mappings.study import StudyInfo, Treatment
from trialbridge.schemas.clinical_checks import before, check_clinical

STUDY = StudyInfo(studyid="S", treatments=(Treatment(name="LENALIDOMIDE", dose_levels=(5.0, 10.0, 15.0)),))


def dm() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["S-1", "S-2", "S-3"],
        "RFICDTC": ["2012-01-10", "2012-02-01", "2012-03"],
        "BRTHDTC": ["1959-04", "2099-01-01", "2012"],  # S-2 born after consenting: fails; S-3 same year: may agree
        "RFXENDTC": ["2012-06-01", "2012-09-01", ""],
        "DTHDTC": ["", "2012-08-15", ""],        # S-2 died; RFXENDTC after it: must fail
        "DTHFL": ["", "Y", ""],
    })


def tables() -> dict[str, pd.DataFrame]:
    ae = pd.DataFrame({
        "USUBJID": ["S-1", "S-1", "S-2", "S-3"],
        "AESTDTC": ["2012-01-05", "2012-02-01", "2012-08-20", "2012-03"],  # row 1: before consent; row 3: after death
        "AEENDTC": ["2012-01-20", "2012-01-25", "", "2012-03-15"],         # row 2: ends before it starts
        "AEOUT": ["RECOVERED/RESOLVED", "FATAL", "FATAL", ""],             # row 2: fatal, S-1 alive: must fail
        "AESDTH": ["N", "N", "Y", "N"],
        "_file": ["adverse_events.csv"] * 4, "_line": [2, 3, 4, 5],
    })
    ex = pd.DataFrame({
        "USUBJID": ["S-1", "S-1", "S-2"],
        "EXTRT": ["LENALIDOMIDE"] * 3,
        "EXDOSE": [5.0, 0.0, 10.0],                                        # row 2: 0 mg is no protocol level
        "EXSTDTC": ["2012-02-01", "2012-03-01", "2012-08-01"],
        "EXENDTC": ["2012-02-28", "2012-06-01", "2012-08-31"],             # row 3: ends after S-2's death
    })
    lb = pd.DataFrame({
        "USUBJID": ["S-1", "S-1", "S-1"],
        "LBTESTCD": ["PLAT", "PLAT", "MCPROT"],
        "LBORRES": ["111000", ">1000", "<1"],                               # row 2: graded test, no grade: fails
        "LBTOX": ["Platelets", "Platelets", ""],                            # row 3: ungraded test: fine
        "LBTOXGR": ["1", "", ""],
        "LBSTAT": ["", "", ""],
        "LBDTC": ["2012-02-01", "2012-02-01", "2012-02-01"],
    })
    return {"DM": dm(), "AE": ae, "EX": ex, "LB": lb}


def flagged(found) -> list[tuple[str, str]]:
    return sorted((f.rule, f.location) for f in found)


def test_each_rule_flags_exactly_the_records_that_break_it():
    found, results = check_clinical(tables(), STUDY)
    assert flagged(found) == sorted([
        ("CLIN-BEFORE-CONSENT", "ae:AESTDTC:1"),
        ("CLIN-AFTER-DEATH", "ae:AESTDTC:3"),
        ("CLIN-AFTER-DEATH", "ex:EXENDTC:3"),
        ("CLIN-AFTER-DEATH", "dm:RFXENDTC:2"),
        ("CLIN-FATAL-ALIVE", "ae:AEOUT:2"),
        ("CLIN-DOSE-LEVEL", "ex:EXDOSE:2"),
        ("CLIN-LAB-UNGRADED", "lb:LBTOXGR:2"),
        ("CLIN-END-BEFORE-START", "ae:AEENDTC:2"),
        ("CLIN-BORN-AFTER", "dm:BRTHDTC:2"),
    ])
    assert {r.rule_id: r.status for r in results} == {
        "CLIN-BEFORE-CONSENT": "issues", "CLIN-AFTER-DEATH": "issues", "CLIN-FATAL-ALIVE": "issues",
        "CLIN-DOSE-LEVEL": "issues", "CLIN-LAB-UNGRADED": "issues", "CLIN-END-BEFORE-START": "issues",
        "CLIN-BORN-AFTER": "issues"}
    assert all(f.severity == "warning" for f in found)


def test_messages_name_the_subject_the_values_and_the_native_row():
    found, _ = check_clinical(tables(), STUDY)
    consent = next(f for f in found if f.rule == "CLIN-BEFORE-CONSENT")
    assert "S-1" in consent.message and "2012-01-05" in consent.message and "2012-01-10" in consent.message
    assert "adverse_events.csv:2" in consent.message
    dose = next(f for f in found if f.rule == "CLIN-DOSE-LEVEL")
    assert dose.values == ("0",) and "5, 10, 15" in dose.message


def test_without_a_study_specification_the_dose_rule_is_skipped_with_its_reason():
    found, results = check_clinical(tables(), None)
    assert "CLIN-DOSE-LEVEL" not in {f.rule for f in found}
    skipped = next(r for r in results if r.rule_id == "CLIN-DOSE-LEVEL")
    assert skipped.status == "skipped" and "study specification" in skipped.detail


def test_partial_dates_are_compared_only_at_the_precision_both_carry():
    a = pd.Series(["2012-03", "2012-03", "2012", "2012-02-28", "", "2011"])
    b = pd.Series(["2012-03-15", "2012-04-01", "2012-06-01", "2012-03", "2012", "2012-01-01"])
    assert before(a, b).tolist() == [False, True, False, True, False, True]


def test_a_consistent_study_gives_no_warning():
    clean = tables()
    clean["AE"] = clean["AE"].iloc[[3]].reset_index(drop=True)
    clean["EX"] = clean["EX"].iloc[[0]].reset_index(drop=True)
    clean["LB"] = clean["LB"].iloc[[0, 2]].reset_index(drop=True)
    clean["DM"] = clean["DM"].assign(RFXENDTC=["2012-06-01", "2012-08-01", ""], BRTHDTC=["1959-04", "1962", "2012"])
    found, results = check_clinical(clean, STUDY)
    assert found == [] and {r.status for r in results} == {"passed"}
    assert np.all([r.detail == "0 record(s)" for r in results])
