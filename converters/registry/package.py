"""One registry record (the model) -> its trial design package: SDTM TS, TA, TE, TI as XPT v5 with
define.xml, FHIR ResearchStudy bundles, and (optionally) the PRS protocol record XML, in one folder.

```
<folder>/registry.json      the record in the registry model (API v2 structure) as read
<folder>/sdtm/              ts.xpt ta.xpt te.xpt ti.xpt define.xml define2-1.xsl define.html
<folder>/fhir/<release>/    bundles.ndjson (ResearchStudy, Organization, Location, Practitioner(Role), Group) + ndjson/
<folder>/prs/<NCT>.xml      with --prs: the ClinicalTrials.gov PRS protocol record
<folder>/findings.json      every finding of this record
```
The SDTM side is the convert pipeline's, dataset by dataset: the mappings give tables, the XPT writer's
stages prepare them, the checks run on what will be written, the files are written and read back, and
define.xml describes them. A dataset whose stages find an error stops the SDTM package (nothing under
sdtm/ is written, PACKAGE-STOPPED), as convert does. Unlike convert, a character with no ASCII form is by
default written as [U+XXXX] (a warning each): registry texts are sponsors' free text (an arrow or an
"approximately" sign in one criterion), and one such character should not stop a whole trial design
package; `--no-ascii-placeholder` restores convert's rule.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import pandas as pd

from trialbridge.converters.define.writer import write_define_package
from trialbridge.converters.reports.findings import findings_json_text
from trialbridge.converters.sdtm_package import read_back, with_provenance
from trialbridge.mappings.trial import Trial
from trialbridge.converters.xpt.files import SPLIT_THRESHOLD, prepare_for_xpt, read_xpt, write_prepared
from trialbridge.mappings.registry.model import RegistryRecord
from trialbridge.mappings.spec.model import StudyMapping
from trialbridge.mappings.study import StudyInfo
from trialbridge.mappings.sdtm.ta import map_ta
from trialbridge.mappings.sdtm.te import map_te
from trialbridge.mappings.sdtm.ti import map_ti
from trialbridge.mappings.sdtm.ts import map_ts
from trialbridge.mappings.studyid import study_identifier_source
from trialbridge.schemas.define_checks import check_define_against_data, validate_define
from trialbridge.schemas.findings import Finding, finding, has_errors
from trialbridge.schemas.sdtm_checks import check_sdtm
from trialbridge.schemas.sdtm_spec import StudySpec, with_continuations
from trialbridge.schemas.trial_design_spec import registry_spec, with_ietest_texts


@dataclass(frozen=True)
class DesignTables:
    """The trial design datasets of one record, the spec that describes them, and the mappings' findings."""

    tables: dict[str, pd.DataFrame]
    spec: StudySpec
    findings: list[Finding]


def design_trial(record: RegistryRecord) -> Trial:
    """The record as a Trial without subject data (what TS and define.xml read: the registry record), whose
    study mapping is the registry's: no sources or steps, the SDTM metadata of TS, TA, TE and TI."""
    empty = pd.DataFrame()
    mapping = StudyMapping(study=StudyInfo(studyid=record.studyid), sources=(), steps=(), ct=empty, tests=empty,
                           visits=empty, sdtm=registry_spec(), origin=record.source)
    return Trial(source=Path(record.source), registry=record.record, forms={}, mapping=mapping)


def map_design(record: RegistryRecord) -> DesignTables:
    """TS (the study mapping, without DM), TA, TE, TI from the registry model."""
    spec = registry_spec()
    ts = map_ts(design_trial(record), {})
    ta = map_ta(record.record, spec.dataset("TA"), record.source)
    te = map_te(record.record, spec.dataset("TE"), record.source)
    ti, long_texts = map_ti(record.record, spec.dataset("TI"), record.source)
    tables = {"TS": ts.table, "TA": ta.table, "TE": te.table}
    if len(ti.table):
        tables["TI"] = ti.table
    spec = with_continuations(spec, "TS", list(ts.table.columns))
    spec = with_ietest_texts(spec, long_texts)
    studyid, source = study_identifier_source(record.record)
    found = [finding("REGISTRY-STUDYID", f"{record.source}:{source or 'identificationModule'}", [studyid],
                     studyid=studyid, source=source or "no identifier (fallback)")]
    return DesignTables(tables, spec, found + ts.findings + ta.findings + te.findings + ti.findings)


def _without_start(found: Finding, trial: Trial) -> Finding:
    """A registry record with no start date has no SSTDTC value (TSVALNF UNK): the FDA rejection criterion
    binds a submission, which takes SSTDTC from DM; here it is said as REGISTRY-NO-START (warning)."""
    if found.rule != "SD-TS-REQUIRED" or tuple(found.values) != ("SSTDTC",):
        return found
    return finding("REGISTRY-NO-START", found.location, ["SSTDTC"])


def write_design_sdtm(design: DesignTables, trial: Trial, sdtm_dir: Path, created: datetime,
                      placeholder: bool = True) -> tuple[list[Finding], list[str]]:
    """Prepare, check and write the design datasets as XPT + define.xml, whole or nothing. `placeholder`:
    a character with no ASCII form is written as [U+XXXX] (reported) instead of stopping the package."""
    spec = design.spec
    staged = {name: prepare_for_xpt(table, spec.dataset(name), placeholder) for name, table in design.tables.items()}
    stage_findings = [f for name in spec.datasets if name in staged for f in staged[name][1]]
    if has_errors(stage_findings):
        blocked = sorted(name for name, (_, found) in staged.items() if has_errors(found))
        return stage_findings + [finding("PACKAGE-STOPPED", ", ".join(n.lower() + ".xpt" for n in blocked), blocked,
                                         datasets=", ".join(blocked))], []
    check_findings, _ = check_sdtm(
        {name: with_provenance(ready, design.tables[name]) for name, (ready, _) in staged.items()}, spec)
    check_findings = [_without_start(f, trial) for f in check_findings]
    sdtm_dir.mkdir(parents=True, exist_ok=True)
    write_findings = list(stage_findings)
    for name in spec.datasets:
        if name in staged:
            write_findings += write_prepared(staged[name][0], spec.dataset(name), sdtm_dir / f"{name.lower()}.xpt",
                                             created, SPLIT_THRESHOLD)
    expected = {name: len(staged[name][0]) for name in spec.datasets if name in staged}
    read_once = lru_cache(maxsize=None)(read_xpt)
    written, missing = read_back(sdtm_dir, expected, read_once)
    if missing:
        return write_findings + check_findings + missing, written
    found = write_define_package(sdtm_dir, spec, trial, created, write_findings, read=read_once)
    found += validate_define(sdtm_dir / "define.xml")
    found += check_define_against_data(sdtm_dir / "define.xml", sdtm_dir, read=read_once)
    return write_findings + check_findings + found, written


def write_record(record: RegistryRecord, folder: Path, created: datetime, releases: Sequence[str],
                 prs: bool = False, placeholder: bool = True) -> tuple[list[Finding], list[str]]:
    """Write one record's package into `folder` (which exists and is empty); its findings and what was written."""
    from trialbridge.converters.fhir.stage import write_fhir

    (folder / "registry.json").write_text(json.dumps(record.record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    design = map_design(record)
    trial = design_trial(record)
    findings = list(record.findings) + design.findings
    sdtm_findings, written = write_design_sdtm(design, trial, folder / "sdtm", created, placeholder)
    findings += sdtm_findings
    outputs = [f"sdtm/{n.lower()}.xpt" for n in written]
    if releases:
        findings += write_fhir(record.record, {}, folder / "fhir", releases)
        outputs += [f"fhir/{r}/bundles.ndjson" for r in releases]
    if prs:
        from trialbridge.converters.prs_writer import write_prs

        path = folder / "prs" / f"{record.name}.xml"
        findings += write_prs(record, path)
        outputs.append(f"prs/{path.name}")
    (folder / "findings.json").write_text(findings_json_text(
        findings, input=record.source, form=record.form, nct_id=record.nct_id, studyid=record.studyid,
        created=created.isoformat(), outputs=outputs), encoding="utf-8")
    return findings, outputs
