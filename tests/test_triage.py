"""Triage: findings grouped per rule, place and value pattern; knock-ons hung on their causes; records in
numeric order; structured locations; the PHUSE-like case (a SUPP-- dataset without its parent)."""
from __future__ import annotations

import pandas as pd

from trialbridge.schemas.findings import Finding, catalogue, finding, natural_key, parse_location, sort_findings
from trialbridge.schemas.sdtm_checks import check_sdtm
from trialbridge.schemas.sdtm_checks_sdtmig import spec_from_sdtmig
from trialbridge.schemas.triage import group_findings, triage, value_shape


def dm(n: int) -> pd.DataFrame:
    ids = [f"S-{i:04d}" for i in range(1, n + 1)]
    return pd.DataFrame({"STUDYID": "S", "DOMAIN": "DM", "USUBJID": ids, "SUBJID": [i[2:] for i in ids],
                         "RFSTDTC": "2012-01-10", "SITEID": "01", "SEX": "F", "COUNTRY": "FRA",
                         "ARMCD": "A", "ARM": "Arm A", "ACTARMCD": "A", "ACTARM": "Arm A"})


def lb(subjects: list[str], dates: list[str], days: list[float]) -> pd.DataFrame:
    n = len(dates)
    return pd.DataFrame({"STUDYID": "S", "DOMAIN": "LB", "USUBJID": subjects, "LBSEQ": [float(i) for i in range(1, n + 1)],
                         "LBTESTCD": "HGB", "LBTEST": "Hemoglobin", "LBDTC": dates, "LBDY": days})


def checked(tables: dict[str, pd.DataFrame]) -> list[Finding]:
    findings, _ = check_sdtm(tables, spec_from_sdtmig(tables))
    return triage(findings)


def test_bad_dates_are_one_finding_per_pattern_and_their_study_days_hang_on_them():
    subjects = [f"S-{i:04d}" for i in range(1, 13)]
    # 10 records with a day-first date (one pattern), 2 with an impossible day; every LBDY was filled in
    dates = [f"{d:02d}/03/2012" for d in range(1, 11)] + ["2012-02-30", "2012-04-31"]
    found = checked({"DM": dm(12), "LB": lb(subjects, dates, [60.0] * 12)})
    fmt = [f for f in found if f.rule == "SD-DTC-FORMAT"]
    cal = [f for f in found if f.rule == "SD-DTC-DATE"]
    assert [(f.count, f.values[0], f.dataset, f.variable) for f in fmt] == [(10, "01/03/2012", "LB", "LBDTC")]
    assert [r.row for r in fmt[0].records] == list(range(1, 11))
    assert [r.usubjid for r in fmt[0].records][:2] == ["S-0001", "S-0002"]
    assert [r.seq for r in fmt[0].records][:2] == ["1", "2"]
    assert [(f.count, f.values) for f in cal] == [(2, ("2012-02-30", "2012-04-31"))]
    # the study days are not reported again: they are counted under their cause
    assert [f for f in found if f.rule == "SD-DY"] == []
    assert [(k.rule, k.dataset, k.variable, k.count) for k in fmt[0].knock_on] == [("SD-DY", "LB", "LBDY", 10)]
    assert [(k.rule, k.count) for k in cal[0].knock_on] == [("SD-DY", 2)]


def test_a_bad_reference_date_carries_the_study_days_of_every_record_of_its_subject():
    table = dm(2)
    table.loc[0, "RFSTDTC"] = "2012-13-01"  # month 13: S-0001's study days cannot be computed
    found = checked({"DM": table, "LB": lb(["S-0001"] * 3 + ["S-0002"], ["2012-01-12"] * 4, [3.0, 3.0, 3.0, 4.0])})
    (cause,) = [f for f in found if f.rule == "SD-DTC-DATE"]
    assert (cause.dataset, cause.variable, cause.row, cause.usubjid) == ("DM", "RFSTDTC", 1, "S-0001")
    assert [(k.variable, k.count, [r.row for r in k.records]) for k in cause.knock_on] == [("LBDY", 3, [1, 2, 3])]
    (day,) = [f for f in found if f.rule == "SD-DY"]  # S-0002's day 4 is simply wrong (should be 3)
    assert (day.row, day.usubjid, day.count) == (4, "S-0002", 1)


def test_records_are_in_numeric_order_not_text_order():
    rows = [2, 10, 1, 9, 100]
    findings = [finding("SD-REQ-NULL", f"ae:AETERM:{r}", (), dataset="AE", variable="AETERM", label="x") for r in rows]
    (merged,) = group_findings([Finding(**{**f.__dict__, "row": r}) for f, r in zip(findings, rows)])
    assert [r.row for r in merged.records] == [1, 2, 9, 10, 100]
    assert merged.location == "ae:AETERM:1" and merged.count == 5
    assert [f.location for f in sort_findings(findings)] == [f"ae:AETERM:{r}" for r in (1, 2, 9, 10, 100)]
    assert natural_key("lb:LBDY:9") < natural_key("lb:LBDY:10")


def test_a_supp_dataset_without_its_parent_gives_a_handful_of_findings_not_one_per_record():
    n = 3000
    supp = pd.DataFrame({"STUDYID": "S", "RDOMAIN": "AE", "USUBJID": [f"S-{i % 50 + 1:04d}" for i in range(n)],
                         "IDVAR": "AESEQ", "IDVARVAL": [str(i) for i in range(n)], "QNAM": "AETRTEM",
                         "QLABEL": "Treatment Emergent Flag", "QVAL": "Y", "QORIG": "DERIVED", "QEVAL": ""})
    found = checked({"DM": dm(50), "SUPPAE": supp})  # no AE dataset
    parent = [f for f in found if f.rule == "SD-SUPP-PARENT"]
    assert [(f.dataset, f.variable, f.count) for f in parent] == [("SUPPAE", "RDOMAIN", n)]
    assert [f.rule for f in found if f.dataset == "SUPPAE"] == ["SD-SUPP-PARENT"]


def test_distinct_controlled_terms_stay_separate_findings():
    table = dm(4)
    table["SEX"] = ["F", "female", "female", "X"]
    found = [f for f in checked({"DM": table}) if f.rule == "SD-CT-NONEXT"]
    assert sorted((f.values, f.count) for f in found) == [(("X",), 1), (("female",), 2)]


def test_locations_are_structured_in_every_shape():
    assert parse_location("enrolment.csv:4:SEX") == {"file": "enrolment.csv", "line": 4, "variable": "SEX"}
    assert parse_location("lb:LBDY:12") == {"dataset": "LB", "variable": "LBDY", "row": 12}
    assert parse_location("Bundle.entry[3].resource.status") == {"fhir_path": "Bundle.entry[3].resource.status"}
    assert parse_location("registry.json:$.protocolSection") == {"file": "registry.json", "path": "$.protocolSection"}
    assert parse_location("dm.xpt") == {"file": "dm.xpt", "dataset": "DM"}
    f = finding("SD-DATASET-DECLARED", "xx", ("XX",), dataset="XX")
    assert f.as_dict()["dataset"] == "XX" and f.as_dict()["location"] == "xx" and f.as_dict()["status"] == "open"


def test_every_rule_has_a_title_a_citation_and_a_fix_hint():
    rules = catalogue().values()
    assert [r.id for r in rules if not (r.title and r.citation and r.hint)] == []
    assert catalogue()["SD-REQ-NULL"].references() == {"sdtmig": ["4.1.5"], "fda": ["SD0002"], "core": ["CORE-000356"]}
    assert {r.group for r in rules} <= {"value", "pattern", "all"}


def test_value_shape():
    assert value_shape("12/03/2011") == "99/99/9999" and value_shape("UNK-Mar") == "AAA-Aaa"
