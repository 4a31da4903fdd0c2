"""The shared FHIR identity module: stable ids, references, identifiers, prune and the R5 -> R4 table."""
from __future__ import annotations

import uuid

import pytest

from trialbridge.mappings.fhir.common import (
    NAMESPACE,
    SYSTEM_SITEID,
    SYSTEM_USUBJID,
    identifier,
    prune,
    reference,
    resource_id,
)
from trialbridge.mappings.fhir.r4_differences import R4Differences, drop, recast, rename, to_r4


def test_namespace_is_the_documented_uuid5():
    assert NAMESPACE == uuid.uuid5(uuid.NAMESPACE_URL, "urn:trialbridge:fhir")


def test_resource_id_is_uuid5_of_type_and_keys():
    expected = str(uuid.uuid5(NAMESPACE, "Patient/REVALLO-01-001"))
    assert resource_id("Patient", "REVALLO-01-001") == expected
    assert resource_id("Organization", "site", "01") == str(uuid.uuid5(NAMESPACE, "Organization/site/01"))
    # a different type or key gives a different id
    assert resource_id("ResearchSubject", "REVALLO-01-001") != expected
    assert resource_id("Patient", "REVALLO-01-002") != expected


def test_reference_is_relative_type_and_stable_id():
    assert reference("Patient", "X") == {"reference": f"Patient/{resource_id('Patient', 'X')}"}
    assert reference("Organization", "site", "01", display="CHU Bordeaux") == {
        "reference": f"Organization/{resource_id('Organization', 'site', '01')}",
        "display": "CHU Bordeaux",
    }


def test_identifier_puts_elements_in_identifier_order():
    site = reference("Organization", "site", "01")
    ident = identifier(SYSTEM_USUBJID, "REVALLO-01-001", assigner=site, use="official")
    assert list(ident) == ["use", "system", "value", "assigner"]
    assert ident["system"] == "urn:trialbridge:usubjid" and ident["value"] == "REVALLO-01-001"
    with pytest.raises(ValueError):
        identifier(SYSTEM_SITEID, "01", code="x")  # not an Identifier element


def test_prune_drops_empty_parts_and_keeps_order():
    value = {"a": "", "b": {"c": None, "d": float("nan")}, "e": [{}, {"f": 1}, ""], "g": False, "h": 0}
    assert prune(value) == {"e": [{"f": 1}], "g": False, "h": 0}
    assert list(prune({"z": 1, "y": "", "x": 2})) == ["z", "x"]


R5_ADMIN = {
    "resourceType": "MedicationAdministration",
    "id": "1",
    "status": "completed",
    "medication": {"reference": {"reference": "urn:uuid:m"}},
    "subject": {"reference": "urn:uuid:p"},
    "occurencePeriod": {"start": "2011-10-03"},
    "isSubPotent": False,
    "dosage": [{"dose": {"value": 5}, "rateRatio": {"numerator": {"value": 5}}}],
}


def test_rename_keeps_the_place_of_the_element():
    out = to_r4(R5_ADMIN, R4Differences(rename("occurencePeriod", "effectivePeriod")))
    assert list(out) == ["resourceType", "id", "status", "medication", "subject", "effectivePeriod",
                         "isSubPotent", "dosage"]
    assert out["effectivePeriod"] == {"start": "2011-10-03"}


def test_rename_out_of_an_object_takes_the_place_of_its_ancestor():
    out = to_r4(R5_ADMIN, R4Differences(rename("medication.reference", "medicationReference")))
    assert list(out)[3] == "medicationReference"
    assert "medication" not in out  # left empty, removed
    assert out["medicationReference"] == {"reference": "urn:uuid:m"}


def test_rename_inside_a_list_applies_to_each_item():
    out = to_r4(R5_ADMIN, R4Differences(rename("dosage.rateRatio", "dosage.rate")))
    assert out["dosage"] == [{"dose": {"value": 5}, "rate": {"numerator": {"value": 5}}}]


def test_drop_and_recast():
    differences = R4Differences(
        drop("isSubPotent", "R4 has no isSubPotent"),
        recast("status", lambda r5, context: context["codes"][r5["status"]]),
        recast("note", lambda r5, context: None),  # None: no element
    )
    out = to_r4(R5_ADMIN, differences, {"codes": {"completed": "done"}})
    assert "isSubPotent" not in out
    assert out["status"] == "done" and list(out).index("status") == 2
    assert "note" not in out
    assert differences.drops[0].reason == "R4 has no isSubPotent"


def test_to_r4_never_changes_the_r5_resource():
    before = repr(R5_ADMIN)
    to_r4(R5_ADMIN, R4Differences(rename("medication.reference", "medicationReference"),
                                  drop("dosage.dose", "test")))
    assert repr(R5_ADMIN) == before


def test_recast_reads_the_untouched_r5_resource():
    differences = R4Differences(
        rename("subject", "individual"),
        recast("status", lambda r5, context: "on-study" if "subject" in r5 else "none"),
    )
    assert to_r4({"status": "active", "subject": {}}, differences)["status"] == "on-study"


def test_sdtm_columns_gives_absent_variables_as_null():
    import pandas as pd

    from trialbridge.mappings.fhir.common import FhirInput, sdtm_columns

    ex = pd.DataFrame({"USUBJID": ["A", "B"], "EXDOSE": [5.0, None]})
    inp = FhirInput(registry={}, sdtm={"EX": ex}, studyid="S")
    out = sdtm_columns(inp, "EX", ("USUBJID", "EXADJ"), ("EXDOSE", "EXSEQ"))  # EXADJ, EXSEQ not submitted
    assert list(out.columns) == ["USUBJID", "EXADJ", "EXDOSE", "EXSEQ"]
    assert out["EXADJ"].tolist() == ["", ""] and out["EXSEQ"].isna().all()
    assert out["EXDOSE"].tolist()[0] == 5.0
    assert len(sdtm_columns(inp, "DS", ("USUBJID",))) == 0  # no DS at all: no rows


def test_identifier_systems_live_in_the_sponsor_namespace():
    from trialbridge.mappings.fhir.common import SYSTEM_NCT, SYSTEM_USUBJID, FhirInput, system
    from trialbridge.mappings.study import StudyInfo

    def inp(namespace: str) -> FhirInput:
        return FhirInput(registry={}, sdtm={}, studyid="S", study=StudyInfo(studyid="S", sponsor_namespace=namespace))

    assert system(inp("https://sponsor.example/ids"), SYSTEM_USUBJID) == "https://sponsor.example/ids/usubjid"
    assert system(inp("urn:sponsor:study"), SYSTEM_USUBJID) == "urn:sponsor:study:usubjid"
    assert system(inp("https://sponsor.example/ids"), SYSTEM_NCT) == SYSTEM_NCT  # a public system stays
    assert system(inp(""), SYSTEM_USUBJID) == SYSTEM_USUBJID  # no namespace given: the tool's own name


def test_narrative_is_escaped_xhtml_in_one_div():
    import pandas as pd
    from lxml import etree

    from trialbridge.mappings.fhir.common import narrative, narratives

    one = narrative("Platelets < 75 & rising > 1")
    assert one["status"] == "generated"
    div = etree.fromstring(one["div"])
    assert div.tag == "{http://www.w3.org/1999/xhtml}div" and div.xpath("string()") == "Platelets < 75 & rising > 1"
    assert narratives(pd.Series(["Platelets < 75 & rising > 1"])) == [one]
