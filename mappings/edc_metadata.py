"""EDC study metadata as plain data: what an EDC export declares about its forms, items and codelists.

The EDC readers (converters/readers/odm_meta.py for CDISC ODM 1.3.x, converters/readers/redcap.py for a
REDCap data dictionary) turn their source into an `EdcMetadata`; `spec init` reads it to pre-fill a
study mapping specification. Nothing here reads files.

`datasets` names the raw datasets exactly as the readers hand them on (one per ODM ItemGroup, or per
REDCap instrument), with their item columns in order: a spec written from this metadata refers to the
same dataset and column names the readers produce.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CodeListTerm:
    coded: str  # the value stored in the data (CodedValue)
    decoded: str  # its text (Decode/TranslatedText; the coded value itself for an EnumeratedItem)
    aliases: tuple[tuple[str, str], ...] = ()  # (Context, Name), e.g. ("nci:ExtCodeID", "C49488")


@dataclass(frozen=True)
class CodeList:
    oid: str
    name: str
    data_type: str
    terms: tuple[CodeListTerm, ...] = ()
    dictionary: str = ""  # ExternalCodeList Dictionary (e.g. MedDRA), with `version`
    version: str = ""
    aliases: tuple[tuple[str, str], ...] = ()

    def decodes(self) -> dict[str, str]:
        return {term.coded: term.decoded for term in self.terms}


@dataclass(frozen=True)
class ItemMeta:
    oid: str
    name: str
    data_type: str = ""  # ODM DataType (text, integer, float, date, boolean, ...)
    length: int | None = None
    significant_digits: int | None = None
    label: str = ""  # Description text (REDCap: the field label)
    question: str = ""  # Question text as shown on the form
    codelist: str = ""  # CodeList OID ("" when the item is not coded)
    units: tuple[str, ...] = ()  # measurement unit symbols (or names) the item may carry
    aliases: tuple[tuple[str, str], ...] = ()  # every (Context, Name) Alias
    sdtm: tuple[str, ...] = ()  # SDTM annotations: Alias whose Context names SDTM, and SDSVarName
    field_type: str = ""  # the EDC's own widget type (REDCap field type: radio, checkbox, text, ...)
    choices: tuple[tuple[str, str], ...] = ()  # REDCap checkbox field: (code, label) of each option


@dataclass(frozen=True)
class RawColumn:
    """One item column of a raw dataset, and the companion columns the reader adds beside it."""

    name: str  # column name in the raw dataset
    item: str  # ItemDef OID (REDCap: field name)
    decode: str = ""  # companion column holding the decoded text ("" when the item is not coded)


@dataclass(frozen=True)
class RawDatasetMeta:
    name: str  # raw dataset name as handed on
    source: str  # ItemGroupDef OID (ODM) or FormDef OID / instrument name (REDCap)
    label: str = ""
    repeating: bool = False
    domain: str = ""  # ItemGroupDef Domain or an SDTM Alias of the group
    key_columns: tuple[str, ...] = ()  # the context columns before the items (subject, event, form, keys)
    columns: tuple[RawColumn, ...] = ()


@dataclass(frozen=True)
class EventMeta:
    oid: str
    name: str
    repeating: bool = False
    type: str = ""
    forms: tuple[str, ...] = ()
    unique_name: str = ""  # REDCap unique event name
    arm: str = ""  # REDCap arm number
    arm_name: str = ""


@dataclass(frozen=True)
class FormMeta:
    oid: str
    name: str
    repeating: bool = False
    item_groups: tuple[str, ...] = ()
    instrument: str = ""  # REDCap instrument (form) name


@dataclass(frozen=True)
class ItemGroupMeta:
    oid: str
    name: str
    repeating: bool = False
    domain: str = ""
    label: str = ""
    items: tuple[str, ...] = ()  # ItemDef OIDs in declared order


@dataclass(frozen=True)
class EdcMetadata:
    """Everything an EDC export declares about the study's data collection."""

    source: str  # file name
    system: str = ""  # "REDCap", "OpenClinica" or the ODM SourceSystem ("" when not said)
    study_oid: str = ""
    study_name: str = ""
    protocol_name: str = ""
    events: dict[str, EventMeta] = field(default_factory=dict)
    forms: dict[str, FormMeta] = field(default_factory=dict)
    item_groups: dict[str, ItemGroupMeta] = field(default_factory=dict)
    items: dict[str, ItemMeta] = field(default_factory=dict)
    codelists: dict[str, CodeList] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # MeasurementUnit OID -> symbol
    datasets: dict[str, RawDatasetMeta] = field(default_factory=dict)
    repeating_instruments: frozenset[tuple[str, str]] = frozenset()  # REDCap (unique event name, instrument)
    repeating_events: frozenset[str] = frozenset()  # REDCap unique event names that repeat as a whole
