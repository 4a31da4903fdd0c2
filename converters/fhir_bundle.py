"""FHIR resources (plain dicts) -> `<release>/bundle.json` (a transaction Bundle) and `<release>/ndjson/*.ndjson`.

The transaction Bundle: a stable `id`, `type` transaction, one entry per resource with `fullUrl`
`urn:uuid:<id>`, the resource, and a conditional create `request` {POST, <Type>, ifNoneExist
`identifier=<system>|<value>` of the resource's first identifier}, so a second upload matches every entry
and creates nothing new. A type the release cannot search by identifier (R4 AdverseEvent) is put at its
stable id instead, PUT <Type>/<id>, equally idempotent. References inside the bundle are the `urn:uuid`
full URLs of other entries; the server gives the resources its own ids and rewrites the references.

The NDJSON files (FHIR Bulk Data: one resource per line, one file per resource type) carry the same
resources with their real ids. A `urn:uuid` reference would not resolve across files, so in NDJSON every
reference `urn:uuid:<id>` becomes the relative reference `<Type>/<id>` (the id is the same UUIDv5).

Entries are in a fixed order: the ResearchStudy first, then the other study-level resources in the order
given (what the study references), then for each Patient in the order given: the Patient and the
resources whose top-level reference points to it (ResearchSubject, MedicationAdministrations...).
Both files are written entry by entry (never one giant string), `json.dumps(ensure_ascii=False)` with
fixed separators, so the same resources give the same bytes; `BundleStream` takes the resources in
chunks (the study level, then blocks of subjects), so a large study never sits in memory whole.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Container, Iterator, Sequence, TextIO
from urllib.parse import quote

from trialbridge.mappings.fhir.common import resource_id
from trialbridge.schemas.fhir_checks import check_codes
from trialbridge.schemas.findings import Finding, finding

BUNDLE_TYPE = "transaction"
METHOD = "POST"
URN = "urn:uuid:"
FIRST_TYPE = "ResearchStudy"
_SEPARATORS = (",", ":")
# Resource types we emit that have no `identifier` search parameter in the release (from the
# SearchParameter resources of the core packages): an ifNoneExist on them cannot match anything.
NO_IDENTIFIER_SEARCH: dict[str, frozenset[str]] = {"R4": frozenset({"AdverseEvent"}), "R5": frozenset()}
_NDJSON_REFERENCE = re.compile(r'"reference":"urn:uuid:([0-9a-f-]{36})"')


def dumps(value: Any) -> str:
    """The one serialisation of every output: Unicode kept, no spaces, key order as built."""
    return json.dumps(value, ensure_ascii=False, separators=_SEPARATORS)


def full_url(resource: dict[str, Any]) -> str:
    return URN + str(resource.get("id", ""))


def _label(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType', '?')}/{resource.get('id', '?')}"


# ------------------------------------------------------------------------------------ order
def _patient_of(resource: dict[str, Any], patients: set[str]) -> str | None:
    """The Patient fullUrl a resource belongs to: the first top-level reference that points to a Patient."""
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
    patient_urls = {full_url(p) for p in patients}
    per_patient: dict[str, list[dict[str, Any]]] = {url: [] for url in patient_urls}
    study: list[dict[str, Any]] = []
    for r in resources:
        if r.get("resourceType") == "Patient":
            continue
        owner = _patient_of(r, patient_urls)
        (per_patient[owner] if owner else study).append(r)
    study.sort(key=lambda r: r.get("resourceType") != FIRST_TYPE)
    out = study
    for p in patients:
        out.append(p)
        out.extend(per_patient.pop(full_url(p), []))
    return out


# ------------------------------------------------------------------------------------ entries
def _search_escape(text: str) -> str:
    """A token search value as FHIR search escapes it (\\ | , $), then percent-encoded for the query."""
    for char in ("\\", "|", ",", "$"):
        text = text.replace(char, "\\" + char)
    return quote(text, safe=":/")


def first_identifier(resource: dict[str, Any]) -> tuple[str, str] | None:
    idents = resource.get("identifier") or []
    for ident in [idents] if isinstance(idents, dict) else idents:  # R4 AdverseEvent.identifier is 0..1
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            return str(ident["system"]), str(ident["value"])
    return None


def entry_request(resource: dict[str, Any], release: str) -> dict[str, str]:
    """The request of one entry: a conditional create, POST <Type> with ifNoneExist on the first identifier.

    A type that the release cannot search by identifier is put at its stable id instead (PUT <Type>/<id>,
    update as create), which is just as idempotent: a second upload updates it in place.
    """
    rtype = str(resource.get("resourceType", ""))
    if rtype in NO_IDENTIFIER_SEARCH[release]:
        return {"method": "PUT", "url": f"{rtype}/{resource.get('id', '')}"}
    request = {"method": METHOD, "url": rtype}
    ident = first_identifier(resource)
    if ident:
        request["ifNoneExist"] = f"identifier={_search_escape(ident[0])}|{_search_escape(ident[1])}"
    return request


def bundle_id(resources: Sequence[dict[str, Any]], release: str) -> str:
    """Stable Bundle id: UUIDv5 of the release and the study's id (or the first resource's id)."""
    anchor = next((r for r in resources if r.get("resourceType") == FIRST_TYPE), resources[0] if resources else {})
    return resource_id("Bundle", release, str(anchor.get("id", "")))


# ------------------------------------------------------------------------------------ checks
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


def _open_references(resource: dict[str, Any], where: str, ids: Container[str]) -> list[tuple[str, str]]:
    """(location, reference) of each reference that is neither an entry's urn:uuid nor a contained resource."""
    contained = {"#" + str(c.get("id")) for c in resource.get("contained") or []}
    return [(location, ref) for location, ref in reference_paths(resource, where)
            if ref not in contained and not (ref.startswith(URN) and ref[len(URN):] in ids)]


def _no_identifier(resource: dict[str, Any], where: str) -> list[Finding]:
    if first_identifier(resource) is not None:
        return []
    return [finding("FHIR-NO-IDENTIFIER", where, [_label(resource)], resource=_label(resource))]


def _bundle_codes(release: str) -> list[Finding]:
    return (check_codes(release, "Bundle.type", [("Bundle.type", BUNDLE_TYPE)])
            + check_codes(release, "Bundle.entry.request.method",
                          [("Bundle.entry.request.method", method) for method in (METHOD, "PUT")]))


def check_bundle(resources: Sequence[dict[str, Any]], release: str) -> list[Finding]:
    """Every reference resolves to an entry (or a contained resource); every resource has an identifier."""
    ids = {str(r.get("id")) for r in resources}
    out: list[Finding] = []
    for index, resource in enumerate(resources):
        where = f"Bundle.entry[{index}].resource"
        out += [finding("FHIR-REFERENCE-UNRESOLVED", location, [ref], reference=ref, release=release)
                for location, ref in _open_references(resource, where, ids)]
        out += _no_identifier(resource, where)
    return out + _bundle_codes(release)


# ------------------------------------------------------------------------------------ writing
def ndjson_line(text: str, types: dict[str, str]) -> str:
    """A resource's JSON text with every `urn:uuid:<id>` reference of a known resource as `<Type>/<id>`."""
    def relative(match: re.Match[str]) -> str:
        rtype = types.get(match.group(1))
        return f'"reference":"{rtype}/{match.group(1)}"' if rtype else match.group(0)

    return _NDJSON_REFERENCE.sub(relative, text)


class BundleStream:
    """One release's `bundle.json` and `ndjson/<Type>.ndjson`, written chunk by chunk in bundle order.

    `admit` drops what is already written (a resource id is its fullUrl, so it may appear once), `write`
    appends entries and checks them, `finish` closes the bundle and reports what only the whole bundle
    can tell: references to entries written later (they resolve in the bundle, but their NDJSON line
    keeps the urn:uuid) or never, duplicates, and the FHIR-WRITTEN summary. Memory: the id and type of
    every entry, nothing else.
    """

    def __init__(self, out_dir: Path, release: str) -> None:
        self.release = release
        self.folder = Path(out_dir) / release
        self.label = f"{Path(out_dir).name}/{release}/bundle.json"
        self.types: dict[str, str] = {}  # id -> resourceType of every entry written
        self.counts: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()  # "Type/id" -> copies dropped
        self.pending: list[tuple[str, str]] = []  # (location, reference) unresolved when written
        self._stack = ExitStack()
        self._bundle: TextIO | None = None
        self._ndjson: dict[str, TextIO] = {}

    def __enter__(self) -> BundleStream:
        (self.folder / "ndjson").mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def written(self) -> int:
        return sum(self.counts.values())

    def admit(self, resources: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The resources whose id is new (first copy kept); the others are counted as duplicates."""
        fresh: list[dict[str, Any]] = []
        seen: set[str] = set()
        for r in resources:
            rid = str(r.get("id"))
            if rid in self.types or rid in seen:
                self.duplicates[_label(r)] += 1
                continue
            seen.add(rid)
            fresh.append(r)
        return fresh

    def _open(self, path: Path) -> TextIO:
        return self._stack.enter_context(open(path, "w", encoding="utf-8", newline="\n"))

    def _head(self, resources: Sequence[dict[str, Any]]) -> str:
        return dumps({"resourceType": "Bundle", "id": bundle_id(resources, self.release), "type": BUNDLE_TYPE})

    def write(self, resources: Sequence[dict[str, Any]]) -> list[Finding]:
        """Append admitted resources as entries and NDJSON lines; findings: missing identifiers."""
        if not resources:
            return []
        if self._bundle is None:
            self._bundle = self._open(self.folder / "bundle.json")
            self._bundle.write(self._head(resources)[:-1] + ',"entry":[')
        for r in resources:
            self.types[str(r.get("id"))] = str(r.get("resourceType"))
        findings: list[Finding] = []
        for resource in resources:
            index, rtype = self.written, str(resource.get("resourceType"))
            where = f"Bundle.entry[{index}].resource"
            self.pending += _open_references(resource, where, self.types)
            findings += _no_identifier(resource, where)
            text = dumps(resource)
            self._bundle.write(("\n" if index == 0 else ",\n") + '{"fullUrl":' + dumps(full_url(resource))
                               + ',"resource":' + text + ',"request":' + dumps(entry_request(resource, self.release))
                               + "}")
            if rtype not in self._ndjson:
                self._ndjson[rtype] = self._open(self.folder / "ndjson" / f"{rtype}.ndjson")
            self._ndjson[rtype].write(ndjson_line(text, self.types) + "\n")
            self.counts[rtype] += 1
        return findings

    def finish(self) -> list[Finding]:
        """Close the bundle; findings on references, duplicates and the bundle's own codes, and the summary."""
        if self._bundle is None:  # no entry at all: FHIR JSON has no empty arrays
            self._open(self.folder / "bundle.json").write(self._head([]) + "\n")
        else:
            self._bundle.write("\n]}\n")
        findings: list[Finding] = []
        for location, ref in self.pending:
            rid = ref[len(URN):] if ref.startswith(URN) else None
            if rid in self.types:
                findings.append(finding("FHIR-NDJSON-FORWARD-REFERENCE", location, [ref], reference=ref,
                                        target=f"{self.types[rid]}/{rid}"))
            else:
                findings.append(finding("FHIR-REFERENCE-UNRESOLVED", location, [ref], reference=ref,
                                        release=self.release))
        findings += [finding("FHIR-DUPLICATE-RESOURCE", label, [label], resource=label, count=n + 1)
                     for label, n in self.duplicates.items()]
        summary = ", ".join(f"{rtype}.ndjson {n:,}" for rtype, n in self.counts.items()) or "no resources"
        findings.append(finding("FHIR-WRITTEN", self.label, [], release=self.release,
                                entries=f"{self.written:,}", counts=summary))
        return findings + _bundle_codes(self.release)


def write_fhir_release(resources: Sequence[dict[str, Any]], out_dir: Path, release: str) -> list[Finding]:
    """Write `out_dir/<release>/bundle.json` and `out_dir/<release>/ndjson/<Type>.ndjson`, streamed.

    Returns the findings of the bundle checks (duplicates, unresolved references, missing identifiers)
    and one FHIR-WRITTEN summary.
    """
    with BundleStream(Path(out_dir), release) as stream:
        findings = stream.write(stream.admit(bundle_order(resources)))
        return findings + stream.finish()
