"""The FHIR stage: registry record + SDTM tables -> checked FHIR resources -> `<out>/<release>/` bundle and NDJSON.

For each release asked for, the resource modules of `mappings/fhir` build their resources, which are
put in bundle order, checked (JSON Schema, fhir.resources model, required bindings; see
`schemas/fhir_checks.py`) at their bundle paths, and streamed to the files (`converters/fhir_bundle.py`):
first the study-level modules on the whole input, then the subject-level modules block by block
(BLOCK_SUBJECTS subjects of DM at a time, every SDTM table cut to the block's USUBJIDs), so memory
holds a few blocks of resources, not the whole study. Blocks are built and checked by forked worker
processes when there are several blocks and CPUs (on Linux, by `fork`; elsewhere one by one) and written
in block order by this process. The files depend neither on the block size nor on the number of
workers. What the modules could not place (`unplaced`) is asked once, on the whole input.
An exception in one module becomes a finding and the other modules still run.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import re
import sys
from dataclasses import replace
from itertools import chain
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Sequence

import pandas as pd

from trialbridge.converters.fhir_bundle import BundleStream, bundle_order
from trialbridge.mappings.fhir.common import FhirInput
from trialbridge.mappings.studyid import registry_study_identifier
from trialbridge.schemas.fhir_checks import RELEASES, check_resources
from trialbridge.schemas.findings import Finding, finding

# Build order = bundle order: the study level (the ResearchStudy first, then what it references), then
# for each subject: Patient, ResearchSubject, MedicationAdministrations, AdverseEvents, Observations.
STUDY_MODULES: tuple[str, ...] = ("research_study", "organization", "location", "practitioner", "group", "medication")
SUBJECT_MODULES: tuple[str, ...] = (
    "patient", "research_subject", "medication_administration", "adverse_event", "observation")
RESOURCE_MODULES: tuple[str, ...] = STUDY_MODULES + SUBJECT_MODULES
BLOCK_SUBJECTS = 1_000
WORKERS = min(os.cpu_count() or 1, 8)


def fhir_input(registry: dict[str, Any], sdtm_tables: dict[str, pd.DataFrame],
               loinc_names: dict[str, str] | None = None) -> FhirInput:
    """The mappings' input: STUDYID from DM (the hub), else the registry's STUDYID rule (mappings/studyid.py)."""
    dm = sdtm_tables.get("DM")
    if dm is not None and len(dm) and "STUDYID" in dm:
        studyid = str(dm["STUDYID"].iloc[0])
    else:
        studyid = registry_study_identifier(registry)
    return FhirInput(registry=registry, sdtm=sdtm_tables, studyid=studyid, loinc_names=dict(loinc_names or {}))


def block_count(inp: FhirInput, size: int) -> int:
    """How many blocks of `size` DM subjects the input makes (1 without DM)."""
    dm = inp.sdtm.get("DM")
    return max(1, -(-len(dm) // size)) if dm is not None and "USUBJID" in dm else 1


def block_at(inp: FhirInput, index: int, size: int) -> FhirInput:
    """Block `index`: `size` DM subjects (DM order), every table cut to their USUBJIDs (kept whole without)."""
    dm = inp.sdtm.get("DM")
    if dm is None or "USUBJID" not in dm:
        return inp
    block = dm["USUBJID"].iloc[index * size:(index + 1) * size]
    tables = {name: table[table["USUBJID"].isin(block)] if "USUBJID" in table else table
              for name, table in inp.sdtm.items()}
    return FhirInput(registry=inp.registry, sdtm=tables, studyid=inp.studyid, loinc_names=inp.loinc_names)


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


Prepared = tuple[list[dict], list[Finding], list[Finding]]  # resources in bundle order, build and check findings
_JOB: dict[str, Any] = {}  # what the forked workers read: the input, the release, the block size
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")


def prepare(part: FhirInput, release: str, modules: Sequence[str]) -> Prepared:
    """Build one part (the study level or a block of subjects), put it in bundle order, check it from entry 0."""
    resources, built = build_resources(part, release, modules)
    ordered = bundle_order(resources)
    return ordered, built, check_resources(ordered, release, "Bundle.entry")


def _prepare_block(index: int) -> Prepared:
    return prepare(block_at(_JOB["inp"], index, _JOB["size"]), _JOB["release"], SUBJECT_MODULES)


def prepared_blocks(inp: FhirInput, release: str, size: int, workers: int) -> Iterator[Prepared]:
    """Every block of subjects prepared, in block order: here one by one, or by `workers` forked processes.

    Building and checking a block depends on nothing but the block, so the result is the same either way;
    the workers inherit the input from this process (fork), so only block numbers and results travel.
    """
    count = block_count(inp, size)
    if workers <= 1 or count <= 1 or not sys.platform.startswith("linux"):  # fork is safe on Linux
        yield from (prepare(block_at(inp, index, size), release, SUBJECT_MODULES) for index in range(count))
        return
    _JOB.update(inp=inp, release=release, size=size)
    try:
        with multiprocessing.get_context("fork").Pool(min(workers, count)) as pool:
            yield from pool.imap(_prepare_block, range(count))
    finally:
        _JOB.clear()


def _at_entry(findings: list[Finding], offset: int) -> list[Finding]:
    """Findings located from entry 0 moved to the part's place in the bundle."""
    def move(location: str) -> str:
        return _ENTRY.sub(lambda m: f"Bundle.entry[{int(m.group(1)) + offset}]", location, count=1)

    return findings if offset == 0 else [replace(f, location=move(f.location)) for f in findings]


def write_release(inp: FhirInput, out_dir: Path, release: str, block_subjects: int | None = None,
                  workers: int | None = None) -> list[Finding]:
    """Build, order, check and write one release: the study level, then the subjects block by block."""
    size = block_subjects or BLOCK_SUBJECTS
    parts = chain([prepare(inp, release, STUDY_MODULES)],
                  prepared_blocks(inp, release, size, workers if workers is not None else WORKERS))
    findings: list[Finding] = []
    failures: set[Finding] = set()  # a module that fails fails in every block: reported once
    with BundleStream(Path(out_dir), release) as stream:
        for ordered, built, checked in parts:
            admitted = stream.admit(ordered)
            if len(admitted) != len(ordered):  # a resource built twice was dropped: the entries moved
                checked = check_resources(admitted, release, "Bundle.entry")
            findings += [f for f in built if f not in failures]
            failures.update(built)
            findings += _at_entry(checked, stream.written)
            findings += stream.write(admitted)
        findings += stream.finish()
    return findings + [f for f in unplaced(inp, release) if f not in failures]


def write_fhir(registry: dict[str, Any], sdtm_tables: dict[str, pd.DataFrame], out_dir: Path,
               releases: Sequence[str] = RELEASES, workers: int | None = None,
               loinc_names: dict[str, str] | None = None) -> list[Finding]:
    """Build, check and write the FHIR outputs of each release into `out_dir/<release>/`.

    `workers`: processes that build and check blocks of subjects (default WORKERS: the CPUs, at most 8);
    the files are the same whatever the number.
    """
    inp = fhir_input(registry, sdtm_tables, loinc_names)
    findings: list[Finding] = []
    for release in releases:
        if release not in RELEASES:
            findings.append(finding("FHIR-RELEASE-UNKNOWN", "--fhir", [release], release=release,
                                    known=", ".join(RELEASES)))
            continue
        findings += write_release(inp, Path(out_dir), release, workers=workers)
    return findings
