"""PATH -> what it is -> every check that applies -> findings, exit code, and (with a folder) the reports.

`validate` takes whatever it is given and says what it took it for:
- a native record folder (registry.json + CRF CSVs): converted into a temporary folder that is then
  discarded, so validate runs exactly the checks convert runs and exits as convert would;
- an SDTM package (a folder of XPT files, any case of `.xpt`, v5 or v8, with its define.xml if any;
  ADaM datasets are read and counted, not checked), or one XPT file;
- a define.xml of version 1.0, 2.0 or 2.1, each by its own rules (`schemas/define_versions.py`);
- a FHIR bundle or resource (.json) or NDJSON file or folder, R4 or R5 (given, or detected);
- CDISC Dataset-JSON v1.1 files (.json or .ndjson, or a folder of them): told from FHIR by their
  `datasetJSONVersion`, checked against the official schema and their own metadata;
- a convert output folder: its SDTM package and its FHIR bundles.
The SDTMIG and CT versions come from the options, else from what define.xml declares; a version this
installation has no metadata for is said plainly (STANDARD-UNAVAILABLE) and the available one is used.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from trialbridge.converters.package_reader import describe_package, read_any_encoding, read_package
from trialbridge.converters.reports.document import REPORT_FILES, RunFacts, file_entries, files_under, write_reports
from trialbridge.schemas.findings import Finding, finding, has_errors
from trialbridge.schemas.sdtm_standards import CT_VERSION, SDTMIG_VERSION
from trialbridge.schemas.triage import triage
from trialbridge.schemas.waivers import Waiver

KIND_NATIVE = "native record folder"
KIND_PACKAGE = "SDTM package"
KIND_CONVERT = "convert output"
KIND_DEFINE = "define.xml"
KIND_FHIR = "FHIR resources"
KIND_EDC = "EDC export"
KIND_DSJ = "Dataset-JSON"


@dataclass
class Inspection:
    """What one validation found, and the facts its report needs."""

    kind: str
    findings: list[Finding] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    standards: dict[str, str] = field(default_factory=dict)
    datasets: dict[str, int] = field(default_factory=dict)
    rule_results: list[dict[str, str]] = field(default_factory=list)
    reconciliation: dict[str, dict[str, object]] = field(default_factory=dict)
    rejected: bool = False  # the input could not be used at all: exit code 2


# ------------------------------------------------------------------------------------- standards
def _standard(name: str, requested: str | None, declared: str, available: str, findings: list[Finding]) -> str:
    """The version used for `name`: the one requested, else declared, when it is available; else the
    available one, said with a STANDARD-UNAVAILABLE warning."""
    wanted, why = (requested, "(requested)") if requested else (declared, "(declared by define.xml)")
    if wanted and wanted.strip() != available:
        findings.append(finding("STANDARD-UNAVAILABLE", "--" + ("sdtmig" if name == "SDTMIG" else "ct"),
                                (wanted,), standard=name, requested=wanted, why=why, used=available))
    return available


def _sdtmig_of(text: str) -> str:
    """'3.1.2' -> '3.1.2'; 'SDTMIG 3.4' -> '3.4'."""
    return text.strip().split()[-1] if text.strip() else ""


# ------------------------------------------------------------------------------------------ kinds
def _define_in(folder: Path) -> Path | None:
    from trialbridge.schemas.safe_xml import KIND_DEFINE as XML_DEFINE, XmlError, xml_kind

    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".xml")
    for path in sorted(candidates, key=lambda p: (p.name.lower() != "define.xml", p.name)):
        try:
            if xml_kind(path) == XML_DEFINE:
                return path
        except XmlError:
            if path.name.lower() == "define.xml":
                return path  # damaged: the define checks word the error
    return None


def inspect_package(folder: Path, sdtmig: str | None = None, ct: str | None = None,
                    only: Sequence[Path] = ()) -> Inspection:
    """An SDTM package folder (or the XPT files `only`): read, checked against SDTMIG, define.xml checked."""
    from trialbridge.schemas.define_versions import check_define_any, declared_standard, define_version
    from trialbridge.schemas.safe_xml import XmlError, parse_file
    from trialbridge.schemas.sdtm_checks import check_sdtm
    from trialbridge.schemas.sdtm_checks_sdtmig import spec_from_sdtmig

    result = Inspection(kind=KIND_PACKAGE)
    package = read_package(folder, only=only)
    result.findings += package.findings
    result.summary.append(describe_package(package))
    result.datasets = package.records()
    define = None if only else _define_in(folder)
    declared, define_label = "", ""
    if define is not None:
        try:
            root = parse_file(define).getroot()
            declared = _sdtmig_of(declared_standard(root)[1])
            define_label = define_version(root)
        except XmlError:
            pass
    result.standards["SDTMIG"] = _standard("SDTMIG", sdtmig, declared, SDTMIG_VERSION, result.findings)
    result.standards["CDISC CT"] = _standard("CDISC CT", ct, "", CT_VERSION, result.findings)
    tables = {name: d.table for name, d in package.sdtm.items()}
    if tables:
        found, results = check_sdtm(tables, spec_from_sdtmig(tables))
        result.findings += [_not_in_sdtmig(f, package.records()) if f.rule == "SD-DATASET-DECLARED" else f for f in found]
        result.rule_results = [r.as_dict() for r in results]
    if package.adam:
        names = ", ".join(f"{n} ({d.meta.rows:,} records)" for n, d in sorted(package.adam.items()))
        result.findings.append(finding("ADAM-NOT-CHECKED", folder.name or str(folder), tuple(sorted(package.adam)),
                                       count=len(package.adam), datasets=names))
    if define is not None:
        reader = lru_cache(maxsize=None)(lambda p: read_any_encoding(p)[:2])
        version, found = check_define_any(define, folder, read=reader)
        result.findings += found
        result.standards["Define-XML"] = version or define_label
        result.summary.append(f"checked {define.name} (Define-XML {version or define_label or '?'})")
    if not only:
        _merge(result, _dsj_beside(folder))
    if not package.files:
        result.findings.append(finding("VALIDATE-PATH", str(folder), (), path=str(folder), detail="no XPT file here"))
        result.rejected = True
    return result


def _not_in_sdtmig(declared: Finding, records: dict[str, int]) -> Finding:
    """SD-DATASET-DECLARED of a package someone else made: no study specification is there to declare a
    dataset, only SDTMIG; a dataset SDTMIG does not define is a custom (or other-IG) domain, said as such."""
    name = declared.values[0] if declared.values else declared.location
    return finding("PACKAGE-DATASET-NOT-SDTMIG", declared.location, (name,), dataset=name, version=SDTMIG_VERSION,
                   records=f"{records.get(name, 0):,}")


def _dsj_beside(folder: Path) -> Inspection:
    """The Dataset-JSON files beside a package's XPT files (convert writes them with --dataset-json)."""
    files = _dataset_json_files(folder)
    part = inspect_dataset_json(files) if files else Inspection(kind=KIND_DSJ)
    part.datasets = {}  # the XPT files' record counts stay the package's
    if not files:
        part.standards = {}
    return part


def _is_edc(path: Path) -> bool:
    """An ODM export (not a define.xml) or a REDCap CSV export with its dictionary beside it."""
    from trialbridge.schemas.safe_xml import KIND_ODM_2, KIND_ODM_DATA, KIND_ODM_METADATA, XmlError, xml_kind

    if path.suffix.lower() == ".csv":
        from trialbridge.converters.readers.redcap import find_dictionary
        return find_dictionary(path) is not None
    try:
        return xml_kind(path) in (KIND_ODM_DATA, KIND_ODM_METADATA, KIND_ODM_2)
    except XmlError:
        return False  # unreadable: the define.xml path words the error as before


def inspect_edc(path: Path) -> Inspection:
    """An EDC export read by its reader (converters/readers/edc.py): the reader's findings and counts."""
    from trialbridge.converters.readers.edc import read_source, source_metadata
    from trialbridge.schemas.safe_xml import KIND_ODM_METADATA, xml_kind

    if path.suffix.lower() == ".xml" and xml_kind(path) == KIND_ODM_METADATA:  # study metadata, no data: described
        metadata, problems = source_metadata(path)
        return Inspection(kind=KIND_EDC, findings=problems, rejected=metadata is None, summary=[
            f"read {path.name}: ODM study metadata only, {len(metadata.forms)} form(s), {len(metadata.items)} item(s), "
            f"{len(metadata.codelists)} codelist(s)" if metadata else f"{path.name}: unreadable"])
    read = read_source(path)
    rows = {name: len(table) for name, table in read.datasets.items()}
    return Inspection(kind=KIND_EDC, findings=list(read.findings), datasets=rows,
                      summary=[f"read {path.name}: {len(rows)} raw dataset(s), {sum(rows.values())} row(s)"],
                      rejected=has_errors(read.findings) or not rows)


def inspect_define(path: Path) -> Inspection:
    from trialbridge.schemas.define_versions import check_define_any

    version, found = check_define_any(path)
    unreadable = any(f.rule == "DEFINE-XML-SYNTAX" or f.rule.startswith("XML-") for f in found)
    return Inspection(kind=KIND_DEFINE, findings=found, summary=[f"checked {path} (Define-XML {version or '?'})"],
                      standards={"Define-XML": version or "unknown"}, rejected=unreadable)


def inspect_native(path: Path) -> Inspection:
    """Convert into a temporary folder (discarded): the checks of convert, and its exit code."""
    from trialbridge.converters.pipeline import convert

    with tempfile.TemporaryDirectory(prefix="trialbridge-validate-") as work:
        run = convert(path, Path(work) / "out", reports=False)
        document = {}
        if (Path(work) / "out" / "findings.json").is_file():
            document = json.loads((Path(work) / "out" / "findings.json").read_text(encoding="utf-8"))
    return Inspection(kind=KIND_NATIVE, findings=list(run.findings), rejected=run.exit_code == 2,
                      summary=[line for line in run.summary.splitlines() if not line.startswith(("wrote", "findings:"))]
                      + ["every check of convert ran; the outputs were discarded"],
                      standards={"SDTMIG": SDTMIG_VERSION, "CDISC CT": CT_VERSION, "Define-XML": "2.1"},
                      rule_results=list(document.get("rule_results", [])),
                      reconciliation=dict(document.get("reconciliation", {})))


def _is_dataset_json(path: Path) -> bool:
    """A Dataset-JSON file: its first 4 KB (the metadata comes first, rows last) name `datasetJSONVersion`."""
    with open(path, "rb") as handle:
        return b'"datasetJSONVersion"' in handle.read(4096)


def _dataset_json_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".json", ".ndjson")
                  and _is_dataset_json(p))


def inspect_dataset_json(paths: Sequence[Path]) -> Inspection:
    """Dataset-JSON files: the official schema, and the rows against their own metadata (count, types)."""
    from trialbridge.schemas.dataset_json_checks import check_dataset_json, read_dataset_json

    result = Inspection(kind=KIND_DSJ)
    for path in paths:
        result.findings += check_dataset_json(path)
        try:
            metadata, rows = read_dataset_json(path)
        except (OSError, ValueError):
            continue  # worded by check_dataset_json (DSJ-UNREADABLE)
        name = str(metadata.get("name") or path.stem).upper()
        result.datasets[name] = len(rows)
        result.summary.append(f"read {path.name}: Dataset-JSON {metadata.get('datasetJSONVersion', '?')}, "
                              f"{name}, {len(rows):,} row(s), {len(metadata.get('columns') or [])} column(s)")
    result.standards["Dataset-JSON"] = "1.1"
    return result


def inspect_fhir(path: Path, release: str | None = None, own: bool = False) -> Inspection:
    """FHIR files: as FHIR someone else made, or (`own`: a convert output's) with trialbridge's own rules too."""
    from trialbridge.converters.fhir.validate import check_fhir_files

    release_used, count, found = check_fhir_files(path, release, own=own)
    if count == 0 and not any(f.rule == "VALIDATE-PATH" for f in found):
        found = found + [finding("VALIDATE-PATH", str(path), (), path=str(path), detail="no FHIR resource here")]
    return Inspection(kind=f"{KIND_FHIR} ({release_used})", findings=found, standards={"FHIR": release_used},
                      rejected=count == 0,
                      summary=[f"checked {count:,} FHIR {release_used} resource(s) in {path}"],
                      datasets={"FHIR": count})


def _holds_fhir_json(folder: Path) -> bool:
    """A folder of FHIR resources or Bundles as .json files (HL7's examples, a server's export): its first
    .json file (by name) starts a JSON object with a resourceType."""
    first = next(iter(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".json")), None)
    if first is None:
        return False
    with first.open("rb") as handle:
        head = handle.read(4096)
    return head.lstrip()[:1] == b"{" and b'"resourceType"' in head


def _merge(into: Inspection, part: Inspection) -> None:
    into.findings += part.findings
    into.summary += part.summary
    into.standards.update(part.standards)
    into.datasets.update(part.datasets)
    into.rule_results += part.rule_results


def inspect_path(path: Path, sdtmig: str | None = None, ct: str | None = None,
                 fhir_release: str | None = None) -> Inspection:
    """What `path` is, and every check that applies to it (see the module doc)."""
    path = Path(path)
    if not path.exists():
        return Inspection(kind="nothing", rejected=True, findings=[
            finding("VALIDATE-PATH", str(path), (), path=str(path), detail="no such file or folder")])
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".xpt":
            return inspect_package(path.parent, sdtmig, ct, only=(path,))
        if suffix in (".xml", ".csv") and _is_edc(path):
            return inspect_edc(path)
        if suffix == ".xml":
            return inspect_define(path)
        if suffix in (".json", ".ndjson") and _is_dataset_json(path):
            return inspect_dataset_json([path])
        if suffix in (".json", ".ndjson"):
            return inspect_fhir(path, fhir_release)
        return Inspection(kind="unknown", rejected=True, findings=[finding(
            "VALIDATE-PATH", str(path), (), path=str(path), detail=f"a {suffix or 'file'} file is none of the kinds validate reads")])
    if not path.is_dir():  # a FIFO, a device, a socket: nothing to read (hostile's, issue 10)
        return Inspection(kind="unknown", rejected=True, findings=[finding(
            "VALIDATE-PATH", str(path), (), path=str(path), detail="not a regular file nor a folder")])
    if (path / "registry.json").is_file() or (path / "spec").is_dir() or (path / "spec.xlsx").is_file():
        return inspect_native(path)  # a study folder: its records and the spec that names them
    if (path / "sdtm").is_dir() or (path / "fhir").is_dir():
        from trialbridge.converters.outdir import manifest_findings  # each file as written (hostile's, issue 10)
        result = Inspection(kind=KIND_CONVERT, findings=manifest_findings(path))
        if (path / "sdtm").is_dir():
            _merge(result, inspect_package(path / "sdtm", sdtmig, ct))
        for bundle in sorted((path / "fhir").glob("R*/bundles.ndjson")):
            _merge(result, inspect_fhir(bundle, bundle.parent.name, own=True))
        result.standards.pop("FHIR", None)
        result.standards["FHIR"] = ", ".join(b.parent.name for b in sorted((path / "fhir").glob("R*/bundles.ndjson")))
        return result
    if any(p.suffix.lower() == ".xpt" for p in path.iterdir()):
        return inspect_package(path, sdtmig, ct)
    if _dataset_json_files(path):
        return inspect_dataset_json(_dataset_json_files(path))
    if any(p.suffix.lower() == ".ndjson" for p in path.iterdir()) or (path / "bundle.json").is_file() \
            or (path / "bundles.ndjson").is_file() or _holds_fhir_json(path):
        return inspect_fhir(path, fhir_release)
    return Inspection(kind="unknown", rejected=True, findings=[finding(
        "VALIDATE-PATH", str(path), (), path=str(path),
        detail="not a native record folder (no registry.json), nor an SDTM package (no .xpt file), "
               "nor a convert output (no sdtm/ or fhir/), nor FHIR (no bundle.json or .ndjson)")])


# ------------------------------------------------------------------------------------------- run
def validate(path: Path, report: Path | None = None, waivers: Sequence[Waiver] = (), sdtmig: str | None = None,
             ct: str | None = None, fhir_release: str | None = None, tool_version: str = "unknown",
             force: bool = False, progress=None):
    """Validate `path`; with `report`, write report.json/html/xlsx into that folder, whole or not at all
    (new, empty, or an earlier report with `force`: the rules of `converters/outdir.py`).

    Returns a `pipeline.RunResult`: exit code 2 when the input cannot be used, 1 when an error no waiver
    explains was found, else 0. `progress` (`converters/progress.py`) is told each stage.
    """
    from trialbridge.converters.progress import Progress

    progress = progress or Progress()
    started = time.monotonic()
    progress.stage("read and check", path=str(path))
    inspection = inspect_path(Path(path), sdtmig, ct, fhir_release)
    inspection.findings.append(finding("VALIDATE-KIND", str(path), (inspection.kind,), path=str(path),
                                       kind=inspection.kind))
    findings = triage(inspection.findings, waivers)
    exit_code = 2 if inspection.rejected else 1 if has_errors(findings) else 0
    summary = [f"{path}: validated as {inspection.kind}"] + inspection.summary
    try:
        return _write_report(Path(path), report, force, findings, exit_code, summary, inspection, started,
                             tool_version, progress)
    finally:
        progress.done()


def _write_report(path: Path, report: Path | None, force: bool, findings: list[Finding], exit_code: int,
                  summary: list[str], inspection: Inspection, started: float, tool_version: str, progress):
    """The RunResult of `validate`, after writing the reports when `report` names a folder."""
    from trialbridge.converters.atomic import atomic_output_dir
    from trialbridge.converters.outdir import OutputRefused, claim_output
    from trialbridge.converters.pipeline import RunResult

    if report is not None:
        progress.stage("reports: json, html, xlsx")
        facts = RunFacts(command="validate", input_path=str(path), input_kind=inspection.kind, findings=findings,
                         exit_code=exit_code, tool_version=tool_version, standards=inspection.standards,
                         seconds=time.monotonic() - started,
                         inputs=file_entries(files_under(Path(path), skip=REPORT_FILES), Path(path)),
                         reconciliation=inspection.reconciliation, rule_results=inspection.rule_results,
                         datasets=inspection.datasets)
        try:
            with claim_output(Path(report), (Path(path),), force), atomic_output_dir(Path(report)) as work:
                write_reports(work, facts)
        except OutputRefused as refused:
            return RunResult(findings + refused.findings, 2, "\n".join(summary + [f"{report}: refused, no report written"]))
        summary.append(f"report: {report}/report.json, report.html, report.xlsx")
        return RunResult(findings, exit_code, "\n".join(summary),
                         outputs=sorted(p for p in Path(report).iterdir() if p.is_file()))
    return RunResult(findings, exit_code, "\n".join(summary))
