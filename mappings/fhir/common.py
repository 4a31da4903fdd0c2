"""What every FHIR mapping shares: the input, stable identities, identifiers, and the R5 -> R4 step.

The FHIR mappings turn the registry record and the SDTM tables (the hub) into FHIR resources as plain
dicts, key order = element order of the StructureDefinition. Identity is stable: a resource id is a
UUIDv5 of the resource type and its natural keys (study, site, subject...), so a re-run gives the same
bytes, and a reference is `<Type>/<id>` (the same in Bundles, NDJSON and on a server).

Each resource module builds R5 (`build_r5`) and declares what R4 does differently in one small table,
`R4 = R4Differences(...)`, written in three verbs:
- `rename(path_r5, path_r4)`: the element moves, value unchanged (`subject` -> `individual`,
  `medication.reference` -> `medicationReference`); it takes the place of the R5 element's
  top-most moved ancestor, so the key order stays the element order;
- `drop(path, reason)`: R4 has no such element; the reason says where its content went (or why it
  may go), so nothing vanishes without a word;
- `recast(element, function)`: the value changes form; `function(resource_r5, context)` returns the
  R4 value of that top-level element, computed from the whole R5 resource (None removes it). It
  replaces the element in place, or is appended when R5 has no such element. `context` carries
  study-level lookups the caller passes to `to_r4` (e.g. arm names by arm link id).
`to_r4` applies the recasts first (they read the untouched R5 resource), then the renames, then the
drops; the elements every resource starts with (id, meta, text, extension...) are then put first.
A path is dot-separated element names; a list on the way applies the step to each item.

Also here: the identifier systems, the code system URLs, `coding`/`concept`, `prune` (FHIR has no
empty elements), `arm_link_id` (the id an arm is known by in R5) and `fhir_date`/`fhir_datetime`
(SDTM ISO 8601 values as FHIR date/dateTime, as precise as collected).
"""
from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from trialbridge.mappings.study import StudyInfo

# uuid5(NAMESPACE_URL, "urn:trialbridge:fhir"), written out so that it can never drift.
NAMESPACE: uuid.UUID = uuid.UUID("314c47e7-74f9-535b-8e46-55f86a220439")

# Identifier systems (Identifier.system). Values: see each constant.
SYSTEM_NCT = "http://clinicaltrials.gov"  # NCT number (HL7 Terminology NamingSystem ClinicalTrialsGov, preferred URI)
SYSTEM_STUDYID = "urn:trialbridge:studyid"  # SDTM STUDYID, e.g. REVALLO
SYSTEM_ORG_STUDY_ID = "urn:trialbridge:org-study-id"  # the sponsor's own study id, e.g. CHUBX 2010/01
SYSTEM_SECONDARY_ID = "urn:trialbridge:secondary-id"  # registry secondaryIdInfos without a known system
SYSTEM_ORGANIZATION = "urn:trialbridge:organization"  # sponsor/collaborator organisation, by name
SYSTEM_SITEID = "urn:trialbridge:siteid"  # SDTM SITEID (site Organization and Location)
SYSTEM_USUBJID = "urn:trialbridge:usubjid"  # SDTM USUBJID (Patient, ResearchSubject)
SYSTEM_SUBJID = "urn:trialbridge:subjid"  # SDTM SUBJID, the site's subject id (assigner: the site)
SYSTEM_MEDICATION = "urn:trialbridge:medication"  # the study treatment, by SDTM EXTRT
SYSTEM_EXPOSURE = "urn:trialbridge:exposure"  # one EX record: "<USUBJID>/<EXSEQ>"
SYSTEM_PRACTITIONER = "urn:trialbridge:practitioner"  # investigator, by name

# Code systems (Coding.system), as HL7 Terminology (THO) names them.
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"  # CDISC controlled terminology C-codes

# Elements every DomainResource starts with, in this order (FHIR R4 and R5 alike).
BASE_ELEMENTS = ("resourceType", "id", "meta", "implicitRules", "language", "text", "contained",
                 "extension", "modifierExtension")
EXTENSION_RESEARCH_STUDY = "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"

_IDENTIFIER_ORDER = ("id", "extension", "use", "type", "system", "value", "period", "assigner")
_FHIR_DATE = r"^(\d{4}(?:-\d{2}(?:-\d{2})?)?)"
_FHIR_DATETIME_FULL = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$"


@dataclass(frozen=True)
class FhirInput:
    """Everything the FHIR mappings read: the registry record and the SDTM tables as mapped."""

    registry: dict
    sdtm: dict[str, pd.DataFrame]
    studyid: str
    study: StudyInfo | None = None  # the study's constants (sponsor namespace, treatment codes)
    loinc_names: dict[str, str] = field(default_factory=dict)  # LOINC code -> display, from the spec's tests


_NAMESPACE_BYTES = NAMESPACE.bytes


@lru_cache(maxsize=1 << 12)
def resource_id(resource_type: str, *key: str) -> str:
    """Stable id of a resource: UUIDv5 of "<type>/<key>/<key>..." in the project namespace (RFC 4122
    section 4.3, written out: the same value as `uuid.uuid5`, twice as fast, which counts at millions)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "/".join((resource_type, *key)).encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def reference(resource_type: str, *key: str, display: str = "") -> dict:
    """A Reference to the resource of that type and keys: the relative reference `<Type>/<stable id>`."""
    out: dict[str, Any] = {"reference": f"{resource_type}/{resource_id(resource_type, *key)}"}
    if display:
        out["display"] = display
    return out


def identifier(system: str, value: str, **extra: Any) -> dict:
    """An Identifier {system, value} plus any other Identifier elements, in element order."""
    fields = {"system": system, "value": value, **extra}
    unknown = set(fields) - set(_IDENTIFIER_ORDER)
    if unknown:
        raise ValueError(f"not Identifier elements: {sorted(unknown)}")
    return {name: fields[name] for name in _IDENTIFIER_ORDER if name in fields}


def coding(system: str, code: str, display: str = "") -> dict:
    """A Coding {system, code, display?}."""
    return {"system": system, "code": code, **({"display": display} if display else {})}


def concept(*codings: dict, text: str = "") -> dict:
    """A CodeableConcept from codings and a text (either may be empty)."""
    return {**({"coding": list(codings)} if codings else {}), **({"text": text} if text else {})}


def arm_link_id(armcd: str) -> str:
    """The FHIR `id` an arm is known by (R5 comparisonGroup.linkId, ResearchSubject.*ComparisonGroup):
    the ARMCD, with characters an `id` cannot hold ([A-Za-z0-9.-] only) as '-'; "" stays ""."""
    return re.sub(r"[^A-Za-z0-9.\-]", "-", armcd)[:64]


def sdtm_columns(inp: FhirInput, dataset: str, char: Sequence[str], num: Sequence[str] = ()) -> pd.DataFrame:
    """The columns of an SDTM table a mapping reads; those the table lacks (permissible variables not
    submitted, or no such table at all) are null: "" for Char, NaN for Num. Row order kept."""
    table = inp.sdtm.get(dataset)
    index = table.index if table is not None else pd.RangeIndex(0)
    out = pd.DataFrame(index=index)
    for name in char:
        present = table is not None and name in table.columns
        out[name] = table[name].fillna("").astype(object) if present else pd.Series("", index=index, dtype=object)
    for name in num:
        present = table is not None and name in table.columns
        out[name] = table[name].astype("float64") if present else pd.Series(float("nan"), index=index)
    return out


def per_value(values: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`convert(values)` computed once per distinct value (a study has far fewer dates than results)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    converted = convert(pd.Series(uniques, dtype=values.dtype)).to_numpy(dtype=object)
    return pd.Series(converted[codes], index=values.index, dtype=object)


def _fhir_date(values: pd.Series) -> pd.Series:
    return values.astype(str).str.extract(_FHIR_DATE, expand=False).fillna("").astype(object)


def _fhir_datetime(values: pd.Series) -> pd.Series:
    text = values.astype(str)
    full = text.str.match(_FHIR_DATETIME_FULL)
    return text.where(full, _fhir_date(text)).astype(object)


def fhir_date(values: pd.Series) -> pd.Series:
    """SDTM ISO 8601 dates (--DTC, maybe partial) as FHIR `date`: the leading YYYY[-MM[-DD]] part,
    as precise as collected ("1958-03" stays "1958-03"; "1958---15" becomes "1958"); "" when none."""
    return per_value(values, _fhir_date)


def fhir_datetime(values: pd.Series) -> pd.Series:
    """SDTM ISO 8601 --DTC as FHIR `dateTime`: kept whole when it is a complete date-time with seconds
    and a time zone, else its date part (FHIR requires a zone whenever a time is given)."""
    return per_value(values, _fhir_datetime)


def shortened(values: pd.Series, converted: pd.Series) -> pd.Series:
    """Rows whose value lost precision on the way to FHIR (the original was not empty)."""
    return (values.astype(str) != "") & (values.astype(str) != converted.astype(str))


def _empty(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return isinstance(value, (str, list, dict)) and len(value) == 0


def prune(value: Any) -> Any:
    """The value without empty parts (None, NaN, "", [], {}), recursively; key order kept.

    Mappings assemble dicts from whole columns where a cell may be null; FHIR forbids empty
    elements, so every resource goes through `prune` before it leaves its module. The result is
    made of new dicts and lists (constants shared by the mapping are never shared by resources).
    """
    kind = type(value)
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                item = prune(item)
                if item:
                    out[key] = item
            elif not (item is None or item == "" or (type(item) is float and item != item)):
                out[key] = item
        return out
    if kind is list:
        kept = [prune(item) if type(item) is dict or type(item) is list else item for item in value]
        return [item for item in kept if not _empty(item)]
    return value


# ------------------------------------------------------------------------------------ R5 -> R4
Recaster = Callable[[dict, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Rename:
    path_r5: str
    path_r4: str


@dataclass(frozen=True)
class Drop:
    path: str
    reason: str


@dataclass(frozen=True)
class Recast:
    path: str
    function: Recaster


def rename(path_r5: str, path_r4: str) -> Rename:
    """The R5 element at `path_r5` is the R4 element at `path_r4` (same value)."""
    return Rename(path_r5, path_r4)


def drop(path: str, reason: str) -> Drop:
    """R4 has no element at `path`; `reason` says where its content is carried instead, or why not."""
    return Drop(path, reason)


def recast(path: str, function: Recaster) -> Recast:
    """The R4 element at `path` is `function(resource_r5, context)` (None: no element)."""
    return Recast(path, function)


@dataclass(frozen=True)
class R4Differences:
    """What one resource's R4 form does differently from its R5 form: renames, drops, recasts."""

    steps: tuple[Rename | Drop | Recast, ...] = field(default_factory=tuple)

    def __init__(self, *steps: Rename | Drop | Recast) -> None:
        object.__setattr__(self, "steps", tuple(steps))

    @property
    def renames(self) -> tuple[Rename, ...]:
        return tuple(s for s in self.steps if isinstance(s, Rename))

    @property
    def drops(self) -> tuple[Drop, ...]:
        return tuple(s for s in self.steps if isinstance(s, Drop))

    @property
    def recasts(self) -> tuple[Recast, ...]:
        return tuple(s for s in self.steps if isinstance(s, Recast))


def _without(node: dict, names: list[str]) -> dict:
    """A copy of `node` without the element at `names`, and without any object left empty on the way
    (only the objects on the path are copied; the rest is shared)."""
    head = names[0]
    if head not in node:
        return node
    if len(names) == 1:
        return {k: v for k, v in node.items() if k != head}
    child = node[head]
    items = [_without(c, names[1:]) if isinstance(c, dict) else c
             for c in (child if isinstance(child, list) else [child])]
    items = [c for c in items if not _empty(c)]
    value = items if isinstance(child, list) else (items[0] if items else None)
    if _empty(value):
        return {k: v for k, v in node.items() if k != head}
    return {k: (value if k == head else v) for k, v in node.items()}


def _get(node: Any, names: list[str]) -> Any:
    """The value at `names` through objects only (a move out of a list is ambiguous: refused)."""
    for name in names:
        if isinstance(node, list):
            raise ValueError(f"rename across a list must keep the list as common ancestor: {names}")
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


def _apply_rename(resource: dict, step: Rename) -> dict:
    old, new = step.path_r5.split("."), step.path_r4.split(".")
    common = 0
    while common < min(len(old), len(new)) - 1 and old[common] == new[common]:
        common += 1
    if common:  # a shared ancestor: rename inside each object found there
        return _rename_under(resource, old[:common], Rename(".".join(old[common:]), ".".join(new[common:])))
    value = _get(resource, old)
    if value is None:
        return resource
    if new[0] in resource and new[0] != old[0]:
        raise ValueError(f"rename onto an existing element: {step.path_r4}")
    rest = _without(resource, old)
    moved = _build(new[1:], value)
    out: dict[str, Any] = {}
    for key in resource:  # the moved element goes where its R5 ancestor was
        if key == old[0]:
            out[new[0]] = moved
        if key in rest and key != new[0]:
            out[key] = rest[key]
    return out


def _rename_under(resource: dict, prefix: list[str], inner: Rename) -> dict:
    """Apply `inner` in every object found at `prefix` (lists walked)."""
    out = dict(resource)
    head, rest = prefix[0], prefix[1:]
    child = out.get(head)
    if child is None:
        return out
    items = child if isinstance(child, list) else [child]
    done = [
        (_rename_under(c, rest, inner) if rest else _apply_rename(c, inner)) if isinstance(c, dict) else c
        for c in items
    ]
    out[head] = done if isinstance(child, list) else done[0]
    return out


def _build(names: list[str], value: Any) -> dict:
    for name in reversed(names):
        value = {name: value}
    return value


def _apply_recast(resource: dict, r5: dict, step: Recast, context: Mapping[str, Any]) -> dict:
    if "." in step.path:
        raise ValueError(f"recast works on top-level elements: {step.path}")
    value = step.function(r5, context)
    if _empty(value):
        return {k: v for k, v in resource.items() if k != step.path}
    return {**resource, step.path: value}


def to_r4(resource_r5: dict, differences: R4Differences, context: Mapping[str, Any] | None = None) -> dict:
    """The R4 form of an R5 resource: recasts (read from R5), then renames, then drops.

    The R5 resource is never changed; the result shares the parts no step touches with it."""
    ctx = context or {}
    out = resource_r5
    for step in differences.recasts:
        out = _apply_recast(out, resource_r5, step, ctx)
    for step in differences.renames:
        out = _apply_rename(out, step)
    for step in differences.drops:
        out = _without(out, step.path.split("."))
    base = {k: out[k] for k in BASE_ELEMENTS if k in out}  # an added extension goes where it belongs
    return {**base, **{k: v for k, v in out.items() if k not in base}}


# ------------------------------------------------------------------------------------ narrative
XHTML_OPEN = '<div xmlns="http://www.w3.org/1999/xhtml"><p>'
XHTML_CLOSE = "</p></div>"
_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def narrative(text: str) -> dict:
    """A generated Narrative: the text, XML-escaped, in one paragraph of an XHTML div (FHIR txt-1..txt-3)."""
    for char, entity in _ESCAPES:
        text = text.replace(char, entity)
    return {"status": "generated", "div": XHTML_OPEN + text + XHTML_CLOSE}


def narratives(texts: pd.Series) -> list[dict]:
    """`narrative` of a whole column at once (escaped with vectorised string operations)."""
    escaped = texts.fillna("").astype(str)
    for char, entity in _ESCAPES:
        escaped = escaped.str.replace(char, entity, regex=False)
    return [{"status": "generated", "div": XHTML_OPEN + t + XHTML_CLOSE} for t in escaped]


def joined(*parts: pd.Series, sep: str = "; ") -> pd.Series:
    """Row by row (by position), the non-empty parts joined with `sep` (whole columns; "" parts are left out);
    the index of the first part."""
    if not parts:
        return pd.Series([], dtype=object)
    out: pd.Series | None = None
    for part in parts:
        text = pd.Series(part.to_numpy(), dtype=object).fillna("").astype(str).str.strip()
        out = text if out is None else out + ((out != "") & (text != "")).map({True: sep, False: ""}) + text
    return pd.Series(out.to_numpy(), index=parts[0].index, dtype=object)


def prefixed(label: str, values: pd.Series) -> pd.Series:
    """`label value` where the value is not empty, "" elsewhere."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    return text.where(text == "", label + " " + text)


def with_text(resource: dict, text: dict) -> dict:
    """The resource with its narrative in its place (after id and meta, before everything else)."""
    head = {k: resource[k] for k in ("resourceType", "id", "meta", "implicitRules", "language") if k in resource}
    return {**head, "text": text, **{k: v for k, v in resource.items() if k not in head}}


def describe(resource: dict) -> str:
    """A one-line description of a study-level resource from its own elements (name, title, code, role)."""
    def label(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            return str(value.get("text") or value.get("display") or " ".join(
                [*value.get("prefix", []), *value.get("given", []), value.get("family", "")]).strip()
                or (value.get("coding") or [{}])[0].get("display", ""))
        if isinstance(value, list) and value:
            return label(value[0])
        return ""

    rtype = str(resource.get("resourceType", ""))
    parts = [label(resource.get(key)) for key in ("title", "name", "code", "description")]
    what = next((p for p in parts if p), label(resource.get("identifier", [{}])[0].get("value", "")
                                               if resource.get("identifier") else ""))
    extra = [label(resource.get(key)) for key in ("status", "practitioner", "organization", "address") if
             resource.get(key)]
    if rtype == "PractitionerRole":
        what = ", ".join(p for p in (label(resource.get("code")), str((resource.get("practitioner") or {})
                                                                      .get("display", ""))) if p)
    return f"{rtype}: {what}" + (f" ({', '.join(e for e in extra if e)})" if any(extra) else "")


def system(inp: FhirInput, kind: str) -> str:
    """The Identifier.system of a kind of sponsor identifier (SYSTEM_USUBJID...) in the sponsor's namespace
    (StudyInfo.sponsor_namespace: `https://sponsor.example/ids` -> `https://sponsor.example/ids/usubjid`,
    `urn:sponsor:study` -> `urn:sponsor:study:usubjid`); the tool's own `urn:trialbridge:` name without one."""
    namespace = inp.study.sponsor_namespace if inp.study is not None else ""
    if not namespace or not kind.startswith(_OWN):
        return kind
    name = kind[len(_OWN):]
    if namespace.endswith(("/", ":", "#")):
        return namespace + name
    return namespace + (":" if namespace.startswith("urn:") else "/") + name


_OWN = "urn:trialbridge:"
