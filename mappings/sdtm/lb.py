"""laboratory.csv -> LB (SDTMIG 3.4 Laboratory Test Results): one record per test per visit per subject.

Every fact about a test comes from the study's lab test catalogue (`schemas/sdtm/lab-tests.json`, read
through `trialbridge.schemas.sdtm_spec.lab_tests`): the CDISC test code and name, category, specimen,
method, LOINC code, the CDISC spelling of the local unit, the standard unit and its conversion factor,
and the NCI CTCAE v3.0 grading.

Rules the mapping follows (each is one algorithm call below):
- LBORRES is the result as collected (`182000`, `<3.3`); LBORRESU the local unit in CDISC Unit (C71620)
  spelling: the same unit, so no SUPPLB copy of the local text (`/mm3` and `/µL` are CDISC synonyms of
  10^6/L, `µmol/L` is umol/L, the French `UI/L` is IU/L).
- LBSTRESC/LBSTRESN = LBORRES x the factor into LBSTRESU (platelets 182000 /mm3 -> 182 10^9/L; hemoglobin
  11.8 g/dL -> 118 g/L); a result outside the measurable range keeps its comparator in LBSTRESC with the
  converted bound (`<3.3`) and has no LBSTRESN. The reference range is converted with the same factor.
- The reference range (LBORNRLO/LBORNRHI, LBSTNRLO/LBSTNRHI) only on continuous results, as SDTMIG 3.4
  says (CDISC CORE-000290/000298): a result outside the measurable range or a test not done leaves them
  null, and an info finding counts the collected ranges not carried.
- LBNRIND from the collected result and the local reference range; LBTOXGR (CTCAE v3.0, "0" when a graded
  result meets no grade) and LBTOX (the CTCAE v3.0 term) for the graded tests only.
- LBBLFL and LBLOBXFL: the last non-missing result of each test on or before the first dose (RFSTDTC =
  RFXSTDTC; a sample taken on the day of the first dose is a pre-dose sample).
- LBSTAT/LBREASND as collected for tests not done.
- VISITNUM from the visit schedule: INCLUSION = 1, M01 = 2 ... M12 = 13, EOT = 14 (`algorithms.VISITNUM`).
- A row whose LBCODE the catalogue does not know is not carried (rejected, error finding); the native
  reader's checks (NATIVE-CODE, NATIVE-UNIT) stop such rows before this mapping on real input.
The local test name (LBNAME, French) is not carried: LBTEST is the CDISC name of the same test.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.converters.trial import Trial
from trialbridge.mappings.sdtm.algorithms import (
    Mapped,
    assign_ct,
    assign_datetime,
    assign_no_ct,
    assign_visitnum,
    coalesce,
    derive_blfl,
    derive_epoch,
    derive_nrind,
    derive_seq,
    derive_std_result,
    derive_study_day,
    derive_toxgr,
    derive_usubjid,
    finalize,
    hardcode_no_ct,
    lookup,
    reject,
    report_values,
    start_table,
    study_identifier,
)
from trialbridge.schemas.sdtm_spec import lab_tests, study_spec

FORM = "laboratory"


def lab_catalogue() -> pd.DataFrame:
    """The lab test catalogue as a lookup table keyed by the native LBCODE and local unit (LBUNIT).

    Numbers are floats (FACTOR, grade cut-offs); TESTORDER is the catalogue's order, used to sort tests
    within a visit.
    """
    tests = lab_tests()

    def number(column: str) -> pd.Series:
        return pd.to_numeric(tests[column].replace("", None), errors="coerce").astype("float64")

    return pd.DataFrame({
        "LBCODE": tests["LBCODE"], "LBUNIT": tests["local_unit"],
        "LBTESTCD": tests["LBTESTCD"], "LBTEST": tests["LBTEST"], "LBCAT": tests["LBCAT"],
        "LBSPEC": tests["LBSPEC"], "LBMETHOD": tests["LBMETHOD"], "LBLOINC": tests["LBLOINC"],
        "LBORRESU": tests["LBORRESU"], "LBSTRESU": tests["LBSTRESU"], "FACTOR": number("factor"),
        "LBTOX": tests["LBTOX"], "direction": tests["ctcae_direction"], "scale": tests["ctcae_scale"],
        "grade2": number("ctcae_grade2"), "grade3": number("ctcae_grade3"), "grade4": number("ctcae_grade4"),
        "TESTORDER": pd.Series(range(len(tests)), index=tests.index, dtype="float64"),
    })


def ctcae_grading(catalogue: pd.DataFrame) -> pd.DataFrame:
    """The CTCAE v3.0 grading rows of the catalogue, one per graded LBTESTCD (for `derive_toxgr`)."""
    graded = catalogue[catalogue["direction"] != ""].drop_duplicates("LBTESTCD")
    return graded[["LBTESTCD", "LBTOX", "direction", "scale", "grade2", "grade3", "grade4"]]


def map_lb(trial: Trial, sdtm: dict[str, pd.DataFrame]) -> Mapped:
    source = trial.forms[FORM]
    dm = sdtm["DM"]
    catalogue = lab_catalogue()
    tests = catalogue.drop_duplicates("LBCODE")
    grading = ctcae_grading(catalogue)
    known = source["LBCODE"].isin(tests["LBCODE"])
    findings = report_values(source, "LBCODE", ~known, "LB-TEST-UNKNOWN")
    src = source.loc[known]
    factor = lookup(src, catalogue, "FACTOR", by=("LBCODE", "LBUNIT"))
    findings += report_values(src, "LBUNIT", (src["LBUNIT"] != "") & factor.isna(), "LB-UNIT-UNKNOWN")
    studyid = study_identifier(trial.registry)

    lb = start_table(src)
    # STUDYID: the study identifier; DOMAIN: "LB"
    lb["STUDYID"] = hardcode_no_ct(src, studyid)
    lb["DOMAIN"] = hardcode_no_ct(src, "LB")
    # USUBJID = STUDYID-SITEID-SUBJID
    lb["USUBJID"] = derive_usubjid(src, "SITEID", "SUBJID", studyid)
    # LBTESTCD, LBTEST, LBCAT, LBSPEC, LBMETHOD, LBLOINC: the catalogue entry of the local test code
    lb["LBTESTCD"] = lookup(src, tests, "LBTESTCD", by=("LBCODE",))
    lb["LBTEST"] = lookup(src, tests, "LBTEST", by=("LBCODE",))
    lb["LBCAT"] = lookup(src, tests, "LBCAT", by=("LBCODE",))
    lb["LBSPEC"] = lookup(src, tests, "LBSPEC", by=("LBCODE",))
    lb["LBMETHOD"] = lookup(src, tests, "LBMETHOD", by=("LBCODE",))
    lb["LBLOINC"] = lookup(src, tests, "LBLOINC", by=("LBCODE",))
    # LBORRES: the result as collected; LBORRESU: the local unit in CDISC Unit spelling (as collected if unknown)
    lb["LBORRES"] = assign_no_ct(src, "LBRES")
    lb["LBORRESU"] = coalesce(lookup(src, catalogue, "LBORRESU", by=("LBCODE", "LBUNIT")), assign_no_ct(src, "LBUNIT"))
    # LBSTRESC/LBSTRESN: LBORRES x the factor of its local unit (`factor` above); LBSTRESU: the catalogue's standard unit
    lb["LBSTRESC"], lb["LBSTRESN"] = derive_std_result(src, "LBRES", factor)
    lb["LBSTRESU"] = lookup(src, catalogue, "LBSTRESU", by=("LBCODE", "LBUNIT")).where(lb["LBSTRESC"] != "", "")
    # LBORNRLO/LBORNRHI: the local reference range as collected, for continuous (numeric) results only
    continuous = lb["LBSTRESN"].notna()
    lb["LBORNRLO"] = assign_no_ct(src, "LBLOW").where(continuous, "")
    lb["LBORNRHI"] = assign_no_ct(src, "LBHIGH").where(continuous, "")
    # LBSTNRLO/LBSTNRHI: the reference range converted with the same factor, continuous results only
    lb["LBSTNRLO"] = derive_std_result(src, "LBLOW", factor)[1].where(continuous)
    lb["LBSTNRHI"] = derive_std_result(src, "LBHIGH", factor)[1].where(continuous)
    ranged = (src["LBLOW"] != "") | (src["LBHIGH"] != "")
    findings += report_values(src, "LBCODE", ranged & ~continuous, "LB-RANGE-NOT-CONTINUOUS")
    # LBNRIND: LOW / NORMAL / HIGH against the local reference range
    lb["LBNRIND"] = derive_nrind(src, "LBRES", "LBLOW", "LBHIGH")
    # LBSTAT (C66789 NOT DONE) and LBREASND as collected
    lb["LBSTAT"], found = assign_ct(src, "LBSTAT", "C66789", variable="LBSTAT")
    findings += found
    lb["LBREASND"] = assign_no_ct(src, "LBREASND")
    # LBTOXGR: NCI CTCAE v3.0 grade of LBSTRESN against the standard-unit range; LBTOX: the CTCAE term
    lb["LBTOXGR"] = derive_toxgr(lb, "LBSTRESN", "LBSTNRLO", "LBSTNRHI", grading, by="LBTESTCD")
    lb["LBTOX"] = lookup(lb, grading, "LBTOX", by=("LBTESTCD",)).where(lb["LBTOXGR"] != "", "")
    # VISIT as collected; VISITNUM from the visit schedule
    lb["VISIT"] = assign_no_ct(src, "VISIT")
    lb["VISITNUM"], found = assign_visitnum(src, "VISIT")
    findings += found
    # LBDTC: the sample date, ISO 8601
    lb["LBDTC"] = assign_datetime(src, "LBDAT")
    rfstdtc = lookup(lb, dm, "RFSTDTC")
    rfxstdtc, rfxendtc = lookup(lb, dm, "RFXSTDTC"), lookup(lb, dm, "RFXENDTC")
    # LBDY: study day of LBDTC (no day 0); EPOCH from LBDTC against the first and last dose
    lb["LBDY"] = derive_study_day(lb["LBDTC"], rfstdtc)
    lb["EPOCH"] = derive_epoch(lb["LBDTC"], rfxstdtc, rfxendtc)
    # LBBLFL / LBLOBXFL: last non-missing result per subject and test on or before the first dose
    lb["LBBLFL"] = derive_blfl(lb, "LBORRES", "LBDTC", rfstdtc, by=("USUBJID", "LBTESTCD"), order=("VISITNUM",))
    lb["LBLOBXFL"] = derive_blfl(lb, "LBORRES", "LBDTC", rfxstdtc, by=("USUBJID", "LBTESTCD"), order=("VISITNUM",))
    # LBSEQ: per subject, by date, visit, then the catalogue's test order
    lb["TESTORDER"] = lookup(src, tests, "TESTORDER", by=("LBCODE",))
    lb["LBSEQ"] = derive_seq(lb, order=("LBDTC", "VISITNUM", "TESTORDER"))

    table = finalize(lb, study_spec().dataset("LB"))
    rejected = reject(source, ~known, "LBCODE not in the lab test catalogue (schemas/sdtm/lab-tests.json)")
    return Mapped(table=table, supp=None, findings=findings, rejected=rejected)
