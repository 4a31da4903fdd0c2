"""`check_fhir_path`: what `trialbridge validate` runs on FHIR files, the checks of convert, on the files as written."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trialbridge.converters.fhir.check import check_fhir_path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "revallo"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    from trialbridge.converters.fhir.stage import write_fhir
    from trialbridge.converters.native_reader import read_native
    from trialbridge.converters.sdtm_package import map_sdtm

    trial, _ = read_native(EXAMPLE)
    out = tmp_path_factory.mktemp("fhir")
    write_fhir(trial.registry, map_sdtm(trial).tables, out, ["R4", "R5"], workers=1)
    return out


def errors(findings) -> list[tuple[str, str]]:
    return [(f.rule, f.location) for f in findings if f.severity == "error"]


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_the_written_output_passes_as_bundles_and_as_ndjson(written, release):
    chosen, count, findings = check_fhir_path(written / release)
    assert chosen == release and count > 1_000 and errors(findings) == []
    chosen, count_ndjson, findings = check_fhir_path(written / release / "ndjson")
    assert chosen == release and count_ndjson == count and errors(findings) == []


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_the_release_is_detected_outside_its_folder(written, release, tmp_path):
    copy = tmp_path / "bundles.ndjson"
    shutil.copy(written / release / "bundles.ndjson", copy)
    assert check_fhir_path(copy)[0] == release
    assert check_fhir_path(copy, "R5" if release == "R4" else "R4")[2] != []  # the other release's checks fail


def test_a_broken_resource_a_dangling_reference_and_a_twin_are_located_by_file_line_and_entry(written, tmp_path):
    lines = (written / "R4" / "bundles.ndjson").read_text(encoding="utf-8").splitlines()
    n, p = next((n, i) for n, line in enumerate(lines) for i, e in enumerate(json.loads(line)["entry"])
                if e["resource"]["resourceType"] == "Patient")
    bundle = json.loads(lines[n])
    bundle["entry"][p]["resource"]["gender"] = "banana"  # must fail: binding
    bundle["entry"][p + 1]["resource"]["individual"] = {"reference": "Patient/nobody"}  # must fail: no such resource
    bundle["type"] = "transactional"  # must fail: bundle-type
    lines[n] = json.dumps(bundle, ensure_ascii=False)
    lines.append(lines[1])  # must fail: the same resources twice
    (tmp_path / "bundles.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, _, findings = check_fhir_path(tmp_path / "bundles.ndjson", "R4")
    found = errors(findings)
    at = f"bundles.ndjson:{n + 1}"
    assert ("FHIR-BINDING", f"{at}:Bundle.entry[{p}].resource.gender") in found
    assert ("FHIR-SCHEMA", f"{at}:Bundle.entry[{p}].resource.gender") in found  # R4's enum
    assert ("FHIR-REFERENCE-UNRESOLVED", f"{at}:Bundle.entry[{p + 1}].resource.individual.reference") in found
    assert ("FHIR-BINDING", f"{at}:Bundle.type") in found
    assert [f for f in found if f[0] == "FHIR-MODEL"] == []
    assert {rule for rule, _ in found} == {"FHIR-BINDING", "FHIR-SCHEMA", "FHIR-REFERENCE-UNRESOLVED",
                                           "FHIR-DUPLICATE-RESOURCE"}


def test_unreadable_json_is_a_finding_not_a_traceback(tmp_path):
    (tmp_path / "Patient.ndjson").write_text('{"resourceType": "Patient", "id": "p1"}\n{not json\n')
    _, _, findings = check_fhir_path(tmp_path, "R4")
    assert [f.rule for f in findings] == ["VALIDATE-PATH"]
