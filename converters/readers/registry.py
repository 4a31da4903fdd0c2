"""Registry record files -> registry model records (`mappings/registry/model.py`), one per study.

A path may be a file or a folder (its `*.json` and `*.xml` files, in name order, not recursive). A file
is recognised by its content, not its name: JSON (API v2 study or search page, classic v1 response or
Study; NDJSON with one API v2 study per line) or XML (a `<clinical_study>`, or any element holding several). XML goes through the one safe
parser (`schemas/safe_xml.py`: no DTD, no entities, no network; entity declarations refused). A file that cannot be read is
an error finding for that file only; the other files are still read.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from trialbridge.mappings.registry.model import RegistryRecord, normalise, split_json
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.safe_xml import XmlError, parse_bytes

SUFFIXES = (".json", ".xml")
MAX_BYTES = 512 * 1024 * 1024  # one registry file: a search page of 1,000 full studies is about 100 MB


@dataclass(frozen=True)
class RegistryFile:
    """What one file gave: its studies, or the findings that say why it gave none."""

    path: Path
    records: list[RegistryRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their .json/.xml files in name order; a path that is neither stays (and
    is reported by `read_file`)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def _unreadable(path: Path, detail: str) -> RegistryFile:
    return RegistryFile(path, findings=[finding("REGISTRY-UNREADABLE", str(path), [path.name], file=str(path), detail=detail)])


def _studies_in_xml(root) -> list:
    if root.tag == "clinical_study":
        return [root]
    return [e for e in root.iter("clinical_study") if e.find("id_info") is not None]


def read_file(path: Path) -> RegistryFile:
    """One file -> its studies in the registry model (or the findings saying why not)."""
    if not path.is_file():
        return _unreadable(path, "no such file")
    if path.stat().st_size > MAX_BYTES:
        return _unreadable(path, f"the file is larger than {MAX_BYTES:,} bytes")
    data = path.read_bytes()
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return _read_xml(path, data)
    if head in (b"{", b"["):
        return _read_json(path, data)
    return RegistryFile(path, findings=[finding("REGISTRY-FORMAT", str(path), [path.name], file=str(path),
                                                detail="the file is neither JSON nor XML")])


def _read_json(path: Path, data: bytes) -> RegistryFile:
    try:
        text = data.decode("utf-8-sig")
        document = json.loads(text)
    except UnicodeDecodeError as error:
        return _unreadable(path, f"not UTF-8 text (byte {error.start})")
    except json.JSONDecodeError as error:
        lines = _ndjson(text) if error.msg == "Extra data" else None
        if lines is None:
            return _unreadable(path, f"JSON syntax error at line {error.lineno}, column {error.colno}: {error.msg}")
        document = lines
    try:
        studies = list(split_json(document))
    except ValueError as error:
        return RegistryFile(path, findings=[finding("REGISTRY-FORMAT", str(path), [path.name], file=str(path), detail=str(error))])
    if not studies:
        return RegistryFile(path, findings=[finding("REGISTRY-EMPTY", str(path), [path.name], file=str(path))])
    records = [normalise(form, study, f"{path.name}#{place}" if place else path.name) for form, place, study in studies
               if isinstance(study, dict)]
    return RegistryFile(path, records=records)


def _ndjson(text: str) -> list | None:
    """NDJSON (one API v2 study per line, as bulk downloads write it) as a list; None when a line is no JSON."""
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        return None


def _read_xml(path: Path, data: bytes) -> RegistryFile:
    try:
        root = parse_bytes(data, str(path)).getroot()
    except XmlError as error:  # unsafe (DTD entities), malformed, too large: one finding for this file
        return RegistryFile(path, findings=[error.finding()])
    studies = _studies_in_xml(root)
    if not studies:
        detail = f"the root element is <{root.tag}>; expected <clinical_study> (legacy ClinicalTrials.gov XML)"
        return RegistryFile(path, findings=[finding("REGISTRY-FORMAT", str(path), [path.name], file=str(path), detail=detail)])
    single = len(studies) == 1 and studies[0] is root
    records = [normalise("legacy-xml", study, path.name if single else f"{path.name}#clinical_study[{i}]")
               for i, study in enumerate(studies)]
    return RegistryFile(path, records=records)


def read_registry_files(paths: list[Path]) -> list[RegistryFile]:
    """Every file of `paths` (folders expanded) read on its own: one bad file does not stop the others."""
    return [read_file(path) for path in expand([Path(p) for p in paths])]
