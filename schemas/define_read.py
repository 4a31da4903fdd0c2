"""define.xml and XPT files as the cross-checks read them: documents -> DefineInfo, XptData.

`read_define` keeps the parts of a Define-XML 2.x (or 1.0, see `_label`) document the checks compare with the data (datasets and
their `def:leaf`, ItemDefs, codelists, value lists, where clauses), each with its source line;
`read_xpt_file` reads one dataset through the project's one XPT reader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from lxml import etree

from trialbridge.schemas.define_schema import DEF_NS, NS, XLINK_HREF


@dataclass(frozen=True)
class ItemDefInfo:
    oid: str
    name: str
    data_type: str
    length: int | None
    significant_digits: int | None
    label: str
    codelist: str
    value_list: str
    line: int


@dataclass(frozen=True)
class RefInfo:
    item: str
    order: int | None
    mandatory: bool
    where: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupInfo:
    name: str
    label: str
    href: str
    refs: tuple[RefInfo, ...]
    line: int
    has_no_data: bool = False  # def:HasNoData="Yes": a specified dataset with no records, hence no file


@dataclass(frozen=True)
class Condition:
    item: str
    comparator: str
    values: tuple[str, ...]


@dataclass
class DefineInfo:
    """The parts of a define.xml the cross-checks compare with the data."""

    groups: list[GroupInfo] = field(default_factory=list)
    items: dict[str, ItemDefInfo] = field(default_factory=dict)
    codelists: dict[str, frozenset[str] | None] = field(default_factory=dict)  # None: external dictionary
    value_lists: dict[str, tuple[RefInfo, ...]] = field(default_factory=dict)
    where_clauses: dict[str, tuple[Condition, ...]] = field(default_factory=dict)


def _label(element: etree._Element) -> str:
    """Description/TranslatedText (Define-XML 2.x); a Define-XML 1.0 document (read with its namespaces taken
    as 2.1's, `define_versions`) gives its labels as a def:Label attribute instead."""
    text = element.findtext("odm:Description/odm:TranslatedText", default="", namespaces=NS) or ""
    return (text or element.get(f"{{{DEF_NS}}}Label", "")).strip()


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().lstrip("-").isdigit() else None


def _refs(parent: etree._Element) -> tuple[RefInfo, ...]:
    return tuple(
        RefInfo(
            item=ref.get("ItemOID", ""), order=_int(ref.get("OrderNumber")), mandatory=ref.get("Mandatory") == "Yes",
            where=tuple(w.get("WhereClauseOID", "") for w in ref.findall("def:WhereClauseRef", NS)),
        )
        for ref in parent.findall("odm:ItemRef", NS)
    )


def read_define(document: etree._ElementTree) -> DefineInfo:
    """Datasets, variables, codelists and value-level metadata of a Define-XML 2.x document."""
    info = DefineInfo()
    mdv = document.getroot().find("odm:Study/odm:MetaDataVersion", NS)
    if mdv is None:
        return info
    for group in mdv.findall("odm:ItemGroupDef", NS):
        leaf_id = group.get(f"{{{DEF_NS}}}ArchiveLocationID", "")
        leaf = next((lf for lf in group.findall("def:leaf", NS) if lf.get("ID") == leaf_id), None)
        info.groups.append(GroupInfo(
            name=group.get("Name", ""), label=_label(group), href=leaf.get(XLINK_HREF, "") if leaf is not None else "",
            refs=_refs(group), line=group.sourceline or 0, has_no_data=group.get(f"{{{DEF_NS}}}HasNoData") == "Yes",
        ))
    for item in mdv.findall("odm:ItemDef", NS):
        codelist = item.find("odm:CodeListRef", NS)
        value_list = item.find("def:ValueListRef", NS)
        info.items[item.get("OID", "")] = ItemDefInfo(
            oid=item.get("OID", ""), name=item.get("Name", ""), data_type=item.get("DataType", ""),
            length=_int(item.get("Length")), significant_digits=_int(item.get("SignificantDigits")),
            label=_label(item), codelist=codelist.get("CodeListOID", "") if codelist is not None else "",
            value_list=value_list.get("ValueListOID", "") if value_list is not None else "",
            line=item.sourceline or 0,
        )
    for codelist in mdv.findall("odm:CodeList", NS):
        if codelist.find("odm:ExternalCodeList", NS) is not None:
            info.codelists[codelist.get("OID", "")] = None
        else:
            coded = codelist.xpath("odm:CodeListItem/@CodedValue | odm:EnumeratedItem/@CodedValue", namespaces=NS)
            info.codelists[codelist.get("OID", "")] = frozenset(str(v) for v in coded)
    for value_list in mdv.findall("def:ValueListDef", NS):
        info.value_lists[value_list.get("OID", "")] = _refs(value_list)
    for clause in mdv.findall("def:WhereClauseDef", NS):
        info.where_clauses[clause.get("OID", "")] = tuple(
            Condition(check.get(f"{{{DEF_NS}}}ItemOID", ""), check.get("Comparator", "EQ"),
                      tuple((v.text or "") for v in check.findall("odm:CheckValue", NS)))
            for check in clause.findall("odm:RangeCheck", NS)
        )
    return info


# ------------------------------------------------------------------------------------ XPT, as read
@dataclass(frozen=True)
class XptData:
    table: pd.DataFrame
    label: str
    labels: dict[str, str]
    lengths: dict[str, int]
    types: dict[str, str]  # "Char" | "Num"


XptReader = Callable[[Path], tuple[pd.DataFrame, Any]]  # `xpt.read_xpt`, or one that reads each file once


def read_xpt_file(path: Path, read: XptReader | None = None) -> XptData:
    """An XPT file through the project's one reader (or `read`: the same reader memoised, so that convert
    reads each file once for define.xml and this check together): rows ("" for blank Char) and declared
    metadata."""
    from trialbridge.converters.xpt.files import read_xpt  # the reader lives with the writer

    table, meta = (read or read_xpt)(path)
    return XptData(table=table, label=meta.label, labels={c.name: c.label for c in meta.columns},
                   lengths={c.name: c.length for c in meta.columns}, types={c.name: c.type for c in meta.columns})
