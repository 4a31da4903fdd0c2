"""Column tests of the SDTM conformance checks: whole columns in, one boolean (or number) per record out.

Each function is small and pure. Tests on values (is this an ISO 8601 date? a number? too long?) run once
per distinct value (`pd.factorize`) and are spread back to every record, so a 2-million-row LB column with a
few thousand distinct values costs a few thousand tests, not two million.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------- basics


def is_char(column: pd.Series) -> bool:
    """True for a character column (object or pandas string dtype), False for a numeric one."""
    return not pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)


def as_text(column: pd.Series) -> pd.Series:
    """A column as SDTM text: character values unchanged ("" for null), numbers without a trailing ".0"
    (3.0 -> "3"; beyond 2**53, where a float is no longer an exact integer, as Python writes the float), "" for
    NaN."""
    if is_char(column):
        return column.astype(object).where(column.notna(), "")
    numbers = column.to_numpy(dtype=float)
    whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (np.abs(numbers) < 2.0 ** 53)  # exact integers
    text = pd.Series(numbers, index=column.index).astype(str).astype(object)
    text[whole] = pd.Series(numbers[whole].astype(np.int64), index=column.index[whole]).astype(str)
    text[np.isnan(numbers)] = ""
    return text


@dataclass(frozen=True)
class Distinct:
    """A column factorised once: each record's code (-1 for NaN) and the distinct values as text.

    Every value test runs on `values` (a few thousand strings for a 2-million-row LB column) and is
    spread back to the records with `spread`.
    """

    codes: np.ndarray
    values: pd.Series  # str dtype, the distinct non-NaN values as SDTM text (numbers as in `as_text`)

    @classmethod
    def of(cls, column: pd.Series | "Distinct") -> "Distinct":
        if isinstance(column, Distinct):
            return column
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        return cls(codes=codes, values=as_text(pd.Series(uniques)).astype(str).reset_index(drop=True))

    def spread(self, answer: np.ndarray | pd.Series, fill: object = False) -> np.ndarray:
        """One answer per distinct value -> one per record (`fill` for NaN records)."""
        answer = np.asarray(answer)
        if answer.size == 0:
            return np.full(len(self.codes), fill, dtype=answer.dtype if answer.dtype != object else object)
        return np.where(self.codes >= 0, answer[np.maximum(self.codes, 0)], fill)

    def null(self) -> np.ndarray:
        """SDTM null: NaN, or "" (a blank character value)."""
        return self.spread((self.values == "").to_numpy(dtype=bool), True).astype(bool)


Column = pd.Series | Distinct  # every test takes a column, or the same column already factorised


def is_null(column: Column) -> np.ndarray:
    """SDTM null: "" (or NaN/None) in a character column, NaN in a numeric one."""
    return Distinct.of(column).null()


def per_value(column: Column, test: Callable[[pd.Series], pd.Series | np.ndarray]) -> np.ndarray:
    """Run a vectorised `test` on the distinct values of `column`; return its answer for every record.

    The test sees a string Series of the distinct non-NaN values and returns one boolean per value;
    NaN records get False.
    """
    distinct = Distinct.of(column)
    return distinct.spread(np.asarray(test(distinct.values), dtype=bool), False).astype(bool)


def per_value_number(column: Column, compute: Callable[[pd.Series], np.ndarray]) -> np.ndarray:
    """Like `per_value`, for a float answer per record (NaN for NaN records)."""
    distinct = Distinct.of(column)
    return distinct.spread(np.asarray(compute(distinct.values), dtype=float), np.nan).astype(float)


def not_in(column: Column, allowed: set[str] | frozenset[str]) -> np.ndarray:
    """A value is present and is not one of `allowed` (exact, case-sensitive match)."""
    return per_value(column, lambda values: ~values.isin(allowed) & (values != ""))


def longer_than(column: Column, limit: int) -> np.ndarray:
    """A text value has more than `limit` characters."""
    return per_value(column, lambda values: values.str.len() > limit)


def bytes_longer_than(column: Column, limit: int) -> np.ndarray:
    """A text value takes more than `limit` bytes in UTF-8 (= characters, for ASCII text)."""
    return per_value(column, lambda values: values.str.encode("utf-8").str.len() > limit)


def not_ascii(column: Column) -> np.ndarray:
    """A text value holds a character outside 7-bit ASCII."""
    return per_value(column, lambda values: ~values.str.isascii())


def not_matching(column: Column, pattern: str) -> np.ndarray:
    """A value is present and does not match the regular expression `pattern` as a whole."""
    return per_value(column, lambda values: ~values.str.fullmatch(pattern) & (values != ""))


def duplicated(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Every record whose values in `columns` are shared with another record (all of them, not the 2nd+)."""
    return table.duplicated(subset=columns, keep=False).to_numpy(dtype=bool)


# -------------------------------------------------------------------------------------- ISO 8601 (4.4)
# SDTMIG 3.4 §4.4.1-4.4.3: extended ISO 8601; unknown trailing parts left off ("2003-12", "2003"), unknown
# inner parts written as "-" ("2003---15", "--12-15", "-----T07:15"), intervals "start/end" (an end may
# be a duration). The shape test accepts those forms; the calendar test checks what the parts say.
_TIME = r"(?:T(?:\d{2}|-)(?::(?:\d{2}|-)(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)"
_TRUNCATED = rf"\d{{4}}(?:-\d{{2}}(?:-\d{{2}}{_TIME}?)?)?"
_OMITTED = rf"(?=[^/]*\d)(?:\d{{4}}|-)-(?:\d{{2}}|-)-(?:\d{{2}}|-){_TIME}?"
_POINT = rf"(?:{_TRUNCATED}|{_OMITTED})"
_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION = (rf"P(?=\d|T\d)(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
             rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?")
ISO8601_DTC = rf"{_POINT}(?:/(?:{_POINT}|{_DURATION}))?|{_DURATION}/{_POINT}"

_PARTS = (
    r"^(?P<y>\d{4}|-)?(?:-(?P<m>\d{2}|-)(?:-(?P<d>\d{2}|-)"
    r"(?:T(?P<H>\d{2}|-)(?::(?P<M>\d{2}|-)(?::(?P<S>\d{2}))?)?)?)?)?"
)


def not_iso8601(column: Column) -> np.ndarray:
    """A --DTC value is present and is not shaped as SDTMIG's ISO 8601 (partial dates allowed)."""
    return not_matching(column, ISO8601_DTC)


def _point_is_real(points: pd.Series) -> np.ndarray:
    """Each ISO 8601 point (or a duration, or "") names a possible month, day, hour, minute, second."""
    parts = points.str.extract(_PARTS)
    number = {k: pd.to_numeric(parts[k], errors="coerce") for k in "ymdHMS"}
    ok = np.ones(len(points), dtype=bool)
    for key, low, high in (("m", 1, 12), ("d", 1, 31), ("H", 0, 23), ("M", 0, 59), ("S", 0, 59)):
        value = number[key].to_numpy(dtype=float)
        ok &= np.isnan(value) | ((value >= low) & (value <= high))
    # the day exists in that month (of that year; of a leap year when the year is unknown)
    day_known = ~np.isnan(number["m"].to_numpy(dtype=float)) & ~np.isnan(number["d"].to_numpy(dtype=float))
    year = parts["y"].where(number["y"].notna(), "2000")
    stamp = year.str.cat([parts["m"], parts["d"]], sep="-").where(day_known & ok)
    real = pd.to_datetime(stamp, format="%Y-%m-%d", errors="coerce").notna().to_numpy(dtype=bool)
    return ok & (~(day_known & ok) | real)


def not_real_datetime(column: Column) -> np.ndarray:
    """An ISO 8601-shaped --DTC value names an impossible date or time (2011-02-30, month 13, 25:00)."""

    def unreal(values: pd.Series) -> np.ndarray:
        shaped = values.str.fullmatch(ISO8601_DTC).to_numpy(dtype=bool)
        sides = values.str.partition("/")  # start, "/", end ("" when not an interval)
        real = _point_is_real(sides[0].astype(str)) & _point_is_real(sides[2].astype(str))
        return shaped & ~real

    return per_value(column, unreal)


# ---------------------------------------------------------------------------------- study day (4.4.4)
_COMPLETE_DATE = r"\d{4}-\d{2}-\d{2}(?:T[^/]*)?"


def day_number(column: Column) -> np.ndarray:
    """Days since 1970-01-01 of the date part of each value; NaN unless the date is complete and real."""

    def days(values: pd.Series) -> np.ndarray:
        complete = values.str.fullmatch(_COMPLETE_DATE)
        dates = pd.to_datetime(values.str.slice(0, 10).where(complete), format="%Y-%m-%d", errors="coerce")
        return ((dates - pd.Timestamp("1970-01-01")).dt.days).to_numpy(dtype=float)

    return per_value_number(column, days)


def study_day(dtc_days: np.ndarray, reference_days: np.ndarray) -> np.ndarray:
    """SDTMIG study day from day numbers: date - reference + 1 on or after the reference, date - reference
    before it (there is no day 0); NaN when either date is incomplete."""
    difference = dtc_days - reference_days
    return np.where(difference >= 0, difference + 1, difference)


def differs(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Two float columns disagree: one is null and the other not, or both present and unequal."""
    both_null = np.isnan(actual) & np.isnan(expected)
    with np.errstate(invalid="ignore"):
        equal = np.isclose(actual, expected, rtol=1e-12, atol=0.0)
    return ~(both_null | equal)


# ------------------------------------------------------------------------------------- numeric results
NUMERIC_TEXT = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


FLOAT_DIGITS = 15  # an 8-byte floating-point number (SAS numeric, XPT v5) holds 15 significant decimal digits


def beyond_float_precision(column: Column) -> np.ndarray:
    """A number written as text with more significant digits than an 8-byte number holds exactly
    ("1234567890123456789": 19), so the numeric variable repeating it cannot repeat it exactly."""
    def too_precise(values: pd.Series) -> np.ndarray:
        mantissa = values.where(values.str.fullmatch(NUMERIC_TEXT), "").str.replace(r"[eE].*$|[+-]|\.", "", regex=True)
        return (mantissa.str.strip("0").str.len() > FLOAT_DIGITS).to_numpy(bool)

    return per_value(column, too_precise)


def number_in_text(column: Column) -> np.ndarray:
    """The number a text value spells (" 5.2" is not one: SDTM results carry no padding); NaN otherwise."""

    def numbers(values: pd.Series) -> np.ndarray:
        spelled = values.str.fullmatch(NUMERIC_TEXT)
        return pd.to_numeric(values.where(spelled), errors="coerce").to_numpy(dtype=float)

    return per_value_number(column, numbers)
