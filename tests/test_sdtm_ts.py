"""TS: one record per trial summary parameter value, from the ClinicalTrials.gov record, per SDTMIG 3.4."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trialbridge.converters.synth.registry import REVALLO_SITE, build_registry
from trialbridge.mappings.countries import ISO_3166_EDITION
from trialbridge.mappings.trial import Trial
from trialbridge.mappings.sdtm.ts_record import iso_duration
from trialbridge.mappings.study import Condition, StudyInfo, Treatment
from trialbridge.schemas.ts_checks import missing_parameters
from trialbridge.schemas.sdtm_standards import CT_VERSION, terminology
from revallo_domains import map_ts, study_info_of, study_spec

DM = pd.DataFrame({"USUBJID": [f"REVALLO-01-{i:03d}" for i in range(1, 14)], "COUNTRY": "FRA"})


def ts_of(registry: dict, dm: pd.DataFrame = DM, study: StudyInfo | None = None):
    """TS of a record, with the study's constants (default: what the pipeline gives REVALLO's record)."""
    trial = Trial(Path("native"), registry, {})
    return map_ts(trial, {"DM": dm}, study if study is not None else study_info_of(trial))


def revallo() -> dict:
    """The faithful REVALLO record: 13 subjects at CHU Bordeaux."""
    return build_registry(13, (REVALLO_SITE,))


def values(table: pd.DataFrame, parmcd: str) -> list[tuple[str, str, str, str]]:
    rows = table[table["TSPARMCD"] == parmcd]
    return list(zip(rows["TSVAL"], rows["TSVALCD"], rows["TSVCDREF"], rows["TSVALNF"]))


def test_the_parameters_fda_and_the_issue_require_are_present():
    ts = ts_of(revallo()).table
    required = {"SSTDTC", "SPONSOR", "TITLE", "TPHASE", "STYPE", "INTMODEL", "NARMS", "ACTSUB", "AGEMIN", "AGEMAX",
                "SEXPOP", "HLTSUBJI", "REGID", "TRT", "INDIC", "TBLIND", "RANDOM", "SDTIGVER"}
    assert required <= set(ts["TSPARMCD"])


def test_every_parameter_code_and_name_is_one_cdisc_term():
    ts = ts_of(revallo()).table
    ct = terminology()
    for parmcd, parm in zip(ts["TSPARMCD"], ts["TSPARM"]):
        assert ct.term_code("C66738", parmcd) and ct.term_code("C66738", parmcd) == ct.term_code("C67152", parm)


def test_ages_are_iso_8601_durations():
    ts = ts_of(revallo()).table
    assert values(ts, "AGEMIN") == [("P18Y", "", "ISO 8601", "")]
    assert values(ts, "AGEMAX") == [("P65Y", "", "ISO 8601", "")]
    assert [iso_duration(a) for a in ("18 Years", "1 Year", "6 Months", "2 Weeks", "28 Days", "12 Hours")] == [
        "P18Y", "P1Y", "P6M", "P2W", "P28D", "PT12H"]


def test_no_maximum_age_is_positive_infinity_as_a_null_flavor():
    registry = revallo()
    del registry["protocolSection"]["eligibilityModule"]["maximumAge"]
    assert values(ts_of(registry).table, "AGEMAX") == [("", "", "", "PINF")]


def test_controlled_values_carry_their_nci_code_and_the_ct_release():
    ts = ts_of(revallo()).table
    assert values(ts, "TPHASE") == [("PHASE I TRIAL", "C15600", "CDISC CT", "")]
    assert values(ts, "STYPE") == [("INTERVENTIONAL", "C98388", "CDISC CT", "")]
    assert values(ts, "INTMODEL") == [("SINGLE GROUP", "C82640", "CDISC CT", "")]
    assert values(ts, "INTTYPE") == [("DRUG", "C1909", "CDISC CT", "")]
    assert values(ts, "TBLIND") == [("OPEN LABEL", "C49659", "CDISC CT", "")]
    assert values(ts, "SEXPOP") == [("BOTH", "C49636", "CDISC CT", "")]
    assert values(ts, "RANDOM") == [("N", "C49487", "CDISC CT", "")]  # single group: not randomised
    assert values(ts, "HLTSUBJI") == [("N", "C49487", "CDISC CT", "")]
    assert set(ts.loc[ts["TSVCDREF"] == "CDISC CT", "TSVCDVER"]) == {CT_VERSION}


def test_registry_id_treatment_indication_and_country_carry_external_codes():
    ts = ts_of(revallo()).table
    assert values(ts, "REGID") == [("NCT01421927", "NCT01421927", "ClinicalTrials.gov", "")]
    assert values(ts, "TRT") == [("LENALIDOMIDE", "F0P408N6V4", "UNII", "")]
    assert values(ts, "INDIC") == [("Multiple Myeloma", "109989006", "SNOMED", "")]
    assert values(ts, "FCNTRY") == [("FRA", "FRA", "ISO 3166", "")]  # the ISO 3166-1 alpha-3 code
    versions = dict(zip(ts["TSVCDREF"], ts["TSVCDVER"]))
    assert versions["UNII"] and versions["SNOMED"]  # the dictionary releases the study states
    assert versions["ISO 3166"] == ISO_3166_EDITION == "2020"  # the edition define.xml's ISO 3166 codelist states


def test_treatment_and_condition_codes_come_from_the_study_constants_not_from_the_mapping():
    study = StudyInfo(studyid="X", treatments=(Treatment(name="LENALIDOMIDE", unii="UNII-OF-TEST", dose_form="TABLET",
                                                         route="ORAL", frequency="BID", dose_unit="mg",
                                                         dose_levels=(2.5, 25.0)),),
                      conditions=(Condition(name="Multiple Myeloma", snomed="SNOMED-OF-TEST"),),
                      extra={"VERSION.UNII": "2020-01"})
    ts = ts_of(revallo(), study=study).table
    assert values(ts, "TRT") == [("LENALIDOMIDE", "UNII-OF-TEST", "UNII", "")]
    assert ts.loc[ts["TSPARMCD"] == "TRT", "TSVCDVER"].tolist() == ["2020-01"]
    assert values(ts, "INDIC") == [("Multiple Myeloma", "SNOMED-OF-TEST", "SNOMED", "")]
    assert [v[0] for v in values(ts, "DOSE")] == ["2.5", "25"]  # one record per planned dose level
    assert values(ts, "DOSFRM") == [("TABLET", "C42998", "CDISC CT", "")]
    assert values(ts, "DOSFRQ") == [("BID", "C64496", "CDISC CT", "")]
    assert values(ts, "DOSU") == [("mg", "C28253", "CDISC CT", "")]
    assert values(ts, "ROUTE") == [("ORAL", "C38288", "CDISC CT", "")]


def test_a_value_no_input_gives_is_a_null_flavor_and_reported_never_invented():
    result = ts_of(revallo(), study=StudyInfo(studyid="REVALLO"))  # no treatments, conditions or TS.* values
    ts = result.table
    for parmcd in ("TTYPE", "ADDON", "ADAPT", "LENGTH", "STOPRULE", "PCLAS", "PLANSUB", "DOSE", "DOSU", "ROUTE"):
        assert values(ts, parmcd) == [("", "", "", "UNK")], parmcd
    assert values(ts, "TRT") == [("LENALIDOMIDE", "", "", "")]  # the registry names it; its UNII is not known
    assert values(ts, "INDIC") == [("Multiple Myeloma", "D009101", "MeSH", "")]  # the record's own MeSH
    reported = [f for f in result.findings if f.rule == "TS-VALUE-NOT-GIVEN"]
    assert len(reported) == 1 and reported[0].severity == "warning" and "PCLAS" in reported[0].values


def test_study_start_is_the_earliest_informed_consent():
    dm = DM.assign(RFICDTC=["2011-12-16", "2011-10-05", "2012-01"] + ["2012-03-01"] * 10)
    assert values(ts_of(revallo(), dm).table, "SSTDTC") == [("2011-10-05", "", "ISO 8601", "")]
    partial_only = DM.assign(RFICDTC=["2011-11"] + [""] * 12)
    assert values(ts_of(revallo(), partial_only).table, "SSTDTC") == [("2011-11", "", "ISO 8601", "")]


def test_the_primary_objective_is_the_registry_description_s_sentence():
    [(objective, *_)] = values(ts_of(revallo()).table, "OBJPRIM")
    assert objective == "The primary objective of this study is to evaluate the safety of such a strategy."


def test_every_expected_parameter_is_present_and_a_missing_one_is_flagged():
    ts = ts_of(revallo()).table
    assert missing_parameters(ts) == []
    without = ts[~ts["TSPARMCD"].isin(["TTYPE", "SSTDTC"])]
    assert sorted((f.rule, f.location, f.severity) for f in missing_parameters(without)) == [
        ("SD-TS-EXPECTED", "ts:TSPARMCD=TTYPE", "warning"), ("SD-TS-REQUIRED", "ts:TSPARMCD=SSTDTC", "error")]
    nulled = ts.assign(TSVAL=ts["TSVAL"].where(ts["TSPARMCD"] != "SSTDTC", ""))
    assert [f.rule for f in missing_parameters(nulled)] == ["SD-TS-REQUIRED"]  # SSTDTC needs a value
    observational = ts[ts["TSPARMCD"] != "DOSE"].assign(
        TSVAL=ts["TSVAL"].where(ts["TSPARMCD"] != "STYPE", "OBSERVATIONAL"))
    assert missing_parameters(observational) == []  # DOSE is expected of interventional studies only


def test_dates_counts_sponsor_and_versions():
    ts = ts_of(revallo()).table
    assert values(ts, "SSTDTC") == [("2011-08", "", "ISO 8601", "")]  # DM without RFICDTC: the registry's start
    assert values(ts, "SENDTC") == [("2014-10", "", "ISO 8601", "")]
    assert values(ts, "ACTSUB") == [("13", "", "", "")] and values(ts, "NARMS") == [("1", "", "", "")]
    assert values(ts, "SPONSOR") == [("University Hospital, Bordeaux", "", "", "")]
    assert values(ts, "SDTIGVER") == [("3.4", "", "", "")] and values(ts, "SDTMVER") == [("2.0", "", "", "")]


def test_repeated_parameters_are_numbered_by_tsseq():
    ts = ts_of(revallo()).table
    secondary = ts[ts["TSPARMCD"] == "OUTMSSEC"]
    assert secondary["TSSEQ"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert secondary["TSVAL"].iloc[0] == "One-year Progression-Free Survival"
    assert not ts.duplicated(["TSPARMCD", "TSSEQ"]).any()


def test_title_over_200_characters_continues_in_tsval1_at_a_word_boundary():
    registry = revallo()
    long_title = ("A Phase I Study of the Safety of a Maintenance Therapy With Lenalidomide After Reduced-intensity "
                  "Allogeneic Stem Cell Transplantation for Chemosensitive Relapsed Multiple Myeloma in Second or "
                  "Third Complete or Partial Response")  # 230 characters
    registry["protocolSection"]["identificationModule"]["officialTitle"] = long_title
    result = ts_of(registry)
    title = result.table[result.table["TSPARMCD"] == "TITLE"].iloc[0]
    assert len(title["TSVAL"]) <= 200 and title["TSVAL"] + " " + title["TSVAL1"] == long_title
    assert (result.table.loc[result.table["TSPARMCD"] != "TITLE", "TSVAL1"] == "").all()
    assert result.table.columns.tolist()[-3:] == ["TSVAL1", "_file", "_line"]
    assert "SDTM-TEXT-SPLIT-COLUMNS" in [f.rule for f in result.findings]


def test_combined_phases_and_unmapped_values():
    registry = revallo()
    design = registry["protocolSection"]["designModule"]
    design["phases"] = ["PHASE1", "PHASE2"]
    registry["protocolSection"]["armsInterventionsModule"]["interventions"][0]["type"] = "OTHER"
    result = ts_of(registry)
    assert values(result.table, "TPHASE") == [("PHASE I/II TRIAL", "C15693", "CDISC CT", "")]
    assert "INTTYPE" not in set(result.table["TSPARMCD"])  # OTHER has no CDISC intervention type
    assert [(f.rule, f.severity) for f in result.findings if f.rule == "TS-VALUE-UNMAPPED"] == [
        ("TS-VALUE-UNMAPPED", "warning")]


def test_actual_subject_number_is_checked_against_dm():
    result = ts_of(revallo(), DM.head(12))
    assert [(f.rule, f.location, f.values) for f in result.findings if f.rule == "TS-ACTSUB-DM"] == [
        ("TS-ACTSUB-DM", "ts:TSVAL:1", ("13", "12"))]


def test_registry_facts_without_a_parameter_are_listed_as_info():
    result = ts_of(revallo())
    unplaced = [f for f in result.findings if f.rule == "TS-REGISTRY-UNPLACED"]
    assert len(unplaced) == 1 and unplaced[0].severity == "info"
    assert {"descriptionModule.briefSummary", "eligibilityModule.eligibilityCriteria",
            "contactsLocationsModule.overallOfficials"} <= set(unplaced[0].values)
    assert "designModule.phases" not in unplaced[0].values


def test_columns_follow_the_study_spec_and_provenance_is_the_registry():
    result = ts_of(revallo())
    assert result.table.columns.tolist() == study_spec().dataset("TS").names + ["_file", "_line"]
    assert set(result.table["_file"]) == {"registry.json"} and set(result.table["_line"]) == {0}
    assert set(result.table["STUDYID"]) == {"REVALLO"} and set(result.table["DOMAIN"]) == {"TS"}
    assert result.rejected.empty and result.supp is None


@pytest.mark.parametrize("fixture", sorted((Path(__file__).parent / "fixtures" / "ctgov").glob("*.json")))
def test_a_real_clinicaltrials_gov_record_maps_without_errors(fixture):
    import json

    result = ts_of(json.loads(fixture.read_text(encoding="utf-8")), DM.iloc[0:0])
    assert not [f for f in result.findings if f.severity == "error"]
    assert {"TITLE", "REGID", "SPONSOR", "STYPE", "SDTIGVER"} <= set(result.table["TSPARMCD"])


EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"


@pytest.mark.skipif(not (EXAMPLE / "registry.json").exists(), reason="examples/revallo not generated yet")
def test_example_trial_summary_agrees_with_dm_and_has_no_warnings():
    from trialbridge.converters.pipeline import read_study as read_native
    from revallo_domains import map_dm
    from revallo_domains import map_ex

    example, _ = read_native(EXAMPLE)
    sdtm: dict[str, pd.DataFrame] = {}
    sdtm["EX"] = map_ex(example, sdtm).table
    sdtm["DM"] = map_dm(example, sdtm).table
    result = map_ts(example, sdtm, study_info_of(example))
    assert values(result.table, "ACTSUB") == [(str(len(sdtm["DM"])), "", "", "")]
    assert values(result.table, "SSTDTC") == [("2011-10-05", "", "ISO 8601", "")]  # the first consent
    assert values(result.table, "TITLE")[0][0].startswith("Safety of a Maintenance Therapy With Lenalidomide")
    # the protocol facts REVALLO's inputs do not give: stated as unknown, reported once
    assert [(f.rule, f.values) for f in result.findings if f.severity != "info"] == [
        ("TS-VALUE-NOT-GIVEN", ("PLANSUB", "LENGTH", "STOPRULE"))]
    assert missing_parameters(result.table) == []
