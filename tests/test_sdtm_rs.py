"""RS: one IMWG overall response per assessment per subject, per SDTMIG 3.4 and CDISC oncology CT."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trialbridge.mappings.trial import Trial
from revallo_domains import map_rs
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file, form_schema
from trialbridge.schemas.sdtm_standards import terminology
from revallo_domains import study_spec

REGISTRY = {"protocolSection": {"identificationModule": {"acronym": "REVALLO"}}}
EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"
# Subject 001: first dose 2011-10-03, last dose 2012-04-02.
DM = pd.DataFrame({"USUBJID": ["REVALLO-01-001"], "RFSTDTC": ["2011-10-03"], "RFXSTDTC": ["2011-10-03"],
                   "RFXENDTC": ["2012-04-02"]})


def form(name: str, *rows: dict[str, str]) -> pd.DataFrame:
    """A native form table as the reader gives it: schema columns, strings, provenance from line 2."""
    columns = form_columns(name)
    table = pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows], columns=columns, dtype=object)
    return table.assign(_file=form_file(name), _line=list(range(2, len(rows) + 2)))


def assessment(visit: str, date: str, response: str) -> dict[str, str]:
    return {"SITEID": "01", "SUBJID": "001", "VISIT": visit, "RSDAT": date, "RESP": response}


def map_rows(*rows: dict[str, str]):
    forms = {name: form(name) for name in FORM_NAMES} | {"response": form("response", *rows)}
    return map_rs(Trial(Path("native"), REGISTRY, forms), {"DM": DM})


def test_overall_response_test_and_imwg_category_are_cdisc_terms():
    rs = map_rows(assessment("INCLUSION", "2011-09-28", "CR")).table
    ct = terminology()
    row = rs.loc[0]
    assert (row["RSTESTCD"], row["RSTEST"]) == ("OVRLRESP", "Overall Response")
    assert ct.term_code("C96782", row["RSTESTCD"]) == ct.term_code("C96781", row["RSTEST"]) == "C96613"
    assert row["RSCAT"] == "DURIE MULTIPLE MYELOMA 2006" and ct.term_code("C124298", row["RSCAT"]) == "C126003"
    assert row["RSEVAL"] == "INVESTIGATOR" and ct.term_code("C78735", "INVESTIGATOR")


def test_every_imwg_category_of_the_crf_is_its_own_cdisc_result_term():
    categories = form_schema("response")["properties"]["RESP"]["enum"]  # sCR, CR, VGPR, PR, SD, PD
    rows = [assessment(f"M{i + 1:02d}", f"2011-{i + 10:02d}-15", value) for i, value in enumerate(categories)]
    result = map_rows(*rows)
    rs = result.table.sort_values("_line")
    assert rs["RSORRES"].tolist() == categories
    assert rs["RSSTRESC"].tolist() == categories  # sCR is a CDISC term as written, lower-case s included
    assert all(terminology().term_code("C96785", value) for value in categories)
    assert result.findings == []


def test_a_response_outside_the_codelist_is_reported_as_a_sponsor_extension():
    result = map_rows(assessment("M03", "2012-01-05", "nCR"))  # near-CR is not a CDISC term
    assert result.table.loc[0, "RSSTRESC"] == "nCR"
    assert [(f.rule, f.severity, f.location) for f in result.findings] == [
        ("SDTM-CT-EXTENDED", "warning", "response.csv:2:RESP")]


def test_visit_number_study_day_epoch_and_sequence():
    rs = map_rows(assessment("EOT", "2012-04-10", "PD"),  # out of order on purpose
                  assessment("INCLUSION", "2011-10-02", "PR"),
                  assessment("M03", "2012-01-05", "VGPR")).table
    assert rs[["RSSEQ", "VISIT", "VISITNUM", "RSDTC", "RSDY", "EPOCH"]].values.tolist() == [
        [1.0, "INCLUSION", 1.0, "2011-10-02", -1.0, "SCREENING"],  # the day before the first dose: day -1
        [2.0, "M03", 4.0, "2012-01-05", 95.0, "TREATMENT"],
        [3.0, "EOT", 14.0, "2012-04-10", 191.0, "FOLLOW-UP"]]


def test_no_baseline_flag_on_the_inclusion_response():
    assert "RSBLFL" not in map_rows(assessment("INCLUSION", "2011-09-28", "CR")).table.columns


def test_columns_follow_the_study_spec_with_provenance():
    result = map_rows(assessment("INCLUSION", "2011-09-28", "CR"))
    assert result.table.columns.tolist() == study_spec().dataset("RS").names + ["_file", "_line"]
    assert result.table[["USUBJID", "_file", "_line"]].values.tolist() == [["REVALLO-01-001", "response.csv", 2]]
    assert result.supp is None and result.rejected.empty


@pytest.mark.skipif(not (EXAMPLE / "response.csv").exists(), reason="examples/revallo not generated yet")
def test_example_every_assessment_is_in_rs():
    from trialbridge.converters.pipeline import read_study as read_native
    from revallo_domains import map_dm
    from revallo_domains import map_ex

    example, _ = read_native(EXAMPLE)
    sdtm: dict[str, pd.DataFrame] = {}
    sdtm["EX"] = map_ex(example, sdtm).table
    sdtm["DM"] = map_dm(example, sdtm).table
    result = map_rs(example, sdtm)
    assert len(result.table) == len(example.forms["response"]) and result.findings == []
    assert set(result.table["RSSTRESC"]) <= terminology().submission_values("C96785")
    assert not result.table.duplicated(["USUBJID", "VISITNUM"]).any()
