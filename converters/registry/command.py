"""`trialbridge registry RECORD... --out DIR`: registry records (files, folders, search pages) -> one trial
design package per study, each in its own subfolder named by its NCT number, and a summary.

```
DIR/summary.json           one row per study (and per file that gave none): source, form, STUDYID,
                           exit code, errors, warnings, outputs; plus the findings about whole files
DIR/<NCT number>/          the study's package (converters/registry/package.py)
```
One bad file or record does not stop the others: a file that cannot be read is a row with exit code 2;
a record whose conversion stops with an internal error is a row with exit code 3 (REGISTRY-RECORD-FAILED,
with the traceback in summary.json), and its folder is not written. DIR appears whole or not at all
(written beside it, then moved into place) and follows convert's output rules (new, empty, or an earlier
trialbridge output replaced only with --force; never an input); when no study could be converted, nothing
is written. The exit code is the worst of the rows.
"""
from __future__ import annotations

import json
import shutil
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence

from trialbridge.converters.atomic import atomic_output_dir
from trialbridge.converters.outdir import OutputRefused, claim_output
from trialbridge.converters.readers.registry import read_registry_files
from trialbridge.converters.registry.package import write_record
from trialbridge.mappings.registry.model import RegistryRecord
from trialbridge.schemas.findings import Finding, finding

EXIT_OK, EXIT_CONFORMANCE, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    name: str  # the subfolder (NCT number), or the file name for a file that gave no study
    source: str
    form: str
    studyid: str
    exit_code: int
    errors: int
    warnings: int
    outputs: list[str] = field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "source": self.source, "form": self.form, "studyid": self.studyid,
                "exit_code": self.exit_code, "errors": self.errors, "warnings": self.warnings,
                "outputs": self.outputs, **({"detail": self.detail} if self.detail else {})}


@dataclass(frozen=True)
class RegistryRun:
    rows: list[Row]
    findings: list[Finding]  # every finding, of every record and file
    exit_code: int


def _counts(findings: list[Finding]) -> tuple[int, int]:
    return sum(f.severity == "error" for f in findings), sum(f.severity == "warning" for f in findings)


def created_of(record: RegistryRecord) -> datetime:
    """The creation timestamp of a record's files: its last update (re-runs are byte-identical)."""
    from trialbridge.converters.pipeline import creation_datetime

    return creation_datetime(record.record)


def _folder_names(records: list[RegistryRecord]) -> tuple[list[str], list[Finding]]:
    """Each record's subfolder: its NCT number; a name given twice takes -2, -3, ... (reported)."""
    seen: dict[str, int] = {}
    names, findings = [], []
    for record in records:
        seen[record.name] = seen.get(record.name, 0) + 1
        names.append(record.name if seen[record.name] == 1 else f"{record.name}-{seen[record.name]}")
    for name, count in seen.items():
        if count > 1:
            findings.append(finding("REGISTRY-OUT-NAME", name, [name], name=name, count=count))
    return names, findings


def _convert_one(record: RegistryRecord, folder: Path, releases: Sequence[str], prs: bool,
                 created: datetime | None, placeholder: bool) -> tuple[Row, list[Finding]]:
    folder.mkdir()
    try:
        findings, outputs = write_record(record, folder, created or created_of(record), releases, prs, placeholder)
    except Exception as error:  # noqa: BLE001 - one record's defect must not stop the others
        shutil.rmtree(folder, ignore_errors=True)
        failed = finding("REGISTRY-RECORD-FAILED", record.source, [type(error).__name__], record=record.source,
                         detail=f"{type(error).__name__}: {error}")
        row = Row(folder.name, record.source, record.form, record.studyid, EXIT_INTERNAL, 1, 0,
                  detail=traceback.format_exc())
        return row, [*record.findings, failed]
    errors, warnings = _counts(findings)
    code = EXIT_CONFORMANCE if errors else EXIT_OK
    return Row(folder.name, record.source, record.form, record.studyid, code, errors, warnings, outputs), findings


def run_registry(paths: Sequence[Path], out: Path, releases: Sequence[str] = ("R4", "R5"), prs: bool = False,
                 created: datetime | None = None, placeholder: bool = True, force: bool = False) -> RegistryRun:
    """Read every record of `paths` and write each study's package under `out` (see the module docstring).

    `out` follows convert's output rules (`converters/outdir.py`): new, empty, or an earlier trialbridge
    output (then only with `force`), never one of the inputs; else exit 2 and nothing is touched."""
    try:
        with claim_output(Path(out), [Path(p) for p in paths], force):
            return _run_claimed(paths, out, releases, prs, created, placeholder)
    except OutputRefused as refused:
        return RegistryRun([], list(refused.findings), EXIT_BAD_INPUT)


def _run_claimed(paths: Sequence[Path], out: Path, releases: Sequence[str], prs: bool, created: datetime | None,
                 placeholder: bool) -> RegistryRun:
    files = read_registry_files([Path(p) for p in paths])
    rows: list[Row] = []
    findings: list[Finding] = []
    for read in files:
        findings += read.findings
        if not read.records:
            errors, warnings = _counts(read.findings)
            rows.append(Row(read.path.name, str(read.path), "", "", EXIT_BAD_INPUT if errors else EXIT_OK, errors, warnings))
    records = [record for read in files for record in read.records]
    if not records:
        return RegistryRun(rows, findings, max([r.exit_code for r in rows], default=EXIT_BAD_INPUT) or EXIT_BAD_INPUT)
    names, name_findings = _folder_names(records)
    findings += name_findings
    with atomic_output_dir(Path(out)) as work:
        for record, name in zip(records, names):
            row, found = _convert_one(record, work / name, releases, prs, created, placeholder)
            rows.append(row)
            findings += found
        (work / "summary.json").write_text(json.dumps({
            "records": [r.as_dict() for r in rows],
            "file_findings": [f.as_dict() for f in findings if f.location in {str(x.path) for x in files}],
        }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return RegistryRun(rows, findings, max(r.exit_code for r in rows))


def summary_table(run: RegistryRun) -> str:
    """The terminal summary: one line per study (or unreadable file), then the worst exit code."""
    width = max([len(r.name) for r in run.rows] + [6])
    lines = [f"{'record':{width}}  {'form':10}  {'STUDYID':20}  exit  errors  warnings  outputs"]
    for r in run.rows:
        outputs = ", ".join(r.outputs) if r.outputs else ("not converted: internal error" if r.exit_code == 3 else
                                                          "nothing written")
        lines.append(f"{r.name:{width}}  {r.form:10}  {r.studyid[:20]:20}  {r.exit_code:>4}  {r.errors:>6}  "
                     f"{r.warnings:>8}  {outputs}")
    converted = sum(r.exit_code in (EXIT_OK, EXIT_CONFORMANCE) for r in run.rows)
    lines.append(f"{converted} of {len(run.rows)} converted; exit code {run.exit_code} (the worst of the rows)")
    return "\n".join(lines)
