"""The study condition of each subject (DM, MH, the spec's conditions) -> Condition; SDTM PR -> Procedure; R4 and R5."""
from __future__ import annotations

import pandas as pd
import pytest

from trialbridge.converters.fhir.stage import build_resources
from trialbridge.mappings.fhir import condition, procedure
from trialbridge.mappings.fhir.common import SNOMED, FhirInput, reference, resource_id
from trialbridge.mappings.study import Condition, StudyInfo
from trialbridge.schemas.fhir_checks import check_resources

DM = pd.DataFrame({"STUDYID": ["TB", "TB"], "USUBJID": ["TB-01-001", "TB-01-002"],
                   "RFICDTC": ["2011-05-02", ""]})
MH = pd.DataFrame({"STUDYID": ["TB"] * 3, "USUBJID": ["TB-01-001", "TB-01-001", "TB-01-002"],
                   "MHTERM": ["multiple myeloma", "Hypertension", "MULTIPLE MYELOMA"],
                   "MHDECOD": ["", "Hypertension", ""], "MHSTDTC": ["2009-11", "2001", "2010-02-03"]})
STUDY = StudyInfo(studyid="TB", sponsor_namespace="https://sponsor.example/ids",
                  conditions=(Condition("Multiple Myeloma", snomed="109989006", mesh="D009101"),))
REGISTRY = {"protocolSection": {"conditionsModule": {"conditions": ["Multiple Myeloma"]}},
            "derivedSection": {"conditionBrowseModule": {"meshes": [{"id": "D009101", "term": "Multiple Myeloma"}]}}}
# A small PR table as the spec's PR mapping writes it: a transplant done, a second one not done.
PR = pd.DataFrame([
    {"STUDYID": "TB", "USUBJID": "TB-01-001", "PRSEQ": 1.0, "PRTRT": "Allogeneic stem cell transplantation",
     "PRDECOD": "", "PRCAT": "TRANSPLANT", "PROCCUR": "", "PRSTAT": "", "PRREASND": "",
     "PRINDC": "Multiple Myeloma", "PRLOC": "", "PRSTDTC": "2011-06-14", "PRENDTC": ""},
    {"STUDYID": "TB", "USUBJID": "TB-01-002", "PRSEQ": 1.0, "PRTRT": "Allogeneic stem cell transplantation",
     "PRDECOD": "", "PRCAT": "TRANSPLANT", "PROCCUR": "", "PRSTAT": "NOT DONE", "PRREASND": "Donor unavailable",
     "PRINDC": "", "PRLOC": "", "PRSTDTC": "", "PRENDTC": ""},
    {"STUDYID": "TB", "USUBJID": "TB-01-002", "PRSEQ": 2.0, "PRTRT": "Apheresis", "PRDECOD": "", "PRCAT": "",
     "PROCCUR": "", "PRSTAT": "", "PRREASND": "", "PRINDC": "", "PRLOC": "ARM", "PRSTDTC": "2011-04-01T08:30",
     "PRENDTC": "2011-04-02"},
])


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_each_subject_has_the_study_condition_coded_from_the_spec(release):
    found = condition.build(FhirInput(REGISTRY, {"DM": DM, "MH": MH}, "TB", STUDY), release)
    assert [c["id"] for c in found] == [resource_id("Condition", u, "MULTIPLE MYELOMA") for u in DM["USUBJID"]]
    first, second = found
    assert first["code"]["coding"] == [{"system": "https://www.nlm.nih.gov/mesh", "code": "D009101",
                                        "display": "Multiple Myeloma"}, {"system": SNOMED, "code": "109989006"}]
    assert first["subject"] == reference("Patient", "TB-01-001")
    assert first["clinicalStatus"]["coding"][0]["code"] == "active"
    assert (first["onsetDateTime"], first["recordedDate"]) == ("2009-11", "2011-05-02")  # MH, case-insensitive
    assert second["onsetDateTime"] == "2010-02-03" and "recordedDate" not in second
    assert first["identifier"] == [{"system": "https://sponsor.example/ids/condition",
                                    "value": "TB-01-001/Multiple Myeloma"}]
    assert "Multiple Myeloma (study condition of TB-01-001): active, confirmed; onset 2009-11" in first["text"]["div"]
    assert check_resources(found, release) == []


def test_without_a_spec_the_registry_names_the_condition_and_no_snomed_is_invented():
    found = condition.build(FhirInput(REGISTRY, {"DM": DM}, "TB", StudyInfo(studyid="TB")), "R5")
    assert [c["system"] for c in found[0]["code"]["coding"]] == ["https://www.nlm.nih.gov/mesh"]
    assert "onsetDateTime" not in found[0]
    assert condition.build(FhirInput(REGISTRY, {}, "TB", STUDY), "R5") == []  # no DM, no subjects


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_one_procedure_per_pr_record_valid_in_each_release(release):
    found = procedure.build(FhirInput({}, {"PR": PR}, "TB", STUDY), release)
    assert [p["id"] for p in found] == [resource_id("Procedure", u, s) for u, s in
                                        (("TB-01-001", "1"), ("TB-01-002", "1"), ("TB-01-002", "2"))]
    done, skipped, timed = found
    assert (done["status"], skipped["status"]) == ("completed", "not-done")
    assert skipped["statusReason"] == {"text": "Donor unavailable"}
    assert done["code"] == {"text": "Allogeneic stem cell transplantation"}
    when = "performed" if release == "R4" else "occurrence"
    assert done[f"{when}DateTime"] == "2011-06-14"
    assert timed[f"{when}Period"] == {"start": "2011-04-01", "end": "2011-04-02"}  # no zone: the date part
    if release == "R4":
        assert done["category"] == {"text": "TRANSPLANT"} and done["reasonCode"] == [{"text": "Multiple Myeloma"}]
        assert "reason" not in done and list(done).index("reasonCode") < list(done).index("subject") + 3
    else:
        assert done["category"] == [{"text": "TRANSPLANT"}] and done["reason"] == [{"concept": {"text": "Multiple Myeloma"}}]
    assert timed["bodySite"] == [{"text": "ARM"}]
    assert "Allogeneic stem cell transplantation (TRANSPLANT): completed on 2011-06-14; for Multiple Myeloma" \
        in done["text"]["div"]
    assert check_resources(found, release) == []


def test_no_pr_table_no_procedures_and_the_stage_orders_them_with_their_patient():
    assert procedure.build(FhirInput({}, {}, "TB", STUDY), "R5") == []
    resources, findings = build_resources(FhirInput(REGISTRY, {"DM": DM, "PR": PR}, "TB", STUDY), "R4",
                                          ("condition", "procedure"))
    assert [r["resourceType"] for r in resources] == ["Condition"] * 2 + ["Procedure"] * 3
    assert not findings
