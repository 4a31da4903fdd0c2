"""AdverseEvent (from AE + SUPPAE) and Observation (from LB), R4 and R5.

Small hand-made SDTM tables pin each rule (a comment on each row says what it is there for); the REVALLO
example, mapped through `map_sdtm`, checks that the resources agree with the SDTM hub record for record
(subject, dates, values) and that every resource follows the official JSON Schema and the fhir.resources
model of its release.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest
from jsonschema import Draft6Validator

from trialbridge.converters.pipeline import read_study as read_native
from trialbridge.converters.sdtm_package import map_sdtm
from trialbridge.mappings.fhir import adverse_event, medication, observation, patient, research_study
from trialbridge.mappings.fhir.common import EXTENSION_RESEARCH_STUDY, NCIT, FhirInput, reference, resource_id
from trialbridge.schemas.fhir_checks import check_resources
from trialbridge.schemas.fhir_standards import fhir_schema, model_class

EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"
RELEASES = ("R4", "R5")
MEDDRA, LOINC, UCUM = "https://www.meddra.org", "http://loinc.org", "http://unitsofmeasure.org"
THO = "http://terminology.hl7.org/CodeSystem/"
XVER = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
IG_R5 = "http://hl7.org/fhir/uv/ae-research-ig/StructureDefinition/"
IG_R4 = "http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/"


def _table(rows: list[dict], numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """An SDTM table as `map_sdtm` gives it: Char columns str ("" null), Num columns float64."""
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        values = frame[column]
        frame[column] = values.astype("float64") if column in numeric else values.fillna("").astype(object)
    return frame


def _ae(**record) -> dict:
    base = {"USUBJID": "", "AESEQ": 1, "AETERM": "", "AELLT": "", "AELLTCD": None, "AEDECOD": "", "AEPTCD": None,
            "AESER": "N", "AEACN": "DOSE NOT CHANGED", "AEREL": "", "AEOUT": "RECOVERED/RESOLVED", "AETOXGR": "1",
            "AESTDTC": "", "AEENDTC": "", "AEENRTPT": "", "AESCONG": "", "AESDISAB": "", "AESDTH": "",
            "AESHOSP": "", "AESLIFE": "", "AESMIE": ""}
    return {**base, **record}


NO = dict.fromkeys(("AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESMIE"), "N")
AE = _table([
    # serious (hospitalised), PT coded from another LLT, grade 3, probably related, dose reduced
    _ae(USUBJID="TB-01-001", AESEQ=1, AETERM="Neutropénie fébrile", AELLT="Febrile neutropenia", AELLTCD=10016288,
        AEDECOD="Febrile neutropenia", AEPTCD=10016288, AESER="Y", **{**NO, "AESHOSP": "Y"}, AEACN="DOSE REDUCED",
        AEREL="PROBABLY RELATED", AETOXGR="3", AESTDTC="2011-11-14", AEENDTC="2011-11-28"),
    # fatal, grade 5, with GVHD qualifiers in SUPPAE
    _ae(USUBJID="TB-01-002", AESEQ=1, AETERM="GVH aiguë digestive", AELLT="Acute graft versus host disease in intestine",
        AELLTCD=10066264, AEDECOD="Acute graft versus host disease in intestine", AEPTCD=10066264, AESER="Y",
        **{**NO, "AESDTH": "Y"}, AEACN="DRUG WITHDRAWN", AEREL="POSSIBLY RELATED", AEOUT="FATAL", AETOXGR="5",
        AESTDTC="2011-12-02", AEENDTC="2012-01-20"),
    # partial onset date, ongoing at the end of the study, grade 2; the LLT is not the PT
    _ae(USUBJID="TB-01-002", AESEQ=2, AETERM="Fébricule", AELLT="Fever", AELLTCD=10016558, AEDECOD="Pyrexia",
        AEPTCD=10037660, AEREL="NOT RELATED", AEOUT="NOT RECOVERED/NOT RESOLVED", AETOXGR="2", AESTDTC="2011-12",
        AEENRTPT="ONGOING"),
    # not MedDRA-coded, verbatim term continued in SUPPAE AETERM1, no grade, no outcome; no EX record
    _ae(USUBJID="TB-01-003", AESEQ=1, AETERM="Douleurs abdominales diffuses", AEOUT="", AETOXGR="",
        AEREL="UNLIKELY RELATED", AESTDTC="2012-02-03", AEENDTC="2012-02-05"),
    # a grade outside CTCAE 1-5, an outcome outside CDISC CT (no R4 code), a time without a zone: findings
    _ae(USUBJID="TB-01-003", AESEQ=2, AETERM="Asthénie", AELLT="Asthenia", AELLTCD=10003549, AEDECOD="Asthenia",
        AEPTCD=10003549, AETOXGR="G2", AEOUT="RESOLVED", AEREL="RELATED", AESTDTC="2012-02-10T14:30",
        AEENDTC="2012-02-11"),
], numeric=("AESEQ", "AELLTCD", "AEPTCD"))
SUPPAE = _table([
    {"USUBJID": "TB-01-002", "RDOMAIN": "AE", "IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "GVHDTYPE",
     "QLABEL": "GVHD Type", "QVAL": "ACUTE"},
    {"USUBJID": "TB-01-002", "RDOMAIN": "AE", "IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "GVHDGRD",
     "QLABEL": "GVHD Grade (Seattle or NIH)", "QVAL": "IV"},
    {"USUBJID": "TB-01-002", "RDOMAIN": "AE", "IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "GVHDSR",
     "QLABEL": "GVHD Steroid-Refractory", "QVAL": "Y"},
    {"USUBJID": "TB-01-003", "RDOMAIN": "AE", "IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "AETERM1",
     "QLABEL": "Reported Term for the Adverse Event 1", "QVAL": "et persistantes"},
    # points to no AE record: a finding, never silently gone
    {"USUBJID": "TB-01-003", "RDOMAIN": "AE", "IDVAR": "AESEQ", "IDVARVAL": "9", "QNAM": "GVHDTYPE",
     "QLABEL": "GVHD Type", "QVAL": "CHRONIC"},
])
EX = _table([
    {"USUBJID": "TB-01-001", "EXSEQ": 1, "EXTRT": "LENALIDOMIDE", "EXDOSFRM": "CAPSULE"},
    {"USUBJID": "TB-01-002", "EXSEQ": 1, "EXTRT": "LENALIDOMIDE", "EXDOSFRM": "CAPSULE"},
], numeric=("EXSEQ",))


def _lb(**record) -> dict:
    base = {"USUBJID": "TB-01-001", "LBSEQ": 1, "LBTESTCD": "", "LBTEST": "", "LBCAT": "HEMATOLOGY",
            "LBSTRESC": "", "LBSTRESN": None, "LBSTRESU": "", "LBSTNRLO": None, "LBSTNRHI": None, "LBNRIND": "",
            "LBSTAT": "", "LBREASND": "", "LBLOINC": "", "LBSPEC": "BLOOD", "LBMETHOD": "", "LBTOX": "",
            "LBTOXGR": "", "LBDTC": "2011-09-28"}
    return {**base, **record}


LB = _table([
    # a number in 10^9/L with its range, low, CTCAE grade 1
    _lb(LBSEQ=1, LBTESTCD="PLAT", LBTEST="Platelets", LBSTRESC="111", LBSTRESN=111, LBSTRESU="10^9/L",
        LBSTNRLO=150, LBSTNRHI=400, LBNRIND="LOW", LBLOINC="777-3", LBTOX="Platelets", LBTOXGR="1"),
    # a decimal in g/L, high
    _lb(LBSEQ=2, LBTESTCD="HGB", LBTEST="Hemoglobin", LBSTRESC="171.5", LBSTRESN=171.5, LBSTRESU="g/L",
        LBSTNRLO=130, LBSTNRHI=170, LBNRIND="HIGH", LBLOINC="718-7"),
    # below the limit of detection: a Quantity with comparator
    _lb(LBSEQ=3, LBTESTCD="MCPROT", LBTEST="Monoclonal Protein", LBCAT="IMMUNOLOGY", LBSTRESC="<1",
        LBSTRESU="g/L", LBLOINC="33358-3", LBSPEC="SERUM", LBMETHOD="ELECTROPHORESIS"),
    # a sponsor-defined test code without LOINC, above the range it can measure, in %
    _lb(USUBJID="TB-01-002", LBSEQ=1, LBTESTCD="CHIMDON", LBTEST="Donor Chimerism", LBCAT="CHIMERISM",
        LBSTRESC=">95", LBSTRESU="%"),
    # not done: cancelled, with the reason
    _lb(USUBJID="TB-01-002", LBSEQ=2, LBTESTCD="DC", LBTEST="Dendritic Cells", LBCAT="IMMUNOPHENOTYPING",
        LBSTAT="NOT DONE", LBREASND="Prélèvement coagulé", LBMETHOD="FLOW CYTOMETRY"),
    # a text result; a unit with no UCUM code; a partial date
    _lb(USUBJID="TB-01-002", LBSEQ=3, LBTESTCD="KLCFR", LBTEST="Kappa Light Chain, Free", LBCAT="IMMUNOLOGY",
        LBSTRESC="TRACES", LBLOINC="36916-5", LBSPEC="SERUM", LBDTC="2011-10"),
    _lb(USUBJID="TB-01-002", LBSEQ=4, LBTESTCD="NEUT", LBTEST="Neutrophils", LBSTRESC="2.3", LBSTRESN=2.3,
        LBSTRESU="GI/L", LBLOINC="751-8"),
    # neither a result nor NOT DONE: dataAbsentReason unknown and a finding
    _lb(USUBJID="TB-01-003", LBSEQ=1, LBTESTCD="WBC", LBTEST="Leukocytes", LBLOINC="6690-2", LBSTRESU="10^9/L"),
], numeric=("LBSEQ", "LBSTRESN", "LBSTNRLO", "LBSTNRHI"))
LOINC_NAMES = {"777-3": "Platelets [#/volume] in Blood by Automated count"}  # the spec's tests table gives them
SMALL = FhirInput(registry={}, sdtm={"AE": AE, "SUPPAE": SUPPAE, "EX": EX, "LB": LB}, studyid="TB",
                  loinc_names=LOINC_NAMES)


@lru_cache(maxsize=None)
def revallo() -> FhirInput:
    trial, _ = read_native(EXAMPLE)
    tables = map_sdtm(trial).tables
    return FhirInput(trial.registry, tables, str(tables["DM"]["STUDYID"].iloc[0]))


@lru_cache(maxsize=None)
def built(name: str, module: str, release: str) -> tuple[dict, ...]:
    inp = SMALL if name == "small" else revallo()
    return tuple({"adverse_event": adverse_event, "observation": observation}[module].build(inp, release))


def _one(resources, value: str) -> dict:
    """The resource whose (first) identifier value is `value`."""
    found = [r for r in resources if _identifiers(r)[0]["value"] == value]
    assert len(found) == 1, value
    return found[0]


def _identifiers(resource: dict) -> list[dict]:
    ident = resource["identifier"]
    return ident if isinstance(ident, list) else [ident]  # R4 AdverseEvent.identifier is 0..1


def _codes(concept: dict) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept.get("coding", [])]


def _extensions(resource: dict, url: str) -> list[dict]:
    return [e for e in resource.get("extension", []) if e["url"] == url]


def _rules(findings) -> list[tuple[str, str]]:
    return sorted((f.rule, f.location) for f in findings)


def _ae_id(usubjid: str, seq: int) -> str:
    return resource_id("AdverseEvent", usubjid, str(seq))


def _obs_id(usubjid: str, seq: int) -> str:
    return resource_id("Observation", usubjid, str(seq))


# ------------------------------------------------------------------------------------------ official checks
@lru_cache(maxsize=None)
def validator(release: str, resource_type: str) -> Draft6Validator:
    schema = fhir_schema(release)
    return Draft6Validator({"$ref": f"#/definitions/{resource_type}", "definitions": schema["definitions"]})


CASES = [(name, module, release) for name in ("small", "revallo") for module in ("adverse_event", "observation")
         for release in RELEASES]


def _shapes(resources: tuple[dict, ...]) -> list[dict]:
    """One resource per shape (its elements, status, code and value kind): the plain validator is slow,
    and 1,314 Observations of 19 tests repeat a few shapes; `check_resources` below checks them all."""
    shapes: dict[tuple, dict] = {}
    for r in resources:
        key = (tuple(r), r.get("status"), json.dumps(r.get("code", r.get("event"))), json.dumps(r.get("extension")),
               tuple(r.get("valueQuantity", {})))
        shapes.setdefault(key, r)
    return list(shapes.values())


@pytest.mark.parametrize("name,module,release", CASES)
def test_every_resource_follows_the_official_json_schema_of_its_own_definition(name, module, release):
    for resource in _shapes(built(name, module, release)):
        errors = [e.message[:200] for e in validator(release, resource["resourceType"]).iter_errors(resource)]
        assert errors == [], f"{resource['resourceType']}/{resource['id']}: {errors}"


@pytest.mark.parametrize("name,module,release", CASES)
def test_every_resource_parses_with_the_fhir_resources_model_of_its_release(name, module, release):
    for resource in built(name, module, release):
        model_class(release, resource["resourceType"]).model_validate(resource)  # R4: fhir.resources.R4B


@pytest.mark.parametrize("name,module,release", CASES)
def test_elements_come_in_the_order_the_specification_declares(name, module, release):
    definitions = fhir_schema(release)["definitions"]
    for resource in built(name, module, release):
        declared = [k for k in definitions[resource["resourceType"]]["properties"] if not k.startswith("_")]
        assert list(resource) == sorted(resource, key=declared.index), resource["resourceType"]


@pytest.mark.parametrize("module", ("adverse_event", "observation"))
@pytest.mark.parametrize("release", RELEASES)
def test_the_tool_checks_find_nothing_on_revallo(module, release):
    """schemas/fhir_checks: schema, model, required bindings and UCUM codes."""
    assert [(f.rule, f.location, f.message) for f in check_resources(list(built("revallo", module, release)),
                                                                     release)] == []


@pytest.mark.parametrize("module", (adverse_event, observation))
@pytest.mark.parametrize("release", RELEASES)
def test_a_rerun_gives_the_same_bytes(module, release):
    first = json.dumps(module.build(revallo(), release), ensure_ascii=False)
    assert json.dumps(module.build(revallo(), release), ensure_ascii=False) == first


@pytest.mark.parametrize("release", RELEASES)
def test_every_reference_points_to_a_resource_the_sibling_modules_build(release):
    inp = revallo()
    known = {f"{r['resourceType']}/{r['id']}" for m in (patient, research_study, medication) for r in m.build(inp, release)}
    for module in ("adverse_event", "observation"):
        for resource in built("revallo", module, release):
            text = json.dumps(resource)
            refs = {part.split('"')[0] for part in text.split('"reference": "')[1:]}
            assert refs - {"#specimen"} <= known, resource["id"]


@pytest.mark.parametrize("module", (adverse_event, observation))
@pytest.mark.parametrize("release", RELEASES)
def test_a_subject_alone_gives_the_same_resources_as_in_the_whole_study(module, release):
    """The stage builds subjects in blocks: a resource may only depend on its own subject's records."""
    whole = module.build(SMALL, release)
    alone = [r for u in ("TB-01-001", "TB-01-002", "TB-01-003")
             for r in module.build(FhirInput({}, {name: t[t["USUBJID"] == u] for name, t in SMALL.sdtm.items()},
                                             "TB", loinc_names=LOINC_NAMES), release)]
    assert sorted(json.dumps(r, sort_keys=True) for r in alone) == sorted(json.dumps(r, sort_keys=True) for r in whole)


# ------------------------------------------------------------------------------------------ AdverseEvent R5
def test_ae_one_per_record_identified_by_subject_and_sequence():
    events = built("small", "adverse_event", "R5")
    assert [r["identifier"] for r in events] == [[{"system": "urn:trialbridge:adverse-event", "value": f"{u}/{s:g}"}]
                                                 for u, s in zip(AE["USUBJID"], AE["AESEQ"])]
    assert [r["id"] for r in events] == [_ae_id(u, int(s)) for u, s in zip(AE["USUBJID"], AE["AESEQ"])]
    assert {json.dumps(r["subject"]) for r in events} == {json.dumps(reference("Patient", u)) for u in AE["USUBJID"]}
    assert all(r["study"] == [reference("ResearchStudy", "TB")] and r["actuality"] == "actual" for r in events)
    assert all(_codes(r["category"][0]) == [(THO + "adverse-event-category", "clinical-research")] for r in events)


def test_ae_r5_code_is_meddra_pt_then_the_selected_llt_with_the_verbatim_term():
    fever = _one(built("small", "adverse_event", "R5"), "TB-01-002/2")
    assert fever["code"] == {"coding": [
        {"system": MEDDRA, "code": "10037660", "display": "Pyrexia"},
        {"system": MEDDRA, "code": "10016558", "display": "Fever", "userSelected": True}], "text": "Fébricule"}
    same = _one(built("small", "adverse_event", "R5"), "TB-01-001/1")
    assert _codes(same["code"]) == [(MEDDRA, "10016288")]  # LLT = PT: one coding


def test_ae_uncoded_term_keeps_its_text_joined_with_the_suppae_continuation():
    pain = _one(built("small", "adverse_event", "R5"), "TB-01-003/1")
    assert pain["code"] == {"text": "Douleurs abdominales diffuses et persistantes"}


def test_ae_r5_status_period_and_a_partial_onset():
    events = {r["identifier"][0]["value"]: r for r in built("small", "adverse_event", "R5")}
    assert [r["status"] for r in events.values()] == ["completed", "completed", "in-progress", "completed",
                                                      "completed"]
    assert events["TB-01-002/2"]["occurrencePeriod"] == {"start": "2011-12"}  # partial, ongoing: no end
    assert events["TB-01-001/1"]["occurrencePeriod"] == {"start": "2011-11-14", "end": "2011-11-28"}


@pytest.mark.parametrize("end,outcome,end_relative,status", [
    ("2012-01-05", "RECOVERED/RESOLVED", "", "completed"),
    ("", "FATAL", "", "completed"),  # died, end date not collected: the event is over
    ("", "RECOVERED/RESOLVED WITH SEQUELAE", "", "completed"),
    ("", "NOT RECOVERED/NOT RESOLVED", "", "in-progress"),
    ("", "", "", "in-progress"),  # no end, no outcome
    ("", "RECOVERED/RESOLVED", "ONGOING", "in-progress"),  # ongoing at the end of the study wins
])
def test_ae_r5_status_rule(end, outcome, end_relative, status):
    record = _table([_ae(USUBJID="TB-01-001", AETERM="x", AESTDTC="2012-01-01", AEENDTC=end, AEOUT=outcome,
                         AEENRTPT=end_relative)], numeric=("AESEQ", "AELLTCD", "AEPTCD"))
    (event,) = adverse_event.build(FhirInput({}, {"AE": record, "EX": EX}, "TB"), "R5")
    assert event["status"] == status


def test_ae_r5_fatal_event():
    fatal = _one(built("small", "adverse_event", "R5"), "TB-01-002/1")
    assert fatal["outcome"] == [{"coding": [{"system": NCIT, "code": "C48275",
                                             "display": "Death Related to Adverse Event"}], "text": "FATAL"}]
    assert _codes(fatal["seriousness"]) == [(THO + "adverse-event-seriousness", "serious")]
    (grade,) = _extensions(fatal, IG_R5 + "ae-grade")
    assert grade["valueCodeableConcept"] == {"coding": [{"system": NCIT, "code": "C48275",
                                                         "display": "Grade 5 Death Related to Adverse Event"}],
                                             "text": "CTCAE grade 5"}
    criteria = {e["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]: e["extension"][1]["valueBoolean"]
                for e in _extensions(fatal, IG_R5 + "seriousness-criteria")}
    assert criteria == {"C48275": True, "C84266": False, "C83052": False, "C11338": False, "C83117": False,
                        "C82521": False}


def test_ae_r5_suspect_is_the_subjects_treatment_with_the_causality():
    events = {r["identifier"][0]["value"]: r for r in built("small", "adverse_event", "R5")}
    assert events["TB-01-001/1"]["suspectEntity"] == [{
        "instanceReference": reference("Medication", "LENALIDOMIDE"),
        "causality": {"entityRelatedness": {"coding": [{"system": NCIT, "code": "C53259",
                                                        "display": "Probably Related"}],
                                            "text": "PROBABLY RELATED"}}}]
    # TB-01-003 has no EX record: no suspect entity, the causality is kept in a note (and a finding)
    assert "suspectEntity" not in events["TB-01-003/1"]
    assert events["TB-01-003/1"]["note"][1] == {"text": "Relationship to study treatment: UNLIKELY RELATED "
                                                        "(no study treatment recorded for the subject)"}


def test_ae_r5_notes_keep_the_action_taken_and_the_gvhd_qualifiers():
    fatal = _one(built("small", "adverse_event", "R5"), "TB-01-002/1")
    assert [n["text"] for n in fatal["note"]] == [
        "Action taken with study treatment: DRUG WITHDRAWN", "GVHD Type: ACUTE",
        "GVHD Grade (Seattle or NIH): IV", "GVHD Steroid-Refractory: Y"]


# ------------------------------------------------------------------------------------------ AdverseEvent R4
def test_ae_r4_elements_of_the_fatal_event():
    fatal = _one(built("small", "adverse_event", "R4"), "TB-01-002/1")
    assert list(fatal) == ["resourceType", "id", "text", "extension", "identifier", "actuality", "category", "event",
                           "subject", "date", "seriousness", "severity", "outcome", "suspectEntity", "study"]
    assert fatal["identifier"] == {"system": "urn:trialbridge:adverse-event", "value": "TB-01-002/1"}  # 0..1
    assert fatal["date"] == "2011-12-02"
    assert _codes(fatal["outcome"]) == [(THO + "adverse-event-outcome", "fatal"), (NCIT, "C48275")]
    assert _codes(fatal["severity"]) == [(THO + "adverse-event-severity", "severe")]
    assert fatal["suspectEntity"][0]["instance"] == reference("Medication", "LENALIDOMIDE")
    assert _codes(fatal["suspectEntity"][0]["causality"][0]["assessment"]) == [(NCIT, "C53258")]
    # the exact grade, the period and the notes do not vanish
    assert _extensions(fatal, IG_R4 + "ae-grade")[0]["valueCodeableConcept"]["text"] == "CTCAE grade 5"
    assert len(_extensions(fatal, IG_R4 + "seriousness-criteria")) == 6
    assert _extensions(fatal, XVER + "AdverseEvent.occurrence")[0]["valuePeriod"] == {"start": "2011-12-02",
                                                                                      "end": "2012-01-20"}
    assert [e["valueAnnotation"]["text"] for e in _extensions(fatal, XVER + "AdverseEvent.note")][1:] == [
        "GVHD Type: ACUTE", "GVHD Grade (Seattle or NIH): IV", "GVHD Steroid-Refractory: Y"]


@pytest.mark.parametrize("record,severity", [("TB-01-001/1", "severe"), ("TB-01-002/2", "moderate"),
                                             ("TB-01-002/1", "severe"), ("TB-01-003/1", None),
                                             ("TB-01-003/2", None)])  # 3, 2, 5, no grade, G2: none
def test_ae_r4_severity_from_the_ctcae_grade(record, severity):
    event = _one(built("small", "adverse_event", "R4"), record)
    assert (event["severity"]["coding"][0]["code"] if "severity" in event else None) == severity


def test_ae_r4_ongoing_event_has_its_partial_onset_as_date_and_no_period_extension():
    ongoing = _one(built("small", "adverse_event", "R4"), "TB-01-002/2")
    assert ongoing["date"] == "2011-12"
    assert _codes(ongoing["outcome"])[0] == (THO + "adverse-event-outcome", "ongoing")
    assert _extensions(ongoing, XVER + "AdverseEvent.occurrence") == []  # no end: date says it all
    assert "status" not in ongoing


def test_ae_r4_user_selected_llt_and_grade_one_is_mild():
    r4 = adverse_event.build(FhirInput({}, {"AE": AE.assign(AETOXGR="1"), "EX": EX}, "TB"), "R4")
    assert {r["severity"]["coding"][0]["code"] for r in r4} == {"mild"}
    assert _one(r4, "TB-01-002/2")["event"]["coding"][1]["userSelected"] is True


def test_ae_findings_name_what_cannot_be_placed():
    first, pain, tired = _ae_id("TB-01-001", 1), _ae_id("TB-01-003", 1), _ae_id("TB-01-003", 2)
    assert _rules(adverse_event.unplaced(SMALL, "R5")) == sorted([
        ("FHIR-AE-UNCODED", f"AdverseEvent/{pain}.code"),
        ("FHIR-AE-MEDDRA-VERSION", f"AdverseEvent/{first}.code"),
        ("FHIR-AE-GRADE", f"AdverseEvent/{tired}.extension"),
        ("FHIR-AE-SUPP-UNPLACED", "SUPPAE"),
        ("FHIR-AE-NO-SUSPECT", f"AdverseEvent/{pain}.suspectEntity"),  # TB-01-003: no EX record
        ("FHIR-DATE-SHORTENED", f"AdverseEvent/{tired}.occurrencePeriod.start"),  # 2012-02-10T14:30
    ])
    r4 = _rules(adverse_event.unplaced(SMALL, "R4"))
    assert ("FHIR-AE-OUTCOME-R4", f"AdverseEvent/{tired}.outcome") in r4  # RESOLVED: no R4 code
    assert ("FHIR-AE-UNCODED", f"AdverseEvent/{pain}.event") in r4


# ------------------------------------------------------------------------------------------ Observation
@pytest.mark.parametrize("release", RELEASES)
def test_observation_one_per_lb_record_linked_to_subject_and_study(release):
    results = built("small", "observation", release)
    assert [r["id"] for r in results] == [_obs_id(u, int(s)) for u, s in zip(LB["USUBJID"], LB["LBSEQ"])]
    assert [r["identifier"][0]["value"] for r in results] == [f"{u}/{s:g}" for u, s in zip(LB["USUBJID"], LB["LBSEQ"])]
    assert all(r["extension"] == [{"url": EXTENSION_RESEARCH_STUDY,
                                   "valueReference": reference("ResearchStudy", "TB")}] for r in results)
    assert [r["subject"] for r in results] == [reference("Patient", u) for u in LB["USUBJID"]]
    assert [r.get("effectiveDateTime") for r in results] == list(LB["LBDTC"])  # 2011-10 stays partial


def test_observation_number_with_loinc_cdisc_code_ucum_unit_range_and_interpretation():
    platelets = _one(built("small", "observation", "R5"), "TB-01-001/1")
    assert platelets["status"] == "final"
    assert platelets["category"] == [{"coding": [{"system": THO + "observation-category", "code": "laboratory",
                                                  "display": "Laboratory"}]}, {"text": "HEMATOLOGY"}]
    assert platelets["code"] == {"coding": [
        {"system": LOINC, "code": "777-3", "display": "Platelets [#/volume] in Blood by Automated count"},
        {"system": NCIT, "code": "C51951", "display": "Platelet Count"}], "text": "Platelets"}
    ucum = {"unit": "10^9/L", "system": UCUM, "code": "10*9/L"}
    assert platelets["valueQuantity"] == {"value": 111, **ucum}
    assert platelets["referenceRange"] == [{"low": {"value": 150, **ucum}, "high": {"value": 400, **ucum}}]
    assert platelets["interpretation"] == [{"coding": [{"system": THO + "v3-ObservationInterpretation", "code": "L",
                                                        "display": "Low"}], "text": "LOW"}]
    assert platelets["note"] == [{"text": "CTCAE grade 1 (Platelets)"}]
    assert platelets["contained"] == [{"resourceType": "Specimen", "id": "specimen", "type": {
        "coding": [{"system": NCIT, "code": "C12434", "display": "Blood"}], "text": "BLOOD"}}]
    assert platelets["specimen"] == {"reference": "#specimen"}
    hgb = _one(built("small", "observation", "R5"), "TB-01-001/2")
    assert hgb["valueQuantity"]["value"] == 171.5 and _codes(hgb["interpretation"][0])[0][1] == "H"


def test_observation_below_and_above_the_measurable_range_keep_the_bound_and_unit():
    results = built("small", "observation", "R5")
    assert _one(results, "TB-01-001/3")["valueQuantity"] == {"value": 1, "comparator": "<", "unit": "g/L",
                                                             "system": UCUM, "code": "g/L"}
    chimerism = _one(results, "TB-01-002/1")
    assert chimerism["valueQuantity"] == {"value": 95, "comparator": ">", "unit": "%", "system": UCUM, "code": "%"}
    assert chimerism["code"] == {"coding": [{"system": "urn:trialbridge:lbtestcd", "code": "CHIMDON",
                                             "display": "Donor Chimerism"}], "text": "Donor Chimerism"}


def test_observation_not_done_is_cancelled_with_the_reason():
    skipped = _one(built("small", "observation", "R5"), "TB-01-002/2")
    assert skipped["status"] == "cancelled"
    assert skipped["dataAbsentReason"] == {"coding": [{"system": THO + "data-absent-reason", "code": "not-performed",
                                                       "display": "Not Performed"}], "text": "Prélèvement coagulé"}
    assert not {"valueQuantity", "valueString"} & set(skipped)
    assert _codes(skipped["code"]) == [(NCIT, "C181185")]  # DC: CDISC Cell Phenotyping Test Code


def test_observation_text_results_unknown_units_and_missing_results():
    results = built("small", "observation", "R5")
    assert _one(results, "TB-01-002/3")["valueString"] == "TRACES"
    assert _one(results, "TB-01-002/4")["valueQuantity"] == {"value": 2.3, "unit": "GI/L"}  # no UCUM code: unit only
    missing = _one(results, "TB-01-003/1")
    assert missing["status"] == "final" and _codes(missing["dataAbsentReason"]) == [(THO + "data-absent-reason",
                                                                                     "unknown")]


@pytest.mark.parametrize("cdisc,ucum", [("10^9/L", "10*9/L"), ("10^6/L", "10*6/L"), ("g/L", "g/L"),
                                        ("umol/L", "umol/L"), ("U/L", "U/L"), ("mg/L", "mg/L"), ("%", "%")])
def test_sdtm_units_are_written_as_ucum_codes(cdisc, ucum):
    assert observation.UCUM_UNITS[cdisc] == ucum


def test_observation_r4_is_the_r5_resource():
    assert built("small", "observation", "R4") == built("small", "observation", "R5")


def test_observation_findings_account_for_what_is_not_a_plain_coded_result():
    assert _rules(observation.unplaced(SMALL, "R5")) == sorted([
        ("FHIR-OBSERVATION-NOT-DONE", f"Observation/{_obs_id('TB-01-002', 2)}.status"),
        ("FHIR-OBSERVATION-NO-RESULT", f"Observation/{_obs_id('TB-01-003', 1)}.dataAbsentReason"),
        ("FHIR-OBSERVATION-UNIT", f"Observation/{_obs_id('TB-01-002', 4)}.valueQuantity"),  # GI/L
        ("FHIR-OBSERVATION-SPONSOR-TEST", f"Observation/{_obs_id('TB-01-002', 1)}.code"),  # CHIMDON
    ])  # the partial LBDTC 2011-10 is a valid FHIR dateTime: nothing shortened


# ------------------------------------------------------------------------------------------ REVALLO
def test_revallo_one_adverse_event_per_ae_record_with_its_subject_dates_and_outcome():
    ae = revallo().sdtm["AE"]
    for release in RELEASES:
        events = built("revallo", "adverse_event", release)
        assert len(events) == len(ae) == 56
        assert [_identifiers(r)[0]["value"] for r in events] == [f"{u}/{s:g}" for u, s in zip(ae["USUBJID"], ae["AESEQ"])]
        assert [r["subject"] for r in events] == [reference("Patient", u) for u in ae["USUBJID"]]
    r5 = built("revallo", "adverse_event", "R5")
    assert [r["occurrencePeriod"].get("start", "") for r in r5] == list(ae["AESTDTC"])  # partial onsets kept
    assert [r["occurrencePeriod"].get("end", "") for r in r5] == list(ae["AEENDTC"])
    assert [r["outcome"][0]["text"] for r in r5] == list(ae["AEOUT"])
    assert [r["code"]["coding"][0]["code"] for r in r5] == [f"{c:.0f}" for c in ae["AEPTCD"]]
    fatal = [r for r in built("revallo", "adverse_event", "R4") if _codes(r["outcome"])[0][1] == "fatal"]
    assert [r["event"]["text"] for r in fatal] == ["Choc septique à E. coli"]
    assert sum(len(r["occurrencePeriod"]["start"]) == 7 for r in r5) == (ae["AESTDTC"].str.len() == 7).sum() > 0


def test_revallo_gvhd_qualifiers_are_all_on_their_events():
    supp = revallo().sdtm["SUPPAE"]
    notes = [n["text"] for r in built("revallo", "adverse_event", "R5") for n in r.get("note", [])]
    assert sum(n.startswith("GVHD") for n in notes) == len(supp) == 18


def test_revallo_one_observation_per_lb_record_with_its_subject_date_and_value():
    lb = revallo().sdtm["LB"]
    results = built("revallo", "observation", "R5")
    cp = [r for r in results if "/CP/" in r["identifier"][0]["value"]]  # the cell phenotyping results (CP)
    assert len(cp) == len(revallo().sdtm["CP"]) == 270
    results = [r for r in results if "/CP/" not in r["identifier"][0]["value"]]
    assert len(results) == len(lb) == 1044
    assert [r["subject"] for r in results] == [reference("Patient", u) for u in lb["USUBJID"]]
    assert [r["effectiveDateTime"] for r in results] == list(lb["LBDTC"])
    numbers = lb["LBSTRESN"].notna()
    values = [r["valueQuantity"]["value"] for r, n in zip(results, numbers) if n]
    assert values == pytest.approx(list(lb.loc[numbers, "LBSTRESN"]), abs=0)
    units = {(u, r["valueQuantity"].get("code")) for r, u in zip(results, lb["LBSTRESU"]) if "valueQuantity" in r}
    assert units == {("10^9/L", "10*9/L"), ("g/L", "g/L"), ("umol/L", "umol/L"),
                     ("U/L", "U/L"), ("mg/L", "mg/L"), ("%", "%")}
    assert {r["valueQuantity"]["code"] for r in cp if "valueQuantity" in r} == {"10*6/L"}  # cells per uL
    below = [r for r in results if r.get("valueQuantity", {}).get("comparator") == "<"]
    assert len(below) == (lb["LBSTRESC"] == "<1").sum() > 0
    not_done = [r for r in results if r["status"] == "cancelled"]
    assert len(not_done) == (lb["LBSTAT"] == "NOT DONE").sum() == 5  # and 2 in CP:
    assert sum(r["status"] == "cancelled" for r in cp) == (revallo().sdtm["CP"]["CPSTAT"] == "NOT DONE").sum() == 2
    loinc = {r["code"]["text"]: r["code"]["coding"][0]["code"] for r in results if r["code"]["coding"][0]["system"] == LOINC}
    assert loinc["Hemoglobin"] == "718-7" and loinc["Platelets"] == "777-3"


def test_suppae_qualifiers_are_coded_supporting_info_in_r5_and_notes_in_r4():
    from trialbridge.mappings.study import StudyInfo

    inp = FhirInput(SMALL.registry, SMALL.sdtm, "TB", StudyInfo(studyid="TB", sponsor_namespace="https://sponsor.example/ids"))
    r5 = [e for e in adverse_event.build(inp, "R5") if "supportingInfo" in e]
    assert r5, "the SMALL study has SUPPAE qualifiers"
    codings = [i["itemCodeableConcept"]["coding"][0] for e in r5 for i in e["supportingInfo"]]
    assert all(c["system"].startswith("https://sponsor.example/ids/suppae/") and c["code"] for c in codings)
    r4 = adverse_event.build(inp, "R4")
    assert not any("supportingInfo" in e for e in r4)
