"""FHIR resources (plain dicts) -> `<release>/bundles.ndjson` (server-sized Bundles) and `<release>/ndjson/`.

Every resource has a stable id (UUIDv5 of its type and natural keys) and every reference is the relative
reference `<Type>/<id>`, so the same resource text serves both outputs:
- `bundles.ndjson`: one Bundle per line (FHIR NDJSON of Bundle resources: one file however many Bundles),
  each of at most `entries` entries (default ENTRIES), `transaction` (default) or `batch`; one entry per
  resource: fullUrl `urn:uuid:<id>`, the resource, and `request` PUT `<Type>/<id>` (update as
  create at the stable id: a second upload updates each resource in place and creates nothing; no search,
  so no conditional entry, which servers cap hard). The first Bundle holds the study level (the
  ResearchStudy and what it references); then come the subjects, in bundle order, packed into Bundles of
  `entries`. Posted line by line, a reference always points to a resource posted before or in the same
  Bundle (a later one is a finding).
- `ndjson/<Type>.ndjson`: one resource per line per type (FHIR Bulk Data), `ndjson/manifest.json` (the
  Bulk Data manifest: each file, its type and count, in load order) and `ndjson/import-parameters.json`
  (the Parameters a server's `$import` takes), file URLs relative to the folder.

Entries are in a fixed order: the ResearchStudy first, then the other study-level resources, then each
Patient followed by the resources whose top-level reference points to it. Resources are serialised once
with orjson (Unicode kept, no spaces, key order as built), so the same resources give the same bytes.
`ReleaseWriter` takes them in chunks, so a large study never sits in memory whole.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Iterator, NamedTuple, Sequence

import orjson

from trialbridge.mappings.fhir.common import resource_id
from trialbridge.schemas.fhir_checks import check_codes
from trialbridge.schemas.findings import Finding, finding

BUNDLE_TYPES: tuple[str, ...] = ("transaction", "batch")
BUNDLES = "bundles.ndjson"  # one Bundle per line
ENTRIES = 50  # Medplum refuses a transaction of more than 50 updates; HAPI and others take far more
METHOD = "PUT"
URN = "urn:uuid:"
FIRST_TYPE = "ResearchStudy"
_REFERENCE = re.compile(rb'"reference":"([^"\\]*)"')
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource")


def dumps(value: Any) -> bytes:
    """The one serialisation of every output: UTF-8, Unicode kept, no spaces, key order as built."""
    return orjson.dumps(value)


def _label(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType', '?')}/{resource.get('id', '?')}"


# ------------------------------------------------------------------------------------ order
def _patient_of(resource: dict[str, Any], patients: set[str]) -> str | None:
    """The Patient a resource belongs to: the first top-level reference that points to a Patient."""
    for key in ("subject", "individual", "patient"):  # where most resources say it: a shortcut
        value = resource.get(key)
        ref = value.get("reference") if isinstance(value, dict) else None
        if isinstance(ref, str) and ref in patients:
            return ref
    for value in resource.values():
        ref = value.get("reference") if isinstance(value, dict) else None
        if isinstance(ref, str) and ref in patients:
            return ref
    return None


def bundle_order(resources: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """ResearchStudy first, the other study-level resources next, then each Patient with its resources.

    Stable: within each group the given order is kept, so applying it twice changes nothing.
    """
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    per_patient: dict[str, list[dict[str, Any]]] = {_label(p): [] for p in patients}
    labels = set(per_patient)
    study: list[dict[str, Any]] = []
    for r in resources:
        if r.get("resourceType") == "Patient":
            continue
        owner = _patient_of(r, labels)
        (per_patient[owner] if owner else study).append(r)
    study.sort(key=lambda r: r.get("resourceType") != FIRST_TYPE)
    out = study
    for p in patients:
        out.append(p)
        out.extend(per_patient.pop(_label(p), []))
    return out


# ------------------------------------------------------------------------------------ serialised resources
class Serialised(NamedTuple):
    """One resource as written: its type, id, `<Type>/<id>`, JSON bytes, references and whether it has an
    identifier (a tuple: worker processes send millions of them, and tuples travel fast)."""

    rtype: str
    rid: str
    label: bytes  # b"<Type>/<id>"
    text: bytes
    references: tuple[bytes, ...]  # b"<Type>/<id>" or b"#<contained id>", as written
    identified: bool


def first_identifier(resource: dict[str, Any]) -> tuple[str, str] | None:
    idents = resource.get("identifier") or []
    for ident in [idents] if isinstance(idents, dict) else idents:  # R4 AdverseEvent.identifier is 0..1
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            return str(ident["system"]), str(ident["value"])
    return None


def serialise(resources: Sequence[dict[str, Any]]) -> list[Serialised]:
    """Each resource's bytes and the references in them (a regex over the bytes, not a walk of the dict)."""
    out = []
    for r in resources:
        text = dumps(r)
        rtype, rid = str(r.get("resourceType", "")), str(r.get("id", ""))
        out.append(Serialised(rtype, rid, f"{rtype}/{rid}".encode(), text, tuple(_REFERENCE.findall(text)),
                              first_identifier(r) is not None))
    return out


def reference_paths(node: Any, location: str) -> Iterator[tuple[str, str]]:
    """(location of the Reference.reference element, its value) for every reference under `node`."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield f"{location}.reference", ref
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                yield from reference_paths(value, f"{location}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, (dict, list)):
                yield from reference_paths(value, f"{location}[{index}]")


def entry_request(resource: dict[str, Any]) -> dict[str, str]:
    """The request of one entry: PUT at the stable id (update as create; idempotent)."""
    return {"method": METHOD, "url": _label(resource)}


# ------------------------------------------------------------------------------------ writing
class ReleaseWriter:
    """One release's `bundles.ndjson` and `ndjson/`, written chunk by chunk in bundle order.

    `admit` drops what is already written (a resource may appear once), `write` appends serialised
    resources, `end_bundle` closes the current Bundle (the study level gets its own), `finish` closes
    everything, writes the manifests and reports what only the whole output can tell: references to
    resources written later or never, duplicates and the FHIR-WRITTEN summary. `where(index)` names the
    Bundle entry of the index-th resource written. Memory: the `<Type>/<id>` of every resource.
    """

    def __init__(self, out_dir: Path, release: str, entries: int = ENTRIES, bundle_type: str = "transaction",
                 anchor: str = "", created: str = "") -> None:
        if bundle_type not in BUNDLE_TYPES or entries < 1:
            raise ValueError(f"bundle type {bundle_type!r} / entries {entries}")
        self.release, self.entries, self.bundle_type = release, entries, bundle_type
        self.folder = Path(out_dir) / release
        self.label = f"{Path(out_dir).name}/{release}/{BUNDLES}"
        self.anchor, self.created = anchor, created
        self.labels: set[bytes] = set()  # b"<Type>/<id>" of every resource written
        self.counts: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()  # "Type/id" -> copies dropped
        self.pending: list[tuple[int, bytes]] = []  # (entry index, reference) to no resource of its Bundle or before
        self._open_refs: list[tuple[int, bytes]] = []  # the same, in the current Bundle: settled when it closes
        self.starts: list[int] = []  # index of the first entry of each Bundle
        self._stack = ExitStack()
        self._bundles: IO[bytes] | None = None
        self._in_bundle = 0
        self._ndjson: dict[str, IO[bytes]] = {}

    def __enter__(self) -> ReleaseWriter:
        (self.folder / "ndjson").mkdir(parents=True, exist_ok=True)
        self._bundles = self._open(self.folder / BUNDLES)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def written(self) -> int:
        return sum(self.counts.values())

    def where(self, index: int) -> str:
        """The place of the index-th resource written: `fhir/R4/bundles.ndjson:3:Bundle.entry[7].resource`
        (line 3 of the file is the third Bundle)."""
        number = max(bisect_right(self.starts, index) - 1, 0)
        local = index - (self.starts[number] if self.starts else 0)
        return f"{self.label}:{number + 1}:Bundle.entry[{local}].resource"

    def relocate(self, findings: list[Finding], offset: int) -> list[Finding]:
        """Findings located at `Bundle.entry[i].resource...` of a chunk whose first resource is the offset-th
        written, moved to their Bundle and entry."""
        def move(f: Finding) -> Finding:
            match = _ENTRY.match(f.location)
            if not match:
                return f
            return replace(f, location=self.where(offset + int(match.group(1))) + f.location[match.end():])
        return [move(f) for f in findings]

    def admit(self, items: Sequence[Serialised]) -> list[Serialised]:
        """The resources not yet written (first copy kept); the others are counted as duplicates."""
        fresh: list[Serialised] = []
        seen: set[bytes] = set()
        for item in items:
            label = item.label
            if label in self.labels or label in seen:
                self.duplicates[label.decode()] += 1
                continue
            seen.add(label)
            fresh.append(item)
        return fresh

    def _open(self, path: Path) -> IO[bytes]:
        return self._stack.enter_context(open(path, "wb"))

    def _start_bundle(self) -> None:
        number = len(self.starts)
        self.starts.append(self.written)
        head = {"resourceType": "Bundle", "id": resource_id("Bundle", self.release, self.anchor, str(number + 1)),
                "type": self.bundle_type}
        assert self._bundles is not None
        self._bundles.write(dumps(head)[:-1] + b',"entry":[')
        self._in_bundle = 0

    def end_bundle(self) -> None:
        """Close the current Bundle (a line of bundles.ndjson); the next resource starts a new one."""
        self.pending += [(index, ref) for index, ref in self._open_refs if ref not in self.labels]
        self._open_refs = []
        if self._in_bundle and self._bundles is not None:
            self._bundles.write(b"]}\n")
            self._in_bundle = 0

    def write(self, items: Sequence[Serialised]) -> list[Finding]:
        """Append admitted resources as entries and NDJSON lines; findings: missing identifiers."""
        findings: list[Finding] = []
        assert self._bundles is not None
        put, urn = b'","resource":', URN.encode()
        for item in items:
            if self._in_bundle == 0 or self._in_bundle >= self.entries:
                self.end_bundle()
                self._start_bundle()
            index = self.written
            label = item.label
            for ref in item.references:
                if ref not in self.labels and not ref.startswith(b"#"):
                    self._open_refs.append((index, ref))
            if not item.identified:
                findings.append(finding("FHIR-NO-IDENTIFIER", self.where(index), [label.decode()],
                                        resource=label.decode()))
            self._bundles.write((b"" if self._in_bundle == 0 else b",") + b'{"fullUrl":"' + urn + item.rid.encode()
                                + put + item.text + b',"request":{"method":"' + METHOD.encode() + b'","url":"'
                                + label + b'"}}')
            self._in_bundle += 1
            if item.rtype not in self._ndjson:
                self._ndjson[item.rtype] = self._open(self.folder / "ndjson" / f"{item.rtype}.ndjson")
            self._ndjson[item.rtype].write(item.text + b"\n")
            self.counts[item.rtype] += 1
            self.labels.add(label)
        return findings

    def _manifests(self) -> None:
        files = [{"type": rtype, "url": f"{rtype}.ndjson", "count": n} for rtype, n in self.counts.items()]
        manifest = {"transactionTime": self.created, "request": f"trialbridge convert (FHIR {self.release})",
                    "requiresAccessToken": False, "output": files, "error": []}
        (self.folder / "ndjson" / "manifest.json").write_bytes(dumps(manifest) + b"\n")
        parameters = {"resourceType": "Parameters", "parameter": [
            {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
            *({"name": "input", "part": [{"name": "type", "valueCode": f["type"]},
                                         {"name": "url", "valueUri": f["url"]}]} for f in files)]}
        (self.folder / "ndjson" / "import-parameters.json").write_bytes(dumps(parameters) + b"\n")

    def finish(self) -> list[Finding]:
        """Close the Bundles; the manifests; findings on references, duplicates and codes, and the summary."""
        self.end_bundle()
        self._manifests()
        findings: list[Finding] = []
        for index, ref in self.pending:
            text = ref.decode()
            findings.append(finding("FHIR-FORWARD-REFERENCE" if ref in self.labels else "FHIR-REFERENCE-UNRESOLVED",
                                    self.where(index), [text], reference=text, release=self.release))
        findings += [finding("FHIR-DUPLICATE-RESOURCE", label, [label], resource=label, count=n + 1)
                     for label, n in self.duplicates.items()]
        summary = ", ".join(f"{rtype}.ndjson {n:,}" for rtype, n in self.counts.items()) or "no resources"
        findings.append(finding("FHIR-WRITTEN", self.label, [], release=self.release, entries=f"{self.written:,}",
                                bundles=f"{len(self.starts):,}", size=self.entries, type=self.bundle_type,
                                counts=summary))
        return findings + _bundle_codes(self.release, self.bundle_type)


def _bundle_codes(release: str, bundle_type: str) -> list[Finding]:
    return (check_codes(release, "Bundle.type", [("Bundle.type", bundle_type)])
            + check_codes(release, "Bundle.entry.request.method", [("Bundle.entry.request.method", METHOD)]))


def write_fhir_release(resources: Sequence[dict[str, Any]], out_dir: Path, release: str,
                       entries: int = ENTRIES, bundle_type: str = "transaction") -> list[Finding]:
    """Write `out_dir/<release>/bundles/` and `ndjson/` from resources already checked (tests, small sets)."""
    ordered = bundle_order(resources)
    anchor = next((str(r.get("id")) for r in ordered if r.get("resourceType") == FIRST_TYPE), "")
    with ReleaseWriter(Path(out_dir), release, entries, bundle_type, anchor) as writer:
        findings = writer.write(writer.admit(serialise(ordered)))
        return findings + writer.finish()


# ------------------------------------------------------------------------------------ reading back
def read_bundles(folder: Path) -> Iterator[dict[str, Any]]:
    """The Bundles of a written release folder (`<release>/bundles.ndjson`), in file order."""
    with open(Path(folder) / BUNDLES, "rb") as lines:
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


def release_resources(folder: Path) -> Iterator[dict[str, Any]]:
    """Every resource of a written release folder (`<release>/`), Bundle by Bundle, in entry order."""
    for bundle in read_bundles(folder):
        for entry in bundle.get("entry", []):
            yield entry["resource"]
