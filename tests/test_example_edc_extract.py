"""examples/edc-extract: five raw EDC extracts and a spec of study, sources, mappings, ct and visits only ->
DM, EX, AE, DS, VS as SDTMIG 3.4 says, with no code written for the study."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trialbridge.converters.pipeline import convert
from trialbridge.converters.xpt.files import read_xpt

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "edc-extract"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("edc") / "out"
    result = convert(EXAMPLE, out, fhir_releases=("R4",), reports=False)
    tables = {name: read_xpt(out / "sdtm" / f"{name}.xpt")[0] for name in ("dm", "ex", "ae", "ds", "vs")}
    return result, tables


def _rows(table: pd.DataFrame, *columns: str) -> list[tuple]:
    return [tuple(r) for r in table[list(columns)].itertuples(index=False)]


def test_the_study_converts_with_no_error_and_every_raw_row_accounted(converted):
    result, tables = converted
    assert result.exit_code == 0, [f.message for f in result.findings if f.severity == "error"]
    assert {name: len(t) for name, t in tables.items()} == {"dm": 3, "ex": 5, "ae": 4, "ds": 7, "vs": 25}


def test_dm_identifiers_come_from_a_template_and_a_pattern(converted):
    dm = converted[1]["dm"]
    assert _rows(dm, "USUBJID", "SUBJID", "SITEID") == [
        ("01-701-1015", "1015", "701"), ("01-701-1023", "1023", "701"), ("01-701-1028", "1028", "701")]


def test_dm_reference_dates_come_straight_from_the_exposure_and_disposition_extracts(converted):
    dm = converted[1]["dm"]
    assert _rows(dm, "RFSTDTC", "RFENDTC", "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL") == [
        ("2014-01-02", "2014-07-11", "2013-12-19", "2014-07-11", "", ""),
        ("2012-08-02", "2012-08-16", "2012-07-15", "2012-08-29", "", ""),   # last dose open: its start date
        ("2013-07-19", "2013-08-01", "2013-07-04", "2013-08-02", "2013-08-02", "Y")]
    assert dm["DMDY"].tolist() == [-7, -11, -8]                                # no day 0 before the first dose


def test_collected_text_becomes_the_cdisc_terms_it_names(converted):
    dm, ex, ae = (converted[1][n] for n in ("dm", "ex", "ae"))
    assert dm["SEX"].tolist() == ["F", "M", "M"]
    assert dm["RACE"].tolist() == ["WHITE", "WHITE", "BLACK OR AFRICAN AMERICAN"]
    assert dm["ARM"].tolist() == ["Placebo", "Xanomeline High Dose", "Xanomeline Low Dose"]  # the study's map
    assert set(_rows(ex, "EXDOSU", "EXDOSFRM", "EXDOSFRQ", "EXROUTE")) == {("mg", "PATCH", "QD", "TRANSDERMAL")}
    assert _rows(ae, "AESEV", "AESER", "AEREL", "AEOUT") == [
        ("MILD", "N", "PROBABLE", "NOT RECOVERED/NOT RESOLVED"), ("MILD", "N", "REMOTE", "RECOVERED/RESOLVED"),
        ("MODERATE", "N", "POSSIBLE", "RECOVERED/RESOLVED"), ("SEVERE", "Y", "NONE", "FATAL")]
    matched = [f for f in converted[0].findings if f.rule == "SDTM-CT-MATCHED"]
    assert {f.values[0] for f in matched} >= {"Female", "Mild Adverse Event", "Milligram", "Daily", "Yes"}


def test_partial_adverse_event_dates_stay_partial(converted):
    ae = converted[1]["ae"]
    assert ae["AESTDTC"].tolist() == ["2014-01-03", "2014-01-09", "2012-08", "2013-08-01"]
    assert ae["AESTDY"].isna().tolist() == [False, False, True, False]       # no study day for a partial date


def test_disposition_takes_its_category_from_the_record_set_and_visits_from_the_schedule(converted):
    ds = converted[1]["ds"]
    assert _rows(ds[ds["USUBJID"] == "01-701-1028"], "DSSEQ", "DSDECOD", "DSCAT", "VISITNUM", "VISIT", "DSDTC") == [
        (1, "RANDOMIZED", "PROTOCOL MILESTONE", 1, "SCREENING 1", "2013-07-11"),
        (2, "DEATH", "DISPOSITION EVENT", 4, "WEEK 2", "2013-08-02T14:30"),
        (3, "FINAL LAB VISIT", "OTHER EVENT", 4, "WEEK 2", "2013-08-02")]


def test_a_form_with_a_column_per_test_gives_one_record_per_value(converted):
    vs = converted[1]["vs"]
    first = vs[(vs["USUBJID"] == "01-701-1015") & (vs["VISIT"] == "BASELINE")]
    assert _rows(first, "VSTESTCD", "VSORRES", "VSORRESU", "VSBLFL") == [
        ("WEIGHT", "54.88", "kg", "Y"), ("TEMP", "36.6", "C", "Y"), ("SYSBP", "138", "mmHg", "Y"),
        ("DIABP", "82", "mmHg", "Y"), ("PULSE", "70", "beats/min", "Y")]
    assert vs[vs["VSTESTCD"] == "TEMP"]["VSLOC"].unique().tolist() == ["ORAL CAVITY"]
    # a blank diastolic value on the form gives no DIABP record, never an empty one
    assert not ((vs["USUBJID"] == "01-701-1028") & (vs["VSTESTCD"] == "DIABP")).any()


def test_spec_check_agrees_with_convert_on_the_example():
    from trialbridge.converters.spec_tools.check import check_spec

    result = check_spec(EXAMPLE / "spec", EXAMPLE)
    assert [(f.rule, f.location) for f in result.findings if f.severity in ("error", "warning")] == []
