"""ResearchStudy and what it references (Organization, Location, Practitioner(Role), eligibility Group),
R4 and R5, from the REVALLO registry record and two real ClinicalTrials.gov API v2 records."""
from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest
from jsonschema import Draft6Validator

from trialbridge.converters.synth.registry import FRENCH_SITES, REVALLO_SITE, build_registry
from trialbridge.mappings.fhir import group, location, organization, practitioner, research_study
from trialbridge.mappings.study import Condition, StudyInfo, Treatment
from trialbridge.mappings.fhir.common import SYSTEM_NCT, SYSTEM_ORG_STUDY_ID, SYSTEM_SITEID, FhirInput, resource_id
from trialbridge.mappings.fhir.practitioner import human_name
from trialbridge.mappings.fhir.registry import XVER, leaves, pattern
from trialbridge.mappings.fhir.registry_placement import PLACEMENTS, UNKNOWN_FIELD, field_values, placement
from trialbridge.mappings.sdtm.algorithms import study_identifier
from trialbridge.schemas.fhir_checks import check_resources
from trialbridge.schemas.fhir_standards import fhir_schema, model_class, value_set

MODULES = (research_study, organization, location, practitioner, group)
RELEASES = ("R4", "R5")
FIXTURES = Path(__file__).parent / "fixtures" / "ctgov"
R5CS, THO = "http://hl7.org/fhir/", "http://terminology.hl7.org/CodeSystem/"


# ------------------------------------------------------------------------------------ inputs
def revallo_sdtm() -> dict[str, pd.DataFrame]:
    """The DM and EX columns the registry mappings read: three subjects at site 01, one arm, lenalidomide."""
    dm = pd.DataFrame({
        "USUBJID": ["REVALLO-01-001", "REVALLO-01-002", "REVALLO-01-003"],
        "SITEID": ["01", "01", "01"],
        "COUNTRY": ["FRA", "FRA", "FRA"],
        "ARMCD": ["LENALIDOMIDE"] * 3,
        "ARM": ["lenalidomide"] * 3,
    })
    ex = pd.DataFrame({"USUBJID": ["REVALLO-01-001"], "EXTRT": ["LENALIDOMIDE"]})
    return {"DM": dm, "EX": ex}


def revallo() -> FhirInput:
    study = StudyInfo(studyid="REVALLO", treatments=(Treatment(name="LENALIDOMIDE", unii="F0P408N6V4", rxnorm="342369",
                                                              atc="L04AX04"),),
                      conditions=(Condition("Multiple Myeloma", "109989006", "D009101"),))  # as the study spec declares
    return FhirInput(build_registry(13, (REVALLO_SITE,)), revallo_sdtm(), "REVALLO", study)


def real(nct: str) -> FhirInput:
    """A downloaded record on its own: no SDTM tables, so no site ids and no arm codes from DM."""
    record = json.loads((FIXTURES / f"{nct}.json").read_text(encoding="utf-8"))
    return FhirInput(record, {}, study_identifier(record))


INPUTS = {"REVALLO": revallo, "NCT04207047": lambda: real("NCT04207047"), "NCT06171568": lambda: real("NCT06171568")}


@lru_cache(maxsize=None)
def built(name: str, release: str) -> tuple[dict, ...]:
    inp = INPUTS[name]()
    return tuple(r for m in MODULES for r in m.build(inp, release))


def one(resources: tuple[dict, ...], resource_type: str) -> dict:
    found = [r for r in resources if r["resourceType"] == resource_type]
    assert len(found) == 1, f"{len(found)} {resource_type}"
    return found[0]


def codes(concept: dict) -> set[tuple[str, str]]:
    return {(c.get("system", ""), c.get("code", "")) for c in concept.get("coding", [])}


def ext(resource: dict, element: str) -> list[dict]:
    """The cross-version extensions of an R5 element in an R4 resource."""
    return [e for e in resource.get("extension", []) if e["url"] == XVER + element]


def sub(extension: dict, name: str) -> list:
    return [next(v for k, v in part.items() if k.startswith("value"))
            for part in extension["extension"] if part["url"] == name]


# ------------------------------------------------------------------------------------ official checks
@lru_cache(maxsize=None)
def validator(release: str, resource_type: str) -> Draft6Validator:
    schema = fhir_schema(release)
    return Draft6Validator({"$ref": f"#/definitions/{resource_type}", "definitions": schema["definitions"]})


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", INPUTS)
def test_every_resource_follows_the_official_json_schema_of_its_release(name, release):
    for resource in built(name, release):
        errors = [e.message[:200] for e in validator(release, resource["resourceType"]).iter_errors(resource)]
        assert errors == [], f"{resource['resourceType']}: {errors}"


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", INPUTS)
def test_every_resource_parses_with_the_fhir_resources_model_of_its_release(name, release):
    for resource in built(name, release):
        model_class(release, resource["resourceType"]).model_validate(resource)  # R4: fhir.resources.R4B


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", INPUTS)
def test_the_tool_checks_find_nothing(name, release):
    """schemas/fhir_checks: schema, model, and the required bindings the schema cannot see."""
    assert [(f.rule, f.location, f.message) for f in check_resources(list(built(name, release)), release)] == []


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", INPUTS)
def test_elements_come_in_the_order_the_specification_declares(name, release):
    definitions = fhir_schema(release)["definitions"]
    for resource in built(name, release):
        declared = [k for k in definitions[resource["resourceType"]]["properties"] if not k.startswith("_")]
        assert list(resource) == sorted(resource, key=declared.index), resource["resourceType"]


@pytest.mark.parametrize("release", RELEASES)
def test_a_rerun_gives_the_same_bytes(release):
    first = json.dumps([r for m in MODULES for r in m.build(revallo(), release)], ensure_ascii=False)
    again = json.dumps([r for m in MODULES for r in m.build(revallo(), release)], ensure_ascii=False)
    assert first == again


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", INPUTS)
def test_every_resource_has_an_identifier_for_the_conditional_create(name, release):
    for resource in built(name, release):
        assert resource["identifier"][0]["system"] and resource["identifier"][0]["value"], resource["resourceType"]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", INPUTS)
def test_every_reference_points_to_a_resource_of_the_set_or_to_the_study_medication(name, release):
    resources = built(name, release)
    ids = {f"{r['resourceType']}/{r['id']}" for r in resources} | {f"Medication/{resource_id('Medication', 'LENALIDOMIDE')}"}
    text = json.dumps(resources)
    pointed = {part.split('"')[0] for part in text.split('"reference": "')[1:]}
    assert pointed <= ids


# ------------------------------------------------------------------------------------ identity
def test_ids_are_the_keys_agreed_with_the_subject_mappings():
    resources = built("REVALLO", "R5")
    ids = {(r["resourceType"], r["id"]) for r in resources}
    assert ("ResearchStudy", resource_id("ResearchStudy", "REVALLO")) in ids
    assert ("Organization", resource_id("Organization", "sponsor")) in ids
    assert ("Organization", resource_id("Organization", "site", "01")) in ids  # Patient.managingOrganization
    assert ("Location", resource_id("Location", "01")) in ids
    assert ("Group", resource_id("Group", "REVALLO", "eligibility")) in ids


@pytest.mark.parametrize("release", RELEASES)
def test_the_nct_number_is_the_first_identifier_and_the_sponsor_id_is_kept(release):
    study = one(built("REVALLO", release), "ResearchStudy")
    assert study["identifier"][0] == {"use": "official", "system": SYSTEM_NCT, "value": "NCT01421927"}
    sponsor_id = next(i for i in study["identifier"] if i["system"] == SYSTEM_ORG_STUDY_ID)
    assert sponsor_id["value"] == "CHUBX 2010/01"
    assert sponsor_id["assigner"]["reference"] == f"Organization/{resource_id('Organization', 'sponsor')}"


def test_secondary_ids_keep_their_type_and_issuing_domain():
    study = one(built("NCT06171568", "R5"), "ResearchStudy")
    idrcb = next(i for i in study["identifier"] if i["value"] == "2023-A00386-39")
    assert idrcb["type"]["text"] == "Other" and idrcb["assigner"] == {"display": "IDRCB"}


# ------------------------------------------------------------------------------------ ResearchStudy R5
def test_r5_study_title_labels_status_phase_and_purpose():
    study = one(built("REVALLO", "R5"), "ResearchStudy")
    assert study["title"].startswith("Lenalidomide After Reduced-intensity")  # brief title (HL7's mapping)
    assert [(l["type"]["coding"][0]["code"], l["value"][:20]) for l in study["label"]] == [
        ("official", "Safety of a Maintena"), ("acronym", "REVALLO")]
    assert study["status"] == "active"  # publication status of the record
    assert codes(study["progressStatus"][0]["state"]) == {(R5CS + "research-study-status", "completed")}
    assert codes(study["phase"]) == {(R5CS + "research-study-phase", "phase-1")}
    assert codes(study["primaryPurposeType"]) == {(R5CS + "research-study-prim-purp-type", "treatment")}
    assert study["period"] == {"start": "2011-08", "end": "2014-10"}
    assert study["date"] == "2015-07-23"


def test_r5_study_design_is_coded_where_sevco_has_the_concept_and_text_otherwise():
    design = one(built("REVALLO", "R5"), "ResearchStudy")["studyDesign"]
    assert [(next(iter(codes(d)), ("", ""))[1], d["text"]) for d in design] == [
        ("SEVCO:01001", "Study type: Interventional"),
        ("", "Allocation: N/A"),
        ("SEVCO:01016", "Intervention model: Single group"),  # uncontrolled cohort: one group
        ("", "Masking: None (Open Label)"),  # no code for open label
    ]


def test_r5_condition_and_focus_are_coded():
    study = one(built("REVALLO", "R5"), "ResearchStudy")
    assert codes(study["condition"][0]) == {("https://www.nlm.nih.gov/mesh", "D009101"),
                                            ("http://snomed.info/sct", "109989006")}
    drug = study["focus"][0]
    assert {("http://www.nlm.nih.gov/research/umls/rxnorm", "342369"), ("http://www.whocc.no/atc", "L04AX04"),
            ("https://www.nlm.nih.gov/mesh", "D000077269")} <= codes(drug["concept"])
    assert drug["reference"]["reference"] == f"Medication/{resource_id('Medication', 'LENALIDOMIDE')}"


def test_the_snomed_code_of_a_condition_comes_only_from_the_study_spec():
    record = revallo()
    unstated = FhirInput(record.registry, record.sdtm, "REVALLO", StudyInfo(studyid="REVALLO"))
    study = one(tuple(research_study.build(unstated, "R5")), "ResearchStudy")
    assert codes(study["condition"][0]) == {("https://www.nlm.nih.gov/mesh", "D009101")}


def test_r5_derived_mesh_ancestors_are_keywords_coded_where_the_record_gives_the_id():
    keywords = one(built("REVALLO", "R5"), "ResearchStudy")["keyword"]
    assert {"text": "Neoplasms, Plasma Cell"} in keywords  # no MeSH id in the record
    assert {("https://www.nlm.nih.gov/mesh", "D000970")} in [codes(k) for k in keywords]
    assert len(keywords) == 11 + 7  # condition ancestors + intervention ancestors


def test_r5_recruitment_counts_13_actual_participants_and_points_to_the_eligibility_group():
    study = one(built("REVALLO", "R5"), "ResearchStudy")
    assert study["recruitment"] == {"actualNumber": 13, "eligibility": {
        "reference": f"Group/{resource_id('Group', 'REVALLO', 'eligibility')}"}}
    observational = one(built("NCT06171568", "R5"), "ResearchStudy")
    assert observational["recruitment"]["targetNumber"] == 400  # ESTIMATED enrolment is a target


def test_r5_arm_is_linked_by_the_dm_armcd():
    group_ = one(built("REVALLO", "R5"), "ResearchStudy")["comparisonGroup"][0]
    assert (group_["linkId"], group_["name"]) == ("LENALIDOMIDE", "lenalidomide")
    assert codes(group_["type"]) == {(R5CS + "research-study-arm-type", "experimental")}
    assert group_["description"].endswith("Interventions: Drug: Lenalidomide")


def test_r5_outcome_measures_keep_type_description_and_time_frame():
    measures = one(built("REVALLO", "R5"), "ResearchStudy")["outcomeMeasure"]
    assert [m["type"][0]["coding"][0]["code"] for m in measures] == ["primary"] + ["secondary"] * 8
    assert measures[0]["description"].endswith("Time frame: 1 year")
    assert measures[3] == {"name": "One-year Transplant Related Mortality", "type": measures[3]["type"],
                           "description": "Time frame: one year"}  # no description in the record


def test_r5_associated_parties_name_sponsor_responsible_party_and_officials():
    parties = one(built("REVALLO", "R5"), "ResearchStudy")["associatedParty"]
    assert [(p["role"]["coding"][0]["code"], p["name"]) for p in parties] == [
        ("lead-sponsor", "University Hospital, Bordeaux"),
        ("sponsor", "University Hospital, Bordeaux"),  # responsibleParty.type SPONSOR
        ("primary-investigator", "Stephane Vigouroux, Dr"),
        ("study-chair", "Adélaïde DOUSSAU, Dr"),
    ]
    assert parties[2]["party"]["reference"] == \
        f"PractitionerRole/{resource_id('PractitionerRole', 'PRINCIPAL_INVESTIGATOR', 'Stephane Vigouroux, Dr')}"


def test_r5_unknown_status_keeps_the_last_known_one():
    study = one(built("NCT04207047", "R5"), "ResearchStudy")
    state = study["progressStatus"][0]["state"]
    assert codes(state) == {(R5CS + "research-study-status", "active-but-not-recruiting")}
    assert state["text"] == "Unknown (last known status: Active not recruiting)"
    overall = study["progressStatus"][1]
    assert overall["actual"] is False and overall["period"] == {"start": "2018-10-02", "end": "2020-03-31"}


# ------------------------------------------------------------------------------------ ResearchStudy R4
def test_r4_study_holds_status_sponsor_investigator_enrollment_and_arm_natively():
    study = one(built("REVALLO", "R4"), "ResearchStudy")
    assert study["status"] == "completed"
    assert study["sponsor"]["reference"] == f"Organization/{resource_id('Organization', 'sponsor')}"
    assert study["principalInvestigator"]["display"] == "Stephane Vigouroux, Dr"
    assert study["enrollment"] == [{"reference": f"Group/{resource_id('Group', 'REVALLO', 'eligibility')}"}]
    assert [a["name"] for a in study["arm"]] == ["lenalidomide"]  # = DM.ARM, how R4 subjects name their arm
    assert codes(study["phase"]) == {(THO + "research-study-phase", "phase-1")}
    assert codes(study["location"][0]) == {("urn:iso:std:iso:3166", "FRA")}


def test_r4_description_opens_with_the_brief_summary_then_the_detailed_description():
    study = one(built("REVALLO", "R4"), "ResearchStudy")
    summary, detail = study["description"].split("\n\n", 1)
    assert summary.startswith("Allogeneic stem cell transplantation") and detail.startswith("Lenalidomide has")


def test_r4_category_holds_study_design_and_classifiers():
    texts = [c["text"] for c in one(built("REVALLO", "R4"), "ResearchStudy")["category"]]
    assert texts == ["Study type: Interventional", "Allocation: N/A", "Intervention model: Single group",
                     "Masking: None (Open Label)", "Has results: No"]


def test_r4_objectives_and_their_time_frames_do_not_vanish():
    study = one(built("REVALLO", "R4"), "ResearchStudy")
    names = [o["name"] for o in study["objective"]]
    assert names[:2] == ["Safety of lenalidomide", "One-year Progression-Free Survival"]
    assert codes(study["objective"][0]["type"]) == {(THO + "research-study-objective-type", "primary")}
    measures = ext(study, "ResearchStudy.outcomeMeasure")
    assert len(measures) == 9
    assert all(sub(m, "description")[0].endswith(("Time frame: 1 year", "Time frame: one year")) for m in measures)


def test_r4_extensions_carry_labels_date_other_parties_progress_and_numbers():
    study = one(built("REVALLO", "R4"), "ResearchStudy")
    assert [sub(e, "value")[0] for e in ext(study, "ResearchStudy.label")][1] == "REVALLO"
    assert [e["valueDateTime"] for e in ext(study, "ResearchStudy.date")] == ["2015-07-23"]
    roles = [sub(e, "role")[0]["coding"][0]["code"] for e in ext(study, "ResearchStudy.associatedParty")]
    assert roles == ["sponsor", "study-chair"]  # lead sponsor and PI are native R4 elements
    assert [sub(e, "actualNumber") for e in ext(study, "ResearchStudy.recruitment")] == [[13]]
    states = [sub(e, "state")[0] for e in ext(study, "ResearchStudy.progressStatus")]
    assert codes(states[0]) == {(THO + "research-study-status", "completed")}
    assert [s["text"] for s in states] == ["Completed", "Overall study", "Primary completion"]


@pytest.mark.parametrize(("overall", "last_known", "r4_status"), [
    ("NOT_YET_RECRUITING", None, "approved"),
    ("RECRUITING", None, "active"),
    ("ENROLLING_BY_INVITATION", None, "active"),
    ("ACTIVE_NOT_RECRUITING", None, "closed-to-accrual"),
    ("SUSPENDED", None, "temporarily-closed-to-accrual"),
    ("TERMINATED", None, "administratively-completed"),
    ("COMPLETED", None, "completed"),
    ("WITHDRAWN", None, "withdrawn"),
    ("UNKNOWN", "RECRUITING", "active"),
])
def test_r4_status_is_in_the_required_value_set(overall, last_known, r4_status):
    inp = revallo()
    status = inp.registry["protocolSection"]["statusModule"]
    status["overallStatus"] = overall
    if last_known:
        status["lastKnownStatus"] = last_known
    study = one(tuple(research_study.build(inp, "R4")), "ResearchStudy")
    assert study["status"] == r4_status
    assert r4_status in value_set("R4", "research-study-status").codes


def test_r4_central_contacts_are_contact_details():
    study = one(built("NCT06171568", "R4"), "ResearchStudy")
    assert study["contact"][0] == {"name": "Camille Heslot, MD", "telecom": [
        {"system": "phone", "value": "01.49.95.81.69 ext. +33"},  # the extension as the record holds it
        {"system": "email", "value": "camille.heslot@aphp.fr"}]}


# ------------------------------------------------------------------------------------ Group
def years(value: int) -> dict:
    return {"value": value, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"}


@pytest.mark.parametrize("release", RELEASES)
def test_eligibility_group_has_age_sex_and_healthy_volunteer_characteristics(release):
    elig = one(built("REVALLO", release), "Group")
    age, sex, healthy = elig["characteristic"]
    assert codes(age["code"]) == {("http://snomed.info/sct", "397669002")}
    assert age["valueRange"] == {"low": years(18), "high": years(65)}
    assert sex["valueCodeableConcept"] == {"text": "All"}
    assert healthy["valueBoolean"] is False
    assert {c["exclude"] for c in elig["characteristic"]} == {False}


@pytest.mark.parametrize("release", RELEASES)
def test_eligibility_criteria_text_is_kept_whole(release):
    elig = one(built("REVALLO", release), "Group")
    text = elig["description"] if release == "R5" else ext(elig, "Group.description")[0]["valueMarkdown"]
    criteria = build_registry(13, (REVALLO_SITE,))["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    assert criteria in text and "Lenalidomide treatment ≤ 9 months" in text
    assert text.startswith("**Ages eligible for study:** 18 Years to 65 Years (Adult, Older adult)")


def test_group_membership_is_definitional_in_r5_and_not_actual_in_r4():
    assert one(built("REVALLO", "R5"), "Group")["membership"] == "definitional"
    r4 = one(built("REVALLO", "R4"), "Group")
    assert r4["actual"] is False and "membership" not in r4 and "description" not in r4


def test_an_open_ended_age_range_has_only_a_low_bound():
    age = one(built("NCT04207047", "R5"), "Group")["characteristic"][0]
    assert age["valueRange"] == {"low": years(18)}


# ------------------------------------------------------------------------------------ people, places
@pytest.mark.parametrize(("text", "expected"), [
    ("Stephane Vigouroux, Dr", {"family": "Vigouroux", "given": ["Stephane"], "prefix": ["Dr"]}),
    ("Adélaïde DOUSSAU, Dr", {"family": "DOUSSAU", "given": ["Adélaïde"], "prefix": ["Dr"]}),
    ("Emmanuel Mandonnet, MD, PhD", {"family": "Mandonnet", "given": ["Emmanuel"], "suffix": ["MD", "PhD"]}),
    ("Jean de La Fontaine", {"family": "de La Fontaine", "given": ["Jean"]}),  # a particle starts the family
    ("Dr. Anne Marie Dupont", {"family": "Dupont", "given": ["Anne", "Marie"], "prefix": ["Dr."]}),
    ("Madonna", {"family": "Madonna"}),
])
def test_official_names_are_split_and_the_registered_text_is_kept(text, expected):
    assert human_name(text) == {"text": text, **expected}


def test_officials_act_for_their_affiliation():
    roles = [r for r in built("REVALLO", "R5") if r["resourceType"] == "PractitionerRole"]
    assert [r["code"][0]["text"] for r in roles] == ["Principal investigator", "Study chair"]
    assert {r["organization"]["reference"] for r in roles} == {f"Organization/{resource_id('Organization', 'sponsor')}"}


def test_a_person_named_twice_is_one_practitioner_with_the_contact_points():
    people = [r for r in built("NCT06171568", "R5") if r["resourceType"] == "Practitioner"]
    names = [p["name"][0]["text"] for p in people]
    assert names == ["Emmanuel Mandonnet, MD, PhD", "Alexis Schnitzler, MD, PhD", "Camille Heslot, MD"]
    assert people[1]["telecom"][1] == {"system": "email", "value": "alexis.schnitzler@aphp.fr"}


@pytest.mark.parametrize("release", RELEASES)
def test_site_location_keeps_accents_and_takes_the_iso_country_from_dm(release):
    site = one(built("REVALLO", release), "Location")
    assert site["name"] == "CHU Bordeaux - Hôpital Haut-Lévêque"
    assert site["address"] == {"city": "Pessac", "postalCode": "33600", "country": "FRA"}
    assert site["managingOrganization"]["reference"] == f"Organization/{resource_id('Organization', 'site', '01')}"
    assert {"system": SYSTEM_SITEID, "value": "01"} in site["identifier"]


def test_a_downloaded_location_keeps_the_country_name_position_and_contacts():
    r5 = one(built("NCT06171568", "R5"), "Location")
    assert r5["address"]["country"] == "France" and r5["position"] == {"longitude": 2.3488, "latitude": 48.85341}
    assert [c["name"][0]["text"] for c in r5["contact"]] == ["Camille Heslot, MD", "Emmanuel Mandonnet, MD, PhD"]
    r4 = one(built("NCT06171568", "R4"), "Location")
    assert "contact" not in r4 and r4["telecom"][1] == {"system": "email", "value": "camille.heslot@aphp.fr"}
    assert r5["id"] == resource_id("Location", "location", "1")  # no DM: keyed by position


def test_sites_are_paired_with_registry_locations_in_site_id_order():
    dm = pd.DataFrame({"SITEID": ["03", "01", "02", "01"], "COUNTRY": ["FRA"] * 4, "ARMCD": ["LENALIDOMIDE"] * 4,
                       "ARM": ["lenalidomide"] * 4})
    inp = FhirInput(build_registry(13, FRENCH_SITES[:3]), {"DM": dm}, "REVALLO")
    names = {r["id"]: r["name"] for r in location.build(inp, "R5")}
    assert names == {resource_id("Location", "01"): FRENCH_SITES[0].facility,
                     resource_id("Location", "02"): FRENCH_SITES[1].facility,
                     resource_id("Location", "03"): FRENCH_SITES[2].facility}
    assert location.unplaced(inp, "R5") == []


def test_unpaired_sites_are_built_alone_and_reported():
    dm = pd.DataFrame({"SITEID": ["01", "02"], "COUNTRY": ["FRA", "FRA"], "ARMCD": ["X", "X"], "ARM": ["x", "x"]})
    inp = FhirInput(build_registry(13, FRENCH_SITES[:3]), {"DM": dm}, "REVALLO")
    ids = [r["id"] for r in location.build(inp, "R5")]
    assert ids == [resource_id("Location", "01"), resource_id("Location", "02"),
                   resource_id("Location", "location", "3")]  # the third location has no DM site
    assert [(f.rule, f.values) for f in location.unplaced(inp, "R4")] == [
        ("FHIR-SITE-UNPAIRED", (FRENCH_SITES[2].facility,))]
    only_dm = FhirInput(build_registry(13, FRENCH_SITES[:1]), {"DM": pd.DataFrame(
        {"SITEID": ["01", "09"], "COUNTRY": ["FRA", "FRA"], "ARMCD": ["X", "X"], "ARM": ["x", "x"]})}, "REVALLO")
    orgs = organization.build(only_dm, "R5")
    site_09 = next(o for o in orgs if o["id"] == resource_id("Organization", "site", "09"))
    assert site_09["identifier"] == [{"system": SYSTEM_SITEID, "value": "09"}]  # no name: org-1 by identifier


def test_organizations_are_named_once_with_their_agency_class():
    orgs = [o for o in built("NCT06171568", "R5") if o["resourceType"] == "Organization"]
    assert [(o["name"], o.get("type", [{}])[0].get("text")) for o in orgs] == [
        ("Assistance Publique - Hôpitaux de Paris", "OTHER"),  # lead sponsor = registering org = affiliation
        ("SBT Human(s) Matter", "UNKNOWN"),
        ("Clinical Research Unit Saint Louis Lariboisière", "UNKNOWN"),
        ("Neurosurgery - Lariboisière hospital", None),  # the site
    ]


# ------------------------------------------------------------------------------------ nothing lost
@pytest.mark.parametrize("release", RELEASES)
def test_nothing_of_the_revallo_record_is_left_unplaced(release):
    assert research_study.unplaced(revallo(), release) == []


UNPLACED_REAL = {
    "NCT04207047": {"derivedSection.miscInfoModule.versionHolder",
                    "derivedSection.miscInfoModule.modelPredictions.bmiLimits.minBmi",
                    "derivedSection.miscInfoModule.modelPredictions.bmiLimits.maxBmi",
                    *[f"derivedSection.interventionBrowseModule.{part}" for part in (
                        "browseLeaves[*].id", "browseLeaves[*].name", "browseLeaves[*].relevance",
                        "browseBranches[*].abbrev", "browseBranches[*].name")]},
    "NCT06171568": {"derivedSection.miscInfoModule.versionHolder",
                    "derivedSection.miscInfoModule.modelPredictions.bmiLimits.minBmi",
                    "derivedSection.miscInfoModule.modelPredictions.bmiLimits.maxBmi",
                    *[f"derivedSection.conditionBrowseModule.{part}" for part in (
                        "browseLeaves[*].id", "browseLeaves[*].name", "browseLeaves[*].asFound",
                        "browseLeaves[*].relevance", "browseBranches[*].abbrev", "browseBranches[*].name")]},
}
R4_ONLY = {"NCT06171568": {"protocolSection.contactsLocationsModule.locations[*].contacts[*].name",
                           "protocolSection.contactsLocationsModule.locations[*].contacts[*].role"}}


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("nct", UNPLACED_REAL)
def test_a_real_record_lists_exactly_the_fields_fhir_does_not_hold_with_a_reason(nct, release):
    found = research_study.unplaced(real(nct), release)
    expected = UNPLACED_REAL[nct] | (R4_ONLY.get(nct, set()) if release == "R4" else set())
    assert {f.location.split(":", 1)[1] for f in found} == expected
    assert all(f.rule == "FHIR-REGISTRY-UNPLACED" and f.severity == "info" and UNKNOWN_FIELD not in f.message
               for f in found)


def test_a_field_the_mapping_does_not_know_is_reported_not_dropped():
    inp = revallo()
    record = copy.deepcopy(inp.registry)
    record["protocolSection"]["newModule"] = {"newField": "x"}
    found = research_study.unplaced(FhirInput(record, inp.sdtm, inp.studyid), "R5")
    assert [(f.location, f.values) for f in found] == [("registry.json:protocolSection.newModule.newField", ("x",))]
    assert UNKNOWN_FIELD in found[0].message


def _holds(resources: tuple[dict, ...], target: str) -> bool:
    """Whether some resource has a non-empty value at `Type.element.child` (one of the `|` alternatives)."""
    for alternative in target.split("|"):
        resource_type, *names = alternative.split(".")
        nodes: list = [r for r in resources if r["resourceType"] == resource_type]
        for name in names:
            nodes = [v for n in nodes if isinstance(n, dict) and name in n
                     for v in (n[name] if isinstance(n[name], list) else [n[name]])]
        if any(n not in (None, "", [], {}) for n in nodes):
            return True
    return False


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", INPUTS)
def test_the_placement_table_says_the_truth(name, release):
    """Every field the table places has its element filled in the built resources of the release."""
    resources = built(name, release)
    for field in field_values(INPUTS[name]().registry):
        line = placement(field)
        target = line.target(release) if line else None
        if target:
            assert _holds(resources, target), f"{field} -> {target}"


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", INPUTS)
def test_every_placed_free_text_arrives_verbatim(name, release):
    text = json.dumps(built(name, release), ensure_ascii=False)
    for path, value in leaves(INPUTS[name]().registry):
        line = placement(pattern(path))
        enumeration = re.fullmatch(r"[A-Z0-9_]+", str(value)) is not None  # written as a label or a code
        if isinstance(value, str) and len(value) > 20 and not enumeration and line and line.target(release):
            assert json.dumps(value, ensure_ascii=False)[1:-1] in text, f"{path}: {value[:60]}"


def test_the_placement_table_names_each_field_once():
    sources = [p.source for p in PLACEMENTS]
    assert len(sources) == len(set(sources))
    assert all(p.why for p in PLACEMENTS if p.r5 is None or p.r4 is None)  # every gap says why


def test_r4_differences_say_where_dropped_content_went():
    for module in MODULES:
        assert all(step.reason for step in module.R4.drops), module.__name__
