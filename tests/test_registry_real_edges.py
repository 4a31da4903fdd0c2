"""Real registry records met while collecting a corpus (tests/fixtures/registry/README.md): the edges each brings
reach the trial design datasets as they should."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialbridge.converters.readers.registry import read_file
from trialbridge.converters.registry.package import map_design

REGISTRY = Path(__file__).parent / "fixtures" / "registry"


def ts_of(name: str) -> tuple[pd.DataFrame, list]:
    (record,) = read_file(REGISTRY / name).records
    design = map_design(record)
    return design.tables["TS"], design.findings


def values(ts: pd.DataFrame, parmcd: str) -> list[tuple[str, str]]:
    rows = ts[ts["TSPARMCD"] == parmcd]
    return list(zip(rows["TSVAL"], rows["TSVALNF"]))


def test_expanded_access_without_a_start_date_states_it_unknown():
    # NCT03245528: an expanded access record (status Available) has no start date at all
    ts, findings = ts_of("NCT03245528.xml")
    assert values(ts, "SSTDTC") == [("", "UNK")]
    assert "SSTDTC" in next(f for f in findings if f.rule == "TS-VALUE-NOT-GIVEN").values
    assert not [f for f in findings if f.severity == "error"]


def test_neonatal_ages_in_days_and_no_minimum():
    # NCT00734539: minimum age N/A, maximum age "5 Days"
    ts, _ = ts_of("NCT00734539.xml")
    assert values(ts, "AGEMAX") == [("P5D", "")]
    assert values(ts, "AGEMIN") == []


def test_cohorts_with_comparison_signs_and_sites_in_four_countries():
    # NCT04431453 (CARAVAN): 8 cohort arms whose labels carry >= and <, no minimum age, sites in US/IT/ES/GB
    ts, findings = ts_of("NCT04431453.json")
    assert [v for v, _ in values(ts, "FCNTRY")] == ["ESP", "GBR", "ITA", "USA"]
    assert values(ts, "AGEMAX") == [("P18Y", "")]
    assert not [f for f in findings if f.severity == "error"]


def test_classic_not_applicable_phase_and_female_only():
    # NCT04780763 (classic v1 JSON, 2021): phase "Not Applicable", women only
    ts, _ = ts_of("NCT04780763.v1.json")
    assert [v for v, _ in values(ts, "SEXPOP")] == ["F"]
    assert values(ts, "TPHASE") == [("NOT APPLICABLE", "")]
    assert [v for v, _ in values(ts, "FCNTRY")] == ["BEL"]


def test_a_paragraph_after_the_list_is_no_part_of_the_criterion_above():
    # CARAVAN's criteria end with an unindented note after a blank line; markdown escapes such as "\^" go
    (record,) = read_file(REGISTRY / "NCT04431453.json").records
    ti = map_design(record).tables["TI"]
    exclusion = list(ti.loc[ti["IECAT"] == "EXCLUSION", "IETEST"])
    assert exclusion[-1] == "Note: Other protocol defined Inclusion/Exclusion criteria may apply"
    assert exclusion[-2].endswith("continuous renal replacement therapy (CRRT)).")
    assert any("1.73m^2 using Schwartz" in t for t in exclusion) and not any("\\" in t for t in ti["IETEST"])


def test_legacy_free_sentences_between_lists_are_criteria_and_lead_ins_are_not():
    # NCT00001177 (legacy XML, NIMH): sentences at the heading's indent between the bullet lists
    from trialbridge.mappings.sdtm.ti import criteria
    # the text as the legacy reader gives it (hard-wrapped lines joined)
    text = ("-  INCLUSION CRITERIA:\n\n        The subjects of this study will be women who meet the following criteria:"
            "\n\n          -  age 18 to 50;\n\n          -  regular menses.\n\n        Subjects who do not meet the "
            "criteria listed above but who do meet diagnostic criteria for recurrent brief depression will also be "
            "studied. The criteria for recurrent brief depression include the following:\n\n          -  duration "
            "less than two weeks;\n\n        Age-matched women without mood and behavioral disorders will be "
            "recruited.\n\n        EXCLUSION CRITERIA:\n\n        Subjects should have no general medical illness "
            "that is primary (i.e., appears to be causing the mood disorder);\n")
    assert criteria(text) == [
        ("INCLUSION", "age 18 to 50;"), ("INCLUSION", "regular menses."),
        ("INCLUSION", "duration less than two weeks;"),
        ("INCLUSION", "Age-matched women without mood and behavioral disorders will be recruited."),
        ("EXCLUSION", "Subjects should have no general medical illness that is primary (i.e., appears to be causing "
                      "the mood disorder);")]


def test_a_preamble_before_the_inclusion_heading_is_no_criterion():
    # NCT01642004 (CheckMate 017, legacy XML 2016): BMS records open with a pointer to their web site
    from trialbridge.mappings.sdtm.ti import criteria
    text = ("For more information regarding BMS clinical trial participation, please visit www.BMSStudyConnect.com\n\n"
            "        Inclusion Criteria:\n\n          -  Men and women ≥18 years of age\n\n        Exclusion Criteria:\n\n"
            "          -  Subjects with carcinomatous meningitis\n")
    assert criteria(text) == [("INCLUSION", "Men and women ≥18 years of age"),
                              ("EXCLUSION", "Subjects with carcinomatous meningitis")]
    # without an inclusion heading the text before the exclusion heading is what includes
    assert criteria("Adults with asthma\n\nExclusion Criteria:\n\n* Smokers\n") == [
        ("INCLUSION", "Adults with asthma"), ("EXCLUSION", "Smokers")]


def test_right_aligned_numbers_are_one_list():
    # NCT04452435 (legacy XML, 2021): " 10." is written one column left of "  9."; every line ends in "&#xD;"
    (record,) = read_file(REGISTRY / "NCT04452435.xml").records
    ti = map_design(record).tables["TI"]
    exclusion = list(ti.loc[ti["IECAT"] == "EXCLUSION", "IETEST"])
    assert len(exclusion) == 13 and exclusion[0] == "Any previous experimental treatment for COVID-19"
    assert exclusion[4].startswith("Any of the following findings at Visit 1:; Positive results for hepatitis B")
    assert exclusion[9] == "Pregnant or breast-feeding female subjects"
    assert not any("\r" in t for t in ti["IETEST"])
    assert len(ti[ti["IECAT"] == "INCLUSION"]) == 6


def test_a_withdrawn_study_without_participants():
    # NCT00973089 (API v2): WITHDRAWN, 0 participants (ACTUAL), a no-intervention arm, a start date without type
    ts, findings = ts_of("NCT00973089.json")
    assert values(ts, "ACTSUB") == [("0", "")] and not [f for f in findings if f.severity == "error"]


def test_short_category_headings_and_bullets_touching_their_text():
    # NCT01220531 (legacy XML, 2017, Duke thymus transplantation): "Transplant Inclusion:" / "Transplant
    # Exclusion:" without the word "criteria", "\u2022" bullets with no space, a shallower last bullet
    from trialbridge.mappings.sdtm.ti import criteria
    text = ("        Transplant Inclusion:\n\n          -  Atypical DiGeorge must have, or have had, a rash.\n\n"
            "        \u2022Typical cDGA with maternal engraftment\n\n        Transplant Exclusion:\n\n"
            "          -  HIV infection\n\n          -  CMV on 2 tests for Groups 2, 3, and 4\n\n"
            "        Biological Mother Inclusion/Exclusion:\n\n        \u2022 Must be biological mother of thymus recipient\n")
    assert criteria(text) == [
        ("INCLUSION", "Atypical DiGeorge must have, or have had, a rash."),
        ("INCLUSION", "Typical cDGA with maternal engraftment"),
        ("EXCLUSION", "HIV infection"), ("EXCLUSION", "CMV on 2 tests for Groups 2, 3, and 4"),
        ("EXCLUSION", "Biological Mother Inclusion/Exclusion: Must be biological mother of thymus recipient")]
