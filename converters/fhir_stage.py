"""The FHIR stage: registry record + SDTM tables -> checked FHIR resources -> `<out>/<release>/` bundle and NDJSON.

For each release asked for, the resource modules of `mappings/fhir` build their resources, which are
put in bundle order, checked (JSON Schema, fhir.resources model, required bindings; see
`schemas/fhir_checks.py`) at their bundle paths, and streamed to the files (`converters/fhir_bundle.py`):
first the study-level modules on the whole input, then the subject-level modules block by block
(BLOCK_SUBJECTS subjects of DM at a time, every SDTM table cut to the block's USUBJIDs), so memory
holds one block of resources, not the whole study. The files do not depend on the block size. What the
modules could not place (`unplaced`, where a module has one) is asked once, on the whole input.
An exception in one module becomes a finding and the other modules still run.
"""
from __future__ import annotations

import importlib
from itertools import chain
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Sequence

import pandas as pd

from trialbridge.converters.fhir_bundle import BundleStream, bundle_order
from trialbridge.mappings.fhir.common import FhirInput
from trialbridge.schemas.fhir_checks import RELEASES, check_resources
from trialbridge.schemas.findings import Finding, finding

# Build order = bundle order: the study level (the ResearchStudy first, then what it references), then
# for each subject: Patient, ResearchSubject, MedicationAdministrations, AdverseEvents, Observations.
STUDY_MODULES: tuple[str, ...] = ("research_study", "organization", "location", "practitioner", "group", "medication")
SUBJECT_MODULES: tuple[str, ...] = (
    "patient", "research_subject", "medication_administration", "adverse_event", "observation")
RESOURCE_MODULES: tuple[str, ...] = STUDY_MODULES + SUBJECT_MODULES
BLOCK_SUBJECTS = 1_000


def fhir_input(registry: dict[str, Any], sdtm_tables: dict[str, pd.DataFrame]) -> FhirInput:
    """The mappings' input: STUDYID from DM (the hub), else the registry's own study id."""
    dm = sdtm_tables.get("DM")
    if dm is not None and len(dm) and "STUDYID" in dm:
        studyid = str(dm["STUDYID"].iloc[0])
    else:
        studyid = str(registry.get("protocolSection", {}).get("identificationModule", {})
                      .get("orgStudyIdInfo", {}).get("id", ""))
    return FhirInput(registry=registry, sdtm=sdtm_tables, studyid=studyid)


def subject_blocks(inp: FhirInput, size: int = BLOCK_SUBJECTS) -> Iterator[FhirInput]:
    """The input in blocks of `size` DM subjects (DM order); tables without USUBJID are kept whole."""
    dm = inp.sdtm.get("DM")
    if dm is None or "USUBJID" not in dm:
        yield inp
        return
    for start in range(0, len(dm), size):
        block = dm["USUBJID"].iloc[start:start + size]
        tables = {name: table[table["USUBJID"].isin(block)] if "USUBJID" in table else table
                  for name, table in inp.sdtm.items()}
        yield FhirInput(registry=inp.registry, sdtm=tables, studyid=inp.studyid)


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"trialbridge.mappings.fhir.{name}")


def _build_error(name: str, release: str, error: Exception) -> Finding:
    return finding("FHIR-BUILD-ERROR", f"mappings/fhir/{name}.py", [type(error).__name__],
                   module=name, release=release, detail=f"{type(error).__name__}: {error}")


def build_resources(inp: FhirInput, release: str,
                    modules: Sequence[str] = RESOURCE_MODULES) -> tuple[list[dict], list[Finding]]:
    """Every module's resources for one release, in module order (a failing module is a finding)."""
    resources: list[dict] = []
    findings: list[Finding] = []
    for name in modules:
        try:
            resources += _module(name).build(inp, release)
        except Exception as error:  # noqa: BLE001 - reported, and the other modules still run
            findings.append(_build_error(name, release, error))
    return resources, findings


def unplaced(inp: FhirInput, release: str, modules: Sequence[str] = RESOURCE_MODULES) -> list[Finding]:
    """What each module reports it could not place in `release`, asked once on the whole input."""
    findings: list[Finding] = []
    for name in modules:
        try:
            module = _module(name)
            if hasattr(module, "unplaced"):
                findings += module.unplaced(inp, release)
        except Exception as error:  # noqa: BLE001
            findings.append(_build_error(name, release, error))
    return findings


def write_release(inp: FhirInput, out_dir: Path, release: str, block_subjects: int | None = None) -> list[Finding]:
    """Build, order, check and write one release: the study level, then the subjects block by block."""
    blocks = subject_blocks(inp, block_subjects or BLOCK_SUBJECTS)  # lazily: one block in memory at a time
    parts = chain([(inp, STUDY_MODULES)], ((block, SUBJECT_MODULES) for block in blocks))
    findings: list[Finding] = []
    failures: set[Finding] = set()  # a module that fails fails in every block: reported once
    with BundleStream(Path(out_dir), release) as stream:
        for part, modules in parts:
            resources, built = build_resources(part, release, modules)
            ordered = stream.admit(bundle_order(resources))
            del resources
            findings += [f for f in built if f not in failures]
            failures.update(built)
            findings += check_resources(ordered, release, "Bundle.entry", start=stream.written)
            findings += stream.write(ordered)
        findings += stream.finish()
    return findings + [f for f in unplaced(inp, release) if f not in failures]


def write_fhir(registry: dict[str, Any], sdtm_tables: dict[str, pd.DataFrame], out_dir: Path,
               releases: Sequence[str] = RELEASES) -> list[Finding]:
    """Build, check and write the FHIR outputs of each release into `out_dir/<release>/`."""
    inp = fhir_input(registry, sdtm_tables)
    findings: list[Finding] = []
    for release in releases:
        if release not in RELEASES:
            findings.append(finding("FHIR-RELEASE-UNKNOWN", "--fhir", [release], release=release,
                                    known=", ".join(RELEASES)))
            continue
        findings += write_release(inp, Path(out_dir), release)
    return findings
