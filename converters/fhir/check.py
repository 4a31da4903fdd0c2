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

`own=False` (FHIR someone else made: HL7's examples, a server's export) keeps the FHIR rules and drops
trialbridge's own: no business identifier is required; a reference resolves to a resource of the set,
an entry's `fullUrl` (or its `Type/id` tail); only a `urn:uuid:` or `#id` reference that resolves to
nothing is an error (FHIR Bundle rules), any other is a note (FHIR-REFERENCE-OUTSIDE: a server resolves
it); a JSON document with no resourceType (an npm package.json beside HL7's examples) is skipped and said;
and a resource counts as repeated only within one document (one file, or one NDJSON line), never in
a `history` Bundle, where versions of one resource are the point.
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import chain
from pathlib import Path
from typing import Any, Iterator

import orjson

from trialbridge.converters.fhir.bundle import BUNDLES, reference_paths
from trialbridge.converters.fhir.chunk import first_identifier
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


Document = tuple[str, str, str]  # (place of the file or NDJSON line, Bundle.type or "", entry fullUrl or "")


def _items(path: Path, bundles: list[BundleFacts], full_urls: set[str] | None = None,
           documents: dict[str, Document] | None = None, not_fhir: list[str] | None = None) -> Iterator[Item]:
    """Every resource under `path` with its location; each Bundle's type and request methods noted on the way,
    and (when given) each entry's fullUrl in `full_urls`, each resource location's document in `documents`,
    and each JSON document that is no resource (no resourceType: an npm package.json, an index) in `not_fhir`."""
    for file in _files(path):
        for place, document in _documents(file):
            if isinstance(document, dict) and document.get("resourceType") == "Bundle":
                entries = [e for e in document.get("entry") or [] if isinstance(e, dict)]
                kind = str(document.get("type", ""))
                bundles.append((place, kind, [(i, str(e["request"].get("method", ""))) for i, e in enumerate(entries)
                                              if isinstance(e.get("request"), dict)]))
                for index, entry in enumerate(entries):
                    if full_urls is not None and isinstance(entry.get("fullUrl"), str):
                        full_urls.add(entry["fullUrl"])
                    if isinstance(entry.get("resource"), dict):
                        where = f"{place}:Bundle.entry[{index}].resource"
                        if documents is not None:
                            full_url = entry.get("fullUrl")
                            documents[where] = (place, kind, full_url if isinstance(full_url, str) else "")
                        yield where, entry["resource"]
            elif isinstance(document, dict) and (not_fhir is None or "resourceType" in document):
                if documents is not None:
                    documents[place] = (place, "", "")
                yield place, document
            elif not_fhir is not None:
                not_fhir.append(place)


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


_TAIL = re.compile(r"([A-Za-z]+/[A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?$")


def _resolves(ref: str, labels: Counter[str], urls: set[str]) -> bool:
    """`ref` names a resource of the set: its `Type/id`, an entry's fullUrl, or an absolute URL's `Type/id`."""
    if ref in labels or ref in urls:
        return True
    tail = _TAIL.search(ref.split("|")[0])
    return bool(tail) and tail.group(1) in labels


def _outside_findings(pending: list[tuple[str, str]], labels: Counter[str], urls: set[str],
                      release: str) -> list[Finding]:
    """FHIR someone else made: an unresolved `urn:uuid:`/`#` reference is an error, any other a note."""
    out = []
    for location, ref in pending:
        if _resolves(ref, labels, urls):
            continue
        local = ref.startswith(("urn:uuid:", "urn:oid:", "#"))
        out.append(finding("FHIR-REFERENCE-UNRESOLVED" if local else "FHIR-REFERENCE-OUTSIDE", location, [ref],
                           reference=ref, release=release))
    return out


def _repeats(seen: Counter[tuple[str, str, str]]) -> list[Finding]:
    """One finding per resource found more than once in one document with one fullUrl and meta.versionId
    (FHIR bdl-7); entries of a `history` Bundle and entries without an id (to be created) are not repeats."""
    return [finding("FHIR-DUPLICATE-RESOURCE", f"{place}:{label}", [label], resource=label, count=n)
            for (place, label, key), n in seen.items()
            if n > 1 and not label.endswith("/None") and not key.endswith("|history")]


def check_fhir_path(path: Path, release: str | None = None, own: bool = True) -> tuple[str, int, list[Finding]]:
    """Check the FHIR resources under `path` as convert checks its own (`own`), or as FHIR someone else
    made (see the module doc): (release, resources, findings)."""
    path = Path(path)
    bundles: list[BundleFacts] = []
    findings: list[Finding] = []
    labels: Counter[str] = Counter()
    urls: set[str] = set()
    documents: dict[str, Document] = {}
    in_document: Counter[tuple[str, str, str]] = Counter()
    not_fhir: list[str] = []
    pending: list[tuple[str, str]] = []  # (location, reference) not yet resolved when read
    count = 0
    try:
        items = _items(path, bundles, None if own else urls, None if own else documents, None if own else not_fhir)
        head = [item for item in (next(items, None) for _ in range(SAMPLE)) if item is not None]
        chosen = detect_release(path, [r for _, r in head], release)
        chunk: list[Item] = []
        for where, resource in chain(head, items):
            count += 1
            label = f"{resource.get('resourceType')}/{resource.get('id')}"
            labels[label] += 1
            urls.add(f"urn:uuid:{resource.get('id')}")
            if not own:
                place, kind, full_url = documents.pop(where, (where, "", ""))
                version = str((resource.get("meta") or {}).get("versionId", ""))
                in_document[(place, label, full_url + "|" + version + ("|history" if kind == "history" else ""))] += 1
            elif first_identifier(resource) is None:
                findings.append(finding("FHIR-NO-IDENTIFIER", where, [label], resource=label))
            contained = {"#"} | {"#" + str(c.get("id")) for c in resource.get("contained") or [] if isinstance(c, dict)}
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
    if not own:
        skipped = [finding("FHIR-NOT-A-RESOURCE", place, [place], file=place) for place in not_fhir]
        return chosen, count, findings + skipped + _outside_findings(pending, labels, urls, chosen) + \
            _repeats(in_document)
    findings += [finding("FHIR-REFERENCE-UNRESOLVED", location, [ref], reference=ref, release=chosen)
                 for location, ref in pending if ref not in labels and ref not in urls]
    findings += [finding("FHIR-DUPLICATE-RESOURCE", label, [label], resource=label, count=n)
                 for label, n in labels.items() if n > 1]
    return chosen, count, findings
