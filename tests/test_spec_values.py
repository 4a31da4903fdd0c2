"""Value arguments of the study mapping specification, as a data manager writes them for an EDC extract
shaped like pharmaverse's raw datasets (`PATNUM` = site-subject, title-case text, `{COLUMN}` identifiers):
`pattern=` reads part of a value, `case=` sets the case of the result, `{COLUMN}` fills a template."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialbridge.converters.readers.spec_files import read_spec
from trialbridge.mappings.spec.engine import run_mapping

TABLES = {
    "study": "key,value\nSTUDYID,PILOT01\nsdtmig_version,3.4\nct_version,2025-03-28\n",
    "sources": "dataset,file,format,delimiter,decimal,encoding,sheet,subject,schema\n"
               "dm_raw,dm_raw.csv,csv,\",\",.,utf-8,,PATNUM,\n",
    "mappings": "domain,variable,algorithm,source,source_variable,codelist,value,condition,arguments,comment\n"
                "DM,,record_set,dm_raw,,,,,,\n"
                "DM,STUDYID,hardcode_no_ct,,,,{STUDYID},,,\n"
                "DM,DOMAIN,hardcode_no_ct,,,,DM,,,\n"
                "DM,USUBJID,hardcode_no_ct,,,,01-{PATNUM},,,site-subject behind the study's prefix\n"
                "DM,SUBJID,assign_no_ct,,PATNUM,,,,pattern=-(\\d+)$,\n"
                "DM,SITEID,assign_no_ct,,PATNUM,,,,pattern=^(\\d+)-,\n"
                "DM,COUNTRY,assign_no_ct,,COUNTRY,,,,case=upper,\n"
                "DM,SEX,assign_ct,,IT.SEX,C66731,,,,\n",
    "datasets": "dataset,parent,keys,label\nDM,,STUDYID;USUBJID,\n",
    "variables": "dataset,variable,origin,source,method,comment,codelist\n"
                 + "".join(f"DM,{v},Collected,,,,\n" for v in ("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID",
                                                               "COUNTRY", "SEX")),
}


def _run(tmp_path: Path, rows: list[dict[str, str]], study: str = ""):
    spec = tmp_path / "spec"
    spec.mkdir()
    for name, text in {**TABLES, "study": TABLES["study"] + study}.items():
        (spec / f"{name}.csv").write_text(text, encoding="utf-8")
    mapping, findings = read_spec(spec)
    assert mapping is not None, [f.message for f in findings]
    raw = pd.DataFrame([{"IT.SEX": "F", **row} for row in rows]).assign(_file="dm_raw.csv", _line=[str(n + 2) for n in range(len(rows))])
    return run_mapping(mapping, {"dm_raw": raw}, {})


def test_a_pattern_reads_the_part_of_a_value_and_a_template_builds_the_identifier(tmp_path):
    result = _run(tmp_path, [{"PATNUM": "701-1015", "COUNTRY": "usa"}, {"PATNUM": "716-1024", "COUNTRY": "Usa"}])
    dm = result.tables["DM"]
    assert dm["USUBJID"].tolist() == ["01-701-1015", "01-716-1024"]
    assert dm["SUBJID"].tolist() == ["1015", "1024"] and dm["SITEID"].tolist() == ["701", "716"]
    assert dm["COUNTRY"].tolist() == ["USA", "USA"]
    assert not [f for f in result.findings if f.rule == "SPEC-PATTERN-NO-MATCH"]


def test_a_value_the_pattern_does_not_match_is_reported_not_half_read(tmp_path):
    result = _run(tmp_path, [{"PATNUM": "701-1015", "COUNTRY": "USA"}, {"PATNUM": "7011030", "COUNTRY": "USA"}])
    dm = result.tables["DM"]
    assert dm["SUBJID"].tolist() == ["1015", ""] and dm["SITEID"].tolist() == ["701", ""]
    missed = [f for f in result.findings if f.rule == "SPEC-PATTERN-NO-MATCH"]
    assert len(missed) == 2 and all(f.severity == "error" and "7011030" in f.message for f in missed)
    assert {f.location for f in missed} == {"dm_raw.csv:3:PATNUM"}


def test_a_template_with_an_empty_field_gives_no_half_built_identifier(tmp_path):
    result = _run(tmp_path, [{"PATNUM": "", "COUNTRY": "USA"}])
    assert result.tables["DM"]["USUBJID"].tolist() == [""]


def test_collected_text_naming_a_cdisc_term_is_submitted_as_that_term_with_a_note(tmp_path):
    rows = [{"PATNUM": "701-1015", "COUNTRY": "USA", "IT.SEX": sex} for sex in ("Female", "male", "Woman", "U")]
    result = _run(tmp_path, rows)
    assert result.tables["DM"]["SEX"].tolist() == ["F", "M", "Woman", "U"]
    found = sorted((f.rule, f.values[0]) for f in result.findings)
    assert found == [("SDTM-CT-MATCHED", "Female"), ("SDTM-CT-MATCHED", "male"),
                     ("SDTM-CT-NOT-IN-CODELIST", "Woman")]          # no term is called Woman: never guessed


def test_a_study_can_keep_collected_values_exactly(tmp_path):
    rows = [{"PATNUM": "701-1015", "COUNTRY": "USA", "IT.SEX": "Female"}]
    result = _run(tmp_path, rows, study="ct_match,exact\n")
    assert result.tables["DM"]["SEX"].tolist() == ["Female"]
    assert [f.rule for f in result.findings] == ["SDTM-CT-NOT-IN-CODELIST"]


def test_study_sources_and_mappings_alone_are_a_whole_spec(tmp_path):
    short = {k: v for k, v in TABLES.items() if k not in ("datasets", "variables")}
    spec = tmp_path / "spec"
    spec.mkdir()
    for name, text in short.items():
        (spec / f"{name}.csv").write_text(text, encoding="utf-8")
    mapping, findings = read_spec(spec)
    assert mapping is not None, [f.message for f in findings]
    dm = mapping.sdtm.dataset("DM")
    assert dm.names == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "SEX", "COUNTRY"]  # SDTMIG order
    assert {v.name: v.origin for v in dm.variables}["USUBJID"] == "Derived"  # a template over raw columns
    assert dm.variable("SEX").source == "dm_raw.csv IT.SEX"


def test_reference_dates_come_straight_from_a_raw_dataset(tmp_path):
    tables = dict(TABLES)
    tables["sources"] += "ec_raw,ec_raw.csv,csv,\",\",.,utf-8,,PATNUM,\n"
    tables["mappings"] += ("DM,RFXSTDTC,derive_first_dtc,ec_raw,IT.ECSTDAT,,,,format=dd-MMM-yyyy,first dose\n"
                           "DM,RFXENDTC,derive_last_dtc,ec_raw,IT.ECENDAT;IT.ECSTDAT,,,,format=dd-MMM-yyyy,last dose\n")
    tables.pop("datasets"), tables.pop("variables")
    spec = tmp_path / "spec"
    spec.mkdir()
    for name, text in tables.items():
        (spec / f"{name}.csv").write_text(text, encoding="utf-8")
    mapping, findings = read_spec(spec)
    assert mapping is not None, [f.message for f in findings]
    dm_raw = pd.DataFrame({"PATNUM": ["701-1015", "701-1023"], "COUNTRY": ["USA", "USA"], "IT.SEX": ["F", "M"],
                           "_file": "dm_raw.csv", "_line": ["2", "3"]})
    ec_raw = pd.DataFrame({"PATNUM": ["701-1015", "701-1015", "701-1023"],
                           "IT.ECSTDAT": ["02-Jan-2014", "20-Dec-2013", "31-Feb-2014"],
                           "IT.ECENDAT": ["", "01-Jan-2014", ""],
                           "_file": "ec_raw.csv", "_line": ["2", "3", "4"]})
    result = run_mapping(mapping, {"dm_raw": dm_raw, "ec_raw": ec_raw}, {})
    dm = result.tables["DM"]
    assert dm["RFXSTDTC"].tolist() == ["2013-12-20", ""]       # 31 Feb is no date: reported, not used
    assert dm["RFXENDTC"].tolist() == ["2014-01-02", ""]       # the end date, else the start date, latest
    bad = [f for f in result.findings if f.rule == "SPEC-DATE-FORMAT"]
    assert {f.location for f in bad} == {"ec_raw.csv:4:IT.ECSTDAT"}
