"""TA, TE and TI from registry records: the element model (screening, one treatment element per arm,
follow-up), arm codes, randomisation branches, and one TI record per criterion of real eligibility texts
(API v2 markdown, legacy XML numbered and hard-wrapped, v1 without markers)."""
from pathlib import Path

import pytest

from trialbridge.converters.readers.registry import read_file
from trialbridge.mappings.sdtm.ta import arm_rows, map_ta
from trialbridge.mappings.sdtm.te import arm_codes, element_rows, map_te, shorten
from trialbridge.mappings.sdtm.ti import criteria, criteria_rows, map_ti
from trialbridge.schemas.trial_design_spec import registry_spec

FIXTURES = Path(__file__).parent / "fixtures"


def record(name: str) -> dict:
    folder = "ctgov" if name.endswith(".json") and not name.endswith(".v1.json") else "registry"
    return read_file(FIXTURES / folder / name).records[0].record


def study(arms: list[dict] | None = None, study_type: str = "INTERVENTIONAL", allocation: str = "RANDOMIZED",
          criteria_text: str = "", interventions: list[dict] | None = None) -> dict:
    return {"protocolSection": {
        "identificationModule": {"nctId": "NCT00000001", "acronym": "TRIAL"},
        "designModule": {"studyType": study_type, "designInfo": {"allocation": allocation}},
        "armsInterventionsModule": {"armGroups": arms or [], "interventions": interventions or []},
        "eligibilityModule": {"eligibilityCriteria": criteria_text}}}


def test_every_arm_is_screening_its_treatment_and_follow_up():
    rows = arm_rows(study([{"label": "Arm A: Lenalidomide 5 mg", "type": "EXPERIMENTAL", "interventionNames": ["Drug: Lenalidomide"]},
                           {"label": "Arm B: Placebo", "type": "PLACEBO_COMPARATOR", "interventionNames": ["Drug: Placebo"]}]))
    assert rows == [
        ("ARMALENALIDOMIDE5MG", "Arm A: Lenalidomide 5 mg", 1, "SCRN", "Screening", "Randomized to Arm A: Lenalidomide 5 mg", "SCREENING"),
        ("ARMALENALIDOMIDE5MG", "Arm A: Lenalidomide 5 mg", 2, "T01", "Arm A: Lenalidomide 5 mg", "", "TREATMENT"),
        ("ARMALENALIDOMIDE5MG", "Arm A: Lenalidomide 5 mg", 3, "FU", "Follow-up", "", "FOLLOW-UP"),
        ("ARMBPLACEBO", "Arm B: Placebo", 1, "SCRN", "Screening", "Randomized to Arm B: Placebo", "SCREENING"),
        ("ARMBPLACEBO", "Arm B: Placebo", 2, "T02", "Arm B: Placebo", "", "TREATMENT"),
        ("ARMBPLACEBO", "Arm B: Placebo", 3, "FU", "Follow-up", "", "FOLLOW-UP"),
    ]
    elements = element_rows(study([{"label": "A", "interventionNames": ["Drug: X", "Radiation: Y"]}]))
    assert elements[1] == ("T01", "A", "Start of Drug: X; Radiation: Y", "End of the treatment of 'A'")


def test_single_arm_or_non_randomised_studies_have_no_branch():
    assert {r[5] for r in arm_rows(study([{"label": "Only", "interventionNames": ["Drug: X"]}]))} == {""}
    two = [{"label": "A", "interventionNames": ["Drug: X"]}, {"label": "B", "interventionNames": ["Drug: Y"]}]
    assert {r[5] for r in arm_rows(study(two, allocation="NON_RANDOMIZED"))} == {""}


def test_observational_cohorts_and_no_intervention_arms_are_observation():
    rows = arm_rows(study([{"label": "Cases"}, {"label": "Controls"}], study_type="OBSERVATIONAL", allocation=""))
    assert [r[4] for r in rows if r[2] == 2] == ["Observation: Cases", "Observation: Controls"]
    assert {r[6] for r in rows if r[2] == 2} == {"OBSERVATION"}
    arms = arm_rows(study([{"label": "Control", "type": "NO_INTERVENTION"}, {"label": "Drug", "interventionNames": ["Drug: X"]}]))
    assert [r[4] for r in arms if r[2] == 2] == ["Observation: Control", "Drug"]


def test_a_record_without_arm_groups_has_one_arm_with_every_intervention():
    rows = element_rows(study(interventions=[{"type": "DRUG", "name": "Imatinib"}]))
    assert rows[1] == ("T01", "All participants", "Start of Drug: Imatinib", "End of the treatment of 'All participants'")
    assert {r[0] for r in arm_rows(study(interventions=[{"type": "DRUG", "name": "Imatinib"}]))} == {"ALL"}


def test_arm_codes_are_unique_and_never_empty():
    assert arm_codes(["Arm A", "ARM-A", "Ω", "x" * 30, "ALL"]) == ["ARMA", "ARM2", "ARM3", "X" * 20, "ARM5"]


def test_hundreds_of_arms_get_element_codes_that_fit():
    many = [{"label": f"Dose level {n}", "interventionNames": ["Drug: X"]} for n in range(1, 151)]
    codes = [r[0] for r in element_rows(study(many))]
    assert codes[1] == "T001" and codes[-2] == "T150" and max(len(c) for c in codes) <= 8
    assert len({r[0] for r in arm_rows(study(many))}) == 150


def test_shorten_cuts_at_a_word_boundary():
    text = "word " * 60
    assert len(shorten(text)) <= 200 and shorten(text).endswith("word...")
    assert shorten("short  text\nhere") == "short text here"


# --- TI --------------------------------------------------------------------------------------------------
def test_v2_markdown_criteria_with_sub_items_and_escapes():
    text = ("Inclusion Criteria:\n\n* Age \\>= 18 years\n* Adequate organ function:\n  * ANC \\>= 1.5 x 10^9/L\n"
            "  * Platelets \\>= 100 x 10^9/L\n\nExclusion Criteria:\n\n* Prior lenalidomide\n* Pregnancy")
    assert criteria(text) == [
        ("INCLUSION", "Age >= 18 years"),
        ("INCLUSION", "Adequate organ function:; ANC >= 1.5 x 10^9/L; Platelets >= 100 x 10^9/L"),
        ("EXCLUSION", "Prior lenalidomide"), ("EXCLUSION", "Pregnancy")]


def test_legacy_numbered_and_hard_wrapped_criteria():
    rows = criteria_rows(record("NCT03840122.xml"))
    assert [r[0] for r in rows] == ["INCL01", "INCL02", "INCL03", "INCL04", "EXCL01", "EXCL02", "EXCL03", "EXCL04"]
    assert rows[2][1] == ("Patient agrees to participate as a study subject and signs the Informed Consent and Research "
                          "Authorization documents")


def test_headings_without_a_colon_and_with_stages():
    rows = criteria_rows(record("NCT03424005.xml"))  # Morpheus-TNBC: "Inclusion Criteria Stage 1", "Exclusion Criteria for Stage 1"
    assert [r[0] for r in rows if r[2] == "INCLUSION"] == [f"INCL{n:02d}" for n in range(1, 20)]
    assert [r[0] for r in rows if r[2] == "EXCLUSION"] == [f"EXCL{n:02d}" for n in range(1, 21)]
    assert rows[0][1] == "ECOG Performance Status of 0 or 1"
    assert rows[-20][1].startswith("Prior treatment with any of the Stage 1 protocol-specified study treatments")
    assert "Life expectancy =/> 3 months, as determined by the investigator" in [r[1] for r in rows]


def test_v1_criteria_without_markers_are_one_per_line():
    assert criteria(record("NCT00208312.v1.json")["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]) == [
        ("INCLUSION", "Referred for a clinically indicated pharmacological stress SPECT myocardial perfusion imaging study"),
        ("EXCLUSION", "Any condition precluding the safe administration of Adenoscan for a SPECT myocardial perfusion imaging study"),
        ("EXCLUSION", "Pregnant or breast-feeding, or (if pre-menopausal), not practicing acceptable method of birth control")]


def test_text_without_headings_is_inclusion_and_prose_mentioning_both_is_no_heading():
    assert criteria("Patients aged 18 or more\nWith a diagnosis of CML") == [
        ("INCLUSION", "Patients aged 18 or more"), ("INCLUSION", "With a diagnosis of CML")]
    assert criteria("See inclusion and exclusion criteria below\n\nKey Exclusion Criteria:\n- Prior transplant") == [
        ("INCLUSION", "See inclusion and exclusion criteria below"), ("EXCLUSION", "Prior transplant")]


def test_long_criteria_keep_their_first_words_and_give_their_full_text():
    long_item = "Adequate bone marrow function defined as " + "a value within range, " * 20
    mapped, long_texts = map_ti(study(criteria_text=f"Inclusion Criteria:\n* {long_item}\n* Short one"),
                                registry_spec().dataset("TI"), "r.json")
    table = mapped.table
    assert list(table["IETESTCD"]) == ["INCL01", "INCL02"] and list(table["IECAT"]) == ["INCLUSION", "INCLUSION"]
    assert len(table["IETEST"].iloc[0]) <= 200 and table["IETEST"].iloc[0].endswith("...")
    assert [code for code, _, _ in long_texts] == ["INCL01"] and long_texts[0][2] == long_item.strip().rstrip()
    assert [f.rule for f in mapped.findings] == ["TI-IETEST-SHORTENED"]


def test_no_criteria_is_a_warning_and_no_ti():
    mapped, _ = map_ti(study(), registry_spec().dataset("TI"), "r.json")
    assert len(mapped.table) == 0 and [(f.rule, f.severity) for f in mapped.findings] == [("TI-NO-CRITERIA", "warning")]


@pytest.mark.parametrize("name", ["NCT03840122.xml", "NCT00208312.v1.json", "NCT04207047.json", "NCT06171568.json"])
def test_real_records_give_ta_te_ti_in_spec_order(name):
    spec = registry_spec()
    rec = record(name)
    ta, te = map_ta(rec, spec.dataset("TA"), name).table, map_te(rec, spec.dataset("TE"), name).table
    ti, _ = map_ti(rec, spec.dataset("TI"), name)
    for table, dataset in ((ta, "TA"), (te, "TE"), (ti.table, "TI")):
        assert list(table.columns)[:len(spec.dataset(dataset).names)] == spec.dataset(dataset).names
        assert len(table) > 0 and (table["STUDYID"] != "").all()
    assert set(ta["ETCD"]) == set(te["ETCD"])  # every element of TA is described in TE
