"""The FHIR stage: registry record + SDTM tables -> checked FHIR resources -> `<out>/<release>/` Bundles and NDJSON.

The resource modules of `mappings/fhir` build their R5 resources once per part, and R4 from them; each
release's resources are put in bundle order, checked (compiled JSON Schema, bindings, UCUM and choice
types, exact layers for what they refuse; see `schemas/fhir_checks.py`), serialised once (orjson) and
streamed to the files (`converters/fhir/bundle.py`). Parts: first the study-level modules on the whole
input (their own Bundle), then the subject-level modules block by block (BLOCK_SUBJECTS subjects of DM
at a time, every SDTM table cut to the block's USUBJIDs), so memory holds a few blocks, not the study.
Blocks are built, checked and serialised by forked worker processes when there are several blocks and
CPUs (on Linux, by `fork`; elsewhere one by one), which send back bytes; this process writes them in
block order. The files depend neither on the block size nor on the number of workers. What the modules
could not place (`unplaced`) is asked once, on the whole input. An exception in one module becomes a
finding and the other modules still run.
"""
from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import re
import sys
from collections import deque
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime
from itertools import chain
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from trialbridge.converters.fhir.bundle import ENTRIES, FIRST_TYPE, ReleaseWriter, bundle_order
from trialbridge.converters.fhir.chunk import Chunk, Placed, Serialised, labels_of, pack, serialise
from trialbridge.converters.processes import release_free_memory
from trialbridge.mappings.fhir.common import FhirInput
from trialbridge.mappings.studyid import registry_study_identifier
from trialbridge.mappings.study import StudyInfo
from trialbridge.schemas import fhir_fast
from trialbridge.schemas.fhir_checks import RELEASES, check_resources
from trialbridge.schemas.findings import Finding, finding

# Build order = bundle order: the study level (the ResearchStudy first, then what it references), then
# for each subject: Patient, ResearchSubject, its study Condition, Procedures (PR), MedicationAdministrations,
# AdverseEvents, disease responses (Observations from RS), laboratory results (Observations from LB).
STUDY_MODULES: tuple[str, ...] = ("research_study", "organization", "location", "practitioner", "group", "medication")
SUBJECT_MODULES: tuple[str, ...] = (
    "patient", "research_subject", "condition", "procedure", "medication_administration", "adverse_event",
    "disease_response", "observation")
RESOURCE_MODULES: tuple[str, ...] = STUDY_MODULES + SUBJECT_MODULES
BLOCK_SUBJECTS = 250
MAX_WORKERS = 8
# what a worker holds of its own at BLOCK_SUBJECTS subjects a block (bench/bench_fhir.py: 0.63 GB private at
# 10,000 generated subjects, R4 + R5), with a margin: the default number of workers fits the free memory
WORKER_BYTES = 1 << 30


def available_memory() -> int | None:
    """Bytes the system can still give (Linux `MemAvailable`); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def default_workers() -> int:
    """The CPUs, at most MAX_WORKERS, and no more than the free memory holds (one WORKER_BYTES each)."""
    cpus = min(os.cpu_count() or 1, MAX_WORKERS)
    free = available_memory()
    return cpus if free is None else max(1, min(cpus, free // WORKER_BYTES))




def fhir_input(registry: dict[str, Any], sdtm_tables: dict[str, pd.DataFrame],
               study: StudyInfo | None = None, loinc_names: dict[str, str] | None = None) -> FhirInput:
    """The mappings' input: STUDYID from DM (the hub), else from another domain, else the registry's STUDYID
    rule (mappings/studyid.py)."""
    dm = sdtm_tables.get("DM")
    if dm is not None and len(dm) and "STUDYID" in dm:
        studyid = str(dm["STUDYID"].iloc[0])
    else:  # no DM: another domain's STUDYID (the hub), else the registry's rule
        studyid = next((str(t["STUDYID"].iloc[0]) for t in sdtm_tables.values() if "STUDYID" in t and len(t)),
                       "") or registry_study_identifier(registry)
    return FhirInput(registry=registry, sdtm=sdtm_tables, studyid=studyid,
                     study=study if study is not None else StudyInfo(studyid=studyid or "STUDY"),
                     loinc_names=dict(loinc_names or {}))


def block_count(inp: FhirInput, size: int) -> int:
    """How many blocks of `size` DM subjects the input makes (1 without DM; 0 without any SDTM table)."""
    dm = inp.sdtm.get("DM")
    if not inp.sdtm:  # a registry record alone (trialbridge registry): no subjects, no subject-level blocks
        return 0
    return max(1, -(-len(dm) // size)) if dm is not None and "USUBJID" in dm else 1


# Each table's rows by block: (row positions sorted by block, start of each block in them, 0..count).
BlockRows = dict[str, tuple[np.ndarray, np.ndarray]]


def block_rows(inp: FhirInput, size: int) -> BlockRows:
    """Where each block's rows are in each table with USUBJID (one pass per table, not one per block)."""
    dm = inp.sdtm.get("DM")
    if dm is None or "USUBJID" not in dm:
        return {}
    subjects = pd.Index(dm["USUBJID"].astype(object))
    first = ~subjects.duplicated()  # a USUBJID twice in DM: its rows go to the block of its first row
    unique, at = subjects[first], np.flatnonzero(first)
    count = block_count(inp, size)
    out: BlockRows = {}
    for name, table in inp.sdtm.items():
        if "USUBJID" in table:
            found = unique.get_indexer(table["USUBJID"].astype(object))
            # count: no DM subject, in no block (`at` padded: found is -1 there, and DM may have no row at all)
            block = np.where(found >= 0, np.append(at, 0)[found] // size, count)
            order = np.argsort(block, kind="stable")  # the table's row order within each block
            out[name] = (order, np.searchsorted(block[order], np.arange(count + 1)))
    return out


def block_at(inp: FhirInput, index: int, size: int, rows: BlockRows | None = None) -> FhirInput:
    """Block `index`: `size` DM subjects (DM order), every table cut to their USUBJIDs (kept whole without).
    `rows`: `block_rows(inp, size)`, when already computed."""
    dm = inp.sdtm.get("DM")
    if dm is None or "USUBJID" not in dm:
        return inp
    rows = block_rows(inp, size) if rows is None else rows
    tables = {name: table.iloc[rows[name][0][rows[name][1][index]:rows[name][1][index + 1]]]
              if name in rows else table for name, table in inp.sdtm.items()}
    return FhirInput(registry=inp.registry, sdtm=tables, studyid=inp.studyid, study=inp.study,
                     loinc_names=inp.loinc_names)


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"trialbridge.mappings.fhir.{name}")


def _build_error(name: str, release: str, error: Exception) -> Finding:
    return finding("FHIR-BUILD-ERROR", f"mappings/fhir/{name}.py", [type(error).__name__],
                   module=name, release=release, detail=f"{type(error).__name__}: {error}")


def build_releases(inp: FhirInput, releases: Sequence[str], modules: Sequence[str] = RESOURCE_MODULES
                   ) -> dict[str, tuple[list[dict], list[Finding]]]:
    """Every module's resources for each release, in module order: R5 built once, R4 derived from it."""
    out: dict[str, tuple[list[dict], list[Finding]]] = {release: ([], []) for release in releases}
    for name in modules:
        try:
            module = _module(name)
            r5 = module.build_r5(inp) if hasattr(module, "build_r5") else None
        except Exception as error:  # noqa: BLE001 - reported, and the other modules still run
            for release in releases:
                out[release][1].append(_build_error(name, release, error))
            continue
        for release in releases:
            try:
                out[release][0].extend(module.build(inp, release, r5))
            except Exception as error:  # noqa: BLE001
                out[release][1].append(_build_error(name, release, error))
    return out


def build_resources(inp: FhirInput, release: str,
                    modules: Sequence[str] = RESOURCE_MODULES) -> tuple[list[dict], list[Finding]]:
    """Every module's resources for one release, in module order (a failing module is a finding)."""
    return build_releases(inp, [release], modules)[release]


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


# One part: its resources packed to write (entries once, each release's place in them), and per release
# the build findings and the check findings (entry 0 on; by `<Type>/<id>` when the part built a resource twice).
Prepared = tuple[Chunk, dict[str, tuple[Placed, list[Finding], list[Finding]]]]
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource")
_JOB: dict[str, Any] = {}  # what the forked workers read: the input, the releases, the block size


def prepare(part: FhirInput, releases: Sequence[str], modules: Sequence[str]) -> Prepared:
    """Build one part (the study level or a block of subjects) for each release, order, check, serialise, pack.

    The cyclic garbage collector is paused meanwhile: the part makes millions of small dicts and lists
    without cycles (freed by their reference counts), which would otherwise set off collections that walk
    them all again and again (about a third of the build's time); it runs again once they are gone.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _prepare(part, releases, modules)
    finally:
        if enabled:
            gc.enable()


def _prepare(part: FhirInput, releases: Sequence[str], modules: Sequence[str]) -> Prepared:
    done: dict[int, Serialised] = {}  # a resource R4 shares with R5 (no difference declared) is serialised once
    every = build_releases(part, releases, modules)  # alive until the end: the ids in `done` stay unique
    items: dict[str, list[Serialised]] = {}
    checked: dict[str, list[Finding]] = {}
    for release, (resources, _) in every.items():
        ordered = bundle_order(resources)
        fresh = [r for r in ordered if id(r) not in done]
        done.update(zip(map(id, fresh), serialise(fresh)))
        items[release] = [done[id(r)] for r in ordered]
        checked[release] = check_resources(ordered, release, "Bundle.entry")
    chunk, placed = pack(items)
    return chunk, {release: (placed[release], every[release][1],
                             _by_id(checked[release], [item.label for item in items[release]])
                             if placed[release].dropped else checked[release]) for release in every}


def _prepare_block(index: int) -> Prepared:
    return prepare(block_at(_JOB["inp"], index, _JOB["size"], _JOB["rows"]), _JOB["releases"], SUBJECT_MODULES)


def _unplaced_job() -> dict[str, list[Finding]]:
    return {release: unplaced(_JOB["inp"], release) for release in _JOB["releases"]}


def prepared_blocks(inp: FhirInput, releases: Sequence[str], size: int, workers: int,
                    aside: dict[str, list[Finding]] | None = None) -> Iterator[Prepared]:
    """Every block of subjects prepared, in block order: here one by one, or by `workers` forked processes.

    Building and checking a block depends on nothing but the block, so the result is the same either way;
    the workers inherit the input and the compiled validators from this process (fork), so only block
    numbers and results (bytes and findings) travel. With workers, `aside` (when given) receives each
    release's `unplaced` findings, computed by a worker beside the blocks (they read the whole input).
    """
    count, rows = block_count(inp, size), block_rows(inp, size)
    if workers <= 1 or count <= 1 or not sys.platform.startswith("linux"):  # fork is safe on Linux
        yield from (prepare(block_at(inp, index, size, rows), releases, SUBJECT_MODULES) for index in range(count))
        return
    _JOB.update(inp=inp, releases=list(releases), size=size, rows=rows)
    release_free_memory()  # the heap's free pages: not inherited, so not copied by the workers
    gc.freeze()  # the inherited objects stay out of the workers' collections: no copy-on-write of the heap
    try:
        # long-lived workers: the SDTM text columns are Arrow strings (no reference count to raise), so the pages
        # they inherit stay shared; at 10,000 subjects the PSS of all the stage's processes peaks at 3.2 GB
        # (bench/bench_fhir.py; 5.4 GB when the columns were Python objects)
        with multiprocessing.get_context("fork").Pool(min(workers, count)) as pool:
            # at most `workers` + 1 blocks in flight: results never pile up in this process's memory
            ahead = min(workers, count) + 1
            apart = pool.apply_async(_unplaced_job) if aside is not None else None
            pending = deque(pool.apply_async(_prepare_block, (index,)) for index in range(min(ahead, count)))
            for index in range(ahead, count + ahead):
                result = pending.popleft().get()
                if index < count:
                    pending.append(pool.apply_async(_prepare_block, (index,)))
                yield result
            if apart is not None and aside is not None:
                aside.update(apart.get())
    finally:
        gc.unfreeze()
        _JOB.clear()


def _anchor(inp: FhirInput, study: Prepared) -> str:
    for release in study[1]:
        for label in labels_of(study[0], study[1][release][0]):
            rtype, _, rid = label.decode().partition("/")
            if rtype == FIRST_TYPE:
                return rid
    return inp.studyid


def _warm(releases: Sequence[str]) -> None:
    """Load here, once, what every block needs (compiled validators, CT, the models of the subject-level
    types), so that forked workers inherit it instead of each loading it again."""
    from trialbridge.schemas.fhir_checks import model_class
    from trialbridge.schemas.sdtm_spec import terminology

    terminology()
    for release in releases:
        fhir_fast.warm(release)
        for rtype in ("Patient", "ResearchSubject", "Condition", "Procedure", "MedicationAdministration",
                      "AdverseEvent", "Observation"):
            model_class(release, rtype)


def write_releases(inp: FhirInput, out_dir: Path, releases: Sequence[str], block_subjects: int | None = None,
                   workers: int | None = None, entries: int = ENTRIES, bundle_type: str = "transaction",
                   created: str = "") -> list[Finding]:
    """Build, check and write the releases: the study level in its own Bundle, then the subjects block by block."""
    _warm(releases)
    study = prepare(inp, releases, STUDY_MODULES)
    anchor = _anchor(inp, study)
    findings: dict[str, list[Finding]] = {release: [] for release in releases}
    failures: set[Finding] = set()  # a module that fails fails in every block: reported once
    aside: dict[str, list[Finding]] = {}  # unplaced(), when a worker computed it
    with ExitStack() as stack:
        writers = {release: stack.enter_context(ReleaseWriter(Path(out_dir), release, entries, bundle_type,
                                                              anchor, created)) for release in releases}
        workers = workers if workers is not None else default_workers()
        blocks = prepared_blocks(inp, releases, block_subjects or BLOCK_SUBJECTS, workers, aside)
        for number, part in enumerate(chain([study], blocks)):
            chunk, releases_of = part
            for release, (placed, built, checked) in releases_of.items():
                writer = writers[release]
                offset = writer.written
                if writer.overlaps(chunk, placed):  # a resource an earlier part wrote is dropped: locate by its id
                    checked = _by_id(checked, labels_of(chunk, placed))
                findings[release] += [f for f in built if f not in failures]
                failures.update(built)
                wrote = writer.write_chunk(chunk, placed)  # first: the Bundles of the chunk are known once written
                findings[release] += writer.relocate(checked, offset) + wrote
                if number == 0:
                    writer.end_bundle()  # the study level is a Bundle of its own
        for release, writer in writers.items():
            findings[release] += writer.finish()
    for release in releases:
        left = aside[release] if release in aside else unplaced(inp, release)
        findings[release] += [u for u in left if u not in failures]
    return [f for release in releases for f in findings[release]]


def _by_id(findings: list[Finding], labels: list[bytes]) -> list[Finding]:
    """Findings of a part with duplicates, located by `<Type>/<id>` (entry numbers would not match the files);
    `labels`: the `<Type>/<id>` of the part's resources in entry order."""
    def move(f: Finding) -> Finding:
        match = _ENTRY.match(f.location)
        if not match:
            return f
        return replace(f, location=labels[int(match.group(1))].decode() + f.location[match.end():])
    return [move(f) for f in findings]


def write_release(inp: FhirInput, out_dir: Path, release: str, block_subjects: int | None = None,
                  workers: int | None = None) -> list[Finding]:
    """One release (tests and callers that want one)."""
    return write_releases(inp, out_dir, [release], block_subjects, workers)


def write_fhir(registry: dict[str, Any], sdtm_tables: dict[str, pd.DataFrame], out_dir: Path,
               releases: Sequence[str] = RELEASES, workers: int | None = None, study: StudyInfo | None = None,
               entries: int = ENTRIES, bundle_type: str = "transaction",
               created: datetime | None = None, loinc_names: dict[str, str] | None = None) -> list[Finding]:
    """Build, check and write the FHIR outputs of each release into `out_dir/<release>/`.

    `study`: the study's constants (sponsor namespace, treatment codes); `entries` and `bundle_type`: the
    size and type of the Bundles; `created`: the manifests' transaction time; `workers`: processes that
    build and check blocks of subjects (default `default_workers()`: the CPUs, at most 8, as many as the
    free memory holds). The files are the same
    whatever the number of workers.
    """
    inp = fhir_input(registry, sdtm_tables, study, loinc_names)
    findings = [finding("FHIR-RELEASE-UNKNOWN", "--fhir", [release], release=release, known=", ".join(RELEASES))
                for release in releases if release not in RELEASES]
    known = [release for release in releases if release in RELEASES]
    if not known:
        return findings
    stamp = (created or datetime(2000, 1, 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return findings + write_releases(inp, Path(out_dir), known, workers=workers, entries=entries,
                                     bundle_type=bundle_type, created=stamp)
