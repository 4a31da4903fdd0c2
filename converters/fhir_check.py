"""FHIR files on disk -> (release, resources checked, findings): what `validate` runs on FHIR, the checks of convert.

`check_fhir_path(path, release=None)` takes a Bundle or resource `.json`, an `.ndjson` file (of resources,
or of Bundles like `bundles.ndjson`), a release folder written by convert (`fhir/R4/`: its
`bundles.ndjson`), or a folder of such files (`fhir/R4/ndjson/`). Every resource goes through the same
checks as in convert (`schemas.fhir_checks.check_resources`: compiled official schema, bindings, UCUM,
choice types; exact layers on what they refuse), every Bundle's type and request methods through their
ValueSets, and, over the whole set: each reference resolves (`<Type>/<id>` of a resource of the set, the
fullUrl of an entry, or `#id` of a contained resource), no resource appears twice, every resource has an
identifier. Files are read line by line or Bundle by Bundle, so a large output is never in memory whole.
The release is the one given, else a folder name on the path (`R4`, `R5`), else the release whose official
schema the first resources follow best.
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import chain
from pathlib import Path
from typing import Any, Iterator

import orjson

from trialbridge.converters.fhir_bundle import BUNDLES, reference_paths
from trialbridge.converters.fhir_chunk import first_identifier
from trialbridge.schemas import fhir_fast
from trialbridge.schemas.fhir_checks import RELEASES, check_codes, check_resources
from trialbridge.schemas.findings import Finding, finding

CHUNK = 5_000  # resources checked at a time
SAMPLE = 50  # resources the release is detected on
_PLACE = re.compile(r"^@\[(\d+)\]\.resource")

Item = tuple[str, dict[str, Any]]  # (location of the resource, resource)


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if (path / BUNDLES).is_file():
        return [path / BUNDLES]
    return sorted(p for p in path.iterdir() if p.suffix.lower() in (".ndjson", ".json")
                  and p.name not in ("manifest.json", "import-parameters.json"))


def _documents(file: Path) -> Iterator[tuple[str, Any]]:
    """(place, parsed JSON) of each document: each line of an .ndjson file, the whole of a .json file."""
    if file.suffix.lower() == ".ndjson":
        with open(file, "rb") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    yield f"{file.name}:{number}", orjson.loads(line)
    else:
        yield file.name, orjson.loads(file.read_bytes())


BundleFacts = tuple[str, str, list[tuple[int, str]]]  # (place, Bundle.type, [(entry index, request.method)])


def _items(path: Path, bundles: list[BundleFacts]) -> Iterator[Item]:
    """Every resource under `path` with its location; each Bundle's type and request methods noted on the way."""
    for file in _files(path):
        for place, document in _documents(file):
            if isinstance(document, dict) and document.get("resourceType") == "Bundle":
                entries = [e for e in document.get("entry") or [] if isinstance(e, dict)]
                bundles.append((place, str(document.get("type", "")),
                                [(i, str(e["request"].get("method", ""))) for i, e in enumerate(entries)
                                 if isinstance(e.get("request"), dict)]))
                for index, entry in enumerate(entries):
                    if isinstance(entry.get("resource"), dict):
                        yield f"{place}:Bundle.entry[{index}].resource", entry["resource"]
            elif isinstance(document, dict):
                yield place, document


def detect_release(path: Path, sample: list[dict[str, Any]], given: str | None) -> str:
    if given:
        return given.upper()
    for part in reversed(Path(path).resolve().parts):
        if part.upper() in RELEASES:
            return part.upper()
    valid = {release: sum(fhir_fast.official_validator(release).is_valid(r) for r in sample) for release in RELEASES}
    return max(RELEASES, key=lambda release: (valid[release], release == "R4"))


def _check_chunk(items: list[Item], release: str) -> list[Finding]:
    found = check_resources([r for _, r in items], release, "@")

    def place(f: Finding) -> Finding:
        match = _PLACE.match(f.location)
        if not match:
            return f
        return Finding(f.rule, f.severity, items[int(match.group(1))][0] + f.location[match.end():], f.message,
                       f.hint, f.values)
    return [place(f) for f in found]


def _bundle_findings(bundles: list[BundleFacts], release: str) -> list[Finding]:
    out: list[Finding] = []
    for place, kind, methods in bundles:
        out += check_codes(release, "Bundle.type", [(f"{place}:Bundle.type", kind)])
        out += check_codes(release, "Bundle.entry.request.method",
                           [(f"{place}:Bundle.entry[{i}].request.method", method) for i, method in methods])
    return out


def check_fhir_path(path: Path, release: str | None = None) -> tuple[str, int, list[Finding]]:
    """Check the FHIR resources under `path` as convert checks its own: (release, resources, findings)."""
    path = Path(path)
    bundles: list[BundleFacts] = []
    findings: list[Finding] = []
    labels: Counter[str] = Counter()
    urls: set[str] = set()
    pending: list[tuple[str, str]] = []  # (location, reference) not yet resolved when read
    count = 0
    try:
        items = _items(path, bundles)
        head = [item for item in (next(items, None) for _ in range(SAMPLE)) if item is not None]
        chosen = detect_release(path, [r for _, r in head], release)
        chunk: list[Item] = []
        for where, resource in chain(head, items):
            count += 1
            label = f"{resource.get('resourceType')}/{resource.get('id')}"
            labels[label] += 1
            urls.add(f"urn:uuid:{resource.get('id')}")
            if first_identifier(resource) is None:
                findings.append(finding("FHIR-NO-IDENTIFIER", where, [label], resource=label))
            contained = {"#" + str(c.get("id")) for c in resource.get("contained") or [] if isinstance(c, dict)}
            pending += [(location, ref) for location, ref in reference_paths(resource, where)
                        if ref not in contained and ref not in labels and ref not in urls]
            chunk.append((where, resource))
            if len(chunk) >= CHUNK:
                findings += _check_chunk(chunk, chosen)
                chunk = []
        findings += _check_chunk(chunk, chosen)
    except (OSError, ValueError) as error:
        return release or "?", count, [finding("VALIDATE-PATH", str(path), (), path=str(path), detail=str(error))]
    findings += _bundle_findings(bundles, chosen)
    findings += [finding("FHIR-REFERENCE-UNRESOLVED", location, [ref], reference=ref, release=chosen)
                 for location, ref in pending if ref not in labels and ref not in urls]
    findings += [finding("FHIR-DUPLICATE-RESOURCE", label, [label], resource=label, count=n)
                 for label, n in labels.items() if n > 1]
    return chosen, count, findings
