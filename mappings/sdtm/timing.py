"""Dates and study days: CRF dates -> ISO 8601, and ISO 8601 dates -> --DY, EPOCH, AGE, the latest date.

Partial dates keep their known parts only (SDTMIG 4.4.4) and are never imputed: a derivation that needs a
day takes the earliest and latest calendar day a partial date can be, and gives null when they disagree.
Dates repeat a lot over big tables, so each distinct value is parsed once (`_per_distinct`).
"""
from __future__ import annotations

from functools import wraps
from typing import Callable

import numpy as np
import pandas as pd

from trialbridge.mappings.sdtm.frames import _text

_DATE = r"\d{4}-\d{2}-\d{2}"
_COMPLETE_DATE = rf"^{_DATE}(T.*)?$"


def assign_datetime(source: pd.DataFrame, source_column: str) -> pd.Series:
    """A CRF date as ISO 8601: complete `YYYY-MM-DD` as is; partial dates keep their known parts only.

    `YYYY-MM` and `YYYY` stay; the CRF forms `UNK-MM-YYYY` -> `YYYY-MM` and `UNK-UNK-YYYY` -> `YYYY`
    (SDTMIG 4.4.4: unknown components are omitted, never imputed).
    """
    iso = _text(source[source_column])
    unknown = iso.str.startswith("UNK-")
    if unknown.any():  # only the few partial CRF dates go through the regular expressions
        part = iso[unknown].str.replace(r"^UNK-UNK-(\d{4})$", r"\1", regex=True)
        iso = iso.where(~unknown, part.str.replace(r"^UNK-(\d{2})-(\d{4})$", r"\2-\1", regex=True))
    return _text(iso)


def coalesce(first: pd.Series, *others: pd.Series) -> pd.Series:
    """The first non-null of several aligned Series ("" and NaN are null)."""
    out = first
    for other in others:
        empty = out.isna() | (out.astype(object) == "")
        out = out.where(~empty, other)
    return out


def derive_latest(*dates: pd.Series) -> pd.Series:
    """Row by row, the latest of several aligned ISO 8601 dates ("" when all are empty)."""
    frame = pd.concat([_text(d) for d in dates], axis=1)
    return _text(frame.max(axis=1))


# ------------------------------------------------------------------------------- parsing, once per value
def _per_distinct(parse: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """Run a date parser once per distinct value and spread the result back onto the rows.

    A date column repeats a few thousand values over up to millions of rows (and a subject-level date
    looked up onto each record, e.g. RFSTDTC, far more): parsing the distinct values only gives the same
    result per row for a fraction of the work.
    """
    @wraps(parse)
    def spread(dtc: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(_text(dtc).to_numpy(dtype=object), use_na_sentinel=False)
        parsed = parse(pd.Series(uniques, dtype=object))
        return pd.Series(parsed.to_numpy()[codes], index=dtc.index, name=dtc.name)
    return spread


@_per_distinct
def _complete_dates(dtc: pd.Series) -> pd.Series:
    """The date part of complete ISO 8601 values as datetime64; NaT for partial, empty or invalid."""
    text = _text(dtc)
    complete = text.str.match(_COMPLETE_DATE)
    return pd.to_datetime(text.str[:10].where(complete), format="%Y-%m-%d", errors="coerce")


@_per_distinct
def _earliest(dtc: pd.Series) -> pd.Series:
    """The first calendar day a (possibly partial) ISO 8601 date can be."""
    text = _text(dtc).str[:10]
    padded = text.where(text.str.len() != 4, text + "-01-01")
    padded = padded.where(padded.str.len() != 7, padded + "-01")
    return pd.to_datetime(padded.where(padded.str.match(rf"^{_DATE}$")), format="%Y-%m-%d", errors="coerce")


@_per_distinct
def _latest(dtc: pd.Series) -> pd.Series:
    """The last calendar day a (possibly partial) ISO 8601 date can be."""
    text = _text(dtc).str[:10]
    year = text.str.len() == 4
    month = text.str.len() == 7
    start = _earliest(dtc)
    end = start.where(~year, start + pd.offsets.YearEnd(0))
    return end.where(~month, start + pd.offsets.MonthEnd(0))


# ------------------------------------------------------------------------------------ derived timing
def derive_study_day(dtc: pd.Series, rfstdtc: pd.Series) -> pd.Series:
    """--DY: date - RFSTDTC + 1 on or after RFSTDTC, date - RFSTDTC before it (no day 0).

    Only complete dates have a study day: a partial date or a missing reference gives null (SDTMIG 4.4.4).
    """
    days = (_complete_dates(dtc) - _complete_dates(rfstdtc)).dt.days.astype("float64")
    return (days + (days >= 0)).astype("float64")


def derive_epoch(dtc: pd.Series, rfxstdtc: pd.Series, rfxendtc: pd.Series) -> pd.Series:
    """EPOCH of a record's date: SCREENING before the first dose, TREATMENT from first to last dose,
    FOLLOW-UP after the last dose.

    A subject still on treatment (no RFXENDTC) is in TREATMENT from the first dose on. A date that is
    missing, or too partial to fall on one side of a boundary, gets no epoch; so does a subject never dosed.
    """
    low, high = _earliest(dtc), _latest(dtc)
    start = _complete_dates(rfxstdtc)
    end_low, end_high = _earliest(rfxendtc), _latest(rfxendtc)
    ongoing = _text(rfxendtc) == ""
    screening = high < start
    treatment = (low >= start) & (ongoing | (high <= end_low))
    follow_up = low > end_high
    epoch = np.select([screening, treatment, follow_up], ["SCREENING", "TREATMENT", "FOLLOW-UP"], "")
    return pd.Series(epoch, index=dtc.index, dtype=object)


def derive_age(brthdtc: pd.Series, refdtc: pd.Series) -> pd.Series:
    """Age in completed years at the reference date; null unless every birth date the (partial) BRTHDTC
    allows gives the same age (e.g. born 1960-03, consent 2011-08-15: 51 whatever the day)."""
    reference = _complete_dates(refdtc)

    def years(birth: pd.Series) -> pd.Series:
        before_birthday = (reference.dt.month * 100 + reference.dt.day) < (birth.dt.month * 100 + birth.dt.day)
        return (reference.dt.year - birth.dt.year - before_birthday.astype("float64")).astype("float64")

    oldest, youngest = years(_earliest(brthdtc)), years(_latest(brthdtc))
    return oldest.where(oldest == youngest).astype("float64")
