"""The pipeline: native folder -> checked Trial -> outputs, with every finding collected on the way."""
from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Sequence


from trialbridge.converters.atomic import NotPublished, atomic_output_dir
from trialbridge.converters.input_limits import check_input_limits
from trialbridge.converters.native_reader import read_native, read_registry
from trialbridge.converters.outdir import OutputRefused, claim_output
from trialbridge.converters.processes import checkpoint
from trialbridge.converters.progress import WIDTH, Progress, fit
from trialbridge.converters.readers.spec_files import find_spec, read_spec
from trialbridge.converters.readers.tabular import read_sources
from trialbridge.mappings.study import StudyInfo
from trialbridge.mappings.trial import Trial
from trialbridge.converters.reports.findings import findings_json_text
from trialbridge.schemas.findings import Finding, finding, has_errors
from trialbridge.schemas.triage import triage
from trialbridge.schemas.waivers import Waiver


EDC_ACCOUNTING = ("ODM-FORM-COUNTS", "REDCAP-COUNTS", "SOURCE-EDC-COUNTS")


@dataclass(frozen=True)
class RunResult:
    """What a command did: its findings, the exit code they imply, and a one-paragraph summary."""

    findings: list[Finding]
    exit_code: int
    summary: str
    outputs: list[Path] = field(default_factory=list)


def read_study(folder: Path, spec: Path | None = None) -> tuple[Trial | None, list[Finding]]:
    """A study's records as the spec declares them: the spec (`--spec`, else `spec/` or `spec.xlsx` in the
    folder), every raw source it lists (the native CSV forms through the checked native reader, the other
    formats through the tabular and EDC readers) and its registry record; None when anything is in error."""
    folder = Path(folder)
    location = find_spec(folder, spec)
    if location is None:
        return None, [finding("SPEC-NOT-FOUND", str(folder), [str(folder)], folder=str(folder))]
    mapping, findings = read_spec(location)
    if mapping is None:
        return None, findings
    native = [s for s in mapping.sources if s.format == "native"]
    checked = native or [s for s in mapping.sources if s.form is not None or s.enrols]  # by the native reader
    forms: dict = {}
    registry: dict = {}
    raw = read_sources(folder, [s for s in mapping.sources if s.format != "native"])
    if checked:
        trial, found = read_native(folder, mapping, raw.datasets)
        findings += found
        if trial is None:
            return None, findings + raw.findings
        forms.update(trial.forms)
        registry = trial.registry
    findings += raw.findings
    forms.update(raw.datasets)
    if mapping.registry and not checked:
        record, found = read_registry(folder / mapping.registry)
        findings += found
        registry = record or {}
    if has_errors(findings):
        return None, findings
    return Trial(source=folder, registry=registry, forms=forms, mapping=mapping), findings


def describe_trial(trial: Trial) -> str:
    """What was read: the study, its subjects and the rows of each form."""
    ident = trial.registry.get("protocolSection", {}).get("identificationModule", {})
    study = trial.mapping.study.studyid if trial.mapping else ident.get("acronym", "")
    lines = [*_wrap(f"read {trial.source}: {ident.get('nctId', '')} {study}".replace("  ", " ").rstrip()),
             f"  subjects enrolled        {len(trial.subjects):>10,}"]
    lines += [f"  {fit(name, 24):24} {rows:>10,} rows" for name, rows in trial.row_counts().items()]
    return "\n".join(lines)


def _package_dir(path: Path) -> Path | None:
    """The SDTM folder a path names: a folder of .xpt files, or a convert output holding `sdtm/`."""
    for candidate in (path, path / "sdtm"):
        if candidate.is_dir() and any(candidate.glob("*.xpt")):
            return candidate
    return None


def check_package(folder: Path) -> list[Finding]:
    """Check an SDTM package on disk: every XPT against SDTMIG 3.4 metadata, and its define.xml if present."""
    from trialbridge.converters.xpt.files import read_xpt
    from trialbridge.schemas.define_checks import check_define_package, find_define
    from trialbridge.schemas.findings import finding
    from trialbridge.schemas.sdtm_checks import check_sdtm
    from trialbridge.schemas.sdtm_checks_sdtmig import spec_from_sdtmig

    findings: list[Finding] = []
    tables = {}
    for xpt in sorted(folder.glob("*.xpt")):
        try:
            tables[xpt.stem.upper()], _ = read_xpt(xpt)
        except Exception as error:  # a damaged file is a finding about that file, the others are still checked
            findings.append(finding("PACKAGE-XPT-UNREADABLE", xpt.name, [xpt.name], file=xpt.name, error=str(error)))
    if tables:
        sdtm_findings, _ = check_sdtm(tables, spec_from_sdtmig(tables))
        findings += sdtm_findings
    if find_define(folder) is not None:
        findings += check_define_package(folder)
    from trialbridge.schemas.dataset_json_checks import check_dataset_json_files

    findings += check_dataset_json_files(folder)  # Dataset-JSON files beside the XPT files, if any
    return triage(findings)


def check(path: Path) -> RunResult:
    """Check without writing: a native record folder, an SDTM package folder (or a convert output), or a define.xml."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".xml":
        from trialbridge.schemas.define_checks import check_define_package

        findings = triage(check_define_package(path))
        unreadable = any(f.rule == "DEFINE-XML-SYNTAX" or f.rule.startswith("XML-") for f in findings)
        return RunResult(findings, 2 if unreadable else 1 if has_errors(findings) else 0, f"checked {path}")
    package = _package_dir(path) if path.is_dir() and not (path / "registry.json").exists() else None
    if package is not None:
        findings = check_package(package)
        return RunResult(findings, 1 if has_errors(findings) else 0,
                         f"checked the SDTM package {package} against SDTMIG 3.4" +
                         (" and its define.xml" if (package / "define.xml").exists() else ""))
    over = check_input_limits(path)
    if over:
        return RunResult(triage(over), 2, f"{path}: input over the documented limits, see the errors above")
    trial, findings = read_study(path)
    findings = triage(findings)
    if trial is None or has_errors(findings):
        return RunResult(findings, 2, f"{path}: input rejected, see the errors above")
    return RunResult(findings, 0, describe_trial(trial))


def creation_datetime(registry: dict[str, Any]) -> datetime:
    """The fixed creation timestamp of every output: the registry record's last update, never the clock.

    Re-running the same input therefore gives byte-identical files; `--created` overrides it.
    """
    status = registry.get("protocolSection", {}).get("statusModule", {})
    for key in ("lastUpdatePostDateStruct", "studyFirstPostDateStruct"):
        text = str(status.get(key, {}).get("date", ""))
        if len(text) == 10:
            return datetime.fromisoformat(text)
    text = str(status.get("statusVerifiedDate", ""))
    return datetime.fromisoformat(text + "-01") if len(text) == 7 else datetime(2000, 1, 1)


def loinc_names(trial: Trial) -> dict[str, str]:
    """LOINC code -> name from the spec's test catalogue (its `*LOINC` and `loinc_name` columns)."""
    tests = trial.mapping.tests if trial.mapping is not None else None
    if tests is None or "loinc_name" not in tests.columns:
        return {}
    code = next((c for c in tests.columns if c.endswith("LOINC")), "")
    named = tests.loc[tests[code] != "", [code, "loinc_name"]].drop_duplicates(code) if code else tests.iloc[0:0]
    return dict(zip(named[code], named["loinc_name"])) if code else {}


def _tool_version() -> str:
    try:
        return version("trialbridge")
    except PackageNotFoundError:
        return "unknown"


def convert(source: Path, out: Path, created: datetime | None = None, split_threshold: int | None = None,
            fhir_releases: tuple[str, ...] = ("R4", "R5"), ascii_placeholder: bool = False,
            dataset_json: tuple[str, ...] = (), force: bool = False, waivers: Sequence[Waiver] = (),
            reports: bool = True, progress: Progress | None = None, bundle_entries: int | None = None,
            bundle_type: str = "transaction", spec: Path | None = None,
            fhir_workers: int | None = None) -> RunResult:
    """Read and check `source`; on bad input write nothing and return exit code 2.

    Otherwise write, whole or not at all, `out/sdtm/` (XPT v5 files, define.xml, define2-1.xsl,
    define.html), `out/fhir/<release>/` (bundles.ndjson: Bundles of at most `bundle_entries` entries, of
    `bundle_type`; ndjson/ per resource type with its manifests; built from the same SDTM tables) and `out/findings.json` (every finding, the rule results and the
    reconciliation of input rows); exit code 1 when a conformance error was found, else 0. When a
    dataset cannot be written (e.g. a value with no ASCII form, unless `ascii_placeholder`), nothing is
    published and the exit code is 2. `out` must be new, empty, or an earlier output (then only with
    `force`), and must not overlap `source` (`converters/outdir.py`); else exit 2, nothing touched.
    `reports`: also `out/report.json`, `report.html`, `report.xlsx` (`converters/reports/document.py`);
    `waivers` mark the findings they match as explained. `progress` is told each stage as it starts.
    `fhir_workers`: the FHIR stage's processes (default `fhir_stage.default_workers()`); the files do not depend on it.
    """
    progress = progress or Progress()
    try:
        with claim_output(Path(out), (Path(source),), force):
            return _convert_claimed(Path(source), Path(out), created, split_threshold, fhir_releases,
                                    ascii_placeholder, dataset_json, waivers, reports, progress,
                                    bundle_entries, bundle_type, spec, fhir_workers)
    except OutputRefused as refused:
        return RunResult(refused.findings, 2, f"{out}: refused, nothing written")
    finally:
        progress.done()


def fhir_study(study: StudyInfo, trial: Trial) -> StudyInfo:
    """The StudyInfo the FHIR side reads: the spec's, with VERSION.MEDDRA the version the AE coding used (the
    highest, as define.xml states it) rather than where the spec says to find it."""
    from dataclasses import replace

    from trialbridge.converters.define.writer import trial_study_info

    version = trial_study_info(trial).meddra_version
    extra = {k: v for k, v in study.extra.items() if k != "VERSION.MEDDRA"}
    return replace(study, extra={**extra, "VERSION.MEDDRA": version} if version else extra)


def _convert_claimed(source: Path, out: Path, created: datetime | None, split_threshold: int | None,
                     fhir_releases: tuple[str, ...], ascii_placeholder: bool,
                     dataset_json: tuple[str, ...] = (), waivers: Sequence[Waiver] = (),
                     reports: bool = True, progress: Progress | None = None, bundle_entries: int | None = None,
                     bundle_type: str = "transaction", spec: Path | None = None,
                     fhir_workers: int | None = None) -> RunResult:
    """`convert` once `out` is held (`outdir.claim_output`)."""
    from trialbridge.converters.fhir.bundle import ENTRIES
    from trialbridge.converters.fhir.stage import write_fhir
    from trialbridge.converters.reports.document import REPORT_FILES, RunFacts, file_entries, files_under, write_reports
    from trialbridge.converters.sdtm_package import map_sdtm, study_mapping, write_package_guide, write_sdtm_package
    from trialbridge.converters.xpt.files import SPLIT_THRESHOLD
    from trialbridge.mappings.spec.engine import SpecRunError, spec_error_finding
    from trialbridge.schemas.sdtm_standards import CT_VERSION, SDTMIG_VERSION

    started = time.monotonic()
    progress = progress or Progress()
    progress.stage("read and check the study's records")
    over = check_input_limits(Path(source))
    if over:
        return RunResult(triage(over), 2, f"{source}: input over the documented limits, nothing written to {out}")
    trial, findings = read_study(Path(source), spec)
    if trial is None or has_errors(findings):
        return RunResult(triage(findings), 2, f"{source}: input rejected, nothing written to {out}")
    stamp = created or creation_datetime(trial.registry)
    checkpoint("read")  # test hook for interruptions (converters/processes.py); a no-op otherwise
    progress.stage("map SDTM", subjects=len(trial.subjects))
    try:
        mapped = map_sdtm(trial)  # the hub: the SDTM package and the FHIR bundles come from these same tables
    except SpecRunError as error:
        return RunResult(findings + [spec_error_finding(error)], 2, f"{source}: the spec cannot run, nothing written to {out}")
    try:
        with atomic_output_dir(Path(out)) as work:
            checkpoint("mapped")
            study = study_mapping(trial).study
            if fhir_releases:
                progress.stage("FHIR " + " and ".join(fhir_releases))
                findings = findings + write_fhir(trial.registry, mapped.tables, work / "fhir", fhir_releases,
                                                 study=fhir_study(study, trial), entries=bundle_entries or ENTRIES,
                                                 bundle_type=bundle_type, created=stamp,
                                                 loinc_names=loinc_names(trial), workers=fhir_workers)
                checkpoint("fhir")
            progress.stage("SDTM package: XPT, define.xml, checks")
            package = write_sdtm_package(trial, work / "sdtm", stamp, split_threshold or SPLIT_THRESHOLD,
                                         mapped=mapped, placeholder=ascii_placeholder, dataset_json=dataset_json,
                                         study=study)
            records = {name: len(table) for name, table in mapped.tables.items()}
            del mapped
            findings = triage(findings + package.findings, waivers)
            if not package.complete:
                raise NotPublished()
            # the reviewer's guide lists the findings as triaged, with their waiver justifications
            write_package_guide(work / "sdtm", trial, {n: records[n] for n in package.written if n in records},
                                findings)
            (work / "findings.json").write_text(findings_json_text(
                findings,
                tool={"name": "trialbridge", "version": _tool_version()},
                input=str(Path(source)),
                created=stamp.isoformat(),
                reconciliation=package.reconciliation,
                rule_results=[r.as_dict() for r in package.results],
            ), encoding="utf-8")
            if reports:
                progress.stage("reports: json, html, xlsx")
                write_reports(work, RunFacts(
                    command="convert", input_path=str(Path(source)), input_kind="native record folder",
                    findings=findings, exit_code=1 if has_errors(findings) else 0, tool_version=_tool_version(),
                    standards={"SDTMIG": SDTMIG_VERSION, "CDISC CT": CT_VERSION, "Define-XML": "2.1",
                               "SAS XPORT": "v5", "FHIR": ", ".join(fhir_releases) or "none"},
                    created=stamp.isoformat(), seconds=time.monotonic() - started,
                    inputs=file_entries(files_under(Path(source)), Path(source)),
                    outputs=file_entries(files_under(work, skip=REPORT_FILES), work),
                    reconciliation=package.reconciliation, rule_results=[r.as_dict() for r in package.results],
                    datasets={name: records[name] for name in package.written if name in records}))
            checkpoint("publish")
    except NotPublished:
        return RunResult(findings, 2, f"{source}: the SDTM package cannot be written whole, nothing written to {out}")
    except OSError as error:  # the disk refused (full, read-only, permissions): the environment, not bad data
        return RunResult(findings + [finding("OUT-UNWRITABLE", str(out), [str(out)], out=str(out),
                                             reason=f"{error.strerror or error} ({error.filename or out})")],
                         2, f"{out}: cannot be written, nothing written")
    exit_code = 1 if has_errors(findings) else 0
    lines = [describe_trial(trial),
             *_wrap(f"wrote {out}/sdtm: {', '.join(n.lower() + '.xpt' for n in package.written)}, define.xml, "
                    "define.html (every file read back)"),
             "reconciliation (rows read = written + rejected; lost must be 0):",
             f"  {'file':26}{'read':>10}{'written':>12}{'rejected':>10}{'lost':>7}"]
    for name, counts in package.reconciliation.items():
        lines.append(f"  {fit(name, 26):26}{counts['read']:>10,}{counts['written']:>12,}{counts['rejected']:>10,}"
                     f"{counts['lost']:>7,}")
    accounted = [f for f in findings if f.rule in EDC_ACCOUNTING]
    if accounted:  # EDC exports: ItemData read = handed on, per form; values handed to the spec, per export
        lines.append("EDC values accounted for (nothing lost):")
        lines += [f"  {f.message}" for f in accounted]
    if dataset_json:
        lines += _wrap(f"wrote {out}/sdtm: Dataset-JSON v1.1 ({', '.join('.' + f for f in dataset_json)}) beside the "
                       "XPT files")
    if fhir_releases:
        lines += _wrap(f"wrote {out}/fhir: " + ", ".join(f"{r}/bundles.ndjson + {r}/ndjson/" for r in fhir_releases))
    lines += _wrap(f"findings: {out}/findings.json" + (", report.json, report.html, report.xlsx" if reports else ""))
    written = sorted(p for p in Path(out).rglob("*") if p.is_file())
    return RunResult(findings, exit_code, "\n".join(lines), outputs=written)


def _wrap(line: str) -> list[str]:
    """A summary line on 80-column lines (continuations indented; a path is never cut)."""
    return textwrap.wrap(line, WIDTH, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)


def synthesise(out: Path, n_subjects: int, seed: int, force: bool = False) -> dict[str, int]:
    """Write a synthetic native record folder into `out`, whole or not at all (OutputRefused when `out` may
    not be written: see `converters/outdir.py`)."""
    from trialbridge.converters.synth.generator import write_synthetic

    with claim_output(Path(out), (), force), atomic_output_dir(Path(out)) as work:
        counts = write_synthetic(work, n_subjects, seed)
        checkpoint("publish")
        return counts
