"""What define.xml will say, as plain records: the Plan, its OIDs, and the shapes and dictionaries of variables.

`variable_shape`/`value_shape` turn the facts of a written variable (or value-level slice) into its
Define-XML DataType, Length and SignificantDigits; `dictionary_of` names the external dictionary
(MedDRA, CTCAE, ISO 3166, LOINC) a variable's values come from. The planner (`plan`) fills a Plan;
the renderer (`document`) writes it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from trialbridge.converters.define.facts import DatasetFacts, VariableFacts, is_iso8601_variable
from trialbridge.converters.define.study import CTCAE, ISO_3166, LOINC, MEDDRA
from trialbridge.schemas.define_measure import ISO_DATA_TYPES
from trialbridge.schemas.findings import Finding
from trialbridge.schemas.sdtm_spec import Dataset, ValueLevel, Variable, sdtmig_variables, terminology

# Define-XML 2.1 section 4.3.2.1: for SDTM, Collected data come from the Investigator (CRF); Derived,
# Assigned and Protocol values from the Sponsor.
ORIGIN_SOURCE = {"Collected": "Investigator", "Derived": "Sponsor", "Assigned": "Sponsor", "Protocol": "Sponsor",
                 "Predecessor": ""}  # a Predecessor names the variable it copies, not a party
ASCII_NOTE = (
    "Written in ASCII, as SAS XPT v5 requires: accented letters lose their accents (e.g. \u00e9 -> e) and a few "
    "symbols are spelled out (e.g. \u00b5 -> u, \u00b0 -> deg); the values as collected stay in the source records."
)
ASCII_COMMENT = "COM.ASCII"
DICTIONARY_HREF = {
    MEDDRA: "https://www.meddra.org/",
    CTCAE: "https://ctep.cancer.gov/protocoldevelopment/electronic_applications/ctc.htm",
    ISO_3166: "https://www.iso.org/iso-3166-country-codes.html",
    LOINC: "https://loinc.org/",
}
ACRF_LEAF, ACRF_FILE = "LF.acrf", "acrf.pdf"  # the annotated CRF Collected origins point into (when the spec names pages)
GUIDE_LEAF = "LF.csdrg"  # the clinical study data reviewer's guide


# ------------------------------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class Origin:
    type: str
    source: str  # "" for Predecessor (no Source attribute)
    description: str = ""
    pages: str = ""  # annotated CRF pages (Collected), space-separated


@dataclass(frozen=True)
class ItemPlan:
    """One ItemDef: a dataset variable or a value-level slice of one."""

    oid: str
    name: str
    label: str
    data_type: str
    length: int | None
    significant_digits: int | None
    origin: Origin
    codelist_oid: str = ""
    comment_oid: str = ""
    value_list_oid: str = ""


@dataclass(frozen=True)
class RefPlan:
    """One ItemRef of an ItemGroupDef or a ValueListDef."""

    item_oid: str
    order: int
    mandatory: bool
    key_sequence: int | None = None
    method_oid: str = ""
    role: str = ""
    has_no_data: bool = False
    where_clause_oid: str = ""


@dataclass(frozen=True)
class GroupPlan:
    dataset: Dataset
    facts: DatasetFacts
    refs: tuple[RefPlan, ...]
    domain: str
    alias: str = ""  # SUPP--: the parent domain's description


@dataclass(frozen=True)
class WherePlan:
    oid: str
    item_oid: str  # the key variable's ItemDef
    value: str


@dataclass(frozen=True)
class CodeListPlan:
    oid: str
    name: str
    data_type: str
    c_code: str = ""  # "" for an external dictionary
    items: tuple[tuple[str, str, str, bool], ...] = ()  # (value, decode, C-code, extended)
    decoded: bool = False
    dictionary: str = ""
    dictionary_version: str = ""


@dataclass
class Plan:
    """Everything define.xml states, in output order; built first so the XML is a plain rendering."""

    groups: list[GroupPlan] = field(default_factory=list)
    items: dict[str, ItemPlan] = field(default_factory=dict)
    value_lists: dict[str, list[RefPlan]] = field(default_factory=dict)
    where_clauses: dict[str, WherePlan] = field(default_factory=dict)
    codelists: dict[str, CodeListPlan] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)  # OID -> text
    findings: list[Finding] = field(default_factory=list)
    documents: dict[str, tuple[str, str]] = field(default_factory=dict)  # leaf ID -> (href, title)


def oid_part(text: str) -> str:
    return re.sub(r"\s+", "_", text.strip())


def item_oid(dataset: str, variable: str, where_value: str | None = None) -> str:
    base = f"IT.{dataset}.{variable}"
    return base if where_value is None else f"{base}.{oid_part(where_value)}"


def codelist_oid(c_code: str) -> str:
    try:
        return f"CL.{terminology().codelist_short_name(c_code)}"
    except KeyError:
        return f"CL.{c_code}"


# ------------------------------------------------------------------------------------ data types
def widest_iso(*types: str) -> str:
    present = {t for t in types if t}
    if present & {"datetime", "partialDatetime"} and present & {"date", "partialDate"}:
        return "partialDatetime"
    return max(present, key=ISO_DATA_TYPES.index)


def variable_shape(facts: VariableFacts, planned: str = "") -> tuple[str, int | None, int | None]:
    """(DataType, Length, SignificantDigits): Length only for text/integer/float (Define-XML 2.1 5.3.11)."""
    if facts.type == "Num":
        length = max(facts.digits, 1)
        return (facts.data_type, length, facts.decimals) if facts.data_type == "float" else ("integer", length, None)
    if is_iso8601_variable(facts.name):
        observed = facts.data_type if facts.data_type in ISO_DATA_TYPES else ""
        if observed or not facts.has_data:  # no data: the plan, else the strictest shape
            default = "durationDatetime" if facts.name.endswith("DUR") else "date"
            return widest_iso(observed, planned) if (observed or planned) else default, None, None
    return "text", facts.length, None


def value_shape(entry: ValueLevel, facts: VariableFacts) -> tuple[str, int | None, int | None]:
    """A value-level slice: measured from the slice, in the declared type where the values allow it."""
    if facts.type == "Num":
        if not facts.has_data and entry.type == "float":
            return "float", 1, 0
        return variable_shape(facts)
    if entry.type in ISO_DATA_TYPES:
        return widest_iso(entry.type, facts.data_type if facts.data_type in ISO_DATA_TYPES else ""), None, None
    if entry.type in ("integer", "float") and facts.numeric:  # numbers held as text (SUPP-- QVAL, --ORRES)
        if facts.decimals or entry.type == "float":
            return "float", facts.length, facts.decimals
        return "integer", facts.length, None
    return "text", facts.length, None


# ----------------------------------------------------------------------------------- dictionaries
@lru_cache(maxsize=1)
def _described_domains() -> dict[tuple[str, str], str]:
    """SDTMIG "Described Value Domain(s)" per (dataset, variable), e.g. ("AE", "AEDECOD") -> "MedDRA"."""
    ig = sdtmig_variables()
    return dict(zip(zip(ig["Dataset Name"], ig["Variable Name"]), ig["Described Value Domain(s)"]))


def dictionary_of(dataset: Dataset, variable: Variable, model: str) -> str:
    """The external dictionary a variable's values come from ("" if none)."""
    if variable.codelist in (MEDDRA, CTCAE):
        return variable.codelist
    if MEDDRA in _described_domains().get((model, variable.name), ""):
        return MEDDRA
    suffix = variable.name[2:]
    if suffix in ("BODSYS", "BDSYCD") and any(
        MEDDRA in _described_domains().get((model, v.name), "") for v in dataset.variables
    ):
        return MEDDRA  # the body system of a MedDRA-coded domain is the MedDRA SOC
    if suffix == "TOXGR":
        return CTCAE
    if variable.name == "COUNTRY":  # SDTMIG 3.4 DM: COUNTRY is the ISO 3166-1 alpha-3 code
        return ISO_3166
    if LOINC in _described_domains().get((model, variable.name), ""):
        return LOINC
    return ""


def dictionary_codelist(name: str, data_type: str, version: str) -> CodeListPlan:
    suffix = ".CODE" if data_type == "integer" else ""
    label = f"{name} codes" if suffix else name
    return CodeListPlan(oid=f"CL.{re.sub(r'[^A-Z0-9]+', '_', name.upper()).strip('_')}{suffix}", name=label,
                        data_type=data_type,
                        dictionary=name, dictionary_version=version)

