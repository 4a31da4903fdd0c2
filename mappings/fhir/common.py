"""What every FHIR mapping shares: the input, stable identities, identifiers, and the R5 -> R4 step.

The FHIR mappings turn the registry record and the SDTM tables (the hub) into FHIR resources as plain
dicts, key order = element order of the StructureDefinition. Identity is stable: a resource id is a
UUIDv5 of the resource type and its natural keys (study, site, subject...), so a re-run gives the same
bytes, and a reference is `<Type>/<id>` (the same in Bundles, NDJSON and on a server).
The R5 -> R4 step (`R4Differences`, `rename`, `drop`, `recast`, `to_r4`) is in `r4_differences`.


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
from typing import Any, Callable, Sequence

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


EXACT_INTEGERS = 2 ** 53  # beyond, a float is no exact integer and not every one fits a 64-bit JSON integer


def json_number(value: float) -> int | float:
    """A finite float as a JSON number: integral values below 2**53 without '.0' (124, not 124.0); larger ones
    stay floats (1e+39: an int of 40 digits would claim digits the value does not have, and the JSON writer
    cannot hold it)."""
    return int(value) if value.is_integer() and abs(value) < EXACT_INTEGERS else value


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
    submitted, or no such table at all) are null: "" for Char, NaN for Num. Row order kept. A Char column
    held as pandas' `str` dtype stays so (Arrow strings: no Python object per cell, see `compact_text`)."""
    table = inp.sdtm.get(dataset)
    index = table.index if table is not None else pd.RangeIndex(0)
    out = pd.DataFrame(index=index)
    for name in char:
        present = table is not None and name in table.columns
        out[name] = _char_column(table[name]) if present else pd.Series("", index=index, dtype=object)
    for name in num:
        present = table is not None and name in table.columns
        out[name] = table[name].astype("float64") if present else pd.Series(float("nan"), index=index)
    return out


def _char_column(values: pd.Series) -> pd.Series:
    filled = values.fillna("")
    return filled if filled.dtype == "str" else filled.astype(object)


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


def is_empty(value: Any) -> bool:
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
        return [item for item in kept if not is_empty(item)]
    return value


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
