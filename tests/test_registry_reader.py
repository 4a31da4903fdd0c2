"""Registry records of every form read into the one model (the API v2 record): real files from
tests/fixtures/registry and tests/fixtures/ctgov (origins in their READMEs), plus small inline cases for
what real files rarely show (an unsafe DOCTYPE, a search page, unknown values)."""
import json
from pathlib import Path

import pytest
from lxml import etree

from trialbridge.converters.readers.registry import read_file, read_registry_files
from trialbridge.mappings.registry.common import age, enum, iso_date, phases
from trialbridge.mappings.registry.legacy import legacy_to_v2
from trialbridge.mappings.registry.model import normalise
from trialbridge.mappings.studyid import registry_study_identifier, sanitise, study_identifier_source
from trialbridge.mappings.sdtm.algorithms import study_identifier

FIXTURES = Path(__file__).parent / "fixtures"
REAL = sorted((FIXTURES / "registry").glob("NCT*")) + sorted((FIXTURES / "ctgov").glob("NCT*.json"))


def rules(findings) -> list[tuple[str, str]]:
    return sorted((f.rule, f.severity) for f in findings)


# Records AACT trimmed to a few modules: the missing modules are warnings, nothing else.
PARTIAL = {"NCT00465816.json": ["designModule", "sponsorCollaboratorsModule", "statusModule"]}


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_every_real_record_reads_into_the_v2_model_without_warnings(path):
    read = read_file(path)
    assert read.findings == []
    assert len(read.records) >= 1
    for record in read.records:
        assert record.nct_id.startswith("NCT") and record.nct_id in path.name
        warnings = [f for f in record.findings if f.severity != "info"]
        assert sorted((f.rule, f.message.split("'")[1]) for f in warnings) == [
            ("REGISTRY-SCHEMA", module) for module in PARTIAL.get(path.name, [])]  # the v2 schema accepts the rest
        assert record.studyid


def test_legacy_xml_facts_as_v2_values():
    record = read_file(FIXTURES / "registry" / "NCT03840122.xml").records[0].record
    p = record["protocolSection"]
    assert p["statusModule"]["overallStatus"] == "NOT_YET_RECRUITING"
    assert p["statusModule"]["startDateStruct"] == {"date": "2019-05", "type": "ESTIMATED"}
    assert p["statusModule"]["studyFirstPostDateStruct"] == {"date": "2019-02-15", "type": "ACTUAL"}
    assert p["designModule"]["phases"] == ["NA"]
    assert p["designModule"]["designInfo"]["maskingInfo"] == {"masking": "SINGLE", "whoMasked": ["PARTICIPANT"]}
    assert p["designModule"]["enrollmentInfo"] == {"count": 100, "type": "ESTIMATED"}
    assert p["eligibilityModule"]["minimumAge"] == "21 Years" and "maximumAge" not in p["eligibilityModule"]  # N/A
    assert p["eligibilityModule"]["eligibilityCriteria"].splitlines()[0] == "Inclusion Criteria:"
    # a hard-wrapped item is one line again
    assert ("3. Patient agrees to participate as a study subject and signs the Informed Consent and Research "
            "Authorization documents") in p["eligibilityModule"]["eligibilityCriteria"]
    assert p["armsInterventionsModule"]["armGroups"][1]["type"] == "ACTIVE_COMPARATOR"
    assert p["armsInterventionsModule"]["armGroups"][0]["interventionNames"] == [
        "Other: ACB + IPACK block with injection of local anesthetic"]
    assert p["contactsLocationsModule"]["locations"][0]["status"] == "ENROLLING_BY_INVITATION"
    assert p["sponsorCollaboratorsModule"]["responsibleParty"]["type"] == "PRINCIPAL_INVESTIGATOR"
    assert record["derivedSection"]["conditionBrowseModule"]["meshes"] == [{"term": "Joint Diseases"}]


def test_classic_v1_json_facts_as_v2_values():
    read = read_file(FIXTURES / "registry" / "NCT00208312.v1.json")
    record = read.records[0]
    assert record.form == "v1" and record.source.endswith("#FullStudiesResponse.FullStudies[0]")
    p = record.record["protocolSection"]
    assert p["identificationModule"]["orgStudyIdInfo"] == {"id": "CVT 5132"}
    assert p["designModule"]["phases"] == ["PHASE3"]
    assert p["designModule"]["designInfo"]["maskingInfo"] == {
        "masking": "QUADRUPLE", "whoMasked": ["PARTICIPANT", "CARE_PROVIDER", "INVESTIGATOR", "OUTCOMES_ASSESSOR"]}
    assert p["designModule"]["designInfo"]["primaryPurpose"] == "DIAGNOSTIC"
    assert p["armsInterventionsModule"]["interventions"][0]["otherNames"] == ["Lexiscan", "CVT-3146"]
    assert p["referencesModule"]["references"][0]["type"] == "RESULT"
    assert p["eligibilityModule"]["stdAges"] == ["ADULT", "OLDER_ADULT"]
    assert record.record["derivedSection"]["conditionBrowseModule"]["meshes"] == [
        {"id": "D000003324", "term": "Coronary Artery Disease"}]
    assert record.studyid == "CVT 5132"


def test_a_search_page_gives_each_study(tmp_path):
    studies = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((FIXTURES / "ctgov").glob("NCT*.json"))]
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"studies": studies, "nextPageToken": "abc"}), encoding="utf-8")
    read = read_file(page)
    assert [r.nct_id for r in read.records] == ["NCT04207047", "NCT06171568"]
    assert [r.source for r in read.records] == ["page.json#studies[0]", "page.json#studies[1]"]


def test_ndjson_one_study_per_line(tmp_path):
    lines = [json.dumps(json.loads(p.read_text(encoding="utf-8"))) for p in sorted((FIXTURES / "ctgov").glob("NCT*.json"))]
    path = tmp_path / "studies.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert [r.nct_id for r in read_file(path).records] == ["NCT04207047", "NCT06171568"]
    path.write_text(lines[0] + "\n{broken\n", encoding="utf-8")
    assert [f.rule for f in read_file(path).findings] == ["REGISTRY-UNREADABLE"]


def test_v2_results_are_not_carried_and_say_so(tmp_path):
    study = json.loads((FIXTURES / "ctgov" / "NCT04207047.json").read_text(encoding="utf-8"))
    study["resultsSection"] = {"participantFlowModule": {}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(study), encoding="utf-8")
    record = read_file(path).records[0]
    assert "resultsSection" not in record.record
    assert rules(record.findings) == [("REGISTRY-RESULTS", "info")]


@pytest.mark.parametrize(("content", "rule"), [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><clinical_study>&e;</clinical_study>',
     "XML-UNSAFE"),  # an external entity is never resolved
    (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><clinical_study>&b;</clinical_study>',
     "XML-UNSAFE"),  # entity expansion
    (b"<clinical_study><id_info>", "XML-SYNTAX"),  # broken XML
    (b"<ODM/>", "REGISTRY-FORMAT"),  # XML that is no registry record
    (b'{"studies": [', "REGISTRY-UNREADABLE"),  # broken JSON
    (b'{"hello": 1}', "REGISTRY-FORMAT"),  # JSON that is no registry record
    (b"NCT01421927", "REGISTRY-FORMAT"),  # neither
    (b'{"studies": []}', "REGISTRY-EMPTY"),  # an empty search page
])
def test_bad_files_are_one_finding_each(tmp_path, content, rule):
    path = tmp_path / "bad"
    path.write_bytes(content)
    read = read_file(path)
    assert read.records == [] and [f.rule for f in read.findings] == [rule]


def test_a_folder_reads_every_file_and_a_bad_one_does_not_stop_the_others(tmp_path):
    (tmp_path / "a.json").write_bytes(b"{")
    (tmp_path / "b.xml").write_bytes((FIXTURES / "registry" / "NCT03840122.xml").read_bytes())
    (tmp_path / "notes.txt").write_text("ignored")
    read = read_registry_files([tmp_path])
    assert [r.path.name for r in read] == ["a.json", "b.xml"]
    assert [len(r.records) for r in read] == [0, 1]


def test_values_of_the_wrong_type_are_left_out_with_a_warning():
    record = json.loads((FIXTURES / "ctgov" / "NCT04207047.json").read_text(encoding="utf-8"))
    protocol = record["protocolSection"]
    protocol["conditionsModule"]["conditions"] = True  # not a list
    protocol["armsInterventionsModule"]["interventions"][0].pop("name")  # an intervention without a name
    protocol["statusModule"]["overallStatus"] = "FINISHED"  # no v2 status
    model = normalise("v2", record, "r.json")
    assert "conditions" not in model.record["protocolSection"]["conditionsModule"]
    assert len(model.record["protocolSection"]["armsInterventionsModule"]["interventions"]) == \
        len(protocol["armsInterventionsModule"]["interventions"]) - 1
    assert "overallStatus" not in model.record["protocolSection"]["statusModule"]
    assert protocol["conditionsModule"]["conditions"] is True  # the input is not changed
    assert sorted(f.location for f in model.findings) == [
        "r.json:$.protocolSection.armsInterventionsModule.interventions[0]",
        "r.json:$.protocolSection.conditionsModule.conditions", "r.json:$.protocolSection.statusModule",  # now lacks it
        "r.json:$.protocolSection.statusModule.overallStatus"]
    assert {f.severity for f in model.findings} == {"warning"}


def test_unknown_legacy_values_are_reported_and_left_out():
    root = etree.fromstring(
        "<clinical_study><id_info><nct_id>NCT00000001</nct_id></id_info><overall_status>Finished</overall_status>"
        "<phase>Phase 9</phase><eligibility><minimum_age>eighteen</minimum_age><maximum_age>6 Weeks</maximum_age>"
        "</eligibility><start_date>Sometime 2001</start_date></clinical_study>")
    problems = []
    record = legacy_to_v2(root, lambda path, value, expected: problems.append((path, value)))
    assert sorted(problems) == [("eligibility/minimum_age", "eighteen"), ("overall_status", "Finished"),
                                ("phase", "Phase 9"), ("start_date", "Sometime 2001")]
    assert record["protocolSection"]["eligibilityModule"] == {"maximumAge": "6 Weeks"}
    assert "overallStatus" not in record["protocolSection"].get("statusModule", {})


@pytest.mark.parametrize(("text", "expected"), [
    ("18 Years", ("18 Years", True)), ("1 year", ("1 Year", True)), ("6 Months", ("6 Months", True)),
    ("2 Weeks", ("2 Weeks", True)), ("28 days", ("28 Days", True)), ("N/A", (None, True)), (None, (None, True)),
    ("adult", (None, False)),  # not an age: reported by the caller
])
def test_ages_in_every_unit(text, expected):
    assert age(text) == expected


def test_display_values_as_v2_enumerations_and_dates():
    assert phases("Phase 1/Phase 2") == ["PHASE1", "PHASE2"] and phases("Early Phase 1") == ["EARLY_PHASE1"]
    assert phases("Not Applicable") == ["NA"] and phases("N/A") == ["NA"]  # v1 (NCT04780763) / legacy XML
    assert enum("status", "Active, not recruiting") == "ACTIVE_NOT_RECRUITING"
    assert enum("status", "Withdrawn") == "WITHDRAWN" and enum("status", "Terminated") == "TERMINATED"
    assert enum("agency_class", "U.S. Fed") == "FED" and enum("sex", "Both") == "ALL"
    assert enum("status", "Finished") is None
    assert iso_date("July 2001") == "2001-07" and iso_date("September 3, 2001") == "2001-09-03"
    assert iso_date("2001-07-04") == "2001-07-04" and iso_date("soon") is None


# --- STUDYID ---------------------------------------------------------------------------------------------
def ident(**fields) -> dict:
    return {"protocolSection": {"identificationModule": fields}}


@pytest.mark.parametrize(("record", "expected"), [
    (ident(acronym="REVALLO", orgStudyIdInfo={"id": "CHUBX 2010/01"}, nctId="NCT01421927"), "REVALLO"),
    (ident(orgStudyIdInfo={"id": "CHUBX 2010/01"}, nctId="NCT01421927"), "CHUBX 2010/01"),
    (ident(nctId="NCT01421927"), "NCT01421927"),  # neither acronym nor sponsor id: the NCT number
    (ident(acronym="  ", orgStudyIdInfo={"id": ""}, nctId="NCT01421927"), "NCT01421927"),  # blank is absent
    (ident(acronym="ΑΒΓ", nctId="NCT01421927"), "NCT01421927"),  # nothing left in ASCII: next candidate
    (ident(acronym="ÉTUDE\tDEUX"), "ETUDE DEUX"),  # accents dropped, white space as one space
    ({}, "STUDY"),  # a record with no identification at all: never empty
])
def test_studyid_rule(record, expected):
    assert registry_study_identifier(record) == expected
    assert study_identifier(record) == expected  # the SDTM mappings use the same rule


def test_studyid_says_where_it_came_from_and_fits_xpt():
    assert study_identifier_source(ident(nctId="NCT01421927")) == ("NCT01421927", "identificationModule.nctId")
    assert len(sanitise("X" * 500)) == 200


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_no_real_record_gives_an_empty_studyid(path):
    for record in read_file(path).records:
        assert study_identifier(record.record).strip()


@pytest.mark.parametrize("masking, level, who", [
    # NCT02586688 (legacy XML, August 2017): only the masked roles, no level
    ("Participant, Care Provider, Investigator, Outcomes Assessor", "QUADRUPLE",
     ["PARTICIPANT", "CARE_PROVIDER", "INVESTIGATOR", "OUTCOMES_ASSESSOR"]),
    ("Investigator, Outcomes Assessor", "DOUBLE", ["INVESTIGATOR", "OUTCOMES_ASSESSOR"]),
    ("Double (Participant, Investigator)", "DOUBLE", ["PARTICIPANT", "INVESTIGATOR"]),
    ("None (Open Label)", "NONE", None),
])
def test_legacy_masking_with_or_without_its_level(masking, level, who):
    xml = (f"<clinical_study><id_info><nct_id>NCT02586688</nct_id></id_info><study_type>Interventional</study_type>"
           f"<study_design_info><masking>{masking}</masking></study_design_info></clinical_study>")
    found = normalise("legacy-xml", etree.fromstring(xml), "x.xml")
    info = found.record["protocolSection"]["designModule"]["designInfo"]["maskingInfo"]
    assert (info["masking"], info.get("whoMasked")) == (level, who)
    assert not [f for f in found.findings if f.rule == "REGISTRY-VALUE"]
