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
from pathlib import Path

import numpy as np
import pandas as pd

from trialbridge.schemas.define_measure import (
    ISO_ADMITS, ISO_DATA_TYPES, MAX_DECIMALS, NUMERIC_TYPES, coded_values, distinct_text, iso_shapes,
    number_decimals,
)
from trialbridge.schemas.define_read import (
    DefineInfo, GroupInfo, ItemDefInfo, RefInfo, XptData, XptReader, read_define, read_xpt_file,
)
from trialbridge.schemas.define_schema import (
    DEFINE_FILE, ODM_NS, STYLESHEET_NAME, _parse, define_schema, find_define, no_network_parser, stylesheet_path,
    validate_define,
)
from trialbridge.schemas.findings import Finding, finding

__all__ = [  # the names callers import from here (the schema, reading and measuring modules hold them)
    "DEFINE_FILE", "ISO_DATA_TYPES", "ODM_NS", "STYLESHEET_NAME", "XptReader", "check_define_against_data",
    "check_define_package", "coded_values", "define_schema", "find_define", "no_network_parser", "stylesheet_path",
    "unsafe_href", "validate_define",
]

# The lexical forms Define-XML (ODM 1.3.2) DataTypes take as text: xs:integer and xs:double without INF/NaN
# ("+5", ".09", "5.", "1.5E3" are numbers; a value-level slice of a Char variable holds them as written).
XSD_INTEGER = r"[+-]?\d+"
XSD_FLOAT = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def check_define_package(path: Path) -> list[Finding]:
    """Everything this module checks for a define.xml path or a folder holding one."""
    define = find_define(path)
    if define is None:
        return [finding("DEFINE-NOT-FOUND", str(path), (), path=str(path))]
    findings = validate_define(define)
    if not any(f.rule == "DEFINE-XML-SYNTAX" or f.rule.startswith("XML-") for f in findings):
        findings += check_define_against_data(define, define.parent)
    return findings


# ----------------------------------------------------------------------------------- cross-checks
def _widest_value(numbers: np.ndarray) -> int:
    """The digits of the widest single value (whole part, minus sign and its own decimals): 500 and 0.625
    are 3 and 4 digits wide, not 6. (A Length may be larger, as trialbridge writes it: widest whole part
    plus most decimals; it must not be smaller.)"""
    values = np.unique(numbers)
    decimals = np.full(values.shape, MAX_DECIMALS)
    for places in range(MAX_DECIMALS, -1, -1):
        exact = np.abs(np.round(values, places) - values) <= 1e-9 * np.maximum(1.0, np.abs(values))
        decimals[exact] = places
    whole = np.floor(np.log10(np.maximum(np.trunc(np.abs(values)), 1.0))).astype(int) + 1 + (values < 0)
    return int((whole + decimals).max())


def _on_disk(path: Path) -> Path:
    """`path`, or the file of its folder whose name differs only in case (define.xml says dm.xpt, a package made
    on Windows holds DM.XPT: the case is reported by PACKAGE-XPT-CASE; the dataset is still the one described)."""
    if path.is_file() or not path.parent.is_dir():
        return path
    twin = [p for p in path.parent.iterdir() if p.name.lower() == path.name.lower() and p.is_file()]
    return twin[0] if len(twin) == 1 else path


def _split_part(path: Path, described: set[str]) -> bool:
    """A part of a dataset define.xml describes whole, in the package's `split/` folder (split/lbch.xpt
    beside lb.xpt): the FDA asks for the whole dataset in define.xml and its parts beside it (Technical
    Conformance Guide 3.3.2), so a part is not a dataset define.xml forgot."""
    return path.parent.name.lower() == "split" and any(path.stem.upper().startswith(name) for name in described)


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
            path = _on_disk(self.xpt_dir / group.href)
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
        whole = {g.name.upper() for g in self.info.groups if g.href and (self.xpt_dir / g.href).resolve() in described}
        for path in sorted(p for p in self.xpt_dir.rglob("*") if p.suffix.lower() == ".xpt"):
            if path.resolve() not in described and not _split_part(path, whole):
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
            if item.data_type == "integer" and decimals:
                self.add("DEFINE-TYPE", location, (item.data_type,), variable=item.name, define="integer",
                         data=f"numbers with up to {decimals} decimal(s)", where=where)
            widest = _widest_value(numbers)
            if item.length is not None and item.length < widest:
                self.add("DEFINE-LENGTH", location, (item.length, widest), variable=item.name,
                         define=f"Length {item.length}", data=f"values {widest} digits wide", where=where)
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
            pattern = XSD_INTEGER if item.data_type == "integer" else XSD_FLOAT
            odd = sorted(present[~present.str.fullmatch(pattern).astype(bool)])
            if odd:
                self.add("DEFINE-TYPE", location, tuple(odd[:20]), variable=item.name, define=item.data_type,
                         data="values such as " + ", ".join(repr(v) for v in odd[:5]), where=where)
        # numbers held as text are measured as numbers are: in digits ("4.5" is 2 digits wide, as CDISC's
        # SDTM-MSG define.xml counts them); anything else in characters
        measured = present.str.count(r"\d") if declared_numeric else present.str.len()
        longest = int(measured.max()) if not present.empty else 0
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
                     define=f"Length {item.length}",
                     data=f"values up to {longest} {'digits' if declared_numeric else 'characters'}", where=where)

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
