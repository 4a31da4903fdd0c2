"""Collected dates and times in a declared layout -> ISO 8601 text, partial dates kept partial.

A layout is written as sdtm.oak's ISO 8601 page and EDC exports name them: `yyyy` (or `yy`, a two-digit
year: 00-68 -> 20xx, 69-99 -> 19xx), `MMM` (English month abbreviation, any case), `MM`/`M` (month
number), `dd`/`d` (day), `HH`/`H` (hour), `nn`/`mm` (minute), `ss` (second); everything else is a
separator, where any run of spaces, `-`, `/`, `.`, `:` or `T` matches any other such run. A component
written `UN`, `UNK`, `UK` or `--` is unknown and, with every smaller component, left out (SDTMIG 4.4.4:
never imputed), except a known day after an unknown month, kept with a dash for the month (`2019---20`). `iso` (the default) takes ISO 8601 as is, and the CRF forms `UNK-MM-YYYY`/`UNK-UNK-YYYY`.

Alternatives are written with `or` (`MM/dd/yyyy or MM/yyyy or yyyy`, as an EDC exports a date whose day
or month was not known): each value takes the first layout it fits.

Each distinct value is parsed once; a value that does not fit its layout, or is not a calendar date,
is reported by the caller from the returned mask.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
UNKNOWN = r"(?:UNK|UN|UK|--|NA)"
_TOKENS = (("yyyy", "y4"), ("yy", "y2"), ("MMM", "mon"), ("MM", "m"), ("M", "m"), ("dd", "d"), ("d", "d"),
           ("HH", "H"), ("H", "H"), ("nn", "n"), ("mm", "n"), ("ss", "s"))
_PIECE = {"y4": r"\d{4}", "y2": r"\d{4}|\d{2}", "mon": r"[A-Za-z]{3}", "m": r"\d{1,2}", "d": r"\d{1,2}",
          "H": r"\d{1,2}", "n": r"\d{1,2}", "s": r"\d{1,2}(?:\.\d+)?"}
_SEPARATORS = r"[\s\-/.:T,]+"
ALTERNATIVES = re.compile(r"\s+or\s+")
_ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?$")


class DateFormatError(ValueError):
    """A layout with a component this module does not know."""


@lru_cache(maxsize=None)
def layout_pattern(layout: str) -> re.Pattern[str]:
    """The regular expression of a layout, one named group per component (unknown markers allowed)."""
    pattern, pos, seen = "", 0, set()
    while pos < len(layout):
        for token, name in _TOKENS:
            if layout.startswith(token, pos):
                if name in seen or (name.startswith("y") and {"y2", "y4"} & seen):
                    raise DateFormatError(f"the layout {layout!r} names {token!r} twice")
                seen.add(name)
                pattern += f"(?P<{name}>{_PIECE[name]}|{UNKNOWN})"
                pos += len(token)
                break
        else:
            char = layout[pos]
            if char.isalpha():
                raise DateFormatError(f"the layout {layout!r} has an unknown component at {layout[pos:]!r}; "
                                      "use yyyy yy MMM MM dd HH nn ss")
            if not pattern.endswith(_SEPARATORS):
                pattern += _SEPARATORS
            pos += 1
    if not {"y2", "y4"} & seen and not {"H"} & seen:
        raise DateFormatError(f"the layout {layout!r} has neither a year nor an hour")
    return re.compile(f"^{pattern}$", re.IGNORECASE)


def _part(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[name].fillna("").astype(str)
    return values.where(~values.str.fullmatch(UNKNOWN, case=False), "")


def _valid_day(year: pd.Series, month: pd.Series, day: pd.Series) -> pd.Series:
    text = year.str.zfill(4) + "-" + month.str.zfill(2) + "-" + day.str.zfill(2)
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").notna()


def _assemble(parts: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """ISO 8601 text from matched components, and the rows whose components are out of range."""
    year = _part(parts, "y4")
    if "y2" in parts.columns:
        two = _part(parts, "y2")
        century = np.where(pd.to_numeric(two.replace("", np.nan), errors="coerce") < 69, "20", "19")
        short = np.char.add(century.astype(str), two.to_numpy(dtype=str))
        year = pd.Series(np.where(two.str.len() == 2, short, two.to_numpy(dtype=str)), index=parts.index, dtype=object)
    month = _part(parts, "m").str.zfill(2).where(_part(parts, "m") != "", "")
    names = _part(parts, "mon").str.upper()
    bad = names.ne("") & ~names.isin(MONTHS)
    month = month.where(names == "", names.map({m: f"{i + 1:02d}" for i, m in enumerate(MONTHS)}).fillna(""))
    day = _part(parts, "d").str.zfill(2).where(_part(parts, "d") != "", "")
    hour, minute, second = (_part(parts, n).where(_part(parts, n) == "", _part(parts, n).str.zfill(2))
                            for n in ("H", "n", "s"))
    month_n = pd.to_numeric(month.replace("", np.nan), errors="coerce")
    bad |= (month_n < 1) | (month_n > 12)
    full = (year != "") & (month != "") & (day != "")
    bad |= full & ~_valid_day(year, month, day)
    for values, top in ((hour, 23), (minute, 59), (second, 59.999)):
        number = pd.to_numeric(values.replace("", np.nan), errors="coerce")
        bad |= number > top
    iso = year.copy()
    iso = iso.where(~((iso != "") & (month != "")), iso + "-" + month)
    iso = iso.where(~((year != "") & (month != "") & (day != "")), iso + "-" + day)
    dashed = (year != "") & (month == "") & (day != "")  # SDTMIG 4.4.4: an unknown month between known parts
    iso = iso.where(~dashed, year + "---" + day)
    timed = (hour != "") & (full | dashed | (year == ""))
    clock = hour.where(~(minute != ""), hour + ":" + minute)
    clock = clock.where(~((minute != "") & (second != "")), clock + ":" + second)
    iso = iso.where(~timed, iso + "T" + clock)
    iso = iso.where(~timed | (year != ""), "T" + clock)  # a time alone (its date in another column)
    return iso.where(~bad, ""), bad


def parse_layout(values: pd.Series, layout: str) -> tuple[pd.Series, pd.Series]:
    """(ISO 8601 text, rows that are not empty and do not fit `layout`) for a column of collected text."""
    text = values.fillna("").astype(str).str.strip()
    codes, uniques = pd.factorize(text.to_numpy(dtype=object), use_na_sentinel=False)
    distinct = pd.Series(uniques, dtype=object)
    iso, bad = _parse_distinct(distinct, ALTERNATIVES.split(layout.strip())[0])
    for alternative in ALTERNATIVES.split(layout.strip())[1:]:  # each value takes the first layout it fits
        if not bad.any():
            break
        retried, still_bad = _parse_distinct(distinct[bad], alternative)
        iso, bad = iso.mask(bad & ~still_bad.reindex(bad.index, fill_value=True), retried), \
            bad & still_bad.reindex(bad.index, fill_value=True)
    return (pd.Series(iso.to_numpy()[codes], index=values.index, dtype=object),
            pd.Series(bad.to_numpy()[codes], index=values.index, dtype=bool))


def _parse_distinct(distinct: pd.Series, layout: str) -> tuple[pd.Series, pd.Series]:
    """(ISO 8601, does not fit) for distinct collected texts and one layout."""
    if layout in ("", "iso"):
        return _iso_or_crf(distinct)
    parts = distinct.str.extract(layout_pattern(layout))
    matched = parts.notna().any(axis=1)
    iso, bad = _assemble(parts.where(parts.notna(), ""))
    unknown = distinct.str.fullmatch(UNKNOWN, case=False)
    bad = (bad | ~matched) & (distinct != "") & ~unknown
    return iso.where(~bad, ""), bad


def _iso_or_crf(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    unknown = text.str.startswith("UNK-")
    part = text.str.replace(r"^UNK-UNK-(\d{4})$", r"\1", regex=True)
    part = part.str.replace(r"^UNK-(\d{2})-(\d{4})$", r"\2-\1", regex=True)
    iso = text.where(~unknown, part)
    bad = (iso != "") & ~iso.str.match(_ISO.pattern)
    return iso, bad


def combine_date_time(date: pd.Series, time: pd.Series) -> pd.Series:
    """A date column and a separate time column as one ISO 8601 value (the time only on dates with a day)."""
    complete = date.str.match(r"^\d{4}-(\d{2}|-)-\d{2}$")  # a whole date, or one with only its month unknown
    clock = time.str.replace(r"^T", "", regex=True)
    return date.where(~(complete & (clock != "")), date + "T" + clock)
