"""The SDTM mapping algorithms, each pinned by the SDTMIG rule it implements."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from trialbridge.mappings.sdtm.algorithms import (
    assign_ct,
    assign_datetime,
    assign_no_ct,
    assign_numeric,
    bind_rows,
    coalesce,
    derive_age,
    derive_blfl,
    derive_epoch,
    derive_exists,
    derive_first_dtc,
    derive_last_dtc,
    derive_latest,
    derive_seq,
    derive_study_day,
    derive_usubjid,
    finalize,
    hardcode_ct,
    hardcode_no_ct,
    lookup,
    merge_source,
    split_long_text,
    start_table,
    study_identifier,
    to_supp,
)
from revallo_domains import study_spec


def rows(file: str = "form.csv", **columns: list) -> pd.DataFrame:
    """A native form table: the given columns of strings + provenance (_file, physical line from 2)."""
    n = len(next(iter(columns.values())))
    return pd.DataFrame({**columns, "_file": [file] * n, "_line": list(range(2, n + 2))})


def series(*values: str) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def days(values: pd.Series) -> list:
    return [None if math.isnan(v) else int(v) for v in values]


# ----------------------------------------------------------------------------- ISO 8601 dates
def test_complete_and_partial_crf_dates_become_iso8601_without_imputation():
    src = rows(D=["2012-03-15", "2012-03", "2012", "UNK-03-2012", "UNK-UNK-2012", ""])
    assert assign_datetime(src, "D").tolist() == ["2012-03-15", "2012-03", "2012", "2012-03", "2012", ""]


def test_assign_datetime_returns_python_strings_on_the_source_index():
    src = rows(D=["UNK-03-2012"]).set_index(pd.Index([7]))
    out = assign_datetime(src, "D")
    assert out.index.tolist() == [7] and out.dtype == object and isinstance(out[7], str)


# ---------------------------------------------------------------------------------- study day
def test_study_day_has_no_day_zero():
    rfstdtc = series(*["2012-03-15"] * 4)
    dtc = series("2012-03-13", "2012-03-14", "2012-03-15", "2012-03-16")
    assert days(derive_study_day(dtc, rfstdtc)) == [-2, -1, 1, 2]


def test_study_day_uses_the_date_part_of_a_datetime_and_crosses_a_leap_day():
    rfstdtc = series("2012-02-28", "2012-02-28")
    dtc = series("2012-03-01T08:30", "2011-02-28")
    assert days(derive_study_day(dtc, rfstdtc)) == [3, -365]


def test_partial_dates_and_missing_reference_give_no_study_day():
    rfstdtc = series("2012-03-15", "2012-03-15", "", "2012-03")
    dtc = series("2012-03", "2012", "2012-03-20", "2012-03-20")
    assert days(derive_study_day(dtc, rfstdtc)) == [None, None, None, None]


# ---------------------------------------------------------------------------------------- epoch
def test_epoch_screening_before_first_dose_treatment_through_last_dose_follow_up_after():
    dtc = series("2012-03-14", "2012-03-15", "2012-07-01", "2012-07-02", "2012-01", "2012-08")
    first, last = series(*["2012-03-15"] * 6), series(*["2012-07-01"] * 6)
    assert derive_epoch(dtc, first, last).tolist() == [
        "SCREENING", "TREATMENT", "TREATMENT", "FOLLOW-UP", "SCREENING", "FOLLOW-UP"]


def test_epoch_is_null_for_a_partial_date_straddling_a_boundary_or_a_subject_never_dosed():
    dtc = series("2012-03", "2012-07", "2012-05-01", "")
    first = series("2012-03-15", "2012-03-15", "", "2012-03-15")
    last = series("2012-07-01", "2012-07-01", "", "2012-07-01")
    assert derive_epoch(dtc, first, last).tolist() == ["", "", "", ""]


def test_epoch_while_treatment_is_ongoing_is_treatment_from_the_first_dose():
    assert derive_epoch(series("2013-01-01"), series("2012-03-15"), series("")).tolist() == ["TREATMENT"]


# ------------------------------------------------------------------------------------ sequence
def test_seq_is_unique_and_ordered_within_each_subject():
    table = pd.DataFrame({"USUBJID": ["S-2", "S-1", "S-1", "S-2", "S-1"],
                          "DTC": ["2012-02-01", "2012-03-01", "2012-01-01", "2012-01-01", "2012-02-01"]})
    seq = derive_seq(table, order=("DTC",))
    assert seq.tolist() == [2.0, 3.0, 1.0, 1.0, 2.0]
    assert not table.assign(SEQ=seq).duplicated(["USUBJID", "SEQ"]).any()


def test_seq_keeps_table_order_for_ties():
    table = pd.DataFrame({"USUBJID": ["S-1"] * 3, "DTC": ["2012-01-01"] * 3})
    assert derive_seq(table, order=("DTC",)).tolist() == [1.0, 2.0, 3.0]


# ------------------------------------------------------------------------------- baseline flag
def test_baseline_is_the_last_non_missing_result_on_or_before_rfstdtc_per_subject_and_test():
    table = pd.DataFrame({
        "USUBJID": ["S-1"] * 5 + ["S-2"] * 2,
        "LBTESTCD": ["PLAT", "PLAT", "PLAT", "PLAT", "HGB", "PLAT", "PLAT"],
        "LBORRES": ["150", "140", "", "160", "12", "90", "95"],
        "LBDTC": ["2012-03-01", "2012-03-10", "2012-03-15", "2012-03-20", "2012-03-15", "2012-03", "2012-05-02"],
    })
    rfstdtc = series(*["2012-03-15"] * 5, "2012-05-01", "2012-05-01")
    flags = derive_blfl(table, "LBORRES", "LBDTC", rfstdtc, by=("USUBJID", "LBTESTCD"))
    # row 2: last non-missing on/before day 1 (row 3 is on day 1 but has no result; row 4 is after)
    # row 5: a result on RFSTDTC itself counts; row 6: the partial month ends before RFSTDTC, row 7 is after
    assert flags.tolist() == ["", "Y", "", "", "Y", "Y", ""]


def test_no_baseline_when_every_result_is_after_first_dose_or_the_date_may_be_after():
    table = pd.DataFrame({"USUBJID": ["S-1", "S-1"], "LBTESTCD": ["PLAT", "PLAT"],
                          "LBORRES": ["150", "150"], "LBDTC": ["2012-03-16", "2012-03"]})
    flags = derive_blfl(table, "LBORRES", "LBDTC", series("2012-03-15", "2012-03-15"), by=("USUBJID", "LBTESTCD"))
    assert flags.tolist() == ["", ""]


# ---------------------------------------------------------------------------- long text split
def test_text_over_200_characters_is_split_at_word_boundaries_into_supp_qnams():
    words = " ".join(f"mot{i:03d}" for i in range(60))  # 60 x 6 chars + 59 spaces = 419 characters
    table = rows(DSTERM=[words, "Décès"])
    parts, findings = split_long_text(table, "DSTERM", "DSTERM")
    assert parts.columns.tolist() == ["DSTERM", "DSTERM1", "DSTERM2"]
    first, second, third = parts.iloc[0]
    assert all(len(p) <= 200 for p in (first, second, third))
    assert not first.endswith(" ") and first.split()[-1] == "mot027"  # 28 words = 195 characters
    assert " ".join([first, second, third]) == words  # nothing lost at the cuts
    assert parts.iloc[1].tolist() == ["Décès", "", ""]
    assert [(f.rule, f.location) for f in findings] == [("SDTM-TEXT-SPLIT", "form.csv:2:DSTERM")]


def test_a_word_longer_than_200_characters_is_cut_at_200():
    parts, _ = split_long_text(rows(T=["x" * 250]), "T", "T")
    assert parts.iloc[0].tolist() == ["x" * 200, "x" * 50]


def test_the_cut_counts_the_bytes_the_xpt_file_will_hold():
    parts, _ = split_long_text(rows(T=["\u0153" * 150]), "T", "T")  # 150 characters, 300 bytes as "oe"
    assert parts.iloc[0].tolist() == ["\u0153" * 100, "\u0153" * 50]
    degrees = "a" * 150 + " " + "\u00b0" * 20 + " b"  # 173 characters, 213 bytes once each ° is "deg"
    parts, _ = split_long_text(rows(T=[degrees]), "T", "T")
    assert parts.iloc[0].tolist() == ["a" * 150, "\u00b0" * 20 + " b"]


def test_short_text_needs_no_supp_and_no_finding():
    parts, findings = split_long_text(rows(T=["a" * 200]), "T", "T")
    assert parts.columns.tolist() == ["T"] and findings == []


def test_to_supp_writes_one_row_per_non_empty_qualifier_with_idvar_and_origin():
    table = rows(STUDYID=["S", "S"], USUBJID=["S-01-001", "S-01-002"], DSTERM1=["rest of text", ""],
                 DONOR=["RELATED", "UNRELATED"]).assign(DSSEQ=[3.0, 1.0])
    supp = to_supp(table, "DS", [("DSTERM1", "Reported Term for Disposition Event 1", "DSTERM1", "Collected"),
                                 ("DONOR", "Stem Cell Donor Relationship", "DONOR", "Collected")], idvar="DSSEQ")
    assert supp[["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"]].values.tolist() == [
        ["S-01-001", "DSSEQ", "3", "DSTERM1", "rest of text"],
        ["S-01-001", "DSSEQ", "3", "DONOR", "RELATED"],
        ["S-01-002", "DSSEQ", "1", "DONOR", "UNRELATED"],
    ]  # the empty DSTERM1 of subject 002 gives no row (QVAL may never be null)
    assert set(supp["RDOMAIN"]) == {"DS"} and set(supp["QEVAL"]) == {""}
    assert supp["_line"].tolist() == [2, 2, 3]


def test_to_supp_for_dm_has_null_idvar_and_idvarval():
    table = rows(STUDYID=["S"], USUBJID=["S-01-001"], TXDTC=["2011-05-02"])
    supp = to_supp(table, "DM", [("TXDTC", "Date of Allogeneic Stem Cell Transplant", "TXDTC", "Collected")])
    assert supp[["IDVAR", "IDVARVAL", "QVAL", "QORIG"]].values.tolist() == [["", "", "2011-05-02", "Collected"]]


# ---------------------------------------------------------------------- controlled terminology
def test_assign_ct_maps_native_codes_to_submission_values():
    values, findings = assign_ct(rows(REASON=["PROGRESSION", "DEATH"]), "REASON", "C66727",
                                 {"PROGRESSION": "PROGRESSIVE DISEASE"}, variable="DSDECOD")
    assert values.tolist() == ["PROGRESSIVE DISEASE", "DEATH"] and findings == []


def test_value_outside_a_non_extensible_codelist_is_an_error_and_is_never_upper_cased():
    values, findings = assign_ct(rows("enrolment.csv", SEX=["M", "f", "X", "f"]), "SEX", "C66731", variable="SEX")
    assert values.tolist() == ["M", "f", "X", "f"]  # kept as collected
    assert [(f.rule, f.severity, f.location, f.values) for f in findings] == [
        ("SDTM-CT-NOT-IN-CODELIST", "error", "enrolment.csv:4:SEX", ("X",)),
        ("SDTM-CT-NOT-IN-CODELIST", "error", "enrolment.csv:3:SEX", ("f",)),
    ]
    assert "2 record(s)" in findings[1].message and "'F' (different case)" in findings[1].hint


def test_value_outside_an_extensible_codelist_is_a_reported_sponsor_extension():
    values, findings = assign_ct(rows(R=["OTHER"]), "R", "C66727", variable="DSDECOD")
    assert values.tolist() == ["OTHER"]
    assert [(f.rule, f.severity) for f in findings] == [("SDTM-CT-EXTENDED", "warning")]


def test_hardcode_ct_refuses_a_term_outside_a_non_extensible_codelist():
    src = rows(X=["a", "b"])
    assert hardcode_ct(src, "NOT REPORTED", "C74457").tolist() == ["NOT REPORTED"] * 2
    with pytest.raises(ValueError, match="C74457"):
        hardcode_ct(src, "Not reported", "C74457")


def test_hardcode_where_fills_only_the_selected_rows():
    src = rows(X=["a", "b"])
    assert hardcode_no_ct(src, "Y", where=pd.Series([False, True])).tolist() == ["", "Y"]


# ---------------------------------------------------------------------------- numbers, ids, age
def test_assign_numeric_reports_a_value_that_is_not_a_number():
    values, findings = assign_numeric(rows(DOSE=["5", "7.5", "", "ten"]), "DOSE", variable="EXDOSE")
    assert values.tolist()[:2] == [5.0, 7.5] and values.isna().tolist()[2:] == [True, True]
    assert [(f.rule, f.location) for f in findings] == [("SDTM-NOT-NUMERIC", "form.csv:5:DOSE")]


def test_usubjid_is_studyid_siteid_subjid():
    src = rows(SITEID=["01"], SUBJID=["007"])
    assert derive_usubjid(src, "SITEID", "SUBJID", "REVALLO").tolist() == ["REVALLO-01-007"]


def test_studyid_is_the_registry_acronym_else_the_sponsor_id():
    ident = {"acronym": "REVALLO", "orgStudyIdInfo": {"id": "CHUBX 2010/01"}}
    assert study_identifier({"protocolSection": {"identificationModule": ident}}) == "REVALLO"
    del ident["acronym"]
    assert study_identifier({"protocolSection": {"identificationModule": ident}}) == "CHUBX 2010/01"


def test_age_from_a_partial_birth_date_only_when_every_possible_day_gives_the_same_age():
    birth = series("1960-03", "1960", "1960-08-15", "1960-08-16", "")
    consent = series(*["2011-08-15"] * 5)
    assert days(derive_age(birth, consent)) == [51, None, 51, 50, None]


# ------------------------------------------------------------------- per-subject derivations
def test_reference_dates_from_exposure_first_start_and_last_end_or_start():
    ex = pd.DataFrame({"USUBJID": ["A", "A", "A", "B"],
                       "EXSTDTC": ["2012-06-01", "2012-03-15", "2012-09-01", "2013-01-10"],
                       "EXENDTC": ["2012-08-31", "2012-05-31", "", "2013-02-01"]})
    dm = pd.DataFrame({"USUBJID": ["A", "B", "C"]})
    assert derive_first_dtc(dm, ex, "EXSTDTC").tolist() == ["2012-03-15", "2013-01-10", ""]
    # A's last period has no end: its start (2012-09-01) is the latest exposure date (SDTMIG RFXENDTC)
    assert derive_last_dtc(dm, ex, ("EXENDTC", "EXSTDTC")).tolist() == ["2012-09-01", "2013-02-01", ""]
    assert derive_exists(dm, ex).tolist() == [True, True, False]


def test_lookup_coalesce_latest_and_merge_source():
    dm = pd.DataFrame({"USUBJID": ["A", "B"], "AGE": [50.0, float("nan")]})
    table = pd.DataFrame({"USUBJID": ["B", "A", "B"]})
    assert lookup(table, dm, "AGE").isna().tolist() == [True, False, True]
    assert coalesce(series("", "x"), series("y", "z")).tolist() == ["y", "x"]
    assert derive_latest(series("2012-01-01", ""), series("2012-03", "")).tolist() == ["2012-03", ""]
    left = rows("enrolment.csv", SUBJID=["001", "002"], SITEID=["01", "01"])
    right = rows("end_of_study.csv", SUBJID=["002"], SITEID=["01"], EOSDAT=["2013-01-01"])
    merged = merge_source(left, right)
    assert merged["EOSDAT"].tolist() == ["", "2013-01-01"] and merged["_file"].tolist() == ["enrolment.csv"] * 2


def test_finalize_orders_types_and_sorts_by_subject_and_seq():
    dataset = study_spec().dataset("DS")
    src = rows("end_of_study.csv", X=["b", "a"])
    table = start_table(src)
    for name in dataset.names:
        table[name] = assign_no_ct(src, "X")
    table["USUBJID"] = series("S-2", "S-1")
    table["DSSEQ"] = [1, 1]
    table["DSSTDY"] = [float("nan"), 3]
    table["WORK"] = "dropped"
    out = finalize(table, dataset)
    assert out.columns.tolist() == dataset.names + ["_file", "_line"]
    assert out["USUBJID"].tolist() == ["S-1", "S-2"] and out["_line"].tolist() == [3, 2]
    assert out["DSSEQ"].dtype == "float64" and out["DSTERM"].dtype == object
    with pytest.raises(ValueError, match="DSTERM"):
        finalize(table.drop(columns=["DSTERM"]), dataset)


def test_bind_rows_keeps_strings_and_numbers_apart():
    a = pd.DataFrame({"X": ["a"], "N": [1.0]})
    b = pd.DataFrame({"X": ["b"], "N": [float("nan")], "Y": ["only here"]})
    out = bind_rows(a, b)
    assert out["Y"].tolist() == ["", "only here"] and out["N"].dtype == "float64"
