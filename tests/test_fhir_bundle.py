"""The FHIR writer and stage: server-sized Bundles of PUTs at stable ids (one per line of bundles.ndjson),
NDJSON per type with its manifests, stable bytes, references that resolve, and the stage on REVALLO."""
from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import pytest

from trialbridge.converters.fhir.bundle import (
    ReleaseWriter,
    bundle_order,
    read_bundles,
    release_resources,
    serialise,
    write_fhir_release,
)
from trialbridge.mappings.fhir.common import SYSTEM_USUBJID, reference, resource_id


def _resource(rtype: str, key: str, system: str, **elements) -> dict:
    return {"resourceType": rtype, "id": resource_id(rtype, key),
            "identifier": [{"system": system, "value": key}], **elements}


def small_study() -> list[dict]:
    """Two subjects, three administrations, given in a scrambled order (the writer puts them in bundle order)."""
    study = reference("ResearchStudy", "REVALLO")
    med = reference("Medication", "LENALIDOMIDE")
    subject = {usubjid: reference("Patient", usubjid) for usubjid in ("R-001", "R-002")}
    return [
        _resource("MedicationAdministration", "R-002/1", "urn:trialbridge:exposure", status="completed",
                  medication={"reference": med}, subject=subject["R-002"]),
        _resource("Patient", "R-001", SYSTEM_USUBJID, gender="female"),
        _resource("ResearchSubject", "R-001", SYSTEM_USUBJID, status="active", study=study,
                  subject=subject["R-001"]),
        _resource("Medication", "LENALIDOMIDE", "urn:trialbridge:medication"),
        _resource("MedicationAdministration", "R-001/1", "urn:trialbridge:exposure", status="completed",
                  medication={"reference": med}, subject=subject["R-001"]),
        _resource("Patient", "R-002", SYSTEM_USUBJID, gender="male"),
        _resource("ResearchStudy", "REVALLO", "https://clinicaltrials.gov", status="active"),
        _resource("ResearchSubject", "R-002", SYSTEM_USUBJID, status="active", study=study,
                  subject=subject["R-002"]),
        _resource("MedicationAdministration", "R-001/2", "urn:trialbridge:exposure", status="completed",
                  medication={"reference": med}, subject=subject["R-001"]),
    ]


def written(tmp_path: Path, resources: list[dict], release: str = "R5", **options) -> tuple[list[dict], list]:
    findings = write_fhir_release(resources, tmp_path / "fhir", release, **options)
    return list(read_bundles(tmp_path / "fhir" / release)), findings


def entries(bundles: list[dict]) -> list[dict]:
    return [e for b in bundles for e in b.get("entry", [])]


def test_bundle_is_a_transaction_of_puts_at_stable_ids(tmp_path):
    bundles, findings = written(tmp_path, small_study())
    assert [f.rule for f in findings] == ["FHIR-WRITTEN"]
    (bundle,) = bundles
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    assert bundle["id"] == resource_id("Bundle", "R5", resource_id("ResearchStudy", "REVALLO"), "1")
    assert len(bundle["entry"]) == 9
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}


def test_bundles_hold_at_most_the_entries_asked_and_batch_is_an_option(tmp_path):
    bundles, findings = written(tmp_path, small_study(), entries=4, bundle_type="batch")
    assert [len(b["entry"]) for b in bundles] == [4, 4, 1]
    assert {b["type"] for b in bundles} == {"batch"}
    assert len({b["id"] for b in bundles}) == 3
    assert "3 batch Bundle(s) of at most 4 entries" in findings[-1].message


def test_entries_follow_the_study_then_each_patient_with_its_resources(tmp_path):
    bundles, _ = written(tmp_path, small_study())
    order = [(e["resource"]["resourceType"], e["resource"]["identifier"][0]["value"]) for e in entries(bundles)]
    assert order == [
        ("ResearchStudy", "REVALLO"), ("Medication", "LENALIDOMIDE"),
        ("Patient", "R-001"), ("ResearchSubject", "R-001"),
        ("MedicationAdministration", "R-001/1"), ("MedicationAdministration", "R-001/2"),
        ("Patient", "R-002"), ("MedicationAdministration", "R-002/1"), ("ResearchSubject", "R-002"),
    ]
    assert bundle_order(bundle_order(small_study())) == bundle_order(small_study())  # applying it twice: same


def test_every_reference_is_a_resource_written_before_or_in_the_same_bundle(tmp_path):
    bundles, _ = written(tmp_path, small_study(), entries=3)
    seen: set[str] = set()
    count = 0
    for bundle in bundles:
        seen |= {e["request"]["url"] for e in bundle["entry"]}
        for entry in bundle["entry"]:
            for ref in _references(entry["resource"]):
                assert ref in seen
                count += 1
    assert count == 10  # 2 ResearchSubjects x 2, 3 administrations x 2


def test_broken_reference_is_a_finding_at_its_entry(tmp_path):
    resources = bundle_order(small_study())
    resources[3]["study"] = {"reference": f"ResearchStudy/{resource_id('ResearchStudy', 'other')}"}  # must fail
    _, findings = written(tmp_path, resources, entries=4)
    assert [(f.rule, f.location) for f in findings if f.rule != "FHIR-WRITTEN"] == [
        ("FHIR-REFERENCE-UNRESOLVED", "fhir/R5/bundles.ndjson:1:Bundle.entry[3].resource")]


def test_a_reference_to_a_later_bundle_is_a_warning(tmp_path):
    site = _resource("Organization", "01", "urn:trialbridge:siteid")
    patient = _resource("Patient", "R-001", SYSTEM_USUBJID, managingOrganization=reference("Organization", "01"))
    with ReleaseWriter(tmp_path, "R4") as writer:
        findings = writer.write(writer.admit(serialise([patient])))  # written before the Organization: must warn
        writer.end_bundle()
        findings += writer.write(writer.admit(serialise([site, copy.deepcopy(patient)])))  # the Patient again
        findings += writer.finish()
    assert [(f.rule, f.location) for f in findings if f.rule != "FHIR-WRITTEN"] == [
        ("FHIR-FORWARD-REFERENCE", f"{tmp_path.name}/R4/bundles.ndjson:1:Bundle.entry[0].resource"),
        ("FHIR-DUPLICATE-RESOURCE", f"Patient/{patient['id']}"),
    ]
    assert [[e["resource"]["resourceType"] for e in b["entry"]] for b in read_bundles(tmp_path / "R4")] == [
        ["Patient"], ["Organization"]]


def test_a_reference_later_in_the_same_bundle_is_fine(tmp_path):
    site = _resource("Organization", "01", "urn:trialbridge:siteid")
    patient = _resource("Patient", "R-001", SYSTEM_USUBJID, managingOrganization=reference("Organization", "01"))
    with ReleaseWriter(tmp_path, "R4") as writer:
        findings = writer.write(writer.admit(serialise([patient, site])))
        findings += writer.finish()
    assert [f.rule for f in findings] == ["FHIR-WRITTEN"]


def test_resource_without_identifier_is_a_finding(tmp_path):
    resources = small_study()
    del resources[3]["identifier"]  # the Medication: must fail
    _, findings = written(tmp_path, resources)
    assert [(f.rule, f.location) for f in findings if f.rule != "FHIR-WRITTEN"] == [
        ("FHIR-NO-IDENTIFIER", "fhir/R5/bundles.ndjson:1:Bundle.entry[1].resource")]


def test_duplicate_resource_is_written_once_and_reported(tmp_path):
    resources = small_study()
    bundles, findings = written(tmp_path, resources + [copy.deepcopy(resources[1])])  # Patient R-001 twice
    assert len(entries(bundles)) == 9
    assert [f.rule for f in findings].count("FHIR-DUPLICATE-RESOURCE") == 1


def test_ndjson_has_one_line_per_resource_the_same_text_and_a_manifest(tmp_path):
    bundles, _ = written(tmp_path, small_study())
    folder = tmp_path / "fhir" / "R5" / "ndjson"
    counts = {p.stem: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.ndjson")}
    assert counts == {"ResearchStudy": 1, "Medication": 1, "Patient": 2, "ResearchSubject": 2,
                      "MedicationAdministration": 3}
    lines = [json.loads(line) for line in (folder / "MedicationAdministration.ndjson").read_text().splitlines()]
    assert lines[0]["subject"] == {"reference": f"Patient/{resource_id('Patient', 'R-001')}"}
    in_bundle = {e["resource"]["id"]: e["resource"] for e in entries(bundles)}
    assert all(in_bundle[line["id"]] == line for line in lines)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [(o["type"], o["url"], o["count"]) for o in manifest["output"]] == [
        ("ResearchStudy", "ResearchStudy.ndjson", 1), ("Medication", "Medication.ndjson", 1),
        ("Patient", "Patient.ndjson", 2), ("ResearchSubject", "ResearchSubject.ndjson", 2),
        ("MedicationAdministration", "MedicationAdministration.ndjson", 3)]
    parameters = json.loads((folder / "import-parameters.json").read_text())
    assert parameters["resourceType"] == "Parameters"
    assert [p["part"][0]["valueCode"] for p in parameters["parameter"] if p["name"] == "input"] == [
        o["type"] for o in manifest["output"]]


def test_manifests_are_valid_fhir(tmp_path):
    from trialbridge.schemas.fhir_checks import check_resources

    written(tmp_path, small_study())
    parameters = json.loads((tmp_path / "fhir" / "R5" / "ndjson" / "import-parameters.json").read_text())
    for release in ("R4", "R5"):
        assert check_resources([parameters], release) == []


def test_rerun_gives_identical_bytes_and_unicode_is_kept(tmp_path):
    resources = small_study()
    resources[1]["name"] = [{"family": "Lévêque"}]
    write_fhir_release(resources, tmp_path / "a", "R4")
    write_fhir_release(copy.deepcopy(resources), tmp_path / "b", "R4")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 8  # bundles.ndjson + five NDJSON files + two manifests
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert '"family":"Lévêque"' in (tmp_path / "a" / "R4" / "bundles.ndjson").read_text(encoding="utf-8")


def _references(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


# ------------------------------------------------------------------------------------ the stage on REVALLO
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "revallo"


@pytest.fixture(scope="module")
def revallo(tmp_path_factory):
    """REVALLO's SDTM tables, and the FHIR stage run twice on them: in one block of subjects, in blocks of 4."""
    from trialbridge.converters.fhir import stage as fhir_stage
    from trialbridge.converters.fhir.stage import write_fhir
    from trialbridge.converters.pipeline import read_study as read_native
    from trialbridge.converters.sdtm_package import map_sdtm

    trial, _ = read_native(EXAMPLE)
    tables = map_sdtm(trial).tables
    runs = [tmp_path_factory.mktemp("fhir") for _ in range(2)]
    findings = [write_fhir(trial.registry, tables, runs[0], ["R4", "R5"])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fhir_stage, "BLOCK_SUBJECTS", 4)
        findings.append(write_fhir(trial.registry, tables, runs[1], ["R4", "R5"]))
    return tables, runs, findings


def test_revallo_stage_writes_both_releases_without_errors(revallo):
    _, runs, findings = revallo
    assert [f for f in findings[0] if f.severity == "error"] == []
    assert [f.location for f in findings[0] if f.rule == "FHIR-WRITTEN"] == [
        f"{runs[0].name}/R4/bundles.ndjson", f"{runs[0].name}/R5/bundles.ndjson"]
    assert [f for f in findings[0] if f.rule in ("FHIR-FORWARD-REFERENCE", "FHIR-REFERENCE-UNRESOLVED")] == []


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_revallo_counts_agree_with_sdtm_and_between_bundle_and_ndjson(revallo, release):
    tables, runs, _ = revallo
    bundles = list(read_bundles(runs[0] / release))
    in_bundle: dict[str, int] = {}
    for entry in entries(bundles):
        in_bundle[entry["resource"]["resourceType"]] = in_bundle.get(entry["resource"]["resourceType"], 0) + 1
    in_ndjson = {p.stem: len(p.read_text(encoding="utf-8").splitlines())
                 for p in (runs[0] / release / "ndjson").glob("*.ndjson")}
    assert in_ndjson == in_bundle
    assert in_bundle["Patient"] == in_bundle["ResearchSubject"] == len(tables["DM"])
    assert in_bundle["MedicationAdministration"] == len(tables["EX"])
    assert in_bundle["ResearchStudy"] == 1
    assert bundles[0]["entry"][0]["resource"]["resourceType"] == "ResearchStudy"
    study_level = {e["resource"]["resourceType"] for e in bundles[0]["entry"]}
    assert "Patient" not in study_level and "Organization" in study_level  # the study level alone
    assert max(len(b["entry"]) for b in bundles) <= 50


def test_revallo_rerun_is_byte_identical_whatever_the_block_size(revallo):
    _, runs, _ = revallo  # run 0 in one block of subjects (13 < BLOCK_SUBJECTS), run 1 in blocks of 4
    files = sorted(p.relative_to(runs[0]) for p in runs[0].rglob("*") if p.is_file())
    assert len(files) > 10
    assert all((runs[0] / f).read_bytes() == (runs[1] / f).read_bytes() for f in files)


def test_every_resource_module_is_in_the_build_order():
    import pkgutil
    import trialbridge.mappings.fhir as package
    from trialbridge.converters.fhir.stage import RESOURCE_MODULES, _module

    with_build = {m.name for m in pkgutil.iter_modules(package.__path__) if hasattr(_module(m.name), "build")}
    assert with_build == set(RESOURCE_MODULES)


def test_a_failing_module_is_a_finding_and_the_others_still_build(revallo):
    from trialbridge.converters.fhir.stage import build_resources, fhir_input

    tables, _, _ = revallo
    inp = fhir_input({"protocolSection": {}}, tables)  # no registry content: the study module may fail
    resources, findings = build_resources(inp, "R5", modules=("patient", "no_such_module"))
    assert [r["resourceType"] for r in resources] == ["Patient"] * len(tables["DM"])
    assert [(f.rule, f.location) for f in findings if f.rule == "FHIR-BUILD-ERROR"] == [
        ("FHIR-BUILD-ERROR", "mappings/fhir/no_such_module.py")]


def test_unknown_release_is_a_finding(tmp_path):
    from trialbridge.converters.fhir.stage import write_fhir

    findings = write_fhir({}, {}, tmp_path, ["R3"])
    assert [(f.rule, f.values) for f in findings] == [("FHIR-RELEASE-UNKNOWN", ("R3",))]
    assert not (tmp_path / "R3").exists()


def test_no_resources_gives_an_empty_file(tmp_path):
    bundles, findings = written(tmp_path, [])
    assert bundles == []
    assert [f.rule for f in findings] == ["FHIR-WRITTEN"]


def test_findings_point_at_the_written_entry_whatever_the_blocks_and_workers(revallo, tmp_path, monkeypatch):
    from trialbridge.converters.fhir.stage import fhir_input, write_release
    from trialbridge.mappings.fhir import patient

    tables, _, _ = revallo
    last = tables["DM"]["USUBJID"].iloc[-1]
    build = patient.build

    def banana_for_the_last(inp, release, r5=None):  # the last subject's gender must fail the ValueSet
        return [{**r, "gender": "banana"} if r["identifier"][0]["value"] == last else r
                for r in build(inp, release, r5)]

    monkeypatch.setattr(patient, "build", banana_for_the_last)
    inp = fhir_input({"protocolSection": {}}, tables)
    for size, workers in ((1_000, 1), (4, 2)):  # one block here; four blocks in two forked workers
        findings = write_release(inp, tmp_path / f"{size}", "R5", block_subjects=size, workers=workers)
        bundles = list(read_bundles(tmp_path / f"{size}" / "R5"))
        line, index = next((n, i) for n, b in enumerate(bundles, 1) for i, e in enumerate(b["entry"])
                           if e["resource"]["resourceType"] == "Patient"
                           and e["resource"]["identifier"][0]["value"] == last)
        assert [f.location for f in findings if f.rule == "FHIR-BINDING"] == [
            f"{size}/R5/bundles.ndjson:{line}:Bundle.entry[{index}].resource.gender"]


@pytest.mark.parametrize("free_gb, cpus, expected", [
    (None, 2, 2),     # free memory unknown: the CPUs
    (64, 2, 2),       # plenty: the CPUs
    (64, 32, 8),      # many CPUs: at most MAX_WORKERS
    (3.5, 8, 3),      # one worker per WORKER_BYTES of free memory
    (0.2, 8, 1),      # almost none: still one (the stage then runs in the command's process)
])
def test_the_default_number_of_fhir_workers_fits_cpus_and_free_memory(monkeypatch, free_gb, cpus, expected):
    from trialbridge.converters.fhir import stage as fhir_stage

    monkeypatch.setattr(fhir_stage.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(fhir_stage, "available_memory",
                        lambda: None if free_gb is None else int(free_gb * fhir_stage.WORKER_BYTES))
    assert fhir_stage.default_workers() == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MemAvailable: /proc/meminfo, Linux only")
def test_available_memory_is_read_from_the_system():
    from trialbridge.converters.fhir import stage as fhir_stage

    free = fhir_stage.available_memory()
    assert free is not None and 0 < free <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
