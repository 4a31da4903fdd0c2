"""Table plumbing shared by every SDTM mapping step: source rows -> target tables with their provenance.

Character values are `str` with "" for null (`_text`), every target row keeps the `_file`/`_line` of the
source row it came from, rows not carried into a domain are returned as rejected rows with a reason, and a
finding names the records it is about (`file:line`, the first few shown).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import pandas as pd

from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_spec import Dataset

PROVENANCE: tuple[str, str] = (SOURCE_FILE, SOURCE_LINE)
REJECTED_COLUMNS: tuple[str, str, str] = (SOURCE_FILE, SOURCE_LINE, "reason")
RECORDS_SHOWN = 5  # locations quoted in one finding's message


@dataclass(frozen=True)
class Mapped:
    """What one domain mapping produces."""

    table: pd.DataFrame  # the domain, SDTM columns in spec order + _file/_line
    supp: pd.DataFrame | None  # SUPP-- rows (SUPP_COLUMNS + _file/_line) or None
    findings: list[Finding]
    rejected: pd.DataFrame  # source rows NOT carried into the domain: _file, _line, reason


# ---------------------------------------------------------------------------------------- values
def _text(values: pd.Series) -> pd.Series:
    """Character values as Python str (object dtype), "" for null."""
    out = values.astype(object)
    missing = out.isna()
    if missing.any():
        out = out.where(~missing, "")
    if pd.api.types.infer_dtype(out, skipna=False) not in ("string", "empty"):
        out = out.astype(str).astype(object)
    return out


def _char(index: pd.Index, value: str = "") -> pd.Series:
    return pd.Series(value, index=index, dtype=object)


# ----------------------------------------------------------------------------- records in findings
def _records(source: pd.DataFrame, mask: pd.Series) -> list[str]:
    """`file:line` of the rows in `mask`, in table order."""
    rows = source.loc[mask]
    if SOURCE_FILE not in rows.columns:
        return [str(i) for i in rows.index]
    return [f"{f}:{line}" for f, line in zip(rows[SOURCE_FILE], rows[SOURCE_LINE])]


def _shown(records: list[str]) -> str:
    more = len(records) - RECORDS_SHOWN
    return ", ".join(records[:RECORDS_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _by_value(source: pd.DataFrame, values: pd.Series, bad: pd.Series) -> Iterable[tuple[str, list[str]]]:
    """Group the rows of `bad` by value: (value, [file:line, ...]), values in sorted order."""
    for value in sorted(set(values[bad])):
        yield value, _records(source, bad & (values == value))


def report_values(source: pd.DataFrame, source_column: str, mask: pd.Series, rule_id: str,
                  **fields: object) -> list[Finding]:
    """One finding of `rule_id` per distinct value of `source_column` on the rows of `mask`, located at
    its first record and naming the count and records (the message template gets `value`, `count`,
    `records` and `fields`)."""
    values = _text(source[source_column])
    return [
        finding(rule_id, f"{records[0]}:{source_column}", [value], value=value, count=len(records),
                records=_shown(records), **fields)
        for value, records in _by_value(source, values, mask.astype(bool))
    ]


# --------------------------------------------------------------------------------- tables and rows
def no_rejects() -> pd.DataFrame:
    """An empty rejected-rows frame."""
    return pd.DataFrame({SOURCE_FILE: pd.Series(dtype=object), SOURCE_LINE: pd.Series(dtype="int64"),
                         "reason": pd.Series(dtype=object)})


def reject(source: pd.DataFrame, mask: pd.Series, reason: str) -> pd.DataFrame:
    """The rows of `source` selected by `mask` as rejected rows with their reason."""
    rows = source.loc[mask, list(PROVENANCE)].reset_index(drop=True)
    rows["reason"] = reason
    return rows.astype({SOURCE_FILE: object, "reason": object})


def start_table(source: pd.DataFrame) -> pd.DataFrame:
    """An empty target table on the source's rows, carrying their provenance (`_file`, `_line`)."""
    table = pd.DataFrame(index=source.index)
    table[SOURCE_FILE] = _text(source[SOURCE_FILE]) if SOURCE_FILE in source else _char(source.index)
    table[SOURCE_LINE] = source[SOURCE_LINE].astype("int64") if SOURCE_LINE in source else 0
    return table


def merge_source(left: pd.DataFrame, right: pd.DataFrame, by: Sequence[str] = ("SUBJID",)) -> pd.DataFrame:
    """`left` with the columns of `right` (at most one row per key) added; left's rows and provenance.

    Columns `right` shares with `left` (other than the keys) are taken from `left`. Rows of `left`
    without a match get "" in the added columns.
    """
    extra = [c for c in right.columns if c not in left.columns]
    merged = left.reset_index().merge(right[list(by) + extra], on=list(by), how="left", validate="many_to_one")
    merged = merged.set_index("index" if "index" in merged.columns else merged.columns[0])
    merged.index.name = left.index.name
    merged[extra] = merged[extra].astype(object).where(merged[extra].notna(), "")
    return merged


def bind_rows(*tables: pd.DataFrame) -> pd.DataFrame:
    """Stack the record sets of one domain (e.g. DS consent, end of treatment, end of study rows).

    A work column `_set` (0, 1, ...: which record set a row comes from) breaks ties in --SEQ order.
    """
    stacked = pd.concat([t.assign(_set=i) for i, t in enumerate(tables)], ignore_index=True)
    chars = [c for c in stacked.columns if stacked[c].dtype == object or pd.api.types.is_string_dtype(stacked[c])]
    stacked[chars] = stacked[chars].astype(object).where(stacked[chars].notna(), "")
    return stacked


def finalize(table: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """The domain's columns in spec order (+ `_file`, `_line`), typed, rows sorted by subject and --SEQ.

    Char variables become `str` with "" for null, Num variables float64. Work columns that are not
    variables of the dataset are left out. Every variable of the dataset must be in `table`.
    """
    missing = [name for name in dataset.names if name not in table.columns]
    if missing:
        raise ValueError(f"{dataset.name} mapping did not produce {missing}")
    out = pd.DataFrame(index=table.index)
    for variable in dataset.variables:
        column = table[variable.name]
        out[variable.name] = (pd.to_numeric(column, errors="raise").astype("float64")
                              if variable.type == "Num" else _text(column))
    out[SOURCE_FILE] = _text(table[SOURCE_FILE])
    out[SOURCE_LINE] = table[SOURCE_LINE].astype("int64")
    seq = [n for n in dataset.names if n.endswith("SEQ") and n != "TSSEQ"] or list(dataset.keys)
    order = [c for c in ("USUBJID", *seq) if c in out.columns]
    out = out.sort_values(order, kind="mergesort") if order else out
    return out.reset_index(drop=True)


def compact_text(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with each character column (every value a `str`, none missing) held as pandas' `str` dtype.

    The same values, compared, cut and written as before; held as Arrow strings (offsets and bytes) instead
    of one Python object per cell: about a quarter of the memory, and nothing a forked worker reads raises
    a reference count, so the pages it inherits stay shared (see `converters/fhir/stage.py`).
    """
    text = [name for name in table.columns if table[name].dtype == object
            and pd.api.types.infer_dtype(table[name], skipna=False) == "string"]
    return table.astype(dict.fromkeys(text, "str")) if text else table
