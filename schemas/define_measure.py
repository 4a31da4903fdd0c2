"""Measurements define.xml and its checks share: values (a column) -> ISO 8601 shapes, decimals, widths.

The Define-XML DataType of a `--DTC`/`--DUR` value is the ISO 8601 shape it takes (Define-XML 2.1 section
4.3.1); a number's Length is its widest whole part plus its decimals; a codelist lists the character
values of a variable, not its numeric results. Whole columns at a time, once per distinct value.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

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
