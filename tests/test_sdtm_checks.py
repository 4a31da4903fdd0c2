"""SDTM conformance checks: each rule on a small package that holds it and on one that breaks it.

Tables are written inline; a comment marks every row (or column) that must fail. Expected findings are a
flat list of (rule id, location), location = dataset:variable:record (record = 1-based row).
"""
from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd

from trialbridge.schemas import sdtm_checks
from trialbridge.schemas.findings import catalogue
from trialbridge.schemas.sdtm_checks import RULES, RuleCheck, check_sdtm
from trialbridge.schemas.sdtm_checks_sdtmig import spec_from_sdtmig
from trialbridge.schemas.sdtm_spec import Dataset, StudySpec, ValueLevel, Variable

NAN = np.nan


# ------------------------------------------------------------------------------------------ helpers
def declare(name: str, table: pd.DataFrame, *, req: tuple[str, ...] = (), codelists: dict[str, str] | None = None,
            keys: tuple[str, ...] = (), labels: dict[str, str] | None = None, label: str = "Test Dataset") -> Dataset:
    """A study-spec dataset declaring every SDTM column of `table` (Perm unless named in `req`)."""
    codelists, labels = codelists or {}, labels or {}
    variables = tuple(
        Variable(dataset=name, name=c, label=labels.get(c, c.title()),
                 type="Num" if pd.api.types.is_numeric_dtype(table[c]) else "Char", order=i,
                 core="Req" if c in req else "Perm", role="", codelist=codelists.get(c, ""), origin="Collected",
                 source="", method="", comment="")
        for i, c in enumerate(table.columns, start=1) if c not in ("_file", "_line")
    )
    return Dataset(name=name, label=label, cls="", structure="", keys=keys, variables=variables)


def spec_of(*datasets: Dataset, value_level: tuple[ValueLevel, ...] = ()) -> StudySpec:
    return StudySpec(datasets={d.name: d for d in datasets}, value_level=value_level, methods={})


def run(rule_id: str, tables: dict[str, pd.DataFrame],
        spec: StudySpec | None = None) -> tuple[list[tuple[str, str]], str]:
    """The (rule, location) findings of one rule and its status, on a package declared as it stands."""
    spec = spec or spec_of(*(declare(n, t) for n, t in tables.items()))
    findings, results = check_sdtm(tables, spec)
    status = {r.rule_id: r.status for r in results}[rule_id]
    return [(f.rule, f.location) for f in findings if f.rule == rule_id], status


def dm_table(**columns: list) -> pd.DataFrame:
    """A valid two-subject DM (every SDTMIG Required variable), with `columns` replaced or added."""
    base = {
        "STUDYID": ["REVALLO", "REVALLO"], "DOMAIN": ["DM", "DM"], "USUBJID": ["REVALLO-01-001", "REVALLO-01-002"],
        "SUBJID": ["001", "002"], "RFSTDTC": ["2012-01-10", "2012-02"], "SITEID": ["01", "01"],
        "SEX": ["F", "M"], "COUNTRY": ["FRA", "FRA"],
    }
    return pd.DataFrame({**base, **columns})


S1, S2 = "REVALLO-01-001", "REVALLO-01-002"  # S1: RFSTDTC 2012-01-10; S2: RFSTDTC partial (2012-02)


# ----------------------------------------------------------------------------------- declarations
def test_every_dataset_is_declared_in_the_study_spec():
    xx = pd.DataFrame({"STUDYID": ["REVALLO"]})
    tables = {"DM": dm_table(), "XX": xx}  # XX: not in the spec
    assert run("SD-DATASET-DECLARED", tables, spec_of(declare("DM", tables["DM"]))) == (
        [("SD-DATASET-DECLARED", "xx")], "issues")
    assert run("SD-DATASET-DECLARED", tables) == ([], "passed")


def test_every_written_column_is_declared_for_its_dataset():
    dm = dm_table(NICKNAME=["Jo", "Al"], _file=["enrolment.csv"] * 2, _line=[2, 3])  # NICKNAME: undeclared
    spec = spec_of(declare("DM", dm_table()))
    assert run("SD-VAR-DECLARED", {"DM": dm}, spec) == ([("SD-VAR-DECLARED", "dm:NICKNAME")], "issues")
    assert run("SD-VAR-DECLARED", {"DM": dm}) == ([], "passed")  # provenance columns are never written


# ------------------------------------------------------------------------------- core: Req and Exp
def test_required_variables_are_present():
    dm = dm_table().drop(columns=["SEX", "COUNTRY"])  # SDTMIG 3.4 DM: SEX and COUNTRY are Req
    xx = pd.DataFrame({"STUDYID": ["REVALLO"]})
    spec = spec_of(declare("DM", dm), declare("XX", xx.assign(XXTESTCD=["A"]), req=("XXTESTCD",)))  # spec: Req
    assert run("SD-REQ-PRESENT", {"DM": dm, "XX": xx}, spec) == ([
        ("SD-REQ-PRESENT", "dm:SEX"),
        ("SD-REQ-PRESENT", "dm:COUNTRY"),
        ("SD-REQ-PRESENT", "xx:XXTESTCD"),
    ], "issues")
    assert run("SD-REQ-PRESENT", {"DM": dm_table()}) == ([], "passed")


def test_required_variables_have_a_value_in_every_record():
    dm = dm_table(
        SITEID=["", "01"],  # row 1: SITEID empty
        SEX=["F", ""],  # row 2: SEX empty
    )
    xx = pd.DataFrame({"XXSEQ": [1.0, NAN]})  # row 2: a Num Req variable is NaN
    spec = spec_of(declare("DM", dm), declare("XX", xx, req=("XXSEQ",)))
    assert run("SD-REQ-NULL", {"DM": dm, "XX": xx}, spec) == ([
        ("SD-REQ-NULL", "dm:SITEID:1"),
        ("SD-REQ-NULL", "dm:SEX:2"),
        ("SD-REQ-NULL", "xx:XXSEQ:2"),
    ], "issues")
    assert run("SD-REQ-NULL", {"DM": dm_table()}) == ([], "passed")


def test_expected_variables_are_present():
    expected = ["RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL", "AGE",
                "AGEU", "RACE", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "ARMNRS", "ACTARMUD"]  # SDTMIG 3.4 DM Exp
    full = dm_table(**{v: ["", ""] for v in expected if v != "RFSTDTC"})
    without = full.drop(columns=["ARMNRS"])  # ARMNRS: Exp, missing
    findings, results = check_sdtm({"DM": without}, spec_of(declare("DM", without)))
    assert [(f.rule, f.location, f.severity) for f in findings if f.rule == "SD-EXP-PRESENT"] == [
        ("SD-EXP-PRESENT", "dm:ARMNRS", "warning")]
    assert run("SD-EXP-PRESENT", {"DM": full}) == ([], "passed")


# ------------------------------------------------------------------------------------- terminology
def test_values_of_a_non_extensible_codelist_are_its_terms():
    dm = dm_table(
        SEX=["F", "Female"],  # row 2: not a term of Sex (C66731, non-extensible)
        RACE=["MULTIPLE", "WHITE"],  # MULTIPLE: outside C74457 but prescribed by SDTMIG 3.4 section 5.2
    )
    spec = spec_of(declare("DM", dm, codelists={"SEX": "C66731", "RACE": "C74457"}))
    findings, _ = check_sdtm({"DM": dm}, spec)
    assert [(f.rule, f.location, f.severity, f.values) for f in findings if f.rule == "SD-CT-NONEXT"] == [
        ("SD-CT-NONEXT", "dm:SEX:2", "error", ("Female",))]
    assert run("SD-CT-NONEXT", {"DM": dm_table()}, spec_of(declare("DM", dm_table(), codelists={"SEX": "C66731"}))) == (
        [], "passed")


def test_values_outside_an_extensible_codelist_are_reported_as_sponsor_terms():
    lb = pd.DataFrame({
        "LBSTRESC": ["5.2", "NEGATIVE", "<0.5", "TRACES"],  # row 4: text result outside C102580
        "LBSTRESU": ["10^9/L", "", "g/L", "giga/L"],  # row 4: not a term of Unit (C71620, extensible)
    })  # numbers and "<0.5" are quantitative results, outside the reach of a character-result codelist
    spec = spec_of(declare("LB", lb, codelists={"LBSTRESC": "C102580", "LBSTRESU": "C71620"}))
    findings, _ = check_sdtm({"LB": lb}, spec)
    assert [(f.rule, f.location, f.severity) for f in findings if f.rule == "SD-CT-EXT"] == [
        ("SD-CT-EXT", "lb:LBSTRESC:4", "warning"),
        ("SD-CT-EXT", "lb:LBSTRESU:4", "warning"),
    ]
    assert run("SD-CT-EXT", {"LB": lb.iloc[:3]}, spec) == ([], "passed")


def test_value_level_codelists_govern_the_records_they_name():
    suppae = pd.DataFrame({
        "QNAM": ["AESTRFL", "AESTRFL", "AEGVHD"],
        "QVAL": ["Y", "Yes", "Yes"],  # row 2: AESTRFL takes No Yes Response (C66742); row 3: AEGVHD has no codelist
    })
    level = ValueLevel(dataset="SUPPAE", variable="QVAL", where_variable="QNAM", where_value="AESTRFL", type="text",
                       label="Steroid-Refractory GVHD", unit="", origin="Collected", method="", codelist="C66742")
    spec = spec_of(declare("SUPPAE", suppae), value_level=(level,))
    assert run("SD-CT-NONEXT", {"SUPPAE": suppae}, spec) == ([("SD-CT-NONEXT", "suppae:QVAL:2")], "issues")


def test_epoch_values_are_cdisc_epochs():
    ae = pd.DataFrame({"EPOCH": ["SCREENING", "POST-TRANSPLANT", "FOLLOW-UP", ""]})  # row 2: not in C99079
    findings, _ = check_sdtm({"AE": ae}, spec_of(declare("AE", ae)))
    assert [(f.rule, f.location, f.severity) for f in findings if f.rule == "SD-EPOCH-CT"] == [
        ("SD-EPOCH-CT", "ae:EPOCH:2", "warning")]
    assert run("SD-EPOCH-CT", {"AE": ae.iloc[[0, 2, 3]]}) == ([], "passed")


# ----------------------------------------------------------------------------------- dates and days
def test_dates_are_iso_8601_with_partial_dates_right_truncated():
    ae = pd.DataFrame({"AESTDTC": [
        "2012-03-14",
        "2012-03-14T09:30",
        "2012-03",
        "2012",
        "2003---15",  # SDTMIG 4.4.2: month unknown, day known
        "2012-03-01/2012-03-10",  # SDTMIG 4.4.3: interval of uncertainty
        "",
        "UNK-03-2012",  # row 8: the CRF's partial date, not ISO 8601
        "14/03/2012",  # row 9: day/month/year
        "2012-3-14",  # row 10: month without its leading zero
        "2012-03-14 09:30",  # row 11: a space instead of T
    ]})
    assert run("SD-DTC-FORMAT", {"AE": ae}) == ([
        ("SD-DTC-FORMAT", "ae:AESTDTC:8"),
        ("SD-DTC-FORMAT", "ae:AESTDTC:9"),
        ("SD-DTC-FORMAT", "ae:AESTDTC:10"),
        ("SD-DTC-FORMAT", "ae:AESTDTC:11"),
    ], "issues")
    assert run("SD-DTC-FORMAT", {"AE": ae.iloc[:7]}) == ([], "passed")


def test_dates_name_days_and_times_that_exist():
    ae = pd.DataFrame({"AESTDTC": [
        "2012-02-29",  # a leap day
        "--02-29",  # year unknown: 29 February may exist
        "2011-02-29",  # row 3: 2011 is not a leap year
        "2011-13",  # row 4: month 13
        "2012-04-31",  # row 5: April has 30 days
        "2012-03-14T25:00",  # row 6: hour 25
        "2012-03-01/2012-02-30",  # row 7: the end of the interval does not exist
        "14/03/2012",  # not ISO 8601 at all: SD-DTC-FORMAT's finding, not this rule's
    ]})
    assert run("SD-DTC-DATE", {"AE": ae}) == ([
        ("SD-DTC-DATE", "ae:AESTDTC:3"),
        ("SD-DTC-DATE", "ae:AESTDTC:4"),
        ("SD-DTC-DATE", "ae:AESTDTC:5"),
        ("SD-DTC-DATE", "ae:AESTDTC:6"),
        ("SD-DTC-DATE", "ae:AESTDTC:7"),
    ], "issues")
    assert run("SD-DTC-DATE", {"AE": ae.iloc[[0, 1, 7]]}) == ([], "passed")


def test_study_days_count_from_rfstdtc_without_day_0():
    lb = pd.DataFrame({
        "USUBJID": [S1, S1, S1, S1, S1, S1, S1, S2, S2],
        "LBDTC": ["2012-01-10", "2012-01-09T08:00", "2012-01-11", "2012-01-09", "2012-01", "2012-01",
                  "2012-01-20", "2012-02-15", "2012-02-15"],
        "LBDY": [
            1.0,  # RFSTDTC itself is day 1
            -1.0,  # the day before is day -1
            1.0,  # row 3: 2012-01-11 is day 2
            0.0,  # row 4: there is no day 0
            NAN,  # a partial date has no study day
            5.0,  # row 6: ... and gets none
            NAN,  # row 7: a complete date on a complete RFSTDTC needs its study day (11)
            14.0,  # row 8: S2's RFSTDTC is partial: no study day
            NAN,
        ],
    })
    ae = pd.DataFrame({"USUBJID": [S1], "AESTDTC": ["2012-01-12"], "AESTDY": [3.0],
                       "AEENDTC": ["2012-01-15"], "AEENDY": [5.0]})  # AEENDY: 2012-01-15 is day 6
    tables = {"DM": dm_table(), "LB": lb, "AE": ae}
    assert run("SD-DY", tables) == ([
        ("SD-DY", "lb:LBDY:3"),
        ("SD-DY", "lb:LBDY:4"),
        ("SD-DY", "lb:LBDY:6"),
        ("SD-DY", "lb:LBDY:7"),
        ("SD-DY", "lb:LBDY:8"),
        ("SD-DY", "ae:AEENDY:1"),
    ], "issues")
    assert run("SD-DY", {"DM": dm_table(), "LB": lb.iloc[[0, 1, 4, 8]]}) == ([], "passed")
    assert run("SD-DY", {"LB": lb}) == ([], "skipped")  # no DM, no RFSTDTC


def test_a_study_day_finding_carries_the_day_the_date_and_rfstdtc():
    lb = pd.DataFrame({"USUBJID": [S1], "LBDTC": ["2012-01-09"], "LBDY": [0.0],
                       "_file": ["laboratory.csv"], "_line": [14]})
    findings, _ = check_sdtm({"DM": dm_table(), "LB": lb}, spec_of(declare("DM", dm_table()), declare("LB", lb)))
    (day,) = [f for f in findings if f.rule == "SD-DY"]
    assert day.values == ("0", "2012-01-09", "2012-01-10")
    assert (day.file, day.line, day.row, day.dataset, day.variable) == ("laboratory.csv", 14, 1, "LB", "LBDY")


# ---------------------------------------------------------------------------------- identity, keys
def test_seq_is_unique_per_subject_within_a_dataset():
    ae = pd.DataFrame({
        "USUBJID": [S1, S1, S2, S1],
        "AESEQ": [1.0, 2.0, 1.0, 2.0],  # rows 2 and 4: S1 has AESEQ 2 twice
    })
    ts = pd.DataFrame({
        "TSPARMCD": ["TRT", "TITLE", "TRT"],
        "TSSEQ": [1.0, 1.0, 1.0],  # rows 1 and 3: TSSEQ 1 twice for TSPARMCD TRT
    })
    assert run("SD-SEQ-UNIQUE", {"AE": ae, "TS": ts}) == ([
        ("SD-SEQ-UNIQUE", "ae:AESEQ:2"),
        ("SD-SEQ-UNIQUE", "ae:AESEQ:4"),
        ("SD-SEQ-UNIQUE", "ts:TSSEQ:1"),
        ("SD-SEQ-UNIQUE", "ts:TSSEQ:3"),
    ], "issues")
    assert run("SD-SEQ-UNIQUE", {"AE": ae.iloc[:3], "TS": ts.iloc[:2]}) == ([], "passed")


def test_natural_keys_identify_one_record():
    ds = pd.DataFrame({
        "USUBJID": [S1, S1, S2, S1],
        "DSDECOD": ["INFORMED CONSENT OBTAINED", "COMPLETED", "COMPLETED", "COMPLETED"],
        "DSSTDTC": ["2011-08-01", "2012-08-01", "2012-08-01", "2012-08-01"],  # rows 2 and 4: same key
    })
    keyed = spec_of(declare("DS", ds, keys=("USUBJID", "DSDECOD", "DSSTDTC")))
    assert run("SD-KEY-UNIQUE", {"DS": ds}, keyed) == ([
        ("SD-KEY-UNIQUE", "ds:DSSTDTC:2"),
        ("SD-KEY-UNIQUE", "ds:DSSTDTC:4"),
    ], "issues")
    assert run("SD-KEY-UNIQUE", {"DS": ds.iloc[:3]}, keyed) == ([], "passed")
    assert run("SD-KEY-UNIQUE", {"DS": ds}) == ([], "skipped")  # no keys declared


def test_every_subject_is_in_dm():
    ae = pd.DataFrame({"USUBJID": [S1, "REVALLO-01-009", S2]})  # row 2: no DM record
    assert run("SD-USUBJID-DM", {"DM": dm_table(), "AE": ae}) == ([("SD-USUBJID-DM", "ae:USUBJID:2")], "issues")
    assert run("SD-USUBJID-DM", {"DM": dm_table(), "AE": ae.iloc[[0, 2]]}) == ([], "passed")
    assert run("SD-USUBJID-DM", {"AE": ae}) == ([], "skipped")


def test_dm_has_one_record_per_subject():
    dm = dm_table(USUBJID=[S1, S2]).iloc[[0, 1, 0]]  # rows 1 and 3: S1 twice
    assert run("SD-DM-ONE", {"DM": dm.reset_index(drop=True)}) == ([
        ("SD-DM-ONE", "dm:USUBJID:1"),
        ("SD-DM-ONE", "dm:USUBJID:3"),
    ], "issues")
    assert run("SD-DM-ONE", {"DM": dm_table()}) == ([], "passed")


def test_domain_names_the_dataset():
    ae = pd.DataFrame({"DOMAIN": ["AE", "EA"]})  # row 2: not AE
    lbch = pd.DataFrame({"DOMAIN": ["LB", "LBCH"]})  # a split dataset keeps its domain's code; row 2: not LB
    suppae = pd.DataFrame({"RDOMAIN": ["AE", "DM"]})  # row 2: SUPPAE qualifies AE
    assert run("SD-DOMAIN", {"AE": ae, "LBCH": lbch, "SUPPAE": suppae}) == ([
        ("SD-DOMAIN", "ae:DOMAIN:2"),
        ("SD-DOMAIN", "lbch:DOMAIN:2"),
        ("SD-DOMAIN", "suppae:RDOMAIN:2"),
    ], "issues")
    assert run("SD-DOMAIN", {"AE": ae.iloc[:1], "LBCH": lbch.iloc[:1], "SUPPAE": suppae.iloc[:1]}) == ([], "passed")


# --------------------------------------------------------------------------------- results, tests
def test_a_numeric_standard_result_is_repeated_in_stresn():
    lb = pd.DataFrame({
        "LBSTRESC": ["5.2", "5.2", "NEGATIVE", "NEGATIVE", "7", "<0.5", "", "1E3"],
        "LBSTRESN": [
            5.2,
            5.3,  # row 2: not the number in LBSTRESC
            NAN,
            1.0,  # row 4: a number for a text result
            NAN,  # row 5: LBSTRESC is a number, LBSTRESN must repeat it
            NAN,
            NAN,
            1000.0,
        ],
    })
    assert run("SD-STRESN", {"LB": lb}) == ([
        ("SD-STRESN", "lb:LBSTRESN:2"),
        ("SD-STRESN", "lb:LBSTRESN:4"),
        ("SD-STRESN", "lb:LBSTRESN:5"),
    ], "issues")
    assert run("SD-STRESN", {"LB": lb.iloc[[0, 2, 5, 6, 7]]}) == ([], "passed")


def test_a_standard_result_beyond_what_an_8_byte_number_holds_is_said():
    forty = "1234567890123456789012345678901234567890"  # a 40-digit result: LBSTRESN holds it only rounded
    lb = pd.DataFrame({"LBSTRESC": ["5.2", forty, "1000000000000000000000", "0.000000000000000123", "<5"],
                       "LBSTRESN": [5.2, float(forty), 1e21, 1.23e-16, NAN]})
    assert run("SD-STRESN-PRECISION", {"LB": lb}) == ([("SD-STRESN-PRECISION", "lb:LBSTRESN:2")], "issues")
    assert run("SD-STRESN", {"LB": lb}) == ([], "passed")  # the number is as near as the format allows
    assert run("SD-STRESN-PRECISION", {"LB": lb.iloc[[0, 2, 3, 4]]}) == ([], "passed")


def test_test_codes_are_at_most_8_letters_digits_or_underscores():
    lb = pd.DataFrame({"LBTESTCD": ["PLAT", "NEUT_ABS", "PLATELETS", "1PLAT", "PL-AT", ""]})
    # rows 3, 4, 5: 9 characters, a leading digit, a hyphen; an empty one is SD-REQ-NULL's
    ts = pd.DataFrame({"TSPARMCD": ["AGEMIN", "AGEMINIMUM"]})  # row 2: 10 characters
    assert run("SD-TESTCD", {"LB": lb, "TS": ts}) == ([
        ("SD-TESTCD", "lb:LBTESTCD:3"),
        ("SD-TESTCD", "lb:LBTESTCD:4"),
        ("SD-TESTCD", "lb:LBTESTCD:5"),
        ("SD-TESTCD", "ts:TSPARMCD:2"),
    ], "issues")
    assert run("SD-TESTCD", {"LB": lb.iloc[[0, 1, 5]]}) == ([], "passed")


def test_test_names_are_at_most_40_characters_and_ietest_200():
    lb = pd.DataFrame({"LBTEST": ["Platelets", "P" * 40, "P" * 41]})  # row 3: 41 characters
    ti = pd.DataFrame({"IETEST": ["I" * 200, "I" * 201]})  # IETEST may hold 200; row 2: 201
    assert run("SD-TEST", {"LB": lb, "TI": ti}) == ([
        ("SD-TEST", "lb:LBTEST:3"),
        ("SD-TEST", "ti:IETEST:2"),
    ], "issues")
    assert run("SD-TEST", {"LB": lb.iloc[:2], "TI": ti.iloc[:1]}) == ([], "passed")


# ------------------------------------------------------------------------------------------ SUPP--
def test_qnam_is_a_short_upper_case_name():
    suppae = pd.DataFrame({"QNAM": ["AESTRFL", "AE_GVHD", "AESTEROIDREF", "1GVHD", "aegvhd"]})
    # rows 3, 4, 5: 12 characters, a leading digit, lower case
    assert run("SD-SUPP-QNAM", {"SUPPAE": suppae}) == ([
        ("SD-SUPP-QNAM", "suppae:QNAM:3"),
        ("SD-SUPP-QNAM", "suppae:QNAM:4"),
        ("SD-SUPP-QNAM", "suppae:QNAM:5"),
    ], "issues")
    assert run("SD-SUPP-QNAM", {"SUPPAE": suppae.iloc[:2]}) == ([], "passed")


def test_qlabel_is_at_most_40_characters():
    suppae = pd.DataFrame({"QLABEL": ["Steroid-Refractory GVHD", "L" * 41]})  # row 2: 41 characters
    assert run("SD-SUPP-QLABEL", {"SUPPAE": suppae}) == ([("SD-SUPP-QLABEL", "suppae:QLABEL:2")], "issues")
    assert run("SD-SUPP-QLABEL", {"SUPPAE": suppae.iloc[:1]}) == ([], "passed")
    assert run("SD-SUPP-QLABEL", {"DM": dm_table()}) == ([], "skipped")


def test_supp_records_point_at_existing_parent_records():
    ae = pd.DataFrame({"USUBJID": [S1, S1], "AESEQ": [1.0, 2.0]})
    suppae = pd.DataFrame({
        "RDOMAIN": ["AE", "AE", "AE", "XX"],
        "USUBJID": [S1, S1, S1, S1],
        "IDVAR": ["AESEQ", "AESEQ", "AESPID", "AESEQ"],
        "IDVARVAL": ["2", "3", "7", "1"],
        # row 2: S1 has no AESEQ 3; row 3: AE has no AESPID; row 4: no dataset XX
    })
    suppdm = pd.DataFrame({
        "RDOMAIN": ["DM", "DM"], "USUBJID": [S1, "REVALLO-01-009"], "IDVAR": ["", ""], "IDVARVAL": ["", ""],
        # row 2: a subject-level qualifier of a subject DM does not have
    })
    tables = {"DM": dm_table(), "AE": ae, "SUPPAE": suppae, "SUPPDM": suppdm}
    assert run("SD-SUPP-PARENT", tables) == ([
        ("SD-SUPP-PARENT", "suppae:RDOMAIN:4"),
        ("SD-SUPP-PARENT", "suppae:IDVAR:3"),
        ("SD-SUPP-PARENT", "suppae:IDVARVAL:2"),
        ("SD-SUPP-PARENT", "suppdm:USUBJID:2"),
    ], "issues")
    valid = {**tables, "SUPPAE": suppae.iloc[:1], "SUPPDM": suppdm.iloc[:1]}
    assert run("SD-SUPP-PARENT", valid) == ([], "passed")


# ------------------------------------------------------------------------------------ XPT v5 limits
def test_names_fit_sas_transport_v5():
    lb = pd.DataFrame({"LBTESTCD": ["PLAT"], "LBTESTCODE": ["PLAT"], "_file": ["laboratory.csv"], "_line": [2]})
    # LBTESTCODE: 10 characters; the provenance columns are not written
    tables = {"LB": lb, "LBHEMATO": lb[["LBTESTCD"]], "LB_CH": lb[["LBTESTCD"]]}  # LB_CH: underscore
    assert run("SD-XPT-NAME", tables) == ([
        ("SD-XPT-NAME", "lb:LBTESTCODE"),
        ("SD-XPT-NAME", "lb_ch"),
    ], "issues")
    assert run("SD-XPT-NAME", {"LB": lb[["LBTESTCD"]]}) == ([], "passed")


def test_labels_fit_sas_transport_v5():
    dm = dm_table()
    spec = spec_of(declare("DM", dm, label="Démographie",  # non-ASCII dataset label
                           labels={"SEX": "Sex of the subject as recorded at screening"}))  # 44 characters
    assert run("SD-XPT-LABEL", {"DM": dm}, spec) == ([
        ("SD-XPT-LABEL", "dm"),
        ("SD-XPT-LABEL", "dm:SEX"),
    ], "issues")
    assert run("SD-XPT-LABEL", {"DM": dm}) == ([], "passed")


def test_character_values_fit_in_200_bytes():
    ae = pd.DataFrame({"AETERM": [
        "A" * 200,
        "é" * 100,  # 200 bytes in UTF-8
        "A" * 201,  # row 3: 201 bytes
        "é" * 101,  # row 4: 101 characters but 202 bytes
    ]})
    assert run("SD-XPT-LENGTH", {"AE": ae}) == ([
        ("SD-XPT-LENGTH", "ae:AETERM:3"),
        ("SD-XPT-LENGTH", "ae:AETERM:4"),
    ], "issues")
    assert run("SD-XPT-LENGTH", {"AE": ae.iloc[:2]}) == ([], "passed")


def test_character_values_are_ascii():
    dm = dm_table(SITEID=["Hopital Haut-Leveque", "Hôpital Haut-Lévêque"])  # row 2: accents
    assert run("SD-XPT-ASCII", {"DM": dm}) == ([("SD-XPT-ASCII", "dm:SITEID:2")], "issues")
    assert run("SD-XPT-ASCII", {"DM": dm_table()}) == ([], "passed")


# ------------------------------------------------------------------------------------ the rule set
def test_a_rule_that_raises_is_an_error_result_and_the_others_still_run(monkeypatch):
    def broken(package):
        raise ValueError("boom")

    rules = tuple(RuleCheck(r.rule_id, broken, r.applies_to) if r.rule_id == "SD-SEQ-UNIQUE" else r for r in RULES)
    monkeypatch.setattr(sdtm_checks, "RULES", rules)
    ae = pd.DataFrame({"USUBJID": ["REVALLO-01-009"], "AESEQ": [1.0]})  # not in DM
    findings, results = check_sdtm({"DM": dm_table(), "AE": ae}, spec_of(declare("DM", dm_table()), declare("AE", ae)))
    by_id = {r.rule_id: r for r in results}
    assert [r.rule_id for r in results] == [r.rule_id for r in RULES]
    assert by_id["SD-SEQ-UNIQUE"].status == "error"
    assert "ValueError: boom" in by_id["SD-SEQ-UNIQUE"].detail
    assert by_id["SD-USUBJID-DM"].status == "issues"  # a later rule ran
    assert ("SD-USUBJID-DM", "ae:USUBJID:1") in [(f.rule, f.location) for f in findings]


def test_every_rule_is_in_the_catalogue_with_a_severity_a_message_and_a_citation():
    rules = catalogue()
    for rule in RULES:
        entry = rules[rule.rule_id]
        assert entry.severity in ("error", "warning")
        assert entry.title and entry.message and entry.citation
    text = resources.files("trialbridge.schemas").joinpath("catalogue.json").read_text(encoding="utf-8")
    sd_ids = {r["id"] for r in json.loads(text)["rules"] if r["id"].startswith("SD-")}
    assert sd_ids == {r.rule_id for r in RULES}


def test_a_clean_package_passes_every_rule_that_applies():
    dm = dm_table()
    ae = pd.DataFrame({"STUDYID": ["REVALLO"], "DOMAIN": ["AE"], "USUBJID": [S1], "AESEQ": [1.0],
                       "AETERM": ["Nausea"], "AEDECOD": ["Nausea"], "AESTDTC": ["2012-01-12"], "AESTDY": [3.0]})
    findings, results = check_sdtm({"DM": dm, "AE": ae}, spec_of(declare("DM", dm), declare("AE", ae)))
    assert [f for f in findings if f.severity == "error"] == []
    assert {r.status for r in results} <= {"passed", "skipped", "issues"}
    assert {r.rule_id for r in results if r.status == "error"} == set()


# ------------------------------------------------------------------- a spec for someone else's package
def test_a_spec_from_sdtmig_alone_declares_what_sdtmig_knows():
    lbch = pd.DataFrame({"STUDYID": ["X"], "DOMAIN": ["LB"], "LBTESTCD": ["ALB"], "LBEVLINT": ["-P1D"],
                         "LBFOO": ["?"]})  # LBFOO: no SDTMIG variable of that shape in any Findings domain
    ds = pd.DataFrame({"DSCAT": ["PROTOCOL MILESTONE", "DISPOSITION EVENT"],
                       "DSDECOD": ["INFORMED CONSENT OBTAINED", "COMPLETED"]})
    xy = pd.DataFrame({"STUDYID": ["X"]})  # XY: not an SDTMIG 3.4 dataset
    spec = spec_from_sdtmig({"LBCH": lbch, "DS": ds, "XY": xy}, keys={"LB": ("STUDYID", "LBTESTCD")})
    split = spec.dataset("LBCH")
    assert split.names == ["STUDYID", "DOMAIN", "LBTESTCD", "LBEVLINT"]
    assert (split.variable("LBTESTCD").core, split.variable("LBTESTCD").codelist) == ("Req", "C65047")
    assert split.variable("LBEVLINT").label == "Evaluation Interval"  # from MSEVLINT, as Permissible
    assert split.variable("LBEVLINT").core == "Perm"
    assert split.keys == ("STUDYID", "LBTESTCD")  # the split part takes LB's keys
    assert "XY" not in spec.datasets
    # SDTMIG: DSDECOD's codelist depends on DSCAT, so it is bound per category, not per variable
    assert spec.dataset("DS").variable("DSDECOD").codelist == ""
    assert [(v.where_value, v.codelist) for v in spec.value_level] == [
        ("DISPOSITION EVENT", "C66727"), ("PROTOCOL MILESTONE", "C114118"), ("OTHER EVENT", "C150811")]
    assert run("SD-CT-EXT", {"DS": ds}, spec_from_sdtmig({"DS": ds})) == ([], "passed")


def test_numbers_as_text_stay_true_beyond_the_exact_integers_of_a_float():
    from trialbridge.schemas.sdtm_checks_masks import as_text

    # 1e39 cast to a 64-bit integer was garbage (and a RuntimeWarning); past 2**53 the float is written as is
    assert list(as_text(pd.Series([3.0, 1e39, -(2.0 ** 60), 5.5, NAN]))) == ["3", "1e+39", "-1.152921504606847e+18",
                                                                              "5.5", ""]
