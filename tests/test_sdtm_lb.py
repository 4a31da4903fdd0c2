"""LB: one record per lab test per visit per subject, per SDTMIG 3.4, CDISC CT and NCI CTCAE v3.0."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

from trialbridge.mappings.trial import Trial
from revallo_domains import lab_catalogue, map_lb
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file, form_schema
from trialbridge.schemas.sdtm_standards import terminology
from revallo_domains import lab_tests, study_spec

REGISTRY = {"protocolSection": {"identificationModule": {"acronym": "REVALLO"}}}
EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"
# Subject 001 takes the first dose on 2011-10-03 and the last on 2012-04-02.
DM = pd.DataFrame({"USUBJID": ["REVALLO-01-001"], "RFSTDTC": ["2011-10-03"], "RFXSTDTC": ["2011-10-03"],
                   "RFXENDTC": ["2012-04-02"]})


def form(name: str, *rows: dict[str, str]) -> pd.DataFrame:
    """A native form table as the reader gives it: schema columns, strings, provenance from line 2."""
    columns = form_columns(name)
    table = pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows], columns=columns, dtype=object)
    return table.assign(_file=form_file(name), _line=list(range(2, len(rows) + 2)))


def lab(code: str, result: str, unit: str, low: str = "", high: str = "", visit: str = "INCLUSION",
        date: str = "2011-09-28", **cells: str) -> dict[str, str]:
    return {"SITEID": "01", "SUBJID": "001", "VISIT": visit, "LBDAT": date, "LBCODE": code, "LBRES": result,
            "LBUNIT": unit, "LBLOW": low, "LBHIGH": high, **cells}


def map_rows(*rows: dict[str, str]):
    trial = Trial(Path("native"), REGISTRY, {name: form(name) for name in FORM_NAMES} | {"laboratory": form("laboratory", *rows)})
    return map_lb(trial, {"DM": DM})


def mapped(*rows: dict[str, str]) -> pd.DataFrame:
    """The LB table, back in the order of the rows given (by source line)."""
    return map_rows(*rows).table.sort_values("_line").reset_index(drop=True)


# ------------------------------------------------------------------------------- the catalogue
def test_the_catalogue_has_one_entry_per_native_lab_code_with_the_unit_the_form_allows():
    schema = form_schema("laboratory")
    tests = lab_tests()
    assert tests["LBCODE"].tolist() == schema["properties"]["LBCODE"]["enum"]
    assert {(c, u) for c, units in schema["x-units-by-code"].items() for u in units} == set(
        zip(tests["LBCODE"], tests["local_unit"]))


def test_every_test_code_and_name_is_one_cdisc_term_or_a_declared_sponsor_code():
    ct = terminology()
    names = {"C65047": "C67154", "C181173": "C181174"}  # test code list -> its test name list
    for t in lab_tests().itertuples():
        if t.ct_source == "sponsor":  # no CDISC term: a sponsor code within the 8-character limit
            assert ct.term_code("C65047", t.LBTESTCD) == "" and len(t.LBTESTCD) <= 8 and t.LBTESTCD.isalnum()
            continue
        code = ct.term_code(t.ct_source, t.LBTESTCD)
        assert code and ct.term_code(names[t.ct_source], t.LBTEST) == code, t.LBCODE


def test_units_specimens_and_methods_are_cdisc_terms():
    ct = terminology()
    for t in lab_tests().itertuples():
        assert t.LBORRESU in ct.submission_values("C71620") and t.LBSTRESU in ct.submission_values("C71620")
        assert t.LBSPEC in ct.submission_values("C78734")
        assert t.LBMETHOD == "" or t.LBMETHOD in ct.submission_values("C85492")


def test_loinc_codes_are_well_formed_and_left_empty_rather_than_guessed():
    for t in lab_tests().itertuples():
        assert t.LBLOINC == "" or (t.LBLOINC.count("-") == 1 and t.LBLOINC.replace("-", "").isdigit())
    codes = dict(zip(lab_tests()["LBCODE"], lab_tests()["LBLOINC"]))
    assert codes["PLAQ"] == "777-3" and codes["HB"] == "718-7" and codes["CHIM"] == ""


def test_the_catalogue_is_the_spec_tests_table():
    path = Path(__file__).parent.parent / "examples" / "revallo" / "spec" / "tests.csv"
    assert len(path.read_text(encoding="utf-8").splitlines()) - 1 == len(lab_catalogue())


# --------------------------------------------------------------------------- unit conversion
CONVERSIONS = [
    ("PLAQ", "182000", "/mm3", "10^6/L", "182", 182.0, "10^9/L"),   # platelets per mm3 -> 10^9/L (x 0.001)
    ("PNN", "1500", "/mm3", "10^6/L", "1.5", 1.5, "10^9/L"),         # neutrophils
    ("LEUCO", "5740", "/mm3", "10^6/L", "5.74", 5.74, "10^9/L"),     # leukocytes
    ("LYMPH", "830", "/mm3", "10^6/L", "0.83", 0.83, "10^9/L"),      # lymphocytes
    ("HB", "11.8", "g/dL", "g/dL", "118", 118.0, "g/L"),            # hemoglobin g/dL -> g/L (x 10)
    ("HB", "9.25", "g/dL", "g/dL", "92.5", 92.5, "g/L"),            # keeps the decimals the lab gave
    ("CREAT", "74", "µmol/L", "umol/L", "74", 74.0, "umol/L"),      # micro sign -> CDISC "u"
    ("BILI", "7.5", "µmol/L", "umol/L", "7.5", 7.5, "umol/L"),
    ("ASAT", "23", "UI/L", "IU/L", "23", 23.0, "U/L"),              # French UI/L = IU/L; enzyme U/L
    ("ALAT", "41", "UI/L", "IU/L", "41", 41.0, "U/L"),
    ("PICM", "12.4", "g/L", "g/L", "12.4", 12.4, "g/L"),            # M-protein
    ("KAPPA", "19.40", "mg/L", "mg/L", "19.4", 19.4, "mg/L"),       # trailing zero dropped in LBSTRESC
    ("LAMBDA", "8.1", "mg/L", "mg/L", "8.1", 8.1, "mg/L"),
    # the flow-cytometry counts (CD19, CD3, CD4, CD8, NK, DC) are CP's: test_sdtm_cp
    ("CHIM", "98", "%", "%", "98", 98.0, "%"),
]


@lru_cache(maxsize=None)
def converted() -> pd.DataFrame:
    """All conversion cases mapped at once (one row each, in CONVERSIONS order)."""
    return mapped(*(lab(code, result, unit, date=f"2011-09-{i + 1:02d}") for i, (code, result, unit, *_) in enumerate(CONVERSIONS)))


@pytest.mark.parametrize("case", range(len(CONVERSIONS)), ids=[f"{c[0]}-{c[1]}" for c in CONVERSIONS])
def test_result_converted_to_the_standard_unit(case):
    code, result, unit, orresu, stresc, stresn, stresu = CONVERSIONS[case]
    row = converted().loc[case]
    assert row["LBTESTCD"] == dict(zip(lab_tests()["LBCODE"], lab_tests()["LBTESTCD"]))[code]
    assert (row["LBORRES"], row["LBORRESU"]) == (result, orresu)
    assert (row["LBSTRESC"], row["LBSTRESU"]) == (stresc, stresu)
    assert row["LBSTRESN"] == pytest.approx(stresn, rel=0, abs=1e-12)



def test_every_catalogue_test_is_converted_by_its_factor():
    tests = [t for t in lab_tests().itertuples() if t.domain != "CP"]  # CP's tests: test_sdtm_cp
    lb = mapped(*(lab(t.LBCODE, "250", t.local_unit) for t in tests))
    expected = [250 * float(t.factor) for t in tests]
    assert lb["LBSTRESN"].tolist() == pytest.approx(expected)
    assert lb["LBSTRESU"].tolist() == [t.LBSTRESU for t in tests]


def test_reference_range_converted_with_the_same_factor_and_kept_as_collected():
    lb = mapped(lab("PLAQ", "182000", "/mm3", "150000", "400000"))
    assert (lb.loc[0, "LBORNRLO"], lb.loc[0, "LBORNRHI"]) == ("150000", "400000")
    assert (lb.loc[0, "LBSTNRLO"], lb.loc[0, "LBSTNRHI"]) == (150.0, 400.0)


def test_result_outside_the_measurable_range_keeps_its_comparator_and_has_no_numeric_value():
    lb = mapped(lab("KAPPA", "<3.3", "mg/L", "3.3", "19.4"),
                lab("PLAQ", "<1000", "/mm3", "150000", "400000"),  # bound converted too: <1 10^9/L
                lab("CHIM", ">95", "%"))
    assert lb["LBORRES"].tolist() == ["<3.3", "<1000", ">95"]
    assert lb["LBSTRESC"].tolist() == ["<3.3", "<1", ">95"]
    assert lb["LBSTRESN"].isna().all()


def test_reference_range_only_on_continuous_results_and_the_dropped_ranges_are_reported():
    result = map_rows(lab("KAPPA", "<3.3", "mg/L", "3.3", "19.4"),  # not continuous: range not carried
                      lab("KAPPA", "5.1", "mg/L", "3.3", "19.4", visit="M01", date="2011-11-02"))
    lb = result.table.sort_values("_line")
    assert lb["LBORNRLO"].tolist() == ["", "3.3"] and lb["LBORNRHI"].tolist() == ["", "19.4"]
    assert lb["LBSTNRLO"].isna().tolist() == [True, False]
    assert lb["LBNRIND"].tolist() == ["LOW", "NORMAL"]  # still judged from the collected range
    assert [(f.rule, f.severity, f.location) for f in result.findings] == [
        ("LB-RANGE-NOT-CONTINUOUS", "info", "laboratory.csv:2:LBCODE")]


# ------------------------------------------------------------------------- reference range
def test_nrind_compares_the_result_with_the_local_reference_range():
    lb = mapped(lab("HB", "11.8", "g/dL", "13", "17"),     # below 13: LOW
                lab("HB", "13", "g/dL", "13", "17", visit="M01", date="2011-11-02"),     # on the limit: NORMAL
                lab("HB", "17.5", "g/dL", "13", "17", visit="M02", date="2011-12-01"),   # HIGH
                lab("CHIM", "98", "%"),                                                # no range: null
                lab("KAPPA", "<3.3", "mg/L", "3.3", "19.4"),                           # < the lower limit: LOW
                lab("KAPPA", "<5", "mg/L", "3.3", "19.4", visit="M01", date="2011-11-02"))  # undecided: null
    assert lb["LBNRIND"].tolist() == ["LOW", "NORMAL", "HIGH", "", "LOW", ""]


# ------------------------------------------------------------------------------ CTCAE grade
PLATELET_GRADES = [
    ("150000", "0"),  # at the lower limit of normal
    ("149000", "1"),  # < LLN - 75,000/mm3
    ("75000", "1"),
    ("74999", "2"),   # < 75,000 - 50,000
    ("50000", "2"),
    ("49000", "3"),   # < 50,000 - 25,000
    ("25000", "3"),
    ("24000", "4"),   # < 25,000
]


def test_platelets_graded_with_ctcae_v3():
    lb = mapped(*(lab("PLAQ", value, "/mm3", "150000", "400000", date=f"2011-09-{i + 1:02d}")
                  for i, (value, _) in enumerate(PLATELET_GRADES)))
    assert list(zip(lb["LBORRES"], lb["LBTOXGR"])) == PLATELET_GRADES
    assert set(lb["LBTOX"]) == {"Platelets"}


DECREASES = [  # (local code, result, unit, lower limit of normal, grade)
    ("PNN", "1500", "/mm3", "1800", "1"), ("PNN", "1499", "/mm3", "1800", "2"), ("PNN", "999", "/mm3", "1800", "3"),
    ("PNN", "499", "/mm3", "1800", "4"),
    ("HB", "9.9", "g/dL", "13", "2"), ("HB", "7.9", "g/dL", "13", "3"), ("HB", "6.4", "g/dL", "13", "4"),
    ("LEUCO", "2500", "/mm3", "4000", "2"), ("LYMPH", "450", "/mm3", "1000", "3"),
]


def test_decreases_graded_against_fixed_cutoffs_in_standard_units():
    lb = mapped(*(lab(code, result, unit, low, "99999", date=f"2011-09-{i + 1:02d}")
                  for i, (code, result, unit, low, _) in enumerate(DECREASES)))
    assert lb["LBTOXGR"].tolist() == [case[-1] for case in DECREASES]


AST_GRADES = [
    ("35", "0"), ("36", "1"), ("87.5", "1"),  # > ULN - 2.5 x ULN
    ("88", "2"), ("175", "2"),                # > 2.5 - 5.0 x ULN
    ("176", "3"), ("700", "3"),               # > 5.0 - 20.0 x ULN
    ("701", "4"),                             # > 20.0 x ULN
]


def test_ast_graded_relative_to_the_upper_limit_of_normal():
    lb = mapped(*(lab("ASAT", value, "UI/L", "5", "35", date=f"2011-09-{i + 1:02d}")
                  for i, (value, _) in enumerate(AST_GRADES)))
    assert list(zip(lb["LBORRES"], lb["LBTOXGR"])) == AST_GRADES


def test_bilirubin_and_creatinine_grade_4_thresholds_differ():
    lb = mapped(lab("BILI", "171", "µmol/L", "3", "17"),   # > 10 x ULN: bilirubin grade 4
                lab("CREAT", "620", "µmol/L", "60", "100"))  # > 6 x ULN: creatinine grade 4
    assert lb["LBTOXGR"].tolist() == ["4", "4"]


def test_no_grade_for_ungraded_tests_censored_results_or_an_undecidable_missing_limit():
    lb = mapped(lab("KAPPA", "25", "mg/L", "3.3", "19.4"),  # CTCAE v3.0 does not grade free light chains
                lab("PLAQ", "<1000", "/mm3", "150000", "400000"),  # no number to grade
                lab("PLAQ", "100000", "/mm3", visit="M01", date="2011-11-02"),  # grade 0 or 1: needs the LLN
                lab("PLAQ", "40000", "/mm3", visit="M02", date="2011-12-01"))   # < 50,000: grade 3 whatever the LLN
    assert lb["LBTOXGR"].tolist() == ["", "", "", "3"]
    assert lb["LBTOX"].tolist() == ["", "", "", "Platelets"]


# ----------------------------------------------------------------- baseline, visits, days
def test_baseline_is_the_last_result_on_or_before_the_first_dose_per_test():
    lb = mapped(lab("HB", "12.1", "g/dL", visit="INCLUSION", date="2011-09-20"),
                lab("HB", "12.5", "g/dL", visit="INCLUSION", date="2011-10-03"),  # first-dose day: pre-dose sample
                lab("HB", "12.9", "g/dL", visit="M01", date="2011-11-02"),        # on treatment
                lab("PLAQ", "182000", "/mm3", visit="INCLUSION", date="2011-09-20"),
                lab("PLAQ", "", "", visit="M01", date="2011-10-01", LBSTAT="NOT DONE"))  # not done: no baseline
    assert lb["LBBLFL"].tolist() == ["", "Y", "", "Y", ""]
    assert lb["LBLOBXFL"].tolist() == lb["LBBLFL"].tolist()


def test_visit_number_study_day_and_epoch():
    lb = mapped(lab("HB", "12", "g/dL", visit="INCLUSION", date="2011-10-02"),
                lab("HB", "12", "g/dL", visit="M01", date="2011-10-03"),
                lab("HB", "12", "g/dL", visit="M12", date="2012-04-02"),
                lab("HB", "12", "g/dL", visit="EOT", date="2012-04-10"))
    assert lb["VISITNUM"].tolist() == [1.0, 2.0, 13.0, 14.0]
    assert lb["LBDY"].tolist() == [-1.0, 1.0, 183.0, 191.0]  # no day 0
    assert lb["EPOCH"].tolist() == ["SCREENING", "TREATMENT", "TREATMENT", "FOLLOW-UP"]
    assert lb["LBDTC"].tolist() == ["2011-10-02", "2011-10-03", "2012-04-02", "2012-04-10"]


def test_test_not_done_keeps_its_status_and_reason_without_result_or_units():
    lb = mapped(lab("KAPPA", "", "", LBSTAT="NOT DONE", LBREASND="Prélèvement coagulé"))
    row = lb.loc[0]
    assert (row["LBSTAT"], row["LBREASND"]) == ("NOT DONE", "Prélèvement coagulé")
    assert (row["LBORRES"], row["LBORRESU"], row["LBSTRESC"], row["LBSTRESU"]) == ("", "", "", "")
    assert math.isnan(row["LBSTRESN"]) and row["LBNRIND"] == "" and row["LBTOXGR"] == ""


def test_test_identity_from_the_catalogue_and_sequence_per_subject():
    lb = mapped(lab("PLAQ", "182000", "/mm3"), lab("HB", "11.8", "g/dL"), lab("PICM", "3.1", "g/L"),
                lab("CD4", "431", "/µL"))  # CD4+ T cells: a cell phenotyping result, CP's (test_sdtm_cp)
    assert lb[["LBTESTCD", "LBTEST", "LBCAT", "LBSPEC", "LBLOINC"]].values.tolist() == [
        ["PLAT", "Platelets", "HEMATOLOGY", "BLOOD", "777-3"],
        ["HGB", "Hemoglobin", "HEMATOLOGY", "BLOOD", "718-7"],
        ["MCPROT", "Monoclonal Protein", "IMMUNOLOGY", "SERUM", "33358-3"]]
    assert lb["LBMETHOD"].tolist() == ["", "", "ELECTROPHORESIS"]
    assert lb["LBSEQ"].tolist() == [2.0, 1.0, 3.0]  # same date and visit: catalogue order (HGB first)
    assert lb["USUBJID"].unique().tolist() == ["REVALLO-01-001"]


def test_columns_follow_the_study_spec_and_provenance_rides_along():
    result = map_rows(lab("HB", "11.8", "g/dL"))
    assert result.table.columns.tolist() == study_spec().dataset("LB").names + ["_file", "_line"]
    assert result.table[["_file", "_line"]].values.tolist() == [["laboratory.csv", 2]]
    assert result.supp is None and result.findings == [] and result.rejected.empty


def test_unknown_test_code_is_rejected_with_its_reason_and_an_error():
    result = map_rows(lab("HB", "11.8", "g/dL"), lab("FERRITIN", "250", "µg/L"))  # line 3: not in the catalogue
    assert len(result.table) == 1
    assert result.rejected[["_file", "_line"]].values.tolist() == [["laboratory.csv", 3]]
    assert [(f.rule, f.severity, f.location) for f in result.findings] == [
        ("LB-TEST-UNKNOWN", "error", "laboratory.csv:3:LBCODE")]


# --------------------------------------------------------------------------- the example
@pytest.mark.skipif(not (EXAMPLE / "laboratory.csv").exists(), reason="examples/revallo not generated yet")
def test_example_every_lab_row_is_in_lb_or_cp_and_graded_tests_have_grades():
    from trialbridge.converters.pipeline import read_study as read_native
    from revallo_domains import map_cp, map_dm
    from revallo_domains import map_ex

    example, _ = read_native(EXAMPLE)
    sdtm: dict[str, pd.DataFrame] = {}
    sdtm["EX"] = map_ex(example, sdtm).table
    sdtm["DM"] = map_dm(example, sdtm).table
    result = map_lb(example, sdtm)
    lb = result.table
    cp = map_cp(example, sdtm)  # the flow-cytometry counts
    assert len(lb) + len(cp.table) == len(example.forms["laboratory"]) and result.rejected.empty and cp.rejected.empty
    assert not set(zip(lb["_file"], lb["_line"])) & set(zip(cp.table["_file"], cp.table["_line"]))
    assert not [f for f in result.findings if f.severity == "error"]
    graded = lb["LBTESTCD"].isin(["PLAT", "NEUT", "HGB", "WBC", "LYM", "CREAT", "AST", "ALT", "BILI"])
    numeric = lb["LBSTRESN"].notna()
    assert (lb.loc[graded & numeric & (lb["LBSTNRLO"].notna() | lb["LBSTNRHI"].notna()), "LBTOXGR"] != "").all()
    assert (lb.loc[~graded, "LBTOXGR"] == "").all()
    assert lb.groupby(["USUBJID", "LBTESTCD"])["LBBLFL"].apply(lambda f: (f == "Y").sum()).le(1).all()
    assert not lb.duplicated(["USUBJID", "LBSEQ"]).any()
