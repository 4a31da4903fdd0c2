"""Define-XML 2.1 checks: a define.xml (+ the XPT files beside it) -> findings.

1. `validate_define`: the file against the official Define-XML 2.1 schema set copied in
   `define-xml-2.1/schema/` (unmodified), offline: the parser never touches the network and a resolver
   refuses any http(s) location, so only the local schema files can be loaded. One finding per schema
   error, with its line and the schema's reason.
2. `check_define_against_data`: define.xml and the XPT files must tell the same story: every dataset
   and variable in both, the same type, length and label, every controlled term used present in the
   variable's CodeList, every value-level entry matching rows that exist and every key value present
   (e.g. each LBTESTCD) described.
"""
from __future__ import annotations

import re

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
from lxml import etree

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.safe_xml import XmlError, parse_file

DEFINE_DIR = Path(__file__).resolve().parent / "define-xml-2.1"
SCHEMA_DIR = DEFINE_DIR / "schema"
DEFINE_SCHEMA = SCHEMA_DIR / "cdisc-define-2.1" / "define2-1-0.xsd"
ARM_SCHEMA = SCHEMA_DIR / "cdisc-arm-1.0" / "arm1-0-0.xsd"  # entry point for defines with analysis results
STYLESHEET_NAME = "define2-1.xsl"
DEFINE_FILE = "define.xml"

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
ARM_NS = "http://www.cdisc.org/ns/arm/v1.0"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
NS = {"odm": ODM_NS, "def": DEF_NS}
NUMERIC_TYPES = frozenset({"integer", "float"})
MAX_DECIMALS = 15  # a double carries at most ~15-17 significant digits
# ISO 8601 shapes of SDTM --DTC / --DUR values, named by the Define-XML DataType that fits them, from the
# most to the least specific (Define-XML 2.1 section 4.3.1: the DataType is the planned specificity;
# "partialDate" may also hold complete dates, "date" never a partial one).
ISO_DATA_TYPES: tuple[str, ...] = (
    "date", "partialDate", "datetime", "partialDatetime", "incompleteDatetime",
    "durationDatetime", "intervalDatetime",
)
ISO_SHAPES: tuple[tuple[str, str], ...] = (
    ("date", r"\d{4}-\d{2}-\d{2}"),
    ("partialDate", r"\d{4}(-\d{2})?"),
    ("datetime", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?"),
    ("partialDatetime", r"\d{4}-\d{2}-\d{2}T\d{2}(:\d{2})?"),
    ("durationDatetime", r"-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"),
    ("intervalDatetime", r"[^/]+/[^/]+"),
)
# Which observed ISO 8601 shapes each declared DataType admits (Define-XML 2.1 section 4.3.1).
ISO_ADMITS: dict[str, frozenset[str]] = {
    "date": frozenset({"date"}),
    "partialDate": frozenset({"date", "partialDate"}),
    "datetime": frozenset({"datetime"}),
    "partialDatetime": frozenset({"date", "partialDate", "datetime", "partialDatetime"}),
}


def stylesheet_path() -> Path:
    """The official Define-XML 2.1 stylesheet (Lex Jansen / CDISC 2019), copied unmodified."""
    return DEFINE_DIR / "stylesheets" / STYLESHEET_NAME


# ----------------------------------------------------------------------------------- offline parsing
class _RefuseNetwork(etree.Resolver):
    """Lets local files through (by returning None) and refuses every network location."""

    def resolve(self, url: str | None, pubid: str | None, context: object) -> None:
        if url and url.split(":", 1)[0].lower() in ("http", "https", "ftp"):
            raise OSError(f"network access refused while reading Define-XML: {url}")
        return None


def no_network_parser() -> etree.XMLParser:
    """An XML parser that cannot reach the network, load DTDs or expand external entities."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_RefuseNetwork())
    return parser


@lru_cache(maxsize=2)
def define_schema(with_arm: bool = False) -> etree.XMLSchema:
    """The Define-XML 2.1 schema (with the ARM 1.0 extension when asked), loaded from local files only."""
    entry = ARM_SCHEMA if with_arm else DEFINE_SCHEMA
    return etree.XMLSchema(etree.parse(str(entry), no_network_parser()))


def _short_names(text: str) -> str:
    """Schema messages with namespace URIs written as the usual prefixes."""
    return text.replace(f"{{{DEF_NS}}}", "def:").replace(f"{{{ODM_NS}}}", "").replace(f"{{{ARM_NS}}}", "arm:")


def _parse(path: Path) -> tuple[etree._ElementTree | None, list[Finding]]:
    """The define.xml tree, read through the safe parser (no DTD, no entities, no network)."""
    try:
        return parse_file(path), []
    except XmlError as error:
        if error.kind in ("syntax", "encoding", "unreadable"):
            return None, [finding("DEFINE-XML-SYNTAX", error.location, (), reason=error.reason)]
        return None, [error.finding()]


def validate_define(path: Path) -> list[Finding]:
    """Check one define.xml against the official Define-XML 2.1 XSD: one finding per schema error."""
    path = Path(path)
    document, findings = _parse(path)
    if document is None:
        return findings
    with_arm = document.getroot().find(f".//{{{ARM_NS}}}AnalysisResultDisplays") is not None
    schema = define_schema(with_arm)
    if schema.validate(document):
        return []
    return [
        finding("DEFINE-XSD", f"{path.name}:{error.line}", (), reason=_short_names(error.message))
        for error in schema.error_log
    ]


def find_define(path: Path) -> Path | None:
    """The define.xml a path names: the file itself, or `define.xml` in the folder (or its `sdtm/`)."""
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / DEFINE_FILE, path / "sdtm" / DEFINE_FILE):
        if candidate.is_file():
            return candidate
    return None


def check_define_package(path: Path) -> list[Finding]:
    """Everything this module checks for a define.xml path or a folder holding one."""
    define = find_define(path)
    if define is None:
        return [finding("DEFINE-NOT-FOUND", str(path), (), path=str(path))]
    findings = validate_define(define)
    if not any(f.rule == "DEFINE-XML-SYNTAX" or f.rule.startswith("XML-") for f in findings):
        findings += check_define_against_data(define, define.parent)
    return findings


# ------------------------------------------------------------------------------ define.xml, as read
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
    return (element.findtext("odm:Description/odm:TranslatedText", default="", namespaces=NS) or "").strip()


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
    from trialbridge.converters.xpt import read_xpt  # the reader lives with the writer

    table, meta = (read or read_xpt)(path)
    return XptData(table=table, label=meta.label, labels={c.name: c.label for c in meta.columns},
                   lengths={c.name: c.length for c in meta.columns}, types={c.name: c.type for c in meta.columns})


# ----------------------------------------------------------------------------------- measurements
def iso_shapes(values: pd.Series) -> set[str]:
    """The ISO 8601 shapes non-empty text values take ("text" for a value that fits none)."""
    remaining, seen = values.astype(str), set()
    for data_type, pattern in ISO_SHAPES:
        if remaining.empty:
            break
        fits = remaining.str.fullmatch(pattern).astype(bool)
        if fits.any():
            seen.add(data_type)
        remaining = remaining[~fits]
    if not remaining.empty:
        seen.add("text")
    return seen


def number_decimals(numbers: np.ndarray) -> int:
    """The fewest decimals that reproduce every (finite) value: 0 for whole numbers."""
    for places in range(MAX_DECIMALS + 1):
        if np.all(np.abs(np.round(numbers, places) - numbers) <= 1e-9 * np.maximum(1.0, np.abs(numbers))):
            return places
    return MAX_DECIMALS


def number_width(numbers: np.ndarray, decimals: int) -> int:
    """Define-XML Length of numbers: widest whole part (minus sign included) plus the decimals."""
    whole = np.floor(np.log10(np.maximum(np.trunc(np.abs(numbers)), 1.0))).astype(int) + 1 + (numbers < 0)
    return int(whole.max()) + decimals


def distinct_text(values: pd.Series) -> pd.Series:
    """The distinct values of `values.astype(str)` in order of first appearance (object Series), converted
    once per distinct value: a column of text (every Char column read from an XPT file) needs no conversion."""
    distinct = pd.unique(values)
    if pd.api.types.infer_dtype(distinct, skipna=False) == "string":
        return pd.Series(distinct, dtype=object)
    return pd.Series(pd.unique(values.astype(str)), dtype=object)


NUMERIC_TEXT = r"-?\d+(\.\d+)?"  # a plain decimal number written as text
NUMERIC_RESULT = r"(<=|>=|<|>)?\s*-?\d+(\.\d+)?"  # "150", "7.76", "<5": a measured number, not a term


def coded_values(values: pd.Series, terms: Iterable[str]) -> pd.Series:
    """The distinct values a codelist must list. A variable such as LBSTRESC takes its CodeList for the
    character results only: numeric results are exempt unless the codelist itself has numeric terms."""
    values = distinct_text(values)
    values = values[values != ""]
    if any(pd.Series(list(terms), dtype=object).astype(str).str.fullmatch(NUMERIC_RESULT)):
        return values
    return values[~values.str.fullmatch(NUMERIC_RESULT).astype(bool)]


# ----------------------------------------------------------------------------------- cross-checks
class _Checker:
    """Compares one define.xml with the XPT files of its folder."""

    def __init__(self, define_path: Path, xpt_dir: Path, info: DefineInfo, read: XptReader | None = None) -> None:
        self.define_name = define_path.name
        self.xpt_dir = xpt_dir
        self.info = info
        self.read = read
        self.findings: list[Finding] = []

    def add(self, rule: str, location: str, values: tuple[object, ...] = (), **fields: object) -> None:
        self.findings.append(finding(rule, location, values, **fields))

    def at(self, line: int) -> str:
        return f"{self.define_name}:{line}"

    def run(self) -> list[Finding]:
        described = set()
        for group in self.info.groups:
            if not group.href and group.has_no_data:
                continue
            if not group.href:
                self.add("DEFINE-XPT-MISSING", group.name.lower(), (group.name,), dataset=group.name,
                         file="(no def:leaf)", where=self.at(group.line))
                continue
            unsafe = unsafe_href(group.href, self.xpt_dir)
            if unsafe:  # never followed: an href outside the package could read any file of the machine
                self.add("DEFINE-HREF-UNSAFE", group.name.lower(), (group.href[:120],), dataset=group.name,
                         href=group.href[:120], reason=unsafe, where=self.at(group.line))
                continue
            path = self.xpt_dir / group.href
            described.add(path.resolve())
            if not path.is_file():
                self.add("DEFINE-XPT-MISSING", group.name.lower(), (group.href,), dataset=group.name,
                         file=group.href, where=self.at(group.line))
                continue
            try:
                data = read_xpt_file(path, self.read)
            except Exception as error:  # a damaged file is a finding naming it; the other datasets are still checked
                self.add("PACKAGE-XPT-UNREADABLE", group.href, (group.href,), file=group.href, error=str(error))
                continue
            self.dataset(group, data)
        for path in sorted(self.xpt_dir.rglob("*.xpt")):
            if path.resolve() not in described:
                name = path.stem.upper()
                self.add("DEFINE-DATASET-NOT-IN-DEFINE", name.lower(), (path.name,), dataset=name,
                         file=str(path.relative_to(self.xpt_dir)))
        return self.findings

    # -- one dataset -------------------------------------------------------------------------------
    def dataset(self, group: GroupInfo, xpt: XptData) -> None:
        ds = group.name.lower()
        if group.label != xpt.label:
            self.add("DEFINE-LABEL", ds, (group.label, xpt.label), what=f"dataset {group.name}",
                     define=group.label, data=xpt.label, where=self.at(group.line))
        refs = [r for r in group.refs if r.item in self.info.items]
        names = [self.info.items[r.item].name for r in refs]
        for ref in group.refs:
            if ref.item not in self.info.items:
                self.add("DEFINE-ITEMDEF-MISSING", ds, (ref.item,), item=ref.item, where=self.at(group.line))
        for name in [n for n in names if n not in xpt.types]:
            self.add("DEFINE-VARIABLE-NOT-IN-DATA", f"{ds}:{name}", (name,), variable=name, file=group.href)
        for name in [n for n in xpt.types if n not in names]:
            self.add("DEFINE-VARIABLE-NOT-IN-DEFINE", f"{ds}:{name}", (name,), variable=name, file=group.href)
        declared_order = [n for _, n in sorted(
            ((r.order if r.order is not None else i), n) for i, (r, n) in enumerate(zip(refs, names)))
            if n in xpt.types]
        data_order = [n for n in xpt.types if n in names]
        if declared_order != data_order:
            self.add("DEFINE-ORDER", ds, tuple(data_order), dataset=group.name,
                     define=", ".join(declared_order), data=", ".join(data_order))
        for ref, name in zip(refs, names):
            if name in xpt.types:
                self.variable(ds, self.info.items[ref.item], ref, xpt)

    def variable(self, ds: str, item: ItemDefInfo, ref: RefInfo, xpt: XptData) -> None:
        location = f"{ds}:{item.name}"
        where = self.at(item.line)
        column = xpt.table[item.name]
        if item.label != xpt.labels.get(item.name, ""):
            self.add("DEFINE-LABEL", location, (item.label, xpt.labels.get(item.name, "")),
                     what=f"variable {item.name}", define=item.label, data=xpt.labels.get(item.name, ""), where=where)
        self.shape(location, item, xpt.types[item.name], xpt.lengths.get(item.name, 0), column, where, exact=True)
        present = column[column != ""] if xpt.types[item.name] == "Char" else column.dropna()
        if ref.mandatory and len(present) < len(column):
            self.add("DEFINE-MANDATORY-NULL", location, (), variable=item.name, count=len(column) - len(present),
                     where=where)
        self.codelist(location, item, present, where)
        if item.value_list:
            self.value_list(ds, item, xpt)

    def shape(self, location: str, item: ItemDefInfo, kind: str, length: int, column: pd.Series, where: str,
              exact: bool) -> None:
        """Type and length. `exact`: a dataset variable's Char Length must equal the XPT length."""
        declared_numeric = item.data_type in NUMERIC_TYPES
        if kind == "Num" and not declared_numeric:
            self.add("DEFINE-TYPE", location, (item.data_type, "Num"), variable=item.name,
                     define=item.data_type, data="Num (numeric)", where=where)
            return
        if kind == "Char" and declared_numeric and exact:
            self.add("DEFINE-TYPE", location, (item.data_type, "Char"), variable=item.name,
                     define=item.data_type, data="Char (character)", where=where)
            return
        if kind == "Num":
            numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")
            numbers = numbers[np.isfinite(numbers)]
            if numbers.size == 0:
                return
            decimals = number_decimals(numbers)
            width = number_width(numbers, decimals)
            if item.data_type == "integer" and decimals:
                self.add("DEFINE-TYPE", location, (item.data_type,), variable=item.name, define="integer",
                         data=f"numbers with up to {decimals} decimal(s)", where=where)
            if item.length is not None and item.length < width:
                self.add("DEFINE-LENGTH", location, (item.length, width), variable=item.name,
                         define=f"Length {item.length}", data=f"values {width} digits wide", where=where)
            if item.data_type == "float" and (item.significant_digits or 0) < decimals:
                self.add("DEFINE-LENGTH", location, (item.significant_digits, decimals), variable=item.name,
                         define=f"SignificantDigits {item.significant_digits}", data=f"values with {decimals} decimals",
                         where=where)
            return
        present = distinct_text(column)  # distinct values are enough
        present = present[present != ""]
        if item.data_type in ISO_ADMITS:
            if not present.empty:
                odd = iso_shapes(present) - ISO_ADMITS[item.data_type]
                if odd:
                    self.add("DEFINE-TYPE", location, tuple(sorted(odd)), variable=item.name, define=item.data_type,
                             data="values shaped as " + ", ".join(sorted(odd)), where=where)
            return
        if declared_numeric and not present.empty:  # a value-level slice of numbers held as text (QVAL)
            pattern = r"-?\d+" if item.data_type == "integer" else NUMERIC_TEXT
            odd = sorted(present[~present.str.fullmatch(pattern).astype(bool)])
            if odd:
                self.add("DEFINE-TYPE", location, tuple(odd[:20]), variable=item.name, define=item.data_type,
                         data="values such as " + ", ".join(repr(v) for v in odd[:5]), where=where)
        longest = int(present.str.len().max()) if not present.empty else 0
        if item.length is None:
            if item.data_type == "text":
                self.add("DEFINE-LENGTH", location, (), variable=item.name, define="no Length",
                         data=f"length {length}", where=where)
            return
        if exact and item.length != length:
            self.add("DEFINE-LENGTH", location, (item.length, length), variable=item.name,
                     define=f"Length {item.length}", data=f"XPT length {length}", where=where)
        elif item.length < longest:
            self.add("DEFINE-LENGTH", location, (item.length, longest), variable=item.name,
                     define=f"Length {item.length}", data=f"values up to {longest} characters", where=where)

    def codelist(self, location: str, item: ItemDefInfo, present: pd.Series, where: str) -> None:
        if not item.codelist:
            return
        if item.codelist not in self.info.codelists:
            self.add("DEFINE-CODELIST-MISSING", location, (item.codelist,), codelist=item.codelist, where=where)
            return
        allowed = self.info.codelists[item.codelist]
        if allowed is None:  # an external dictionary: its content is not in define.xml
            return
        if present.dtype.kind == "f":  # numeric codes: 1.0 -> "1"
            present = pd.Series([f"{v:g}" for v in present.unique()], dtype=object)
        used = coded_values(present, allowed)
        missing = sorted(set(used[~used.isin(list(allowed))]))
        if missing:
            self.add("DEFINE-CT-VALUE", location, tuple(missing), variable=item.name, codelist=item.codelist,
                     terms=", ".join(missing), where=where)

    # -- value level -------------------------------------------------------------------------
    def _mask(self, clause_oid: str, oid_to_column: dict[str, str], table: pd.DataFrame,
              as_text: dict[str, pd.Series]) -> pd.Series | None:
        """Rows a where clause selects; None when it tests a variable of another dataset.

        Character columns are compared as text (`as_text` caches each once per dataset), numeric
        columns as numbers (CheckValue "1" matches 1.0).
        """
        mask = pd.Series(True, index=table.index)
        for condition in self.info.where_clauses.get(clause_oid, ()):
            column_name = oid_to_column.get(condition.item)
            if column_name is None or column_name not in table.columns:
                return None
            column = table[column_name]
            numeric = column.dtype.kind == "f"
            checks = pd.Series(list(condition.values), dtype=object)
            if numeric:
                values, checks = column, pd.to_numeric(checks, errors="coerce").dropna()
            else:
                if column_name not in as_text:
                    as_text[column_name] = column.astype(str)
                values = as_text[column_name]
            if condition.comparator in ("EQ", "IN"):
                hit = values.isin(list(checks))
            elif condition.comparator in ("NE", "NOTIN"):
                hit = ~values.isin(list(checks))
            elif condition.comparator in ("LT", "LE", "GT", "GE") and len(checks):
                numbers, bound = pd.to_numeric(column, errors="coerce"), float(checks.iloc[0])
                hit = {"LT": numbers < bound, "LE": numbers <= bound, "GT": numbers > bound, "GE": numbers >= bound}[
                    condition.comparator]
            else:
                return None
            mask &= hit
        return mask

    def value_list(self, ds: str, parent: ItemDefInfo, xpt: XptData) -> None:
        refs = self.info.value_lists.get(parent.value_list)
        location = f"{ds}:{parent.name}"
        if refs is None:
            self.add("DEFINE-VALUELIST-MISSING", location, (parent.value_list,), value_list=parent.value_list,
                     where=self.at(parent.line))
            return
        group = next(g for g in self.info.groups if g.name.lower() == ds)
        oid_to_column = {r.item: self.info.items[r.item].name for r in group.refs if r.item in self.info.items}
        table = xpt.table
        covered = pd.Series(False, index=table.index)
        evaluable = True
        as_text: dict[str, pd.Series] = {}
        for ref in refs:
            item = self.info.items.get(ref.item)
            if item is None:
                self.add("DEFINE-ITEMDEF-MISSING", location, (ref.item,), item=ref.item, where=self.at(parent.line))
                continue
            masks = [self._mask(w, oid_to_column, table, as_text) for w in ref.where]
            if not masks or any(m is None for m in masks):
                evaluable = False
                continue
            selected = pd.Series(False, index=table.index)
            for mask in masks:  # several WhereClauseRefs: any of them
                selected |= mask
            covered |= selected
            condition = " or ".join(self._describe(w, oid_to_column) for w in ref.where)
            if not selected.any():
                self.add("DEFINE-VLM-NO-ROWS", f"{location}:{condition}", (condition,), variable=parent.name,
                         condition=condition, where=self.at(item.line))
                continue
            slice_location = f"{location}:{condition}"
            column = table.loc[selected, parent.name]
            self.shape(slice_location, item, xpt.types[parent.name], xpt.lengths.get(parent.name, 0), column,
                       self.at(item.line), exact=False)
            present = column[column != ""] if xpt.types[parent.name] == "Char" else column.dropna()
            self.codelist(slice_location, item, present, self.at(item.line))
        if evaluable:
            self.coverage(location, parent, refs, oid_to_column, table, covered)

    def _describe(self, clause_oid: str, oid_to_column: dict[str, str]) -> str:
        return " and ".join(
            f"{oid_to_column.get(c.item, c.item)} {c.comparator} {'|'.join(c.values)}"
            for c in self.info.where_clauses.get(clause_oid, ())
        )

    def coverage(self, location: str, parent: ItemDefInfo, refs: tuple[RefInfo, ...], oid_to_column: dict[str, str],
                 table: pd.DataFrame, covered: pd.Series) -> None:
        """Rows with a value that no value-level entry describes, named by their key values."""
        column = table[parent.name]
        has_value = column != "" if column.dtype.kind != "f" else column.notna()
        loose = has_value & ~covered
        if not loose.any():
            return
        keys = sorted({oid_to_column[c.item] for r in refs for w in r.where
                       for c in self.info.where_clauses.get(w, ()) if c.item in oid_to_column})
        keys = [k for k in keys if k in table.columns]
        described = table.loc[loose, keys].astype(str).drop_duplicates() if keys else pd.DataFrame()
        values = sorted("/".join(row) for row in described.itertuples(index=False, name=None))
        self.add("DEFINE-VLM-UNCOVERED", location, tuple(values), variable=parent.name, count=int(loose.sum()),
                 keys=", ".join(keys) or "(none)", key_values=", ".join(values[:20]))


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def unsafe_href(href: str, folder: Path) -> str:
    """Why a `def:leaf` href may not be followed ("" when it may): it must be a relative file path that
    stays inside the package folder (no URL, no absolute path, no `..`, no backslash or control character)."""
    if _SCHEME.match(href) or href.startswith("//"):
        return "it is a URL; a package's datasets are files beside define.xml"
    if href.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", href):
        return "it is an absolute path"
    if "\\" in href or any(ord(ch) < 32 or ord(ch) == 127 for ch in href):
        return "it holds a backslash or a control character"
    if ".." in Path(href).parts:
        return "it leaves the package folder (..)"
    base = Path(folder).resolve()
    target = (base / href).resolve()
    if base != target and base not in target.parents:
        return "it resolves outside the package folder (symbolic link)"
    return ""


def check_define_against_data(define_path: Path, xpt_dir: Path, read: XptReader | None = None) -> list[Finding]:
    """Compare define.xml with the XPT files in `xpt_dir` (where its `def:leaf` hrefs point), read with
    `read` (default `xpt.read_xpt`)."""
    define_path = Path(define_path)
    document, findings = _parse(define_path)
    if document is None:
        return findings
    return _Checker(define_path, Path(xpt_dir), read_define(document), read).run()
