"""A run's facts -> the report document (report.json), the one source report.html and report.xlsx render.

The document holds what a reviewer needs to trust and triage a run: the inputs and outputs with their
sizes and SHA-256, the tool and standards versions, the reconciliation of input rows, one summary per
dataset, the result of every rule with its title, citation and hint, and every (grouped) finding with its
structured location, records, knock-ons and explanation. Its JSON Schema is `schemas/report.schema.json`.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from trialbridge.schemas.findings import Finding, catalogue, has_errors, sort_findings

REPORT_VERSION = "1.0"
REPORT_FILES = ("report.json", "report.html", "report.xlsx")


@dataclass(frozen=True)
class RunFacts:
    """Everything a report says about one run, gathered by the pipeline."""

    command: str  # "convert" or "validate"
    input_path: str
    input_kind: str  # what the input was taken for: "native record folder", "SDTM package", ...
    findings: Sequence[Finding]
    exit_code: int
    tool_version: str
    standards: Mapping[str, object]
    created: str = ""
    seconds: float = 0.0
    inputs: Sequence[Mapping[str, object]] = ()
    outputs: Sequence[Mapping[str, object]] = ()
    reconciliation: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    rule_results: Sequence[Mapping[str, str]] = ()
    datasets: Mapping[str, int] = field(default_factory=dict)  # dataset -> records


def file_entries(paths: Iterable[Path], base: Path) -> list[dict[str, object]]:
    """Path (relative to `base`, / separated), size and SHA-256 of each file, sorted by path."""
    entries = []
    for path in sorted(paths, key=lambda p: p.relative_to(base).as_posix() if p != base else p.name):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        name = path.relative_to(base).as_posix() if path != base else path.name
        entries.append({"path": name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()})
    return entries


def files_under(root: Path, skip: Iterable[str] = ()) -> list[Path]:
    """Every file under `root` (or `root` itself when it is a file), leaving out names in `skip`."""
    root = Path(root)
    if root.is_file():
        return [root]
    skipped = set(skip)
    return [p for p in root.rglob("*") if p.is_file() and p.name not in skipped and not p.name.startswith(".")]


def _dataset_of(f: Finding) -> str:
    where = f.where()
    return str(where["dataset"] or "") or (f"file {where['file']}" if where["file"] else
                                          ("FHIR" if where["fhir_path"] else "(study)"))


def _dataset_rows(findings: Sequence[Finding], datasets: Mapping[str, int]) -> list[dict[str, object]]:
    per: dict[str, Counter] = defaultdict(Counter)
    for f in findings:
        per[_dataset_of(f)][f.severity] += f.count
        per[_dataset_of(f)]["findings"] += 1
        per[_dataset_of(f)]["explained"] += f.count if f.explanation is not None else 0
    names = sorted(set(datasets) | set(per), key=lambda n: (n.startswith(("file ", "(", "FHIR")), n))
    return [{"dataset": n, "records": datasets.get(n), "findings": per[n]["findings"], "errors": per[n]["error"],
             "warnings": per[n]["warning"], "notes": per[n]["info"], "explained": per[n]["explained"]}
            for n in names]


def _rule_rows(findings: Sequence[Finding], results: Sequence[Mapping[str, str]]) -> list[dict[str, object]]:
    rules = catalogue()
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_rule[f.rule].append(f)
    result_of = {r["rule"]: r for r in results}
    rows = []
    for rule_id in sorted(set(by_rule) | set(result_of)):
        rule = rules.get(rule_id)
        mine = by_rule.get(rule_id, [])
        result = result_of.get(rule_id)
        status = result["status"] if result else "issues"
        rows.append({
            "rule": rule_id, "title": rule.title if rule else "", "severity": rule.severity if rule else "",
            "citation": rule.citation if rule else "", "references": rule.references() if rule else {},
            "hint": rule.hint if rule else "", "status": status, "detail": result["detail"] if result else "",
            "findings": len(mine), "records": sum(f.count for f in mine),
            "open": sum(f.count for f in mine if f.explanation is None),
            "explained": sum(f.count for f in mine if f.explanation is not None),
        })
    return rows


def report_document(facts: RunFacts) -> dict[str, object]:
    """The report as one JSON-ready dict (see the module doc and schemas/report.schema.json)."""
    ordered = sort_findings(facts.findings)
    counts = {
        "findings": len(ordered),
        "records": sum(f.count for f in ordered),
        "by_severity": {s: sum(f.count for f in ordered if f.severity == s) for s in ("error", "warning", "info")},
        "findings_by_severity": {s: sum(1 for f in ordered if f.severity == s) for s in ("error", "warning", "info")},
        "by_status": {s: sum(f.count for f in ordered if f.status == s) for s in ("open", "explained")},
        "open_errors": has_errors(ordered),
    }
    return {
        "report_version": REPORT_VERSION,
        "tool": {"name": "trialbridge", "version": facts.tool_version},
        "command": facts.command,
        "input": {"path": facts.input_path, "kind": facts.input_kind},
        "standards": dict(facts.standards),
        "created": facts.created,
        "run": {"exit_code": facts.exit_code},  # no run time: re-runs must give the same bytes (the terminal says it)
        "inputs": [dict(e) for e in facts.inputs],
        "outputs": [dict(e) for e in facts.outputs],
        "reconciliation": {k: dict(v) for k, v in facts.reconciliation.items()},
        "summary": counts,
        "datasets": _dataset_rows(ordered, facts.datasets),
        "rules": _rule_rows(ordered, facts.rule_results),
        "findings": [{"id": f"F{i:05d}", "group": _dataset_of(f), **f.as_dict()} for i, f in enumerate(ordered, 1)],
    }


def report_json_text(document: Mapping[str, object]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def write_reports(folder: Path, facts: RunFacts) -> list[Path]:
    """report.json, report.html and report.xlsx into `folder`; returns the paths written."""
    from trialbridge.converters.reports.page import report_html
    from trialbridge.converters.reports.workbook import write_report_xlsx

    folder.mkdir(parents=True, exist_ok=True)
    document = report_document(facts)
    paths = [folder / name for name in REPORT_FILES]
    paths[0].write_text(report_json_text(document), encoding="utf-8")
    paths[1].write_text(report_html(document), encoding="utf-8")
    write_report_xlsx(document, paths[2])
    return paths
