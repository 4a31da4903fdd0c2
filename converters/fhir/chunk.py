"""Serialised FHIR resources of one part (the study level, or a block of subjects), for each release ->
a `Chunk` (the bytes of their Bundle entries, each once) and, per release, a `Placed` (which entries, in
which order, and what the writer must know of them): a few flat values instead of millions of objects.

A chunk is made where the part is built (a worker process) and written by the one process that owns the
files (`fhir_bundle.ReleaseWriter.write_chunk`). An entry does not depend on the release
(`{"fullUrl":"urn:uuid:<id>","resource":<resource>,"request":{"method":"PUT","url":"<Type>/<id>"}}`), so
a resource R4 shares with R5 is sent once and both releases cut their Bundles (and NDJSON lines: the
resource text inside the entry) from the same bytes. Only what cannot be known within the part (a
resource an earlier part wrote, a reference to another part's resource, the Bundle boundaries) is left to
the writer. `unpack` gives back one release's resources, so the writer can rebuild a chunk in the rare
case it must drop resources that an earlier part already wrote.
"""
from __future__ import annotations

import re
from array import array
from collections import Counter
from itertools import accumulate
from typing import Any, NamedTuple, Sequence

import orjson

METHOD = "PUT"
URN = "urn:uuid:"
_REFERENCE = re.compile(rb'"reference":"([^"\\]*)"')
_HEAD = b'{"fullUrl":"' + URN.encode()
_RESOURCE = b'","resource":'
_REQUEST = b',"request":{"method":"' + METHOD.encode() + b'","url":"'
_TAIL = b'"}},'


class Serialised(NamedTuple):
    """One resource as written: its type, id, `<Type>/<id>`, JSON bytes, references and whether it has an
    identifier."""

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
    """Each resource's bytes (orjson: UTF-8, Unicode kept, no spaces, key order as built) and the references
    in them (a regex over the bytes, not a walk of the dict)."""
    out = []
    for r in resources:
        text = orjson.dumps(r)
        rtype, rid = str(r.get("resourceType", "")), str(r.get("id", ""))
        out.append(Serialised(rtype, rid, f"{rtype}/{rid}".encode(), text, tuple(_REFERENCE.findall(text)),
                              first_identifier(r) is not None))
    return out


class Chunk(NamedTuple):
    """The Bundle entries of a part, each distinct resource once (entry k: bytes ends[k-1]:ends[k])."""

    entries: bytes  # each entry followed by a comma
    ends: array  # end offset (after the comma) of each entry
    text_starts: array  # where the resource text of each entry starts ...
    text_ends: array  # ... and ends
    labels: list[bytes]  # b"<Type>/<id>" of each entry


class Placed(NamedTuple):
    """One release's resources of a chunk (local index = position in the release's part, duplicates dropped)."""

    order: array  # the chunk entry of each resource, in bundle order
    ndjson: dict[str, array]  # resource type -> its chunk entries in order; types in order of first appearance
    unidentified: list[int]  # resources without an identifier
    later: list[tuple[int, int, bytes]]  # (resource, resource it references further on in the part, reference)
    outside: dict[bytes, list[int]]  # reference to no resource of the part -> the resources that make it
    dropped: dict[str, int]  # "<Type>/<id>" built more than once in the part -> copies dropped

    def __len__(self) -> int:  # type: ignore[override] - the number of resources, not of fields
        return len(self.order)


def pack(releases: dict[str, Sequence[Serialised]]) -> tuple[Chunk, dict[str, Placed]]:
    """The chunk of a part's serialised resources and each release's place in it. A resource object that
    several releases share (the same `Serialised`) is one entry; per release the first copy of a
    `<Type>/<id>` is kept."""
    slot: dict[int, int] = {}  # id(item) -> chunk entry
    entries: list[bytes] = []
    labels: list[bytes] = []
    starts: list[int] = []
    stops: list[int] = []
    placed: dict[str, Placed] = {}
    for release, items in releases.items():
        at: dict[bytes, int] = {}
        kept: list[Serialised] = []
        order: list[int] = []
        dropped: Counter[str] = Counter()
        for item in items:
            if item.label in at:
                dropped[item.label.decode()] += 1
                continue
            at[item.label] = len(kept)
            kept.append(item)
            k = slot.get(id(item))
            if k is None:
                k = slot[id(item)] = len(entries)
                head = _HEAD + item.rid.encode() + _RESOURCE
                entries.append(head + item.text + _REQUEST + item.label + _TAIL)
                labels.append(item.label)
                starts.append(len(head))
                stops.append(len(head) + len(item.text))
            order.append(k)
        ndjson: dict[str, list[int]] = {}
        for item, k in zip(kept, order):
            ndjson.setdefault(item.rtype, []).append(k)
        later: list[tuple[int, int, bytes]] = []
        outside: dict[bytes, list[int]] = {}
        for index, item in enumerate(kept):
            for ref in item.references:
                if ref[:1] == b"#":
                    continue
                target = at.get(ref)
                if target is None:
                    outside.setdefault(ref, []).append(index)
                elif target > index:
                    later.append((index, target, ref))
        placed[release] = Placed(order=array("q", order), ndjson={t: array("q", ks) for t, ks in ndjson.items()},
                                 unidentified=[index for index, item in enumerate(kept) if not item.identified],
                                 later=later, outside=outside, dropped=dict(dropped))
    ends = array("q", accumulate(map(len, entries)))
    firsts = [0, *ends[:-1]]
    return Chunk(entries=b"".join(entries), ends=ends, text_starts=array("q", map(sum, zip(firsts, starts))),
                 text_ends=array("q", map(sum, zip(firsts, stops))), labels=labels), placed


def labels_of(chunk: Chunk, placed: Placed) -> list[bytes]:
    """The `<Type>/<id>` of one release's resources, in order."""
    return [chunk.labels[k] for k in placed.order]


def unpack(chunk: Chunk, placed: Placed) -> list[Serialised]:
    """One release's resources of a chunk, as `pack` took them (without the copies it dropped)."""
    view = memoryview(chunk.entries)
    unidentified = set(placed.unidentified)
    out: list[Serialised] = []
    for index, k in enumerate(placed.order):
        label = chunk.labels[k]
        rtype, rid = label.decode().split("/", 1)
        text = bytes(view[chunk.text_starts[k]:chunk.text_ends[k]])
        out.append(Serialised(rtype, rid, label, text, tuple(_REFERENCE.findall(text)), index not in unidentified))
    return out
