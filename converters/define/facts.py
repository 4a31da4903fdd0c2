"""What the written SDTM datasets hold, as define.xml must report it: tables (+ XPT lengths) -> DatasetFacts.

Define-XML describes the files, not the hopes of the specification: the length each variable was written
with, whether a number ever carries decimals (and how many), which ISO 8601 shapes a `--DTC` holds, which
controlled terms were actually used, and which value-level keys (LBTESTCD values, SUPP-- QNAMs) occur.
`dataset_facts` measures all of that from a table as written, whole columns at a time; value-level
facts are measured once per key value (a few dozen groups, never per row).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from trialbridge.schemas.define_measure import (
    ISO_DATA_TYPES, NUMERIC_TEXT, distinct_text, iso_shapes, number_decimals, number_width,
)
from trialbridge.schemas.define_read import XptReader
from trialbridge.schemas.findings import Finding
from trialbridge.schemas.sdtm_spec import Dataset, StudySpec

NUM_LENGTH = 8  # bytes of every numeric variable in a SAS XPT v5 file


def is_iso8601_variable(name: str) -> bool:
    """SDTM variables whose values are ISO 8601 text: dates/times (`--DTC`) and durations (`--DUR`)."""
    return name.endswith("DTC") or name.endswith("DUR")


@dataclass(frozen=True)
class VariableFacts:
    """One variable (or one value-level slice of it) as written."""

    name: str
    type: str  # "Char" | "Num"
    length: int  # XPT length in bytes: Char as written, Num always 8
    data_type: str  # Define-XML DataType the values support: text, integer, float or an ISO 8601 type
    digits: int = 0  # Num: widest whole part (with minus sign) + most decimals; Char: 0
    decimals: int = 0  # Num: most digits after the decimal point
    has_data: bool = True
    values: tuple[str, ...] = ()  # distinct non-empty values, sorted: only where a codelist applies
    numeric: bool = False  # Char: every non-empty value is a plain decimal number (then `decimals` counts)


@dataclass(frozen=True)
class DatasetFacts:
    """One dataset as written: its file, its variables in column order, its value-level slices."""

    name: str  # "DM", "SUPPAE"
    xpt_file: str  # "dm.xpt", relative to define.xml
    records: int
    variables: dict[str, VariableFacts]
    value_level: dict[tuple[str, str, str], VariableFacts] = field(default_factory=dict)
    # (where_variable, where_value) -> what the data says about the key: its label (LBTEST for an
    # LBTESTCD, QLABEL for a QNAM) and, for SUPP--, its origin (QORIG)
    where_labels: dict[tuple[str, str], str] = field(default_factory=dict)
    where_origins: dict[tuple[str, str], str] = field(default_factory=dict)
    transliterated: frozenset[str] = frozenset()  # variables whose values the XPT writer made ASCII

    def where_values(self, where_variable: str) -> list[str]:
        """The key values present for a value-level key variable, in sorted order."""
        return sorted({value for (var, value) in self.where_labels if var == where_variable})


# ------------------------------------------------------------------------------------------ columns
def _iso_data_type(values: pd.Series) -> str:
    """The narrowest ISO 8601 DataType every non-empty value fits ("text" when one fits none)."""
    seen = iso_shapes(values)
    if "text" in seen:
        return "text"
    if seen & {"datetime", "partialDatetime"} and seen & {"date", "partialDate"}:
        return "partialDatetime"  # datetimes mixed with dates: some values lack their time part
    return max(seen, key=ISO_DATA_TYPES.index)


def char_facts(name: str, column: pd.Series, length: int | None = None, with_values: bool = False) -> VariableFacts:
    """Facts of a character column ("" is null). `length` is the XPT length; measured when None."""
    distinct = distinct_text(column)  # every measure below is per distinct value
    present = distinct[distinct != ""]
    if not length:
        length = int(present.str.encode("utf-8").str.len().max()) if not present.empty else 1
    data_type = "text"
    if is_iso8601_variable(name) and not present.empty:
        data_type = _iso_data_type(present)
    numeric = not present.empty and bool(present.str.fullmatch(NUMERIC_TEXT).all())
    decimals = int(present.str.partition(".")[2].str.len().max()) if numeric else 0
    return VariableFacts(
        name=name, type="Char", length=int(length), data_type=data_type,
        has_data=not present.empty, decimals=decimals, numeric=numeric,
        values=tuple(sorted(present)) if with_values else (),
    )


def num_facts(name: str, column: pd.Series) -> VariableFacts:
    """Facts of a numeric column (NaN is null): integer or float, display width and decimals."""
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")
    numbers = numbers[np.isfinite(numbers)]
    if numbers.size == 0:
        return VariableFacts(name=name, type="Num", length=NUM_LENGTH, data_type="integer", digits=1, has_data=False)
    decimals = number_decimals(numbers)
    return VariableFacts(
        name=name, type="Num", length=NUM_LENGTH, data_type="float" if decimals else "integer",
        digits=number_width(numbers, decimals), decimals=decimals,
    )


def column_facts(name: str, column: pd.Series, length: int | None = None, with_values: bool = False) -> VariableFacts:
    """Facts of one column: numeric dtypes are Num, everything else Char."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return num_facts(name, column)
    return char_facts(name, column, length, with_values)


# ----------------------------------------------------------------------------------------- datasets
def _companion(where_variable: str) -> tuple[str, str]:
    """The columns that name a value-level key in the data: (label column, origin column)."""
    if where_variable == "QNAM":
        return "QLABEL", "QORIG"
    if where_variable.endswith("CD"):  # LBTESTCD -> LBTEST, TSPARMCD -> TSPARM
        return where_variable[:-2], ""
    return "", ""


def _value_level_pairs(dataset: Dataset, spec: StudySpec, columns: pd.Index) -> list[tuple[str, str]]:
    """(variable, where_variable) pairs the specification describes by value, present in the table."""
    pairs = [(v.variable, v.where_variable) for v in spec.values_of(dataset.name)]
    if "QVAL" in columns and "QNAM" in columns:
        pairs.append(("QVAL", "QNAM"))  # SUPP--: QVAL is always described by QNAM
    unique = list(dict.fromkeys(pairs))
    return [(var, where) for var, where in unique if var in columns and where in columns]


def dataset_facts(
    table: pd.DataFrame,
    dataset: Dataset,
    spec: StudySpec,
    xpt_file: str,
    lengths: Mapping[str, int] | None = None,
    transliterated: frozenset[str] = frozenset(),
) -> DatasetFacts:
    """Measure one written dataset. Provenance columns (leading `_`) are not part of the data.

    `lengths` are the XPT lengths the writer used (measured from the values where not given).
    """
    lengths = lengths or {}
    columns = [c for c in table.columns if not str(c).startswith("_")]
    coded = {v.name for v in dataset.variables if v.codelist or v.sponsor_terms}
    variables = {
        name: column_facts(name, table[name], lengths.get(name), with_values=name in coded)
        for name in columns
    }
    value_coded = {(v.variable, v.where_variable, v.where_value) for v in spec.values_of(dataset.name) if v.codelist}
    value_level: dict[tuple[str, str, str], VariableFacts] = {}
    where_labels: dict[tuple[str, str], str] = {}
    where_origins: dict[tuple[str, str], str] = {}
    for variable, where in _value_level_pairs(dataset, spec, table.columns):
        label_column, origin_column = _companion(where)
        needed = list(dict.fromkeys(c for c in (where, variable, label_column, origin_column) if c in table.columns))
        keyed = table.loc[table[where].astype(str) != "", needed]  # group only the columns measured
        for key, rows in keyed.groupby(where, sort=True):  # one group per key value (tens), not per row
            key = str(key)
            parent = variables[variable]
            facts = column_facts(variable, rows[variable], with_values=(variable, where, key) in value_coded)
            if facts.type == "Char":  # a slice is never longer than its parent variable
                facts = VariableFacts(**{**facts.__dict__, "length": min(facts.length, parent.length)})
            value_level[(variable, where, key)] = facts
            if label_column in rows.columns:
                where_labels[(where, key)] = str(rows[label_column].iloc[0])
            else:
                where_labels.setdefault((where, key), "")
            if origin_column in rows.columns:
                where_origins[(where, key)] = str(rows[origin_column].iloc[0])
    return DatasetFacts(
        name=dataset.name, xpt_file=xpt_file, records=len(table), variables=variables,
        value_level=value_level, where_labels=where_labels, where_origins=where_origins,
        transliterated=frozenset(transliterated),
    )


# ------------------------------------------------------------------------------------ from the files
TRANSLITERATION_RULES = frozenset({"XPT-ASCII-ACCENT", "XPT-ASCII-REPLACED"})


def transliterated_variables(findings: Iterable[Finding]) -> dict[str, frozenset[str]]:
    """Dataset -> variables whose values the XPT writer made ASCII, read from its findings (`ae:AETERM:3`)."""
    pairs = {tuple(f.location.split(":")[:2]) for f in findings if f.rule in TRANSLITERATION_RULES}
    by_dataset: dict[str, set[str]] = {}
    for dataset, *variable in pairs:
        if variable:
            by_dataset.setdefault(dataset.upper(), set()).add(variable[0])
    return {name: frozenset(names) for name, names in by_dataset.items()}


def facts_from_xpt(path: Path, dataset: Dataset, spec: StudySpec, transliterated: frozenset[str] = frozenset(),
                   relative_to: Path | None = None, read: XptReader | None = None) -> DatasetFacts:
    """Facts of a written XPT file, measured from the file itself (its lengths, its values), as `read`
    (default `xpt.read_xpt`) reads it."""
    from trialbridge.converters.xpt.files import read_xpt

    table, meta = (read or read_xpt)(path)
    name = path.relative_to(relative_to).as_posix() if relative_to else path.name
    return dataset_facts(table, dataset, spec, name, {c.name: c.length for c in meta.columns}, transliterated)


def facts_from_package(sdtm_dir: Path, spec: StudySpec, xpt_findings: Iterable[Finding] = (),
                       read: XptReader | None = None) -> dict[str, DatasetFacts]:
    """Facts of every `<dataset>.xpt` of the specification present in `sdtm_dir`, in specification order."""
    changed = transliterated_variables(xpt_findings)
    facts = {}
    for name, dataset in spec.datasets.items():
        path = Path(sdtm_dir) / f"{name.lower()}.xpt"
        if path.is_file():
            facts[name] = facts_from_xpt(path, dataset, spec, changed.get(name, frozenset()), read=read)
    return facts
