"""FHIR files someone gives `validate` (a bundle or resource .json, an .ndjson file or a folder of them)
-> the release they were checked as, how many resources, and the findings.

When the FHIR helper's `schemas.fhir_checks.check_fhir_path` is installed, it does the work (it knows
server-sized bundles); otherwise the resources are read here and go through `check_resources` (schema,
model, required bindings). The release is the one given, else the folder name (`fhir/R4/`), else the one
whose JSON Schema the first resources fit best.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from trialbridge.schemas.findings import Finding, finding

RELEASES = ("R4", "R5")
SAMPLE = 50  # resources the release is detected on


def _resources(path: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(base path, index, resource) of every resource under `path`; JSON errors raise ValueError."""
    files = sorted(path.glob("*.ndjson")) + ([path / "bundle.json"] if (path / "bundle.json").is_file() else []) \
        if path.is_dir() else [path]
    for file in files:
        if file.suffix.lower() == ".ndjson":
            with file.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        try:
                            yield "", -1, json.loads(line)
                        except json.JSONDecodeError as error:
                            raise ValueError(f"{file.name} line {number}: not JSON ({error.msg})") from None
            continue
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{file.name} line {error.lineno}: not JSON ({error.msg})") from None
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            for index, entry in enumerate(document.get("entry", []) or []):
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    yield "Bundle.entry", index, entry["resource"]
        elif isinstance(document, dict):
            yield "", -1, document


def _release_of(path: Path, resources: list[tuple[str, int, dict[str, Any]]], given: str | None) -> str:
    from trialbridge.schemas.fhir_checks import schema_findings

    if given:
        return given.upper()
    for part in reversed(path.resolve().parts):
        if part.upper() in RELEASES:
            return part.upper()
    sample = [r for _, _, r in resources[:SAMPLE]]
    errors = {release: sum(len(schema_findings(r, release, "x")) for r in sample) for release in RELEASES}
    return min(RELEASES, key=lambda release: (errors[release], release))


def check_fhir_files(path: Path, release: str | None = None, own: bool = True) -> tuple[str, int, list[Finding]]:
    """Check the FHIR resources under `path` (see the module doc); `own=False`: FHIR someone else made
    (`converters/fhir/check.py`)."""
    try:
        from trialbridge.converters.fhir.check import check_fhir_path  # the FHIR helper's, when installed
    except ImportError:
        check_fhir_path = None
    if check_fhir_path is not None:
        result = check_fhir_path(Path(path), release, own=own)
        return result if isinstance(result, tuple) else (release or "detected", -1, list(result))
    from trialbridge.schemas.fhir_checks import check_resources

    try:
        resources = list(_resources(Path(path)))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return release or "?", 0, [finding("VALIDATE-PATH", str(path), (), path=str(path), detail=str(error))]
    chosen = _release_of(Path(path), resources, release)
    findings: list[Finding] = []
    by_base: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for base, index, resource in resources:
        by_base.setdefault(base, []).append((index, resource))
    for base, items in by_base.items():
        if base == "Bundle.entry":
            findings += check_resources([r for _, r in items], chosen, "Bundle.entry", items[0][0])
        else:
            findings += check_resources([r for _, r in items], chosen, "")
    return chosen, len(resources), findings
