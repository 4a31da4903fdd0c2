"""Define-XML 2.1 for the SDTM package: StudySpec + facts of the written datasets -> define.xml, define.html.

One specification drives the XPT files and this file, so they cannot disagree: every dataset written gets
an ItemGroupDef (class, structure, keys, `def:leaf` to its XPT file), every variable an ItemDef whose
DataType, Length and SignificantDigits come from what was written (`define_facts`), whose label, role and
origin come from SDTMIG and the study specification. CodeLists list the CDISC terms actually used with
their NCI C-codes; MedDRA and CTCAE are external dictionaries; LB results are described per LBTESTCD
and SUPP-- QVAL per QNAM (value-level metadata with WhereClauseDefs); derivations are MethodDefs and
the notes a reviewer needs are CommentDefs.

Element order follows the Define-XML 2.1 / ODM 1.3.2 schema, datasets and variables follow the declared
order of the specification, codelists and dictionaries their OIDs: the same inputs give the same bytes.
`define.html` is the page the official stylesheet (`define2-1.xsl`, copied beside) renders, produced
ahead of time with lxml because current browsers no longer apply XSLT to local files.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
from lxml import etree

from trialbridge.converters.define_facts import (
    DatasetFacts, VariableFacts, XptReader, facts_from_package, is_iso8601_variable,
)
from trialbridge.mappings.trial import Trial
from trialbridge.schemas.native import FormSchema
from trialbridge.mappings.sdtm.algorithms import study_identifier
from trialbridge.schemas.define_checks import (
    DEFINE_FILE, ISO_DATA_TYPES, STYLESHEET_NAME, coded_values, no_network_parser, stylesheet_path,
)
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_spec import (
    CT_VERSION, SDTMIG_VERSION, SUPP_MODEL, Dataset, StudySpec, ValueLevel, Variable, sdtmig_variables, terminology,
)

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS}
DEFINE_VERSION = "2.1.0"  # the Define-XML standard version, as CDISC's own 2.1 examples write it (the schema package is 2.1.10)
HTML_FILE = "define.html"
# Stylesheet parameters: show Length / SignificantDigits (what the cross-checks compare) and the comments table.
HTML_PARAMETERS = {"displayLengthDFormatSD": "1", "displayCommentsTable": "1"}

STD_IG = "STD.SDTMIG"
STD_CT = "STD.CT.SDTM"
# Define-XML 2.1 section 4.3.2.1: for SDTM, Collected data come from the Investigator (CRF); Derived,
# Assigned and Protocol values from the Sponsor.
ORIGIN_SOURCE = {"Collected": "Investigator", "Derived": "Sponsor", "Assigned": "Sponsor", "Protocol": "Sponsor",
                 "Predecessor": ""}  # a Predecessor names the variable it copies, not a party
ASCII_NOTE = (
    "Written in ASCII, as SAS XPT v5 requires: accented letters lose their accents (e.g. \u00e9 -> e) and a few "
    "symbols are spelled out (e.g. \u00b5 -> u, \u00b0 -> deg); the values as collected stay in the source records."
)
ASCII_COMMENT = "COM.ASCII"
MEDDRA, CTCAE, ISO_3166, LOINC = "MedDRA", "CTCAE", "ISO 3166-1 alpha-3", "LOINC"
DICTIONARY_HREF = {
    MEDDRA: "https://www.meddra.org/",
    CTCAE: "https://ctep.cancer.gov/protocoldevelopment/electronic_applications/ctc.htm",
    ISO_3166: "https://www.iso.org/iso-3166-country-codes.html",
    LOINC: "https://loinc.org/",
}
ISO_3166_VERSION = "2020"  # ISO 3166-1:2020, the edition in force: SDTMIG 3.4 DM.COUNTRY holds its alpha-3 codes
ACRF_LEAF, ACRF_FILE = "LF.acrf", "acrf.pdf"  # the annotated CRF Collected origins point into (when the spec names pages)
GUIDE_LEAF = "LF.csdrg"  # the clinical study data reviewer's guide
ISO_KIND = {"date": "date", "partial-date": "partialDate"}  # native x-kind -> planned Define-XML DataType


@dataclass(frozen=True)
class StudyInfo:
    """Study-level facts define.xml states, from the registry record and the coded data."""

    study_id: str  # STUDYID, e.g. REVALLO
    name: str  # StudyName
    description: str  # StudyDescription
    protocol_name: str  # ProtocolName, e.g. the sponsor's protocol number
    originator: str = ""  # the sponsor
    meddra_versions: tuple[str, ...] = ()  # MedDRA versions the AE coding used, highest last
    ctcae_version: str = ""  # CTCAE version the protocol grades toxicity with
    planned_kinds: tuple[tuple[str, str], ...] = ()  # ("<file> <column>", planned DataType) of the row schemas

    @property
    def meddra_version(self) -> str:
        return self.meddra_versions[-1] if self.meddra_versions else ""

    @property
    def dictionaries(self) -> dict[str, str]:
        return {name: v for name, v in ((MEDDRA, self.meddra_version), (CTCAE, self.ctcae_version),
                                        (ISO_3166, ISO_3166_VERSION)) if v}


# --------------------------------------------------------------------------------------- study info
_CTCAE_VERSION = re.compile(r"CTCAE\)?\s*,?\s*(?:version|v\.?)\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def _version_key(text: str) -> tuple[float, ...]:
    return tuple(float(p) if p.isdigit() else 0.0 for p in text.split("."))


def ctcae_version(registry: Mapping[str, Any]) -> str:
    """The CTCAE version the registry record names ("3.0" from "CTCAE) v3.0"), the most precise one."""
    found = _CTCAE_VERSION.findall(json.dumps(registry, ensure_ascii=False))
    return max(found, key=lambda v: (len(v), _version_key(v)), default="")


def study_info(registry: Mapping[str, Any], meddra_versions: Iterable[str] = (),
               planned_kinds: Iterable[tuple[str, str]] = ()) -> StudyInfo:
    """StudyInfo from a ClinicalTrials.gov record, the MedDRA versions the data was coded with (any order,
    empty ones ignored) and the DataType each collected date column plans for (`trial_study_info`)."""
    protocol = registry.get("protocolSection", {})
    ident = protocol.get("identificationModule", {})
    org_id = ident.get("orgStudyIdInfo", {}).get("id", "")
    study_id = study_identifier(dict(registry))  # STUDYID, as the mappings set it
    versions = tuple(sorted({v for v in meddra_versions if v}, key=_version_key))
    return StudyInfo(
        study_id=study_id,
        name=study_id,
        description=ident.get("officialTitle") or ident.get("briefTitle") or study_id,
        protocol_name=" / ".join(p for p in (org_id, ident.get("nctId", "")) if p) or study_id,
        originator=protocol.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {}).get("name", ""),
        meddra_versions=versions,
        ctcae_version=ctcae_version(registry),
        planned_kinds=tuple(planned_kinds),
    )


def trial_study_info(trial: Trial) -> StudyInfo:
    """StudyInfo of a trial read by its spec: the MedDRA versions of the columns its row schemas mark
    `x-version-of: MedDRA` and of the study's VERSION.MEDDRA, and the planned DataType of every date column of its row schemas."""
    from trialbridge.converters.sdtm_package import study_mapping

    forms = [s.form for s in study_mapping(trial).sources if s.form is not None]
    versions = [value for form in forms if form.name in trial.forms
                for dictionary, column in form.versions().items() if dictionary.upper() == MEDDRA.upper()
                and column in trial.forms[form.name].columns for value in trial.forms[form.name][column].unique()]
    versions += trial.meddra_versions()  # the spec's VERSION.MEDDRA: a version, or RAW.COLUMN of any source
    return study_info(trial.registry, versions, planned_kinds(forms))


def planned_kinds(forms: Iterable[FormSchema]) -> tuple[tuple[str, str], ...]:
    """("<file> <column>", planned DataType) of every date column of the row schemas (partialDate where
    the form allows partial dates), as `Variable.source` names a collected column."""
    return tuple((f"{form.file} {column}", ISO_KIND[spec["x-kind"]]) for form in forms
                 for column, spec in form.properties.items() if spec["x-kind"] in ISO_KIND)


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


def _oid_part(text: str) -> str:
    return re.sub(r"\s+", "_", text.strip())


def item_oid(dataset: str, variable: str, where_value: str | None = None) -> str:
    base = f"IT.{dataset}.{variable}"
    return base if where_value is None else f"{base}.{_oid_part(where_value)}"


def codelist_oid(c_code: str) -> str:
    try:
        return f"CL.{terminology().codelist_short_name(c_code)}"
    except KeyError:
        return f"CL.{c_code}"


# ------------------------------------------------------------------------------------ data types
def _widest_iso(*types: str) -> str:
    present = {t for t in types if t}
    if present & {"datetime", "partialDatetime"} and present & {"date", "partialDate"}:
        return "partialDatetime"
    return max(present, key=ISO_DATA_TYPES.index)


def _shape(facts: VariableFacts, planned: str = "") -> tuple[str, int | None, int | None]:
    """(DataType, Length, SignificantDigits): Length only for text/integer/float (Define-XML 2.1 5.3.11)."""
    if facts.type == "Num":
        length = max(facts.digits, 1)
        return (facts.data_type, length, facts.decimals) if facts.data_type == "float" else ("integer", length, None)
    if is_iso8601_variable(facts.name):
        observed = facts.data_type if facts.data_type in ISO_DATA_TYPES else ""
        if observed or not facts.has_data:  # no data: the plan, else the strictest shape
            default = "durationDatetime" if facts.name.endswith("DUR") else "date"
            return _widest_iso(observed, planned) if (observed or planned) else default, None, None
    return "text", facts.length, None


def _value_shape(entry: ValueLevel, facts: VariableFacts) -> tuple[str, int | None, int | None]:
    """A value-level slice: measured from the slice, in the declared type where the values allow it."""
    if facts.type == "Num":
        if not facts.has_data and entry.type == "float":
            return "float", 1, 0
        return _shape(facts)
    if entry.type in ISO_DATA_TYPES:
        return _widest_iso(entry.type, facts.data_type if facts.data_type in ISO_DATA_TYPES else ""), None, None
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


def _dictionary(dataset: Dataset, variable: Variable, model: str) -> str:
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


def _dictionary_codelist(name: str, data_type: str, version: str) -> CodeListPlan:
    suffix = ".CODE" if data_type == "integer" else ""
    label = f"{name} codes" if suffix else name
    return CodeListPlan(oid=f"CL.{re.sub(r'[^A-Z0-9]+', '_', name.upper()).strip('_')}{suffix}", name=label,
                        data_type=data_type,
                        dictionary=name, dictionary_version=version)


# ------------------------------------------------------------------------------------------ planning
def _origin(origin: str, source: str, pages: str = "") -> Origin:
    """Define-XML 2.1 section 4.3.2: Collected names its CRF field (and annotated CRF pages when the
    specification gives them), Predecessor the variable whose value it copies."""
    description = ""
    if origin == "Collected" and source:
        file, _, column = source.partition(" ")
        description = f"CRF form {file}, column {column}" if column else f"CRF form {file}"
    elif origin == "Predecessor":
        description = source
    return Origin(origin, ORIGIN_SOURCE.get(origin, "Sponsor"), description,
                  " ".join(pages.split()) if origin == "Collected" else "")


def _coded_origin(dictionary: str, version: str) -> Origin:
    """A term coded with an external dictionary: Assigned by the sponsor (Define-XML 2.1 section 4.3.2,
    CDISC's SDTM example: AEDECOD and the MedDRA hierarchy are Assigned)."""
    return Origin("Assigned", "Sponsor", f"Coded with {dictionary} {version}".rstrip())


class _Planner:
    """Builds the Plan from the specification and the facts, collecting findings on the way."""

    def __init__(self, spec: StudySpec, facts: Mapping[str, DatasetFacts], study: StudyInfo) -> None:
        self.spec, self.facts, self.study = spec, facts, study
        self.plan = Plan()
        self.ct_usage: dict[str, dict[str, None]] = {}  # C-code -> values used (ordered set)
        self.comment_by_text: dict[str, str] = {}
        self.unversioned: dict[str, list[str]] = {}  # dictionary -> variables left without its reference

    # -- helpers -----------------------------------------------------------------------------
    def _comment(self, texts: Iterable[str], owner: str) -> str:
        texts = [t for t in texts if t]
        if not texts:
            return ""
        text = "\n\n".join(texts)
        if text not in self.comment_by_text:
            oid = ASCII_COMMENT if texts == [ASCII_NOTE] else f"COM.{owner}"
            self.comment_by_text[text] = oid
            self.plan.comments[oid] = text
        return self.comment_by_text[text]

    def _method(self, method: str, location: str, origin: str) -> str:
        if not method:
            if origin == "Derived":
                self.plan.findings.append(finding("DEFINE-METHOD-MISSING", location, (), item=location))
            return ""
        if method not in self.spec.methods:
            self.plan.findings.append(finding("DEFINE-METHOD-MISSING", location, (method,), item=location))
            return ""
        self.plan.methods.setdefault(method, self.spec.methods[method])
        return method

    def _use_ct(self, c_code: str, values: Iterable[str], location: str) -> str:
        if not c_code:
            return ""
        if not terminology().has_codelist(c_code):
            self.plan.findings.append(finding("DEFINE-CODELIST-UNKNOWN", location, (c_code,), codelist=c_code,
                                              ct=CT_VERSION))
            return ""
        values = list(coded_values(pd.Series(list(values), dtype=object), terminology().submission_values(c_code)))
        if not values:
            return ""
        used = self.ct_usage.setdefault(c_code, {})
        used.update(dict.fromkeys(values))
        return codelist_oid(c_code)

    def _use_sponsor_terms(self, dataset: Dataset, variable: Variable, values: Iterable[str]) -> str:
        """A codelist of the study's own terms (no CDISC codelist exists, e.g. AEREL): the values used."""
        values = sorted(set(values))
        if not values:
            return ""
        oid = f"CL.{dataset.name}.{variable.name}"
        self.plan.codelists[oid] = CodeListPlan(
            oid=oid, name=f"{variable.label} (sponsor-defined)", data_type="text",
            items=tuple((value, value, "", False) for value in values))
        return oid

    def _use_dictionary(self, name: str, data_type: str, location: str) -> str:
        version = self.study.dictionaries.get(name, "")
        if not version:
            self.unversioned.setdefault(name, []).append(location)
            return ""
        codelist = _dictionary_codelist(name, data_type, version)
        self.plan.codelists.setdefault(codelist.oid, codelist)
        return codelist.oid

    # -- datasets --------------------------------------------------------------------------------
    def run(self) -> Plan:
        unknown = sorted(set(self.facts) - set(self.spec.datasets))
        for name in unknown:
            self.plan.findings.append(finding("DEFINE-DATASET-NOT-IN-SPEC", name.lower(), (name,), dataset=name))
        for name, dataset in self.spec.datasets.items():
            if name in self.facts:
                self._dataset(dataset, self.facts[name])
        self._codelists()
        for name, locations in self.unversioned.items():
            self.plan.findings.append(finding("DEFINE-DICTIONARY-VERSION", locations[0], locations, dictionary=name,
                                              item=", ".join(loc.split(":", 1)[1] for loc in locations)))
        if len(self.study.meddra_versions) > 1:
            self.plan.findings.append(finding(
                "DEFINE-DICTIONARY-VERSIONS", "ae", self.study.meddra_versions,
                dictionary=MEDDRA, used=self.study.meddra_version))
        return self.plan

    def _dataset(self, dataset: Dataset, facts: DatasetFacts) -> None:
        parent = self.spec.parents.get(dataset.name, "")
        model = SUPP_MODEL if parent else dataset.name
        declared = {v.name for v in dataset.variables}
        for extra in [c for c in facts.variables if c not in declared]:
            self.plan.findings.append(finding("DEFINE-VARIABLE-NOT-IN-SPEC", f"{dataset.name.lower()}:{extra}",
                                              (extra,), dataset=dataset.name, variable=extra))
        written = [v for v in dataset.variables if v.name in facts.variables]
        for missing in [v.name for v in dataset.variables if v.name not in facts.variables]:
            self.plan.findings.append(finding("DEFINE-VARIABLE-NOT-WRITTEN", f"{dataset.name.lower()}:{missing}",
                                              (missing,), dataset=dataset.name, variable=missing))
        value_lists = self._value_lists(dataset, facts)
        refs = []
        for order, variable in enumerate(written, start=1):
            location = f"{dataset.name.lower()}:{variable.name}"
            var_facts = facts.variables[variable.name]
            oid = item_oid(dataset.name, variable.name)
            dictionary = _dictionary(dataset, variable, model)
            value_list, sliced = value_lists.get(variable.name, ("", False))
            origin = _origin(variable.origin, variable.source, variable.pages)
            if dictionary:
                data_type = "integer" if var_facts.type == "Num" else "text"
                cl = self._use_dictionary(dictionary, data_type, location) if var_facts.has_data else ""
                if dictionary == MEDDRA and variable.origin == "Collected":
                    origin = _coded_origin(MEDDRA, self.study.meddra_version)
            elif sliced:  # the value-level slices name their own codelists (e.g. DSDECOD by DSCAT)
                cl = ""
            elif variable.sponsor_terms:
                cl = self._use_sponsor_terms(dataset, variable, var_facts.values)
            else:
                cl = self._use_ct(variable.codelist, var_facts.values, location)
            planned = (dict(self.study.planned_kinds).get(" ".join(variable.source.split()), "")
                       if is_iso8601_variable(variable.name) else "")
            data_type, length, digits = _shape(var_facts, planned)
            notes = [variable.comment, ASCII_NOTE if variable.name in facts.transliterated else ""]
            self.plan.items[oid] = ItemPlan(
                oid=oid, name=variable.name, label=variable.label, data_type=data_type, length=length,
                significant_digits=digits, origin=origin, codelist_oid=cl,
                comment_oid=self._comment(notes, f"{dataset.name}.{variable.name}"),
                value_list_oid=value_list,
            )
            key = dataset.keys.index(variable.name) + 1 if variable.name in dataset.keys else None
            refs.append(RefPlan(
                item_oid=oid, order=order, mandatory=variable.core == "Req", key_sequence=key,
                method_oid=self._method(variable.method, location, variable.origin), role=variable.role,
                has_no_data=not var_facts.has_data,
            ))
        alias = self.spec.datasets[parent].label if parent in self.spec.datasets else ""
        self.plan.groups.append(GroupPlan(dataset, facts, tuple(refs), domain=parent or dataset.name, alias=alias))

    # -- value level -------------------------------------------------------------------------
    def _value_lists(self, dataset: Dataset, facts: DatasetFacts) -> dict[str, tuple[str, bool]]:
        """ValueListDefs of one dataset: one per described variable, one entry per key value present.

        Returns variable -> (ValueListDef OID, whether its entries name codelists of their own).
        """
        declared: dict[tuple[str, str], dict[str, ValueLevel]] = {}
        for entry in self.spec.values_of(dataset.name):
            declared.setdefault((entry.variable, entry.where_variable), {})[entry.where_value] = entry
        if "QVAL" in facts.variables and "QNAM" in facts.variables:
            declared.setdefault(("QVAL", "QNAM"), {})
        oids: dict[str, tuple[str, bool]] = {}
        for (variable, where), entries in declared.items():
            if variable not in facts.variables or where not in facts.variables:
                continue
            present = facts.where_values(where)
            ordered = [k for k in entries if k in present] + [k for k in present if k not in entries]
            refs = [self._value_ref(dataset, facts, variable, where, key, entries.get(key), n)
                    for n, key in enumerate(ordered, start=1)]
            refs = [r for r in refs if r is not None]
            if refs:
                oid = f"VL.{dataset.name}.{variable}"
                self.plan.value_lists[oid] = refs
                oids[variable] = (oid, any(e.codelist for e in entries.values()))
        return oids

    def _value_ref(self, dataset: Dataset, facts: DatasetFacts, variable: str, where: str, key: str,
                   entry: ValueLevel | None, order: int) -> RefPlan | None:
        slice_facts = facts.value_level.get((variable, where, key))
        if slice_facts is None:
            return None
        location = f"{dataset.name.lower()}:{variable}:{where}={key}"
        parent_var = dataset.variable(variable)
        if entry is None:  # a key the specification does not describe: describe it from the data
            label = facts.where_labels.get((where, key), "") or key
            origin = facts.where_origins.get((where, key), "") or parent_var.origin
            origin = origin if origin in ORIGIN_SOURCE else parent_var.origin
            entry = ValueLevel(dataset.name, variable, where, key, slice_facts.data_type, label, "", origin,
                               parent_var.method if origin == "Derived" else "")
            self.plan.findings.append(finding("DEFINE-VLM-UNSPECIFIED", location, (key,), dataset=dataset.name,
                                              variable=variable, where=f"{where} = {key}"))
        oid = item_oid(dataset.name, variable, key)
        data_type, length, digits = _value_shape(entry, slice_facts)
        label = f"{entry.label} ({entry.unit})" if entry.unit else entry.label
        self.plan.items[oid] = ItemPlan(
            oid=oid, name=variable, label=label or key, data_type=data_type, length=length,
            significant_digits=digits, origin=_origin(entry.origin, entry.source, entry.pages),
            codelist_oid=self._use_ct(entry.codelist, slice_facts.values, location),
            comment_oid=self._comment([entry.comment], f"{dataset.name}.{variable}.{_oid_part(key)}"),
        )
        where_oid = f"WC.{dataset.name}.{where}.{_oid_part(key)}"
        self.plan.where_clauses[where_oid] = WherePlan(where_oid, item_oid(dataset.name, where), key)
        return RefPlan(
            item_oid=oid, order=order, mandatory=parent_var.core == "Req" and slice_facts.has_data,
            method_oid=self._method(entry.method, location, entry.origin),
            role=parent_var.role if dataset.name in self.spec.parents else "",
            where_clause_oid=where_oid,
        )

    # -- codelists ---------------------------------------------------------------------------
    def _codelists(self) -> None:
        ct = terminology()
        for c_code, used in self.ct_usage.items():
            extensible = ct.is_extensible(c_code)
            items = []
            for value in sorted(used):
                code = ct.term_code(c_code, value)
                if not code:
                    rule = "DEFINE-CT-EXTENDED" if extensible else "DEFINE-CT-TERM-UNKNOWN"
                    self.plan.findings.append(finding(rule, codelist_oid(c_code), (value,), value=value,
                                                      codelist=ct.codelist_name(c_code), c_code=c_code, ct=CT_VERSION))
                items.append((value, ct.decode(c_code, value) or value, code, not code and extensible))
            decoded = any(decode.casefold() != value.casefold() for value, decode, _, _ in items)
            plan = CodeListPlan(oid=codelist_oid(c_code), name=ct.codelist_name(c_code), data_type="text",
                                c_code=c_code, items=tuple(items), decoded=decoded)
            self.plan.codelists[plan.oid] = plan
        self.plan.codelists = dict(sorted(self.plan.codelists.items()))


def plan_define(spec: StudySpec, datasets: Mapping[str, DatasetFacts], study: StudyInfo,
                reviewers_guide: str = "") -> Plan:
    """What define.xml will say, from the specification and the facts of the written datasets; it refers to
    the annotated CRF when an origin names CRF pages, and to the reviewer's guide file `reviewers_guide`."""
    plan = _Planner(spec, datasets, study).run()
    if any(item.origin.pages for item in plan.items.values()):
        plan.documents[ACRF_LEAF] = (ACRF_FILE, "Annotated Case Report Form")
    if reviewers_guide:
        plan.documents[GUIDE_LEAF] = (reviewers_guide, "Clinical Study Data Reviewer's Guide")
    return plan


# -------------------------------------------------------------------------------------------- XML
def _odm(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _def(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def _sub(parent: etree._Element, tag: str, attrs: Mapping[str, object] | None = None) -> etree._Element:
    """A child element with the attributes that have a value, in the given order."""
    element = etree.SubElement(parent, tag)
    for name, value in (attrs or {}).items():
        if value is not None and value != "":
            element.set(name, str(value))
    return element


def _text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    """`<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>`."""
    holder = _sub(parent, tag)
    translated = _sub(holder, _odm("TranslatedText"), {XML_LANG: "en"})
    translated.text = text
    return holder


def _yes_no(flag: bool) -> str:
    return "Yes" if flag else "No"


def _ref(parent: etree._Element, ref: RefPlan) -> None:
    element = _sub(parent, _odm("ItemRef"), {
        "ItemOID": ref.item_oid, "OrderNumber": ref.order, "Mandatory": _yes_no(ref.mandatory),
        "KeySequence": ref.key_sequence, "MethodOID": ref.method_oid, "Role": ref.role,
        _def("HasNoData"): "Yes" if ref.has_no_data else None,
    })
    if ref.where_clause_oid:
        _sub(element, _def("WhereClauseRef"), {"WhereClauseOID": ref.where_clause_oid})


def _standards(mdv: etree._Element) -> None:
    standards = _sub(mdv, _def("Standards"))
    _sub(standards, _def("Standard"), {"OID": STD_IG, "Name": "SDTMIG", "Type": "IG",
                                       "Version": SDTMIG_VERSION, "Status": "Final"})
    _sub(standards, _def("Standard"), {"OID": STD_CT, "Name": "CDISC/NCI", "Type": "CT", "PublishingSet": "SDTM",
                                       "Version": CT_VERSION, "Status": "Final"})


def _define_class(cls: str) -> str:
    """SDTMIG class -> Define-XML ItemGroupClass term ("Special-Purpose" -> "SPECIAL PURPOSE")."""
    return cls.replace("-", " ").upper()


def _item_group(mdv: etree._Element, group: GroupPlan) -> None:
    dataset = group.dataset
    define_class = _define_class(dataset.cls)
    one_per_subject = dataset.structure.strip().lower() == "one record per subject"
    leaf_id = f"LF.{dataset.name}"
    element = _sub(mdv, _odm("ItemGroupDef"), {
        "OID": f"IG.{dataset.name}", "Name": dataset.name, "Domain": group.domain,
        "Repeating": _yes_no(not one_per_subject and define_class != "TRIAL DESIGN"),
        "IsReferenceData": _yes_no(define_class == "TRIAL DESIGN"), "SASDatasetName": dataset.name,
        _def("Structure"): dataset.structure, "Purpose": "Tabulation", _def("StandardOID"): STD_IG,
        _def("ArchiveLocationID"): leaf_id,
    })
    _text(element, _odm("Description"), dataset.label)
    for ref in group.refs:
        _ref(element, ref)
    if group.alias:
        _sub(element, _odm("Alias"), {"Context": "DomainDescription", "Name": group.alias})
    _sub(element, _def("Class"), {"Name": define_class})
    leaf = _sub(element, _def("leaf"), {"ID": leaf_id, f"{{{XLINK_NS}}}href": group.facts.xpt_file})
    _sub(leaf, _def("title")).text = group.facts.xpt_file


def _item_def(mdv: etree._Element, item: ItemPlan) -> None:
    element = _sub(mdv, _odm("ItemDef"), {
        "OID": item.oid, "Name": item.name, "DataType": item.data_type, "Length": item.length,
        "SignificantDigits": item.significant_digits, "SASFieldName": item.name,
        _def("CommentOID"): item.comment_oid,
    })
    _text(element, _odm("Description"), item.label)
    if item.codelist_oid:
        _sub(element, _odm("CodeListRef"), {"CodeListOID": item.codelist_oid})
    origin = _sub(element, _def("Origin"), {"Type": item.origin.type, "Source": item.origin.source or None})
    if item.origin.description:
        _text(origin, _odm("Description"), item.origin.description)
    if item.origin.pages:
        reference = _sub(origin, _def("DocumentRef"), {"leafID": ACRF_LEAF})
        _sub(reference, _def("PDFPageRef"), {"PageRefs": item.origin.pages, "Type": "PhysicalRef"})
    if item.value_list_oid:
        _sub(element, _def("ValueListRef"), {"ValueListOID": item.value_list_oid})


def _codelist(mdv: etree._Element, plan: CodeListPlan) -> None:
    element = _sub(mdv, _odm("CodeList"), {
        "OID": plan.oid, "Name": plan.name, "DataType": plan.data_type,
        _def("StandardOID"): STD_CT if plan.c_code else None,
    })
    if plan.dictionary:
        _sub(element, _odm("ExternalCodeList"), {"Dictionary": plan.dictionary, "Version": plan.dictionary_version,
                                                  "href": DICTIONARY_HREF.get(plan.dictionary)})
        return
    for value, decode, code, extended in plan.items:
        tag = "CodeListItem" if plan.decoded else "EnumeratedItem"
        item = _sub(element, _odm(tag), {"CodedValue": value, _def("ExtendedValue"): "Yes" if extended else None})
        if plan.decoded:
            _text(item, _odm("Decode"), decode)
        if code:
            _sub(item, _odm("Alias"), {"Context": "nci:ExtCodeID", "Name": code})
    if plan.c_code:  # a sponsor-defined codelist has no NCI code
        _sub(element, _odm("Alias"), {"Context": "nci:ExtCodeID", "Name": plan.c_code})


def _method_name(oid: str) -> str:
    return "Algorithm " + oid.removeprefix("MT.").replace("_", " ").replace(".", " ")


def tool_version() -> str:
    try:
        return version("trialbridge")
    except PackageNotFoundError:  # a source tree never installed
        return "unknown"


def define_oids(study: StudyInfo) -> tuple[str, str, str]:
    """(Study OID, MetaDataVersion OID, FileOID) of the study's define.xml; Dataset-JSON files refer to them."""
    part = _oid_part(study.study_id)
    return f"STDY.{part}", f"MDV.{part}.SDTMIG.{SDTMIG_VERSION}", f"DEF.{part}.SDTM"


def build_define(plan: Plan, created: datetime, study: StudyInfo) -> etree._ElementTree:
    """The define.xml document of a plan, elements in the order the Define-XML 2.1 schema declares."""
    root = etree.Element(_odm("ODM"), nsmap=NSMAP)
    stamp = created.replace(microsecond=0, tzinfo=None).isoformat()
    study_oid, mdv_oid, file_oid = define_oids(study)
    for name, value in (("ODMVersion", "1.3.2"), ("FileOID", file_oid), ("FileType", "Snapshot"),
                        ("CreationDateTime", stamp), ("Originator", study.originator),
                        ("SourceSystem", "trialbridge"), ("SourceSystemVersion", tool_version()),
                        (_def("Context"), "Submission")):
        if value:
            root.set(name, value)
    root.addprevious(etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{STYLESHEET_NAME}"'))
    study_el = _sub(root, _odm("Study"), {"OID": study_oid})
    variables = _sub(study_el, _odm("GlobalVariables"))
    _sub(variables, _odm("StudyName")).text = study.name
    _sub(variables, _odm("StudyDescription")).text = study.description
    _sub(variables, _odm("ProtocolName")).text = study.protocol_name
    mdv = _sub(study_el, _odm("MetaDataVersion"), {
        "OID": mdv_oid,
        "Name": f"{study.name} SDTM data definitions",
        "Description": f"SDTM datasets of study {study.name} (SDTMIG {SDTMIG_VERSION}, CDISC CT {CT_VERSION})",
        _def("DefineVersion"): DEFINE_VERSION,
    })
    _standards(mdv)
    if ACRF_LEAF in plan.documents:
        _sub(_sub(mdv, _def("AnnotatedCRF")), _def("DocumentRef"), {"leafID": ACRF_LEAF})
    supplemental = [leaf for leaf in plan.documents if leaf != ACRF_LEAF]
    if supplemental:
        documents = _sub(mdv, _def("SupplementalDoc"))
        for leaf in supplemental:
            _sub(documents, _def("DocumentRef"), {"leafID": leaf})
    for oid, refs in plan.value_lists.items():
        value_list = _sub(mdv, _def("ValueListDef"), {"OID": oid})
        for ref in refs:
            _ref(value_list, ref)
    for where in plan.where_clauses.values():
        clause = _sub(mdv, _def("WhereClauseDef"), {"OID": where.oid})
        check = _sub(clause, _odm("RangeCheck"),
                     {"Comparator": "EQ", "SoftHard": "Soft", _def("ItemOID"): where.item_oid})
        _sub(check, _odm("CheckValue")).text = where.value
    for group in plan.groups:
        _item_group(mdv, group)
    for item in plan.items.values():
        _item_def(mdv, item)
    for codelist in plan.codelists.values():
        _codelist(mdv, codelist)
    for oid, description in plan.methods.items():
        method = _sub(mdv, _odm("MethodDef"), {"OID": oid, "Name": _method_name(oid), "Type": "Computation"})
        _text(method, _odm("Description"), description)
    for oid, text in plan.comments.items():
        _text(_sub(mdv, _def("CommentDef"), {"OID": oid}), _odm("Description"), text)
    for leaf_id, (href, title) in plan.documents.items():
        leaf = _sub(mdv, _def("leaf"), {"ID": leaf_id, f"{{{XLINK_NS}}}href": href})
        _sub(leaf, _def("title")).text = title
    return etree.ElementTree(root)


def define_bytes(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# -------------------------------------------------------------------------------------------- HTML
def render_define_html(define_path: Path, html_path: Path) -> list[Finding]:
    """`define.html`: define.xml rendered with the official stylesheet, no file or network access."""
    try:
        document = etree.parse(str(define_path), no_network_parser())
        access = etree.XSLTAccessControl.DENY_ALL
        transform = etree.XSLT(etree.parse(str(stylesheet_path()), no_network_parser()), access_control=access)
        result = transform(document, **HTML_PARAMETERS)
    except (etree.XMLSyntaxError, etree.XSLTError) as error:
        return [finding("DEFINE-HTML", html_path.name, (), detail=str(error))]
    html_path.write_bytes(bytes(result))
    return []


# ------------------------------------------------------------------------------------------ writer
def write_define(spec: StudySpec, datasets: Mapping[str, DatasetFacts], out_dir: Path, created: datetime,
                 study: StudyInfo, reviewers_guide: str = "") -> list[Finding]:
    """Write define.xml, the stylesheet beside it and define.html into `out_dir`; return the findings."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_define(spec, datasets, study, reviewers_guide)
    define_path = out_dir / DEFINE_FILE
    define_path.write_bytes(define_bytes(build_define(plan, created, study)))
    shutil.copyfile(stylesheet_path(), out_dir / STYLESHEET_NAME)
    findings = list(plan.findings) + render_define_html(define_path, out_dir / HTML_FILE)
    n_values = sum(len(refs) for refs in plan.value_lists.values())
    findings.append(finding(
        "DEFINE-WRITTEN", DEFINE_FILE, [g.dataset.name for g in plan.groups],
        datasets=len(plan.groups), variables=sum(len(g.refs) for g in plan.groups),
        codelists=len(plan.codelists), value_level=n_values, methods=len(plan.methods), comments=len(plan.comments),
    ))
    return findings


def write_define_package(sdtm_dir: Path, spec: StudySpec, trial: Trial, created: datetime,
                         xpt_findings: Iterable[Finding] = (), read: XptReader | None = None,
                         reviewers_guide: str = "") -> list[Finding]:
    """define.xml (+ stylesheet, define.html) for the XPT files already written in `sdtm_dir`.

    The facts come from the files themselves, as `read` (default `xpt.read_xpt`) reads them; `xpt_findings`
    (the XPT writer's) say which variables were transliterated to ASCII; the study facts come from the
    registry record and the AE form.
    """
    facts, info = package_facts(sdtm_dir, spec, trial, xpt_findings, read)
    return write_define(spec, facts, sdtm_dir, created, info, reviewers_guide)


def package_facts(sdtm_dir: Path, spec: StudySpec, trial: Trial, xpt_findings: Iterable[Finding] = (),
                  read: XptReader | None = None) -> tuple[dict[str, DatasetFacts], StudyInfo]:
    """The facts of the XPT files written in `sdtm_dir` and the study facts define.xml states."""
    facts = facts_from_package(sdtm_dir, spec, xpt_findings, read)
    return facts, trial_study_info(trial)
