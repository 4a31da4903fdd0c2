"""Disease response: SDTM RS -> Observation (IMWG overall response coded with CDISC NCI concepts), R4 and R5."""
from __future__ import annotations

import pandas as pd
import pytest

from trialbridge.mappings.fhir import disease_response
from trialbridge.mappings.fhir.common import FhirInput, reference, resource_id
from trialbridge.mappings.study import StudyInfo
from trialbridge.schemas.fhir_checks import check_resources

RS = pd.DataFrame([
    {"STUDYID": "TB", "USUBJID": "TB-01-001", "RSSEQ": 1.0, "RSTESTCD": "OVRLRESP", "RSTEST": "Overall Response",
     "RSCAT": "DURIE MULTIPLE MYELOMA 2006", "RSORRES": "PR", "RSSTRESC": "PR", "RSEVAL": "INVESTIGATOR",
     "RSDTC": "2011-09-01"},
    {"STUDYID": "TB", "USUBJID": "TB-01-001", "RSSEQ": 2.0, "RSTESTCD": "OVRLRESP", "RSTEST": "Overall Response",
     "RSCAT": "DURIE MULTIPLE MYELOMA 2006", "RSORRES": "sCR", "RSSTRESC": "sCR", "RSEVAL": "INVESTIGATOR",
     "RSDTC": "2012-03"},
])
STUDY = StudyInfo(studyid="TB", sponsor_namespace="https://sponsor.example/ids")


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_one_observation_per_response_coded_and_valid(release):
    found = disease_response.build(FhirInput({}, {"RS": RS}, "TB", STUDY), release)
    assert [o["id"] for o in found] == [resource_id("Observation", "RS", "TB-01-001", n) for n in ("1", "2")]
    first = found[0]
    assert first["code"]["coding"][0]["code"] == "C96613"  # Overall Response (C96782)
    assert first["valueCodeableConcept"]["coding"][0]["code"] == "C18058"  # PR (C96785)
    assert first["subject"] == reference("Patient", "TB-01-001")
    assert first["identifier"] == [{"system": "https://sponsor.example/ids/disease-response", "value": "TB-01-001/1"}]
    assert found[1]["effectiveDateTime"] == "2012-03"  # as precise as collected
    assert "Overall Response: PR on 2011-09-01" in first["text"]["div"]
    assert check_resources(found, release) == []


def test_no_rs_table_no_resources():
    assert disease_response.build(FhirInput({}, {}, "TB", STUDY), "R5") == []
