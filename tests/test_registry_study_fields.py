"""The classic API's StudyFieldsResponse (mappings/registry/study_fields.py): a real classic record put into the
study_fields shape gives the same registry facts as the record itself; values that cannot be matched to their
items are reported, never guessed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trialbridge.converters.readers.registry import read_file

FIXTURES = Path(__file__).parent / "fixtures"
FULL = FIXTURES / "registry" / "NCT00208312.v1.json"  # real FullStudiesResponse (Gilead ADVANCE MPI 2)


def leaves(node: Any, out: dict[str, list[str]]) -> dict[str, list[str]]:
    """What the classic study_fields query answers for a Study: each leaf key's values, in record order
    (the field name is the leaf's key; empty values are not listed)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                leaves(value, out) if isinstance(value, dict) else [leaves({key: v}, out) for v in value]
            elif value not in (None, ""):
                out.setdefault(key, []).append(str(value))
    return out


def study_fields_page(tmp_path: Path, drop: str = "") -> Path:
    full = json.loads(FULL.read_text(encoding="utf-8"))["FullStudiesResponse"]
    study = full["FullStudies"][0]["Study"]
    fields = leaves(study["ProtocolSection"], {})
    if drop:  # one value of a repeating structure's field missing, as the API leaves out an empty value
        assert len(fields[drop]) >= 2
        fields[drop] = fields[drop][1:]
    page = {"StudyFieldsResponse": {"APIVrs": full["APIVrs"], "DataVrs": full["DataVrs"], "NStudiesReturned": 1,
                                    "FieldList": sorted(fields), "StudyFields": [{"Rank": 1, **fields}]}}
    path = tmp_path / "fields.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    return path


def test_study_fields_give_the_facts_of_the_full_record(tmp_path):
    (full,) = read_file(FULL).records
    (fields,) = read_file(study_fields_page(tmp_path)).records
    assert fields.form == "v1-fields" and fields.source.endswith("#StudyFieldsResponse.StudyFields[0]")
    a, b = full.record["protocolSection"], fields.record["protocolSection"]
    for module in ("identificationModule", "statusModule", "designModule", "eligibilityModule", "outcomesModule",
                   "conditionsModule"):
        assert b.get(module) == a.get(module), module
    assert [g["label"] for g in b["armsInterventionsModule"]["armGroups"]] == [
        g["label"] for g in a["armsInterventionsModule"]["armGroups"]]
    assert [(x.get("city"), x.get("country")) for x in b["contactsLocationsModule"]["locations"]] == [
        (x.get("city"), x.get("country")) for x in a["contactsLocationsModule"]["locations"]]
    assert fields.studyid == full.studyid == "CVT 5132"


def test_a_field_that_cannot_be_matched_to_its_items_is_reported(tmp_path):
    (fields,) = read_file(study_fields_page(tmp_path, drop="SecondaryOutcomeTimeFrame")).records
    outcomes = fields.record["protocolSection"]["outcomesModule"]["secondaryOutcomes"]
    assert len(outcomes) >= 2 and all("timeFrame" not in x and x["measure"] for x in outcomes)
    (reported,) = [f for f in fields.findings if f.rule == "REGISTRY-FIELDS"]
    assert "SecondaryOutcomeTimeFrame" in reported.values and reported.severity == "warning"


def test_only_the_lists_inside_several_items_are_left_out(tmp_path):
    # ADVANCE MPI 2 has several arms and interventions: which arm an intervention name belongs to is lost in
    # the study_fields shape, so those lists are reported; every other field is carried
    (fields,) = read_file(study_fields_page(tmp_path)).records
    (reported,) = [f for f in fields.findings if f.rule == "REGISTRY-FIELDS"]
    assert set(reported.values) <= {"ArmGroupInterventionName", "InterventionArmGroupLabel", "InterventionOtherName"}
    assert "ArmGroupInterventionName" in reported.values
