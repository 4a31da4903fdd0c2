"""The registry record: the API v2 schema accepts real ClinicalTrials.gov records and the REVALLO record,
rejects wrong enumerations and missing identifiers at their JSON path, and the REVALLO record carries the
facts of the registry page (shared/seeds/NCT01421927.txt), group by group as the page lists them."""
import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from trialbridge.converters.synth.registry import (
    FRENCH_SITES,
    REVALLO_SITE,
    build_registry,
    registry_json_text,
)
from trialbridge.schemas.native import registry_schema

FIXTURES = Path(__file__).parent / "fixtures" / "ctgov"
REAL_RECORDS = sorted(FIXTURES.glob("NCT*.json"))


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(registry_schema())
    return Draft202012Validator(registry_schema())


@pytest.fixture(scope="module")
def revallo() -> dict:
    return build_registry(13, (REVALLO_SITE,))


def errors(validator: Draft202012Validator, record: dict) -> list[tuple[str, str]]:
    """(JSON path, validator keyword) of every error, in a stable order."""
    return sorted((e.json_path, e.validator) for e in validator.iter_errors(record))


# --- the schema -----------------------------------------------------------------------------------------

def test_schema_names_its_source():
    assert "api/v2/studies/{nctId}" in registry_schema()["description"]


def test_revallo_record_is_valid(validator, revallo):
    assert errors(validator, revallo) == []


def test_multi_site_record_is_valid(validator):
    assert errors(validator, build_registry(250, FRENCH_SITES)) == []


def test_there_are_real_records_to_check():
    assert len(REAL_RECORDS) >= 2


@pytest.mark.parametrize("path", REAL_RECORDS, ids=lambda p: p.stem)
def test_real_clinicaltrials_gov_record_is_valid_as_downloaded(validator, path):
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["protocolSection"]["identificationModule"]["nctId"] == path.stem
    assert errors(validator, record) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # an overall status the API never writes
        (lambda r: r["protocolSection"]["statusModule"].update(overallStatus="FINISHED"),
         [("$.protocolSection.statusModule.overallStatus", "enum")]),
        # a phase that does not exist
        (lambda r: r["protocolSection"]["designModule"].update(phases=["PHASE9"]),
         [("$.protocolSection.designModule.phases[0]", "enum")]),
        # the NCT number is what everything else hangs on
        (lambda r: r["protocolSection"]["identificationModule"].pop("nctId"),
         [("$.protocolSection.identificationModule", "required")]),
        # NCT plus 8 digits, nothing else
        (lambda r: r["protocolSection"]["identificationModule"].update(nctId="NCT1421927"),
         [("$.protocolSection.identificationModule.nctId", "pattern")]),
        # the legacy (classic API) spelling of an enumeration is not the v2 value
        (lambda r: r["protocolSection"]["designModule"]["designInfo"].update(interventionModel="Single Group Assignment"),
         [("$.protocolSection.designModule.designInfo.interventionModel", "enum")]),
        # the enrolment count is a JSON integer, not a string
        (lambda r: r["protocolSection"]["designModule"]["enrollmentInfo"].update(count="13"),
         [("$.protocolSection.designModule.enrollmentInfo.count", "type")]),
        # dates are ISO 8601, not "August 2011"
        (lambda r: r["protocolSection"]["statusModule"]["startDateStruct"].update(date="August 2011"),
         [("$.protocolSection.statusModule.startDateStruct.date", "pattern")]),
        # ages are "<n> <unit>"
        (lambda r: r["protocolSection"]["eligibilityModule"].update(minimumAge="18"),
         [("$.protocolSection.eligibilityModule.minimumAge", "pattern")]),
        # a location status outside RecruitmentStatus
        (lambda r: r["protocolSection"]["contactsLocationsModule"]["locations"][0].update(status="OPEN"),
         [("$.protocolSection.contactsLocationsModule.locations[0].status", "enum")]),
        # a conversion cannot do without the lead sponsor's name
        (lambda r: r["protocolSection"]["sponsorCollaboratorsModule"]["leadSponsor"].pop("name"),
         [("$.protocolSection.sponsorCollaboratorsModule.leadSponsor", "required")]),
        # healthyVolunteers is a boolean since API v2
        (lambda r: r["protocolSection"]["eligibilityModule"].update(healthyVolunteers="No"),
         [("$.protocolSection.eligibilityModule.healthyVolunteers", "type")]),
    ],
)
def test_wrong_record_is_rejected_at_its_json_path(validator, revallo, change, expected):
    record = copy.deepcopy(revallo)
    change(record)
    assert errors(validator, record) == expected


def test_unknown_fields_are_accepted_because_the_api_grows(validator, revallo):
    record = copy.deepcopy(revallo)
    record["protocolSection"]["statusModule"]["someFieldAddedNextYear"] = {"anything": [1, 2]}
    record["newSection"] = {}
    assert errors(validator, record) == []


# --- the REVALLO record reads like the registry page ----------------------------------------------------

def test_identifiers(revallo):
    ident = revallo["protocolSection"]["identificationModule"]
    assert ident["nctId"] == "NCT01421927"
    assert ident["orgStudyIdInfo"] == {"id": "CHUBX 2010/01"}
    assert ident["organization"] == {"fullName": "University Hospital, Bordeaux", "class": "OTHER"}
    assert ident["acronym"] == "REVALLO"
    assert ident["briefTitle"] == (
        "Lenalidomide After Reduced-intensity Allogeneic Stem Cell Transplantation for Relapsed Multiple Myeloma"
    )
    assert ident["officialTitle"] == (
        "Safety of a Maintenance Therapy With Lenalidomide After Reduced-intensity Allogeneic Stem Cell "
        "Transplantation for Chemosensitive Relapsed Multiple Myeloma"
    )


def test_status_and_dates(revallo):
    status = revallo["protocolSection"]["statusModule"]
    assert status["overallStatus"] == "COMPLETED"
    assert status["statusVerifiedDate"] == "2015-07"                       # Last Verified: July 2015
    assert status["startDateStruct"] == {"date": "2011-08"}                 # Study Start Date: August 2011
    assert status["primaryCompletionDateStruct"] == {"date": "2014-10", "type": "ACTUAL"}
    assert status["completionDateStruct"] == {"date": "2014-10", "type": "ACTUAL"}
    assert status["studyFirstPostDateStruct"]["date"] == "2011-08-23"       # First Posted: August 23, 2011
    assert status["lastUpdatePostDateStruct"]["date"] == "2015-07-23"       # Last Update Posted: July 23, 2015


def test_sponsor_and_responsible_party(revallo):
    sponsors = revallo["protocolSection"]["sponsorCollaboratorsModule"]
    assert sponsors["responsibleParty"] == {"type": "SPONSOR"}
    assert sponsors["leadSponsor"] == {"name": "University Hospital, Bordeaux", "class": "OTHER"}
    assert "collaborators" not in sponsors                                  # the page lists none


def test_descriptions_are_the_page_text(revallo):
    description = revallo["protocolSection"]["descriptionModule"]
    assert description["briefSummary"].startswith("Allogeneic stem cell transplantation (Allo-SCT) in multiple")
    assert description["briefSummary"].endswith("should be considered and evaluated.")
    paragraphs = description["detailedDescription"].split("\n\n")
    assert len(paragraphs) == 3
    assert paragraphs[0].startswith("Lenalidomide has a significant clinical activity")
    assert "inhibit the proliferation and the suppressor function of regulatory T cells" in paragraphs[1]
    assert paragraphs[2].endswith("The primary objective of this study is to evaluate the safety of such a strategy.")


def test_condition_and_design(revallo):
    protocol = revallo["protocolSection"]
    assert protocol["conditionsModule"] == {"conditions": ["Multiple Myeloma"]}
    assert protocol["designModule"] == {
        "studyType": "INTERVENTIONAL",
        "phases": ["PHASE1"],
        "designInfo": {
            "allocation": "NA",
            "interventionModel": "SINGLE_GROUP",
            "primaryPurpose": "TREATMENT",
            "maskingInfo": {"masking": "NONE"},
        },
        "enrollmentInfo": {"count": 13, "type": "ACTUAL"},
    }


def test_arm_carries_the_dosing_rules(revallo):
    arms = revallo["protocolSection"]["armsInterventionsModule"]
    (arm,) = arms["armGroups"]
    assert (arm["label"], arm["type"], arm["interventionNames"]) == (
        "lenalidomide", "EXPERIMENTAL", ["Drug: Lenalidomide"]
    )
    rules = arm["description"]
    assert rules.startswith("Start between Day+100 and Day+120 post-transplant")
    assert "Initial dose: 5 mg/day every day" in rules
    assert "thrombocytopenia \\< 75000/mm3 or neutropenia \\< 1000/mm3 (with or without G-CSF)" in rules
    assert "every third month up to the maximal dose of 15 mg/day every day." in rules
    stops = [line.strip() for line in rules.splitlines() if line.startswith("  * ")]
    assert stops == [
        "* until persistent stringent complete response for 3 months",
        "* or progression defined by IMWG criteria12",
        "* or unacceptable toxicity",
        "* or one year after transplant",
    ]
    (drug,) = arms["interventions"]
    assert (drug["type"], drug["name"], drug["armGroupLabels"]) == ("DRUG", "Lenalidomide", ["lenalidomide"])
    assert drug["description"] == rules


def test_one_primary_and_eight_secondary_outcomes(revallo):
    outcomes = revallo["protocolSection"]["outcomesModule"]
    (primary,) = outcomes["primaryOutcomes"]
    assert (primary["measure"], primary["timeFrame"]) == ("Safety of lenalidomide", "1 year")
    assert primary["description"].count("\n* ") == 3
    assert "Transplant-related death" in primary["description"]
    secondary = outcomes["secondaryOutcomes"]
    assert [o["measure"] for o in secondary] == [
        "One-year Progression-Free Survival",
        "One-year Overall Survival",
        "One-year Transplant Related Mortality",
        "One-year incidence of Relapse/Progression",
        "Incidences of acute and chronic Graft versus Host Disease",
        "Immunophenotypic analysis of blood B, T, NK and dendritic cells",
        "Chimerism analysis",
        "safety of lenalidomide",
    ]
    assert {o["timeFrame"] for o in secondary} == {"one year"}
    # the page gives no description for outcomes 3, 6 and 7: none is made up
    assert [i + 1 for i, o in enumerate(secondary) if "description" not in o] == [3, 6, 7]
    assert secondary[7]["description"] == "all adverse events, graded according to NCI-CTCAE v3"


def test_eligibility(revallo):
    eligibility = revallo["protocolSection"]["eligibilityModule"]
    assert (eligibility["healthyVolunteers"], eligibility["sex"]) == (False, "ALL")
    assert (eligibility["minimumAge"], eligibility["maximumAge"]) == ("18 Years", "65 Years")
    assert eligibility["stdAges"] == ["ADULT", "OLDER_ADULT"]
    inclusion, exclusion = eligibility["eligibilityCriteria"].split("\n\nExclusion Criteria:\n\n")
    assert inclusion.startswith("Inclusion Criteria:\n\n* Patients aged 18 to 65 years\n")
    assert inclusion.count("\n* ") == 7
    assert "* Lenalidomide treatment ≤ 9 months" in inclusion
    assert exclusion.count("* ") == 13
    assert "* Cardiac insufficiency (ejection fraction \\< 50% by echocardiography)" in exclusion
    assert exclusion.endswith("complete remission for more than 5 years.")


def test_overall_officials(revallo):
    officials = revallo["protocolSection"]["contactsLocationsModule"]["overallOfficials"]
    assert [(o["name"], o["role"], o["affiliation"]) for o in officials] == [
        ("Stephane Vigouroux, Dr", "PRINCIPAL_INVESTIGATOR", "University Hospital, Bordeaux"),
        ("Adélaïde DOUSSAU, Dr", "STUDY_CHAIR", "University Hospital, Bordeaux"),
    ]


def test_location_keeps_its_accents(revallo):
    assert revallo["protocolSection"]["contactsLocationsModule"]["locations"] == [
        {"facility": "CHU Bordeaux - Hôpital Haut-Lévêque", "city": "Pessac", "zip": "33600", "country": "France"}
    ]


def test_mesh_terms(revallo):
    conditions = revallo["derivedSection"]["conditionBrowseModule"]
    assert conditions["meshes"] == [{"id": "D009101", "term": "Multiple Myeloma"}]
    assert [m["term"] for m in conditions["ancestors"]] == [
        "Neoplasms, Plasma Cell", "Neoplasms by Histologic Type", "Hemostatic Disorders", "Vascular Diseases",
        "Cardiovascular Diseases", "Blood Protein Disorders", "Hematologic Diseases", "Hemorrhagic Disorders",
        "Lymphoproliferative Disorders", "Immunoproliferative Disorders", "Immune System Diseases",
    ]
    interventions = revallo["derivedSection"]["interventionBrowseModule"]
    assert interventions["meshes"] == [{"id": "D000077269", "term": "Lenalidomide"}]
    assert [m["term"] for m in interventions["ancestors"]] == [
        "Immunologic Factors", "Physiological Effects of Drugs", "Angiogenesis Inhibitors",
        "Angiogenesis Modulating Agents", "Growth Substances", "Growth Inhibitors", "Antineoplastic Agents",
    ]
    assert {"id": "D000970", "term": "Antineoplastic Agents"} in interventions["ancestors"]
    assert revallo["hasResults"] is False


# --- builds other than the faithful one ------------------------------------------------------------------

def test_multi_site_build_has_one_location_per_site_and_the_given_enrolment():
    sites = FRENCH_SITES[:5]
    record = build_registry(120, sites)
    locations = record["protocolSection"]["contactsLocationsModule"]["locations"]
    assert [(loc["facility"], loc["city"], loc["zip"]) for loc in locations] == [
        (s.facility, s.city, s.zip) for s in sites
    ]
    assert record["protocolSection"]["designModule"]["enrollmentInfo"] == {"count": 120, "type": "ACTUAL"}


def test_french_sites_start_with_revallo_and_are_numbered_in_order():
    assert FRENCH_SITES[0] == REVALLO_SITE
    assert [s.siteid for s in FRENCH_SITES] == [f"{i:02d}" for i in range(1, len(FRENCH_SITES) + 1)]
    assert len(FRENCH_SITES) >= 20
    assert len({s.facility for s in FRENCH_SITES}) == len(FRENCH_SITES)
    assert {(s.country, s.country_code) for s in FRENCH_SITES} == {("France", "FRA")}
    assert all(len(s.zip) == 5 and s.zip.isdigit() for s in FRENCH_SITES)


@pytest.mark.parametrize(
    ("n_subjects", "sites"),
    [
        (0, (REVALLO_SITE,)),                         # a study with no subject is not a completed study
        (13, ()),                                     # a location per site: at least one site
        (13, (REVALLO_SITE, REVALLO_SITE)),           # the same site twice
        (True, (REVALLO_SITE,)),                      # a bool is not a count
    ],
)
def test_impossible_builds_are_refused(n_subjects, sites):
    with pytest.raises(ValueError):
        build_registry(n_subjects, sites)


def test_same_arguments_give_the_same_bytes():
    first = registry_json_text(build_registry(40, FRENCH_SITES[:3]))
    second = registry_json_text(build_registry(40, FRENCH_SITES[:3]))
    assert first == second
    assert first.endswith("}\n")
    assert "Hôpital Haut-Lévêque" in first                 # UTF-8 kept, not \u-escaped
    assert list(json.loads(first)) == ["protocolSection", "derivedSection", "hasResults"]


def test_built_records_do_not_share_state():
    record = build_registry(13, (REVALLO_SITE,))
    record["protocolSection"]["outcomesModule"]["secondaryOutcomes"][0]["measure"] = "changed"
    record["protocolSection"]["designModule"]["phases"].append("PHASE2")
    assert build_registry(13, (REVALLO_SITE,)) == build_registry(13, (replace(REVALLO_SITE),))
    fresh = build_registry(13, (REVALLO_SITE,))["protocolSection"]
    assert fresh["outcomesModule"]["secondaryOutcomes"][0]["measure"] == "One-year Progression-Free Survival"
    assert fresh["designModule"]["phases"] == ["PHASE1"]
