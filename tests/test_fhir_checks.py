"""FHIR checks: official JSON Schema, fhir.resources models, required bindings and UCUM, each at its FHIR path."""
from __future__ import annotations

import copy
import hashlib
import re
from importlib import resources as package_files
from pathlib import Path

import pytest

from trialbridge.schemas.fhir_checks import check_codes, check_resources
from trialbridge.schemas.fhir_standards import REQUIRED_BINDINGS, model_class, value_set

UCUM = "http://unitsofmeasure.org"
STATE = "http://terminology.hl7.org/CodeSystem/research-subject-state"
PATIENT = {"resourceType": "Patient", "id": "p1",
           "identifier": [{"system": "urn:trialbridge:usubjid", "value": "REVALLO-01-001"}],
           "gender": "female", "birthDate": "1959-04"}
MEDICATION = {"resourceType": "Medication", "id": "m1",
              "identifier": [{"system": "urn:trialbridge:medication", "value": "LENALIDOMIDE"}]}
SUBJECT = {
    "R5": {"resourceType": "ResearchSubject", "id": "s1",
           "identifier": [{"system": "urn:trialbridge:usubjid", "value": "REVALLO-01-001"}], "status": "active",
           "progress": [{"type": {"text": "state"},
                         "subjectState": {"coding": [{"system": STATE, "code": "on-study"}]}}],
           "study": {"reference": "urn:uuid:st"}, "subject": {"reference": "urn:uuid:p1"}},
    "R4": {"resourceType": "ResearchSubject", "id": "s1",
           "identifier": [{"system": "urn:trialbridge:usubjid", "value": "REVALLO-01-001"}], "status": "on-study",
           "study": {"reference": "urn:uuid:st"}, "individual": {"reference": "urn:uuid:p1"}},
}
ADMINISTRATION = {
    "R5": {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed",
           "medication": {"reference": {"reference": "urn:uuid:m1"}}, "subject": {"reference": "urn:uuid:p1"},
           "occurencePeriod": {"start": "2011-10-15", "end": "2011-12-11"},
           "dosage": {"dose": {"value": 5, "unit": "mg", "system": UCUM, "code": "mg"}}},
    "R4": {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed",
           "medicationReference": {"reference": "urn:uuid:m1"}, "subject": {"reference": "urn:uuid:p1"},
           "effectivePeriod": {"start": "2011-10-15", "end": "2011-12-11"},
           "dosage": {"dose": {"value": 5, "unit": "mg", "system": UCUM, "code": "mg"}}},
}


STUDY = {"resourceType": "ResearchStudy", "id": "st",
         "identifier": [{"system": "https://clinicaltrials.gov", "value": "NCT01421927"}],
         "title": "REVALLO", "status": {"R4": "completed", "R5": "active"},
         "description": "Lénalidomide après allogreffe"}  # an element named like a JSON Schema keyword


def resources(release: str) -> list[dict]:
    """Five valid resources of the release: entries 0..4 of a bundle."""
    study = {**STUDY, "status": STUDY["status"][release]}
    return copy.deepcopy([PATIENT, MEDICATION, SUBJECT[release], ADMINISTRATION[release], study])


def rules_at(findings) -> list[tuple[str, str]]:
    return sorted((f.rule, f.location) for f in findings)


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_valid_resources_pass_all_three_checks(release):
    assert check_resources(resources(release), release) == []


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_gender_banana_is_caught_by_the_valueset_though_fhir_resources_accepts_it(release):
    batch = resources(release)
    batch[0]["gender"] = "banana"  # must fail: not in administrative-gender
    model_class(release, "Patient").model_validate(batch[0])  # the typed model lets it through
    found = rules_at(check_resources(batch, release))
    assert ("FHIR-BINDING", "Bundle.entry[0].resource.gender") in found
    assert ("FHIR-MODEL", "Bundle.entry[0].resource.gender") not in found
    # R4's schema carries the code list as an enum, R5's does not
    assert (("FHIR-SCHEMA", "Bundle.entry[0].resource.gender") in found) == (release == "R4")


def test_bad_status_code_r5_medication_administration():
    batch = resources("R5")
    batch[3]["status"] = "done"  # must fail: not a medication-admin-status code
    findings = check_resources(batch, "R5")
    assert rules_at(findings) == [("FHIR-BINDING", "Bundle.entry[3].resource.status")]
    assert findings[0].values == ("done",)
    assert "http://hl7.org/fhir/ValueSet/medication-admin-status" in findings[0].message


def test_bad_status_code_r4_research_subject_uses_the_r4_valueset():
    batch = resources("R4")
    batch[2]["status"] = "active"  # must fail in R4: research-subject-status (R5 allows it: publication-status)
    assert rules_at(check_resources(batch, "R4")) == [
        ("FHIR-BINDING", "Bundle.entry[2].resource.status"),
        ("FHIR-SCHEMA", "Bundle.entry[2].resource.status"),
    ]


def test_codeable_concept_binding_needs_one_coding_from_the_valueset():
    batch = resources("R5")
    progress = batch[2]["progress"][0]
    progress["subjectState"]["coding"].insert(0, {"system": "urn:local", "code": "x"})  # a translation: fine
    assert check_resources(batch, "R5") == []
    progress["subjectState"]["coding"] = [{"system": STATE, "code": "dancing"}]  # must fail
    assert rules_at(check_resources(batch, "R5")) == [
        ("FHIR-BINDING", "Bundle.entry[2].resource.progress[0].subjectState.coding[0]")]


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_schema_violations_are_located(release):
    batch = resources(release)
    batch[0]["colour"] = "blue"  # must fail: no such element
    batch[0]["birthDate"] = "1959/04"  # must fail: not a FHIR date
    del batch[2]["study"]  # must fail: ResearchSubject.study is 1..1
    found = rules_at(check_resources(batch, release))
    assert ("FHIR-SCHEMA", "Bundle.entry[0].resource") in found  # additional property 'colour'
    assert ("FHIR-SCHEMA", "Bundle.entry[0].resource.birthDate") in found
    assert ("FHIR-SCHEMA", "Bundle.entry[2].resource.study") in found
    # the model sees the same problems at the same places
    assert ("FHIR-MODEL", "Bundle.entry[0].resource.colour") in found
    assert ("FHIR-MODEL", "Bundle.entry[0].resource.birthDate") in found
    assert ("FHIR-MODEL", "Bundle.entry[2].resource.study") in found


def test_r5_element_in_an_r4_resource_is_refused_by_schema_and_r4b_model():
    batch = resources("R4")
    batch[3] = copy.deepcopy(ADMINISTRATION["R5"])  # occurencePeriod, medication: R5 names
    found = rules_at(check_resources(batch, "R4"))
    assert ("FHIR-SCHEMA", "Bundle.entry[3].resource") in found
    assert ("FHIR-MODEL", "Bundle.entry[3].resource.occurencePeriod") in found


def test_unknown_ucum_unit_is_a_warning_at_the_quantity_code():
    batch = resources("R5")
    batch[3]["dosage"]["dose"]["code"] = "mgs"  # must warn: not UCUM
    findings = check_resources(batch, "R5")
    assert rules_at(findings) == [("FHIR-UCUM", "Bundle.entry[3].resource.dosage.dose.code")]
    assert findings[0].severity == "warning"
    batch[3]["dosage"]["dose"]["system"] = "urn:local:units"  # not claimed as UCUM: not checked
    assert check_resources(batch, "R5") == []


def test_resource_level_locations_without_a_base_path():
    batch = resources("R5")
    batch[0]["gender"] = "banana"
    assert rules_at(check_resources(batch, "R5", base_path="")) == [("FHIR-BINDING", "Patient/p1.gender")]


def test_unknown_resource_type_is_reported_not_raised():
    found = rules_at(check_resources([{"resourceType": "Banana", "id": "b"}], "R5"))
    assert found == [("FHIR-MODEL", "Bundle.entry[0].resource"), ("FHIR-SCHEMA", "Bundle.entry[0].resource")]


def test_bundle_codes_are_checked_against_their_valuesets():
    assert check_codes("R4", "Bundle.entry.request.method", [("Bundle.entry[0].request.method", "POST")]) == []
    bad = check_codes("R5", "Bundle.type", [("Bundle.type", "transactional")])  # must fail
    assert rules_at(bad) == [("FHIR-BINDING", "Bundle.type")]


def test_valuesets_expand_from_the_copied_hl7_files():
    assert value_set("R5", "administrative-gender").codes == {"male", "female", "other", "unknown"}
    assert "on-study" in value_set("R4", "research-subject-status").codes
    assert value_set("R5", "publication-status").codes == {
        "draft", "active", "retired", "unknown"}
    assert "old" in value_set("R4", "name-use").codes and "maiden" in value_set("R4", "name-use").codes  # nested


def test_every_bound_valueset_is_copied_and_named_in_the_readme():
    folder = package_files.files("trialbridge.schemas").joinpath("fhir")
    readme = folder.joinpath("README.md").read_text(encoding="utf-8")
    for release, bindings in REQUIRED_BINDINGS.items():
        for name in set(bindings.values()):
            value_set(release, name)  # loads and expands
            assert f"ValueSet-{name}.json" in readme
        for item in folder.joinpath(release, "terminology").iterdir():
            assert item.name in readme, f"{release}/{item.name} copied but its origin is not written down"


SHARED = Path(__file__).resolve().parents[2] / "shared" / "standards" / "fhir"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/standards/fhir is not there (a user's clone)")
@pytest.mark.parametrize("release", ["R4", "R5"])
def test_json_schemas_are_the_official_files_unmodified(release):
    ours = package_files.files("trialbridge.schemas").joinpath("fhir", release, "fhir.schema.json").read_bytes()
    theirs = (SHARED / release / "fhir.schema.json").read_bytes()
    assert hashlib.sha256(ours).hexdigest() == hashlib.sha256(theirs).hexdigest()
    readme = package_files.files("trialbridge.schemas").joinpath("fhir", "README.md").read_text(encoding="utf-8")
    assert re.search(hashlib.sha256(ours).hexdigest(), readme)


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_bindings_reach_into_contained_resources(release):
    observation = {"resourceType": "Observation", "id": "o1",
                   "contained": [{"resourceType": "Specimen", "id": "specimen", "status": "spilt"}],  # must fail
                   "status": "final", "code": {"text": "Hemoglobin"}, "specimen": {"reference": "#specimen"}}
    found = rules_at(check_resources([observation], release))
    assert ("FHIR-BINDING", "Bundle.entry[0].resource.contained[0].status") in found
    # R4's schema (an enum) also refuses it, through `contained`'s oneOf over every resource type
    assert found[1:] == ([("FHIR-SCHEMA", "Bundle.entry[0].resource.contained[0]")] if release == "R4" else [])


def test_r4_adverse_event_codeable_concepts_are_bound():
    event = {"resourceType": "AdverseEvent", "id": "e1", "actuality": "actual", "subject": {"reference": "urn:uuid:p1"},
             "severity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
                                      "code": "grave"}]},  # must fail: mild, moderate, severe
             "outcome": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-outcome",
                                     "code": "resolved"}]}}
    assert rules_at(check_resources([event], "R4")) == [
        ("FHIR-BINDING", "Bundle.entry[0].resource.severity.coding[0]")]


# ------------------------------------------------------------------------------------ the compiled checks
from trialbridge.schemas import fhir_fast  # noqa: E402


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_every_resource_the_exact_layers_refuse_is_refused_by_the_compiled_checks(release):
    """The compiled validators decide which resources the exact layers look at: each mutation below
    must fail both, so nothing the exact layers would report can slip through the fast path."""
    valid = resources(release)
    assert all(fhir_fast.passes(r, release) for r in valid)
    mutations = [
        (0, "gender", "banana"),  # required binding (R5: only the derived schema sees it)
        (0, "birthDate", "1959/04"),  # schema pattern
        (0, "colour", "blue"),  # unknown element
        (3, "status", "done"),  # bound code
        (2, "status", "dancing"),  # bound code
    ]
    for index, key, value in mutations:
        batch = resources(release)
        batch[index][key] = value
        assert not fhir_fast.passes(batch[index], release), (key, value)
        assert check_resources([batch[index]], release) != []
    ucum = resources(release)
    ucum[3]["dosage"]["dose"]["code"] = "mgs"  # UCUM: a warning of the exact layer, a refusal here
    assert not fhir_fast.passes(ucum[3], release)


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_two_members_of_a_choice_are_refused(release):
    """The FHIR JSON Schema cannot say 'one of value[x]'; the derived schema (groups from fhir.resources) can."""
    observation = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "Hb"},
                   "valueQuantity": {"value": 124}, "valueString": "124"}  # must fail: two value[x]
    assert fhir_fast.official_validator(release).is_valid(observation)  # the official schema lets it through
    assert not fhir_fast.passes(observation, release)
    found = rules_at(check_resources([observation], release))
    assert found and {rule for rule, _ in found} == {"FHIR-MODEL"}  # the model says where
    del observation["valueString"]
    assert fhir_fast.passes(observation, release) and check_resources([observation], release) == []


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_choice_group_file_is_what_the_fhir_resources_models_declare(release):
    """choice-groups.json is generated (python -m trialbridge.schemas.fhir_fast) from the installed
    fhir.resources; checked here for the resource types the tool writes and the datatypes they use."""
    for name in ("Observation", "Extension", "MedicationAdministration", "Patient", "AdverseEvent",
                 "ResearchStudy", "Dosage", "Timing_Repeat", "Observation_Component", "Procedure", "Condition"):
        assert fhir_fast.choice_groups(release, name) == fhir_fast.model_choice_groups(release, name), name
