"""Trial -> SDTM package: map every domain, reconcile input rows, check, write XPT v5 files and define.xml.

The domains are mapped by the study mapping specification's engine, in the spec's order (each may use
the domains mapped before it); the SUPP-- rows of each domain become SUPP<domain>.
Checks run on the tables exactly as they will be written (after the XPT writer's stages: ASCII,
types, order), so what is checked is what is submitted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pandas as pd

from trialbridge.converters.csdrg import GUIDE_HTML, GuideFacts, write_reviewers_guide
from trialbridge.converters.dataset_json import write_package_dataset_json
from trialbridge.converters.define.writer import write_define_package
from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE, Trial
from trialbridge.converters.xpt.files import SPLIT_THRESHOLD, prepare_for_xpt, read_xpt, write_prepared
from trialbridge.mappings.spec.engine import run_mapping
from trialbridge.mappings.spec.model import StudyMapping
from trialbridge.mappings.study import StudyInfo
from trialbridge.mappings.sdtm.design import TrialDesign, design_of, map_subject_design
from trialbridge.mappings.sdtm.epoch import with_epochs
from trialbridge.mappings.sdtm.frames import compact_text
from trialbridge.mappings.sdtm.ti import shortened_criteria
from trialbridge.schemas.define_checks import check_define_against_data, validate_define
from trialbridge.schemas.findings import Finding, finding, has_errors
from trialbridge.schemas.clinical_checks import check_clinical
from trialbridge.schemas.sdtm_checks import RuleResult, check_sdtm
from trialbridge.schemas.sdtm_permissible import without_empty_permissible
from trialbridge.schemas.sdtm_spec import with_continuations
from trialbridge.schemas.trial_design_spec import with_ietest_texts

@dataclass(frozen=True)
class SdtmTables:
    """Every SDTM dataset of the study (SUPP-- included), with the mappings' findings and rejected rows."""

    tables: dict[str, pd.DataFrame]
    findings: list[Finding]
    rejected: pd.DataFrame  # _file, _line, reason


def study_mapping(trial: Trial) -> StudyMapping:
    """The trial's spec; for a trial read by the native reader alone, the spec that sits in its folder."""
    if trial.mapping is not None:
        return trial.mapping
    from trialbridge.converters.readers.spec_files import find_spec, read_spec

    location = find_spec(Path(trial.source))
    mapping = read_spec(location)[0] if location is not None else None
    if mapping is None:
        raise ValueError(f"{trial.source}: no readable study mapping specification")
    return mapping


def map_sdtm(trial: Trial, design: TrialDesign | None = None) -> SdtmTables:
    """Run the study mapping specification's domains in order (`mappings.spec.engine`); SUPP-- rows are
    gathered per parent domain; then the trial design (TE, TA, TV, SV, SE) from `design` (default: the
    spec's visits, elements and arms tables); with SE, EPOCH of every domain from it (`mappings.sdtm.epoch`);
    text columns as pandas' `str` dtype (`compact_text`). Raises `SpecRunError` when a step cannot run as written."""
    mapping = study_mapping(trial)
    result = run_mapping(mapping, trial.forms, trial.registry)
    tables, findings = dict(result.tables), list(result.findings)
    design = design or design_of(mapping.visits, mapping.elements, mapping.arms)
    for domain, mapped in map_subject_design(tables, design, mapping.sdtm).items():
        tables[domain] = mapped.table
        findings += mapped.findings
    if "SE" in tables:  # EPOCH of every domain with a derive_epoch step: the subject's element on the record's date
        tables, unplaced = with_epochs(tables, tables["SE"], mapping.epoch_dates())
        findings += unplaced
    # the hub's text columns held compactly (Arrow strings): a quarter of the memory, shared by forked workers
    return SdtmTables({name: compact_text(table) for name, table in tables.items()}, findings, result.rejected)


def _raw_file(trial: Trial, name: str) -> str:
    """The name a raw dataset's rows are reconciled under: its file (the dataset's name when a file holds several)."""
    table = trial.forms[name]
    files = table["_file"].unique() if len(table) else []
    if len(files) == 1 and sum(1 for t in trial.forms.values() if len(t) and files[0] in set(t["_file"].unique())) == 1:
        return str(files[0])
    return name


def reconcile(trial: Trial, sdtm: SdtmTables) -> tuple[dict[str, dict[str, object]], list[Finding]]:
    """Read = written + rejected, per form: every native row must reach a dataset or be rejected with a reason.

    A row counts as written when at least one record of a dataset carries its provenance (file, line).
    A row that is neither written nor rejected is lost: an error finding at its line.
    """
    report: dict[str, dict[str, object]] = {}
    findings: list[Finding] = []
    for form in trial.forms:
        name = _raw_file(trial, form)
        raw = trial.forms[form]
        files = set(raw[SOURCE_FILE].unique())
        lines = pd.Index(raw[SOURCE_LINE].astype("int64").unique())
        written_by: dict[str, int] = {}
        carried = pd.Index([], dtype="int64")
        for dataset, table in sdtm.tables.items():
            mine = table.loc[table[SOURCE_FILE].isin(files), SOURCE_LINE].astype("int64").unique()
            mine = pd.Index(mine).intersection(lines)
            if len(mine):
                written_by[dataset] = int(len(mine))
                carried = carried.union(pd.Index(mine))
        rejected = sdtm.rejected.loc[sdtm.rejected[SOURCE_FILE].isin(files)]
        rejected = rejected.loc[rejected[SOURCE_LINE].astype("int64").isin(lines)]
        rejected_lines = pd.Index(rejected[SOURCE_LINE].astype("int64").unique())
        lost = lines.difference(carried.union(rejected_lines))
        report[name] = {
            "read": int(len(lines)),
            "written": int(len(lines.intersection(carried))),
            "rejected": int(len(rejected_lines.difference(carried))),
            "lost": int(len(lost)),
            "rows_carried_by_dataset": dict(sorted(written_by.items())),
            "rejected_reasons": dict(sorted(rejected["reason"].value_counts().astype(int).items())) if len(rejected) else {},
        }
        findings += [finding("RECON-LOST", f"{name}:{line}", [str(line)], file=name, line=line) for line in lost]
    return report, findings


def with_provenance(ready: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """A table as the XPT writer's stages prepared it (`prepare_for_xpt`: exactly what will be written) with
    the provenance columns of the table it was prepared from put back, for the checks' messages."""
    if len(ready) != len(table):
        return ready
    return ready.assign(**{SOURCE_FILE: table[SOURCE_FILE].to_numpy(), SOURCE_LINE: table[SOURCE_LINE].to_numpy()})


@dataclass(frozen=True)
class PackageWrite:
    """What `write_sdtm_package` did. `complete` is False when a dataset could not be written: the caller
    must then publish nothing (whole or nothing); `written` lists the datasets read back from disk."""

    findings: list[Finding]
    results: list[RuleResult]
    reconciliation: dict[str, dict[str, object]]
    written: list[str]
    complete: bool


def _files_of(sdtm_dir: Path, name: str) -> list[Path]:
    """The file(s) holding dataset `name` on disk: `name.xpt`, or its `split/` parts."""
    whole = sdtm_dir / f"{name.lower()}.xpt"
    if whole.is_file():
        return [whole]
    return sorted((sdtm_dir / "split").glob(f"{name.lower()}[0-9]*.xpt"),
                  key=lambda p: int(p.stem[len(name):]) if p.stem[len(name):].isdigit() else 0)


def read_back(sdtm_dir: Path, expected: dict[str, int], read: Callable = read_xpt) -> tuple[list[str], list[Finding]]:
    """Every dataset in `expected` (name -> records prepared) must be on disk with exactly that many records:
    the names found so, and an error finding for each one missing, unreadable or short."""
    found: list[str] = []
    problems: list[Finding] = []
    for name, records in expected.items():
        files = _files_of(sdtm_dir, name)
        try:
            on_disk = sum(read(path)[1].rows for path in files) if files else -1
        except Exception as error:  # an unreadable file we just wrote: report it, never claim it
            on_disk, reason = -1, f"{type(error).__name__}: {error}"
        else:
            reason = "no file" if not files else f"{on_disk} record(s) read back"
        if on_disk == records:
            found.append(name)
        else:
            problems.append(finding("PACKAGE-NOT-WRITTEN", f"{name.lower()}.xpt", [name, str(records)],
                                    dataset=name, records=records, reason=reason))
    return found, problems


def write_sdtm_package(trial: Trial, sdtm_dir: Path, created: datetime,
                       split_threshold: int = SPLIT_THRESHOLD, mapped: SdtmTables | None = None,
                       placeholder: bool = False, dataset_json: tuple[str, ...] = (),
                       study: StudyInfo | None = None) -> PackageWrite:
    """Map (unless `mapped` is given), reconcile, check and write `sdtm_dir/*.xpt` + define.xml, whole or
    nothing: when the writer's stages find an error in any dataset (a value with no ASCII form, a value
    over 200 bytes, ...), no file is written and `complete` is False. Every file is read back; the names
    written and the reconciliation come from what is on disk. `placeholder`: see `prepare_for_xpt`.
    `dataset_json`: also write Dataset-JSON v1.1 in these formats ("json", "ndjson") beside the XPT files."""
    sdtm = mapped if mapped is not None else map_sdtm(trial)
    spec = study_mapping(trial).sdtm
    if "TS" in sdtm.tables:  # a TSVAL over 200 characters continues in TSVAL1, ... (SDTMIG 3.4 TS assumption 8)
        spec = with_continuations(spec, "TS", list(sdtm.tables["TS"].columns))
    if "TI" in sdtm.tables:  # a criterion over 200 characters: its full text in define.xml (TI assumption 4)
        spec = with_ietest_texts(spec, shortened_criteria(trial.registry))
    spec, tables, empty = without_empty_permissible(spec, sdtm.tables)  # a Permissible variable nothing fills
    # the XPT writer's stages, run once: their tables are checked and written, their findings reported below
    staged = {name: prepare_for_xpt(table, spec.dataset(name), placeholder) for name, table in tables.items()}
    stage_findings = empty + [f for name in spec.datasets if name in staged for f in staged[name][1]]
    del tables  # the staged tables are what gets written
    if has_errors(stage_findings):  # a dataset that cannot be written stops the package: nothing is written
        blocked = sorted(name for name, (_, found) in staged.items() if has_errors(found))
        stop = [finding("PACKAGE-STOPPED", ", ".join(n.lower() + ".xpt" for n in blocked), blocked,
                        datasets=", ".join(blocked))]
        return PackageWrite(sdtm.findings + stage_findings + stop, [], {}, [], False)
    checked = {name: with_provenance(ready, sdtm.tables[name]) for name, (ready, _) in staged.items()}
    check_findings, results = check_sdtm(checked, spec)
    clinical_findings, clinical_results = check_clinical(checked, study or study_mapping(trial).study)  # warnings
    check_findings, results = check_findings + clinical_findings, results + clinical_results
    del checked
    sdtm_dir.mkdir(parents=True, exist_ok=True)
    write_findings: list[Finding] = list(stage_findings)
    for name in spec.datasets:
        if name in staged:
            ready, _ = staged[name]
            write_findings += write_prepared(ready, spec.dataset(name), sdtm_dir / f"{name.lower()}.xpt",
                                             created, split_threshold)
    expected = {name: len(staged[name][0]) for name in spec.datasets if name in staged}
    del staged
    read_once = lru_cache(maxsize=None)(read_xpt)  # define.xml and its check read each file once (read-only)
    written, missing = read_back(sdtm_dir, expected, read_once)
    on_disk = SdtmTables({name: sdtm.tables[name] for name in written}, sdtm.findings, sdtm.rejected)
    reconciliation, recon_findings = reconcile(trial, on_disk)  # rows carried by the files actually written
    findings = sdtm.findings + recon_findings
    del sdtm, on_disk  # from here on only the files are read: free the tables
    if missing:
        return PackageWrite(findings + write_findings + missing, results, reconciliation, written, False)
    define_findings = write_define_package(sdtm_dir, spec, trial, created, write_findings, read=read_once,
                                           reviewers_guide=GUIDE_HTML)
    define_findings += validate_define(sdtm_dir / "define.xml")
    define_findings += check_define_against_data(sdtm_dir / "define.xml", sdtm_dir, read=read_once)
    if dataset_json:  # Dataset-JSON v1.1 beside the XPT files: their values, define.xml's metadata
        define_findings += write_package_dataset_json(sdtm_dir, spec, trial, created, write_findings, read_once,
                                                      dataset_json)
    return PackageWrite(findings + write_findings + check_findings + define_findings, results, reconciliation,
                        written, True)


def write_package_guide(sdtm_dir: Path, trial: Trial, records: dict[str, int], findings: list[Finding]) -> None:
    """The reviewer's guide skeleton (csdrg.md, csdrg.html; define.xml refers to it) of a package just
    written: its datasets and `records`, its TS, and `findings` as triaged (with waiver justifications)."""
    from trialbridge.converters.define.writer import trial_study_info

    spec = study_mapping(trial).sdtm
    ts = read_xpt(sdtm_dir / "ts.xpt")[0] if (sdtm_dir / "ts.xpt").is_file() else pd.DataFrame(
        columns=["TSPARMCD", "TSVAL", "TSVALNF"])
    info = trial_study_info(trial)
    facts = GuideFacts(spec=spec, records=records, ts=ts, findings=tuple(findings), registry=trial.registry,
                       dictionaries=info.dictionaries, extra_files=tuple(sorted(p.name for p in sdtm_dir.iterdir())))
    write_reviewers_guide(sdtm_dir, facts, info.study_id)
