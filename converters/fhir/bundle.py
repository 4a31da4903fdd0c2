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
from typing import IO, Any, Iterator, Sequence

import orjson

from trialbridge.converters.fhir.chunk import (
    METHOD,
    Chunk,
    Placed,
    Serialised,
    labels_of,
    pack,
    serialise,
    unpack,
)
from trialbridge.mappings.fhir.common import resource_id
from trialbridge.schemas.fhir_checks import check_codes
from trialbridge.schemas.findings import Finding, finding

BUNDLE_TYPES: tuple[str, ...] = ("transaction", "batch")
BUNDLES = "bundles.ndjson"  # one Bundle per line
ENTRIES = 50  # Medplum refuses a transaction of more than 50 updates; HAPI and others take far more
FIRST_TYPE = "ResearchStudy"
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

    `write_chunk` appends a part's resources (`fhir_chunk.Chunk`; `write` takes serialised resources and
    packs them here) and drops those already written (a resource may appear once); `end_bundle` closes
    the current Bundle (the study level gets its own); `finish` closes everything, writes the manifests
    and reports what only the whole output can tell: references to resources written in a later Bundle
    or never, duplicates and the FHIR-WRITTEN summary. A reference is settled when it resolves to a
    resource written before it or in its own Bundle. `where(index)` names the Bundle entry of the
    index-th resource written. Memory: the `<Type>/<id>` of every resource.
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
        self.pending: list[tuple[int, bytes]] = []  # (entry index, reference) not settled when written
        self._found: dict[bytes, int] = {}  # entry index of the pending references' targets, once written
        self._wanted: set[bytes] = set()  # pending targets not written yet
        self.starts: list[int] = []  # index of the first entry of each Bundle
        self.written = 0
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

    def overlaps(self, chunk: Chunk, placed: Placed) -> bool:
        """True when the release's part holds a resource already written (it will be dropped)."""
        return not self.labels.isdisjoint(labels_of(chunk, placed))

    def _open(self, path: Path) -> IO[bytes]:
        return self._stack.enter_context(open(path, "wb"))

    def _start_bundle(self, index: int) -> None:
        number = len(self.starts)
        self.starts.append(index)
        head = {"resourceType": "Bundle", "id": resource_id("Bundle", self.release, self.anchor, str(number + 1)),
                "type": self.bundle_type}
        assert self._bundles is not None
        self._bundles.write(dumps(head)[:-1] + b',"entry":[')
        self._in_bundle = 0

    def end_bundle(self) -> None:
        """Close the current Bundle (a line of bundles.ndjson); the next resource starts a new one."""
        if self._in_bundle and self._bundles is not None:
            self._bundles.write(b"]}\n")
            self._in_bundle = 0

    def write(self, items: Sequence[Serialised]) -> list[Finding]:
        """Append serialised resources (see `write_chunk`)."""
        chunk, placed = pack({self.release: items})
        return self.write_chunk(chunk, placed[self.release])

    def write_chunk(self, chunk: Chunk, placed: Placed) -> list[Finding]:
        """Append this release's resources of a part as Bundle entries and NDJSON lines; findings: missing
        identifiers."""
        for label, copies in placed.dropped.items():
            self.duplicates[label] += copies
        labels = labels_of(chunk, placed)
        if not self.labels.isdisjoint(labels):  # rare: rebuilt without what an earlier part wrote
            items = unpack(chunk, placed)
            self.duplicates.update(item.label.decode() for item in items if item.label in self.labels)
            chunk, again = pack({self.release: [item for item in items if item.label not in self.labels]})
            placed = again[self.release]
            labels = labels_of(chunk, placed)
        base = self.written
        self._settle(placed, labels, base)
        self._write_entries(chunk, placed, base)
        view, starts, ends = memoryview(chunk.entries), chunk.text_starts, chunk.text_ends
        for rtype, slots in placed.ndjson.items():
            if rtype not in self._ndjson:
                self._ndjson[rtype] = self._open(self.folder / "ndjson" / f"{rtype}.ndjson")
            self._ndjson[rtype].write(b"\n".join([view[starts[k]:ends[k]] for k in slots]) + b"\n")
            self.counts[rtype] += len(slots)
        self.labels.update(labels)
        self.written = base + len(placed)
        return [finding("FHIR-NO-IDENTIFIER", self.where(base + index), [labels[index].decode()],
                        resource=labels[index].decode()) for index in placed.unidentified]

    def _settle(self, placed: Placed, labels: list[bytes], base: int) -> None:
        """Keep the references the part cannot settle itself (written before it, or earlier in it) for
        `finish`, and note where their targets are written."""
        for target in self._wanted.intersection(labels):
            self._found[target] = base + labels.index(target)
        self._wanted.difference_update(self._found)
        for index, target, ref in placed.later:
            self.pending.append((base + index, ref))
            self._found[ref] = base + target
        for ref, indexes in placed.outside.items():
            if ref not in self.labels:
                self.pending += [(base + index, ref) for index in indexes]
                if ref not in self._found:
                    self._wanted.add(ref)

    def _write_entries(self, chunk: Chunk, placed: Placed, base: int) -> None:
        """The entries, `entries` to a Bundle: one slice of the chunk's bytes per run of consecutive chunk
        entries within a Bundle (the comma after the last entry of a run is not written)."""
        assert self._bundles is not None
        view, ends, count, done = memoryview(chunk.entries), chunk.ends, len(placed), 0
        order = placed.order
        breaks = [index for index in range(1, count) if order[index] != order[index - 1] + 1] + [count]
        run = 0
        while done < count:
            if self._in_bundle == 0 or self._in_bundle >= self.entries:
                self.end_bundle()
                self._start_bundle(base + done)
            stop = done + min(self.entries - self._in_bundle, count - done)
            while done < stop:
                while breaks[run] <= done:
                    run += 1
                last = min(stop, breaks[run])
                first = order[done]
                if self._in_bundle:
                    self._bundles.write(b",")
                self._bundles.write(view[ends[first - 1] if first else 0:ends[order[last - 1]] - 1])
                self._in_bundle += last - done
                done = last

    def _bundle_end(self, index: int) -> int:
        """The index after the last entry of the Bundle holding the index-th entry."""
        number = bisect_right(self.starts, index)
        return self.starts[number] if number < len(self.starts) else self.written

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
        for index, ref in sorted(self.pending, key=lambda pair: pair[0]):
            target, text = self._found.get(ref), ref.decode()
            if target is not None and target < self._bundle_end(index):
                continue  # written later, but in the same Bundle
            findings.append(finding("FHIR-FORWARD-REFERENCE" if target is not None else "FHIR-REFERENCE-UNRESOLVED",
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
