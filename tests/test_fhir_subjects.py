"""Patient, ResearchSubject, Medication and MedicationAdministration from the SDTM tables, R4 and R5.

Small hand-made DM/DS/EX tables pin each rule; the REVALLO example, mapped through `map_sdtm`, checks
that the FHIR resources agree with the SDTM hub (subjects, dates, doses) and that every resource is
valid against the official JSON Schema and the fhir.resources model of its release.
"""
from __future__ import annotations

import json
import uuid
from functools import lru_cache
from importlib import resources as package_files
from pathlib import Path

import pandas as pd
import pytest
from jsonschema import Draft6Validator

from trialbridge.converters.pipeline import read_study as read_native
from trialbridge.converters.sdtm_package import map_sdtm
from trialbridge.mappings.fhir import medication, medication_administration, patient, research_subject
from trialbridge.mappings.study import StudyInfo, Treatment
from trialbridge.mappings.fhir.common import NAMESPACE, FhirInput, reference, resource_id

EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"
MODULES = (patient, research_subject, medication, medication_administration)
RELEASES = ("R4", "R5")
ARM = "Lenalidomide 5 to 15 mg"


def _table(rows: list[dict], numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """An SDTM table as `map_sdtm` gives it: Char columns str ("" null), Num columns float64."""
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        values = frame[column]
        frame[column] = values.astype("float64") if column in numeric else values.fillna("").astype(object)
    return frame


def _dm(**subject: str) -> dict:
    base = {"STUDYID": "TB", "USUBJID": "", "SUBJID": "", "SITEID": "01", "RFICDTC": "", "RFXSTDTC": "",
            "RFXENDTC": "", "RFPENDTC": "", "DTHDTC": "", "DTHFL": "", "BRTHDTC": "", "SEX": "",
            "ARMCD": "LENA", "ARM": ARM, "ACTARMCD": "LENA", "ACTARM": ARM}
    return {**base, **subject}


DM = _table([
    _dm(USUBJID="TB-01-001", SUBJID="001", SEX="M", BRTHDTC="1958-03", RFICDTC="2011-09-05",
        RFXSTDTC="2011-10-03", RFXENDTC="2012-04-02", RFPENDTC="2012-05-02"),
    # died: progression ends treatment, death ends the study
    _dm(USUBJID="TB-01-002", SUBJID="002", SEX="F", BRTHDTC="1961", RFICDTC="2011-10-12", RFXSTDTC="2011-10-14",
        RFXENDTC="2011-12-16", RFPENDTC="2012-01-20", DTHDTC="2012-01-20", DTHFL="Y"),
    # still on treatment; birth month missing inside the date: FHIR keeps the year only
    _dm(USUBJID="TB-01-003", SUBJID="003", SEX="U", BRTHDTC="1970---02", RFICDTC="2012-01-16",
        RFXSTDTC="2012-01-20", RFXENDTC="2012-01-20"),
    # died, date unknown; SEX outside CDISC Sex: no gender, a finding; never dosed
    _dm(USUBJID="TB-01-004", SUBJID="004", SEX="X", RFICDTC="2012-02-01", RFPENDTC="2012-03-01", DTHFL="Y",
        ACTARMCD="", ACTARM=""),
])
DS = _table([
    {"USUBJID": "TB-01-001", "DSSEQ": 1, "DSTERM": "INFORMED CONSENT OBTAINED", "DSDECOD": "INFORMED CONSENT OBTAINED",
     "DSCAT": "PROTOCOL MILESTONE", "DSSCAT": "", "DSSTDTC": "2011-09-05"},
    {"USUBJID": "TB-01-001", "DSSEQ": 2, "DSTERM": "ONE YEAR AFTER TRANSPLANT", "DSDECOD": "COMPLETED",
     "DSCAT": "DISPOSITION EVENT", "DSSCAT": "STUDY TREATMENT", "DSSTDTC": "2012-04-02"},
    {"USUBJID": "TB-01-001", "DSSEQ": 3, "DSTERM": "COMPLETED", "DSDECOD": "COMPLETED",
     "DSCAT": "DISPOSITION EVENT", "DSSCAT": "STUDY PARTICIPATION", "DSSTDTC": "2012-05-02"},
    {"USUBJID": "TB-01-002", "DSSEQ": 1, "DSTERM": "INFORMED CONSENT OBTAINED", "DSDECOD": "INFORMED CONSENT OBTAINED",
     "DSCAT": "PROTOCOL MILESTONE", "DSSCAT": "", "DSSTDTC": "2011-10-12"},
    {"USUBJID": "TB-01-002", "DSSEQ": 2, "DSTERM": "PROGRESSION (IMWG CRITERIA)", "DSDECOD": "PROGRESSIVE DISEASE",
     "DSCAT": "DISPOSITION EVENT", "DSSCAT": "STUDY TREATMENT", "DSSTDTC": "2011-12-16"},
    {"USUBJID": "TB-01-002", "DSSEQ": 3, "DSTERM": "Choc septique, décès", "DSDECOD": "DEATH",
     "DSCAT": "DISPOSITION EVENT", "DSSCAT": "STUDY PARTICIPATION", "DSSTDTC": "2012-01-20"},
], numeric=("DSSEQ",))
EX = _table([
    {"USUBJID": "TB-01-001", "EXSEQ": 1, "EXTRT": "LENALIDOMIDE", "EXDOSE": 5, "EXDOSU": "mg", "EXDOSFRM": "CAPSULE",
     "EXDOSFRQ": "QD", "EXROUTE": "ORAL", "EXADJ": "", "EXSTDTC": "2011-10-03", "EXENDTC": "2012-01-02"},
    {"USUBJID": "TB-01-001", "EXSEQ": 2, "EXTRT": "LENALIDOMIDE", "EXDOSE": 10, "EXDOSU": "mg", "EXDOSFRM": "CAPSULE",
     "EXDOSFRQ": "QD", "EXROUTE": "ORAL", "EXADJ": "PROTOCOL DOSE ESCALATION", "EXSTDTC": "2012-01-03",
     "EXENDTC": "2012-04-02"},
    # twice a day: 2.5 mg a dose is 5 mg a day
    {"USUBJID": "TB-01-002", "EXSEQ": 1, "EXTRT": "LENALIDOMIDE", "EXDOSE": 2.5, "EXDOSU": "mg", "EXDOSFRM": "CAPSULE",
     "EXDOSFRQ": "BID", "EXROUTE": "ORAL", "EXADJ": "", "EXSTDTC": "2011-10-14", "EXENDTC": "2011-12-16"},
    # ongoing (no end); "as needed" gives no daily rate; a time without a zone keeps its date
    {"USUBJID": "TB-01-003", "EXSEQ": 1, "EXTRT": "LENALIDOMIDE", "EXDOSE": 5, "EXDOSU": "mg", "EXDOSFRM": "CAPSULE",
     "EXDOSFRQ": "PRN", "EXROUTE": "ORAL", "EXADJ": "", "EXSTDTC": "2012-01-20T08:30", "EXENDTC": ""},
], numeric=("EXSEQ", "EXDOSE"))
# the study's constants as data (in the tool they come from the study specification)
LENALIDOMIDE = Treatment(name="LENALIDOMIDE", unii="F0P408N6V4", rxnorm="342369", atc="L04AX04", dose_form="CAPSULE",
                         route="ORAL", frequency="QD", dose_unit="mg")
STUDY = StudyInfo(studyid="TB", treatments=(LENALIDOMIDE,))
SMALL = FhirInput(registry={}, sdtm={"DM": DM, "DS": DS, "EX": EX}, studyid="TB", study=STUDY)


def _by_subject(resources: list[dict], usubjid: str) -> dict:
    return next(r for r in resources if r["identifier"][0]["value"] == usubjid)


def _rules(findings) -> list[tuple[str, str]]:
    return sorted((f.rule, f.location) for f in findings)


# ------------------------------------------------------------------------------------------ Patient
@pytest.mark.parametrize("release", RELEASES)
def test_patient_one_per_subject_with_identifiers_and_site(release):
    patients = patient.build(SMALL, release)
    assert [p["identifier"][0]["value"] for p in patients] == list(DM["USUBJID"])
    first = patients[0]
    assert first["id"] == resource_id("Patient", "TB-01-001")
    assert first["identifier"][0] == {"use": "official", "system": "urn:trialbridge:usubjid", "value": "TB-01-001"}
    assert first["identifier"][1]["value"] == "001"
    assert first["identifier"][1]["assigner"] == reference("Organization", "site", "01")
    assert first["managingOrganization"] == {"reference": f"Organization/{resource_id('Organization', 'site', '01')}"}


@pytest.mark.parametrize("release", RELEASES)
def test_patient_gender_birth_date_and_death(release):
    patients = {p["identifier"][0]["value"]: p for p in patient.build(SMALL, release)}
    assert [patients[s].get("gender") for s in DM["USUBJID"]] == ["male", "female", "unknown", None]
    assert patients["TB-01-001"]["birthDate"] == "1958-03"  # partial date kept as precise as collected
    assert patients["TB-01-002"]["birthDate"] == "1961"
    assert patients["TB-01-003"]["birthDate"] == "1970"  # month missing inside the date: year only
    assert patients["TB-01-002"]["deceasedDateTime"] == "2012-01-20"
    assert "deceasedBoolean" not in patients["TB-01-002"]
    assert patients["TB-01-004"]["deceasedBoolean"] is True  # DTHFL = Y without DTHDTC
    assert not {"deceasedBoolean", "deceasedDateTime"} & set(patients["TB-01-001"])


def test_patient_findings_name_what_fhir_cannot_hold():
    ids = {u: resource_id("Patient", u) for u in DM["USUBJID"]}
    assert _rules(patient.unplaced(SMALL, "R5")) == sorted([
        ("FHIR-PATIENT-GENDER", f"Patient/{ids['TB-01-004']}.gender"),  # SEX X
        ("FHIR-DATE-SHORTENED", f"Patient/{ids['TB-01-003']}.birthDate"),  # 1970---02
    ])


# ----------------------------------------------------------------------------------- ResearchSubject
def _states(subject: dict) -> list[tuple[str, str, str]]:
    return [(p["subjectState"]["coding"][0]["code"], p.get("startDate", ""), p.get("endDate", ""))
            for p in subject["progress"] if "subjectState" in p]


def test_research_subject_r5_progress_of_a_subject_who_died():
    subject = _by_subject(research_subject.build(SMALL, "R5"), "TB-01-002")
    assert subject["status"] == "active"  # publication status of the record
    assert subject["subject"] == reference("Patient", "TB-01-002")
    assert subject["study"] == reference("ResearchStudy", "TB")
    assert _states(subject) == [
        ("on-study", "2011-10-12", "2011-10-14"),
        ("on-study-intervention", "2011-10-14", "2011-12-16"),
        ("follow-up", "2011-12-16", "2012-01-20"),
        ("off-study", "2012-01-20", ""),
    ]
    follow_up, off_study = subject["progress"][-2]["reason"], subject["progress"][-1]["reason"]
    assert follow_up["text"] == "PROGRESSION (IMWG CRITERIA)"
    assert off_study["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/state-change-reason",
                                      "code": "death", "display": "death (adverse event)"}
    assert off_study["coding"][1]["code"] == "C28554"  # CDISC DEATH
    assert off_study["text"] == "Choc septique, décès"  # the verbatim DSTERM, accents kept
    assert subject["period"] == {"start": "2011-10-12", "end": "2012-01-20"}
    milestone = subject["progress"][0]
    assert milestone["milestone"]["coding"][0]["code"] == "SignedUp"
    assert milestone["startDate"] == "2011-10-12"
    assert subject["assignedComparisonGroup"] == subject["actualComparisonGroup"] == "LENA"


def test_research_subject_r5_ongoing_and_never_dosed_subjects():
    subjects = research_subject.build(SMALL, "R5")
    ongoing = _by_subject(subjects, "TB-01-003")
    assert _states(ongoing) == [("on-study", "2012-01-16", "2012-01-20"), ("on-study-intervention", "2012-01-20", "")]
    assert ongoing["period"] == {"start": "2012-01-16"}
    undosed = _by_subject(subjects, "TB-01-004")
    assert _states(undosed) == [("on-study", "2012-02-01", "2012-03-01"), ("off-study", "2012-03-01", "")]
    assert undosed["progress"][-1]["reason"]["coding"][0]["code"] == "death"  # DTHFL = Y, no DS record
    assert "actualComparisonGroup" not in undosed


def test_research_subject_r4_status_arms_individual_and_progress_extension():
    r5 = research_subject.build(SMALL, "R5")
    r4 = research_subject.build(SMALL, "R4")
    assert [s["status"] for s in r4] == ["off-study", "off-study", "on-study-intervention", "off-study"]
    died = _by_subject(r4, "TB-01-002")
    assert list(died) == ["resourceType", "id", "text", "extension", "identifier", "status", "period", "study",
                          "individual", "assignedArm", "actualArm"]
    assert died["individual"] == reference("Patient", "TB-01-002")
    assert died["assignedArm"] == died["actualArm"] == ARM  # R4 arm name = ResearchStudy.arm.name = ARM
    assert "actualArm" not in _by_subject(r4, "TB-01-004")
    # every R5 progress entry is in the cross-version extension, element by element
    progress = _by_subject(r5, "TB-01-002")["progress"]
    assert len(died["extension"]) == len(progress)
    off_study = died["extension"][-1]
    assert off_study["url"] == "http://hl7.org/fhir/5.0/StructureDefinition/extension-ResearchSubject.progress"
    assert {e["url"]: next(v for k, v in e.items() if k != "url") for e in off_study["extension"]} == progress[-1]


# ------------------------------------------------------------------------------------------ Medication
@pytest.mark.parametrize("release", RELEASES)
def test_one_medication_per_treatment_coded_rxnorm_atc_capsule(release):
    (drug,) = medication.build(SMALL, release)
    assert drug["id"] == resource_id("Medication", "LENALIDOMIDE")
    assert [(c["system"], c["code"]) for c in drug["code"]["coding"]] == [
        ("http://www.nlm.nih.gov/research/umls/rxnorm", "342369"), ("http://www.whocc.no/atc", "L04AX04"),
        ("http://fdasis.nlm.nih.gov", "F0P408N6V4")]  # all three from StudyInfo.treatments, none from Python tables
    uncoded = FhirInput(registry={}, sdtm=SMALL.sdtm, studyid="TB", study=StudyInfo(studyid="TB"))
    assert [f.rule for f in medication.unplaced(uncoded, release)] == ["FHIR-MEDICATION-UNCODED"]
    form = drug["doseForm" if release == "R5" else "form"]
    assert ("http://snomed.info/sct", "385049006") == (form["coding"][0]["system"], form["coding"][0]["code"])
    assert ("doseForm" in drug) == (release == "R5")
    assert medication.unplaced(SMALL, release) == []


def test_uncoded_treatment_and_several_forms_are_reported():
    ex = EX.assign(EXTRT="PLACEBO")
    ex.loc[0, "EXDOSFRM"] = "TABLET"  # capsules and a tablet
    inp = FhirInput(registry={}, sdtm={"DM": DM, "DS": DS, "EX": ex}, studyid="TB")
    (drug,) = medication.build(inp, "R5")
    assert drug["code"] == {"text": "PLACEBO"} and "doseForm" not in drug
    location = f"Medication/{resource_id('Medication', 'PLACEBO')}"
    assert _rules(medication.unplaced(inp, "R4")) == [("FHIR-MEDICATION-FORMS", f"{location}.form"),
                                                      ("FHIR-MEDICATION-UNCODED", f"{location}.code")]


# ---------------------------------------------------------------------------- MedicationAdministration
@pytest.mark.parametrize("release", RELEASES)
def test_one_administration_per_ex_record_with_dose_dates_and_rate(release):
    given = medication_administration.build(SMALL, release)
    period = "occurencePeriod" if release == "R5" else "effectivePeriod"
    got = [(a["subject"], a[period].get("start"), a[period].get("end"), a["dosage"]["dose"]["value"]) for a in given]
    assert got == [
        (reference("Patient", u), s[:10], e or None, d)
        for u, s, e, d in zip(EX["USUBJID"], EX["EXSTDTC"], EX["EXENDTC"], EX["EXDOSE"])
    ]
    first = given[0]
    assert first["id"] == resource_id("MedicationAdministration", "TB-01-001", "1")
    assert first["identifier"] == [{"system": "urn:trialbridge:exposure", "value": "TB-01-001/1"}]
    assert first["extension"] == [{"url": "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy",
                                   "valueReference": reference("ResearchStudy", "TB")}]
    assert first["dosage"]["dose"] == {"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    assert first["dosage"]["route"]["coding"][0]["code"] == "26643006"
    regimen = given[2]["contained"][0]  # BID: 2.5 mg twice a day, as a Timing of the regimen followed
    assert given[2]["request"] == {"reference": "#regimen"} and regimen["id"] == "regimen"
    assert regimen["resourceType"] == "MedicationRequest" and regimen["intent"] == "order"
    assert regimen["dosageInstruction"][0]["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert regimen["dosageInstruction"][0]["timing"]["code"]["coding"][0]["code"] == "BID"
    assert regimen["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 2.5
    assert all("rateRatio" not in a["dosage"] for a in given)  # a rate is an infusion speed: never used
    prn = given[3]["contained"][0]["dosageInstruction"][0]["timing"]
    assert prn == {"code": {"text": "PRN"}} and given[3]["dosage"]["text"] == "5 mg PRN oral"
    assert first["text"]["status"] == "generated" and "LENALIDOMIDE 5 mg QD oral" in first["text"]["div"]
    assert given[1]["note"] == [{"text": "Reason for dose adjustment: PROTOCOL DOSE ESCALATION"}]
    assert [a["status"] for a in given] == ["completed", "completed", "completed", "in-progress"]
    drug = reference("Medication", "LENALIDOMIDE")
    assert first["medication"] == {"reference": drug} if release == "R5" else first["medicationReference"] == drug
    assert ("medication" in first) == (release == "R5")


def test_administration_findings():
    ids, _ = medication_administration.exposure_keys(EX)
    assert _rules(medication_administration.unplaced(SMALL, "R4")) == sorted([
        ("FHIR-MEDADMIN-NO-RATE", f"MedicationAdministration/{ids[3]}.contained[0].dosageInstruction[0].timing"),
        ("FHIR-DATE-SHORTENED", f"MedicationAdministration/{ids[3]}.effectivePeriod.start"),  # time, no zone
    ])


# ------------------------------------------------------------------------------------------- identity
def test_ids_are_uuid5_and_stable_across_runs():
    first = [r for m in MODULES for release in RELEASES for r in m.build(SMALL, release)]
    again = [r for m in MODULES for release in RELEASES for r in m.build(SMALL, release)]
    assert json.dumps(first, ensure_ascii=False) == json.dumps(again, ensure_ascii=False)
    assert patient.build(SMALL, "R5")[0]["id"] == str(uuid.uuid5(NAMESPACE, "Patient/TB-01-001"))


# ------------------------------------------------------------------------------------------- REVALLO
@pytest.fixture(scope="module")
def revallo() -> FhirInput:
    trial, _ = read_native(EXAMPLE)
    tables = map_sdtm(trial).tables
    return FhirInput(registry=trial.registry, sdtm=tables, studyid=tables["DM"]["STUDYID"].iloc[0])


@pytest.mark.parametrize("release", RELEASES)
def test_revallo_resources_agree_with_the_sdtm_hub(revallo, release):
    dm, ex = revallo.sdtm["DM"], revallo.sdtm["EX"]
    patients, subjects = patient.build(revallo, release), research_subject.build(revallo, release)
    given = medication_administration.build(revallo, release)
    assert [p["identifier"][0]["value"] for p in patients] == [s["identifier"][0]["value"] for s in subjects] \
        == list(dm["USUBJID"])
    period = "occurencePeriod" if release == "R5" else "effectivePeriod"
    assert [(a["subject"], a[period]["start"], a[period]["end"], a["dosage"]["dose"]["value"]) for a in given] == [
        (reference("Patient", u), s, e, d) for u, s, e, d in
        zip(ex["USUBJID"], ex["EXSTDTC"], ex["EXENDTC"], ex["EXDOSE"])]
    assert len(medication.build(revallo, release)) == 1
    # REVALLO-01-004 died: Patient.deceasedDateTime = DTHDTC, last state off-study for death
    died = dm.loc[dm["DTHFL"] == "Y"]
    assert len(died) >= 1
    for usubjid, dthdtc in zip(died["USUBJID"], died["DTHDTC"]):
        assert _by_subject(patients, usubjid)["deceasedDateTime"] == dthdtc
        subject = _by_subject(subjects, usubjid)
        if release == "R5":
            assert subject["progress"][-1]["subjectState"]["coding"][0]["code"] == "off-study"
            assert subject["progress"][-1]["reason"]["coding"][0]["code"] == "death"
        else:
            assert subject["status"] == "off-study"
    assert all(p["birthDate"] == b for p, b in zip(patients, dm["BRTHDTC"]))  # month precision kept


# --------------------------------------------------------------------------- official schema and models
@lru_cache(maxsize=2)
def _schema(release: str) -> dict | None:
    """The official FHIR JSON Schema copied into trialbridge.schemas (None while it is not there)."""
    path = package_files.files("trialbridge.schemas").joinpath("fhir", release, "fhir.schema.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _schema_errors(resource: dict, release: str) -> list[str]:
    schema = _schema(release)
    wrapper = {"$ref": f"#/definitions/{resource['resourceType']}", "definitions": schema["definitions"]}
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft6Validator(wrapper).iter_errors(resource)]


def _model(release: str, resource_type: str):
    package = "fhir.resources" if release == "R5" else "fhir.resources.R4B"
    module = __import__(f"{package}.{resource_type.lower()}", fromlist=[resource_type])
    return getattr(module, resource_type)


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("case", ["small", "revallo"])
def test_every_resource_is_valid_json_schema_and_model(release, case, revallo):
    if _schema(release) is None:
        pytest.skip(f"schemas/fhir/{release}/fhir.schema.json not copied yet")
    inp = SMALL if case == "small" else revallo
    resources = [r for m in MODULES for r in m.build(inp, release)]
    assert {r["resourceType"] for r in resources} == {"Patient", "ResearchSubject", "Medication",
                                                       "MedicationAdministration"}
    for resource in resources:
        assert _schema_errors(resource, release) == [], resource["id"]
        parsed = _model(release, resource["resourceType"]).model_validate(resource)
        assert parsed.id == resource["id"]


def test_the_schema_check_can_fail():
    if _schema("R4") is None:
        pytest.skip("schemas/fhir/R4/fhir.schema.json not copied yet")
    r5_shaped = research_subject.build(SMALL, "R5")[0]  # R5 elements are unknown to R4
    assert any("progress" in e or "subject" in e for e in _schema_errors(r5_shaped, "R4"))


def test_permissible_variables_not_submitted_are_absent_elements():
    dm = DM.drop(columns=["BRTHDTC", "DTHDTC", "DTHFL", "ACTARMCD", "ACTARM"])
    ex = EX.drop(columns=["EXADJ", "EXDOSFRQ", "EXROUTE", "EXDOSFRM"])
    inp = FhirInput(registry={}, sdtm={"DM": dm, "EX": ex}, studyid="TB")  # and no DS
    first = patient.build(inp, "R4")[0]
    assert not {"birthDate", "deceasedBoolean", "deceasedDateTime"} & set(first)
    # no DS: treatment ends at RFXENDTC, no follow-up state, off-study at RFPENDTC with no reason
    subject = research_subject.build(inp, "R5")[0]
    assert _states(subject) == [("on-study", "2011-09-05", "2011-10-03"),
                                ("on-study-intervention", "2011-10-03", "2012-04-02"), ("off-study", "2012-05-02", "")]
    assert "reason" not in subject["progress"][-1] and "actualComparisonGroup" not in subject
    given = medication_administration.build(inp, "R5")[0]
    assert given["dosage"] == {"text": "5 mg", "dose": {"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org",
                                                        "code": "mg"}}
