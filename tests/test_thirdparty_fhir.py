"""`validate` on FHIR someone else made: HL7's own R4 and R5 examples (tests/fixtures/thirdparty/, origin in its
README), as a folder of .json files and one by one: every resource counted, the release detected, FHIR's rules
applied (references through fullUrl, bdl-7 repeats with their versionId, null placeholders, `fhirVersion`
4.0.1) and trialbridge's own output rules (a business identifier on every resource) left out."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trialbridge.converters.validate import validate

FIXTURES = Path(__file__).parent / "fixtures" / "thirdparty"


def by_rule(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in result.findings:
        out.setdefault(f.rule, []).append(f)
    return out


def resources_in(folder: Path) -> int:
    count = 0
    for file in folder.glob("*.json"):
        document = json.loads(file.read_text(encoding="utf-8"))
        entries = [e for e in document.get("entry", []) if "resource" in e]  # a DELETE or GET entry has none
        count += len(entries) if document["resourceType"] == "Bundle" else 1
    return count


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_a_folder_of_hl7_examples_is_fhir_of_its_release_every_resource_counted(release):
    folder = FIXTURES / f"fhir-{release.lower()}"
    result = validate(folder)
    assert result.exit_code == 0, [(f.rule, f.location, f.message) for f in result.findings if f.severity == "error"]
    found = by_rule(result)
    assert found["VALIDATE-KIND"][0].values == (f"FHIR resources ({release})",)
    assert f"checked {resources_in(folder)} FHIR {release} resource(s)" in result.summary
    assert "FHIR-NO-IDENTIFIER" not in found and "FHIR-SCHEMA" not in found and "FHIR-MODEL" not in found


def test_references_resolve_through_full_urls_and_the_rest_is_one_note():
    result = validate(FIXTURES / "fhir-r4")
    found = by_rule(result)
    outside = {v for f in found["FHIR-REFERENCE-OUTSIDE"] for v in f.values}
    # Patient/347 (a search result's patient), another server's patient, an Encounter and Organization not given
    assert {"Patient/347", "http://example.org/fhir-2/Patient/1", "Encounter/example"} <= outside
    assert all(f.severity == "info" for f in found["FHIR-REFERENCE-OUTSIDE"])
    # urn:uuid, absolute fullUrl and Patient/45/_history/2 all resolve inside Bundle-bundle-references.json
    assert not any("urn:uuid" in v or "example.org/fhir/Patient/23" in v or "_history" in v for v in outside)
    # Patient/45 twice with one fullUrl but two versionIds, Observation/14 under two fullUrls: no repeat (bdl-7)
    assert "FHIR-DUPLICATE-RESOURCE" not in found and "FHIR-REFERENCE-UNRESOLVED" not in found


def test_a_repeat_and_a_dangling_uuid_inside_one_bundle_are_errors(tmp_path):
    bundle = json.loads((FIXTURES / "fhir-r4" / "Bundle-bundle-references.json").read_text(encoding="utf-8"))
    bundle["entry"][8]["resource"]["meta"] = bundle["entry"][7]["resource"]["meta"]  # same fullUrl and version
    bundle["entry"][4]["resource"]["subject"]["reference"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
    (tmp_path / "b.json").write_text(json.dumps(bundle), encoding="utf-8")
    found = by_rule(validate(tmp_path / "b.json"))
    assert [f.values for f in found["FHIR-DUPLICATE-RESOURCE"]] == [("Patient/45",)]
    assert [f.values for f in found["FHIR-REFERENCE-UNRESOLVED"]] == [("urn:uuid:00000000-0000-4000-8000-000000000000",)]


def test_an_r4_resource_type_r4b_dropped_is_checked_by_the_r4_schema_alone():
    result = validate(FIXTURES / "fhir-r4" / "MedicinalProduct-example.json", fhir_release="R4")
    assert result.exit_code == 0 and "FHIR-MODEL" not in by_rule(result)  # R4B (the R4 model package) has none


def test_r4_fhir_version_401_and_r5_null_placeholders_follow_the_schema(tmp_path):
    capability = validate(FIXTURES / "fhir-r4" / "CapabilityStatement-messagedefinition.json", fhir_release="R4")
    assert capability.exit_code == 0 and "FHIR-SCHEMA" not in by_rule(capability)
    search = FIXTURES / "fhir-r5" / "SearchParameter-clinical-identifier.json"
    assert None in json.loads(search.read_text(encoding="utf-8"))["_base"]
    result = validate(search)
    assert result.exit_code == 0 and "FHIR-SCHEMA" not in by_rule(result)
    broken = json.loads(search.read_text(encoding="utf-8"))
    broken["_base"][0] = "not an element"  # a placeholder is null or an Element, nothing else
    (tmp_path / "s.json").write_text(json.dumps(broken), encoding="utf-8")
    assert "FHIR-SCHEMA" in by_rule(validate(tmp_path / "s.json", fhir_release="R5"))


def test_an_npm_package_json_beside_the_examples_is_skipped_and_said(tmp_path):
    shutil.copytree(FIXTURES / "fhir-r5", tmp_path / "package")
    (tmp_path / "package" / "package.json").write_text(json.dumps(
        {"name": "hl7.fhir.r5.examples", "version": "5.0.0", "license": "CC0-1.0"}), encoding="utf-8")
    result = validate(tmp_path / "package")
    found = by_rule(result)
    assert result.exit_code == 0 and [f.values for f in found["FHIR-NOT-A-RESOURCE"]] == [("package.json",)]
    assert "FHIR-SCHEMA" not in found and "FHIR-MODEL" not in found
    alone = validate(tmp_path / "package" / "package.json")  # nothing FHIR at all: the input cannot be used
    assert alone.exit_code == 2 and "VALIDATE-PATH" in by_rule(alone)


def test_a_contained_resource_pointing_back_to_its_container_resolves(tmp_path):
    product = {"resourceType": "MedicinalProductDefinition", "id": "p1",
               "contained": [{"resourceType": "PackagedProductDefinition", "id": "pk",
                              "packageFor": [{"reference": "#"}]}],  # "#": the resource that contains it
               "name": [{"productName": "Acetaminophen 500 mg"}]}
    (tmp_path / "p.json").write_text(json.dumps(product), encoding="utf-8")
    found = by_rule(validate(tmp_path / "p.json", fhir_release="R5"))
    assert "FHIR-REFERENCE-UNRESOLVED" not in found and "FHIR-REFERENCE-OUTSIDE" not in found
