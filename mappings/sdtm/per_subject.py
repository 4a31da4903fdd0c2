"""Per-subject derivations: one table's rows -> values looked up or summarised from another table by key.

RFXSTDTC is the first EXSTDTC of the subject, a baseline flag marks the last result on or before RFSTDTC,
--SEQ numbers each subject's records; every lookup is a vectorised join on the key columns (USUBJID by
default), never a loop over subjects.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from trialbridge.mappings.sdtm.frames import _char, _text
from trialbridge.mappings.sdtm.timing import _complete_dates, _latest, coalesce

def lookup(table: pd.DataFrame, other: pd.DataFrame, column: str, by: Sequence[str] = ("USUBJID",)) -> pd.Series:
    """The value of `other[column]` on the row of `other` with the same keys ("" / NaN when none).

    `other` holds at most one row per key (a subject-level table such as DM).
    """
    keys = other[list(by) + [column]].drop_duplicates(list(by))
    position = _key_index(keys, by).get_indexer(_key_index(table, by))  # -1 where `other` has no such keys
    found = keys[column].reset_index(drop=True).reindex(position)  # a left join, without building one
    values = pd.Series(found.to_numpy(), index=table.index)
    return values.astype("float64") if pd.api.types.is_numeric_dtype(other[column]) else _text(values)


def _key_index(frame: pd.DataFrame, by: Sequence[str]) -> pd.Index:
    """The key columns `by` of `frame` as an index (one row per row of `frame`), to look rows up by key."""
    return pd.Index(frame[by[0]]) if len(by) == 1 else pd.MultiIndex.from_frame(frame[list(by)])


def _per_key(table: pd.DataFrame, other: pd.DataFrame, values: pd.Series, by: Sequence[str], how: str) -> pd.Series:
    frame = other[list(by)].assign(_value=_text(values))
    frame = frame[frame["_value"] != ""]
    ranked = frame.sort_values(list(by) + ["_value"], kind="mergesort")  # ISO 8601 sorts as text
    summary = ranked.drop_duplicates(list(by), keep="first" if how == "min" else "last")
    return lookup(table, summary, "_value", by)


def derive_first_dtc(table: pd.DataFrame, other: pd.DataFrame, dtc_column: str,
                     by: Sequence[str] = ("USUBJID",)) -> pd.Series:
    """The earliest `dtc_column` of `other` per subject (ISO 8601 order), e.g. RFXSTDTC = first EXSTDTC."""
    return _per_key(table, other, other[dtc_column], by, "min")


def derive_last_dtc(table: pd.DataFrame, other: pd.DataFrame, dtc_columns: Sequence[str],
                    by: Sequence[str] = ("USUBJID",)) -> pd.Series:
    """The latest date of `other` per subject, each row's date being the first non-empty of `dtc_columns`
    (e.g. RFXENDTC = latest EXENDTC, or EXSTDTC where EXENDTC is missing)."""
    dates = coalesce(*(_text(other[c]) for c in dtc_columns))
    return _per_key(table, other, dates, by, "max")


def derive_exists(table: pd.DataFrame, other: pd.DataFrame, by: Sequence[str] = ("USUBJID",)) -> pd.Series:
    """True where `other` has at least one row with the same keys (e.g. the subject has EX records)."""
    present = other[list(by)].drop_duplicates().assign(_present=True)
    merged = table[list(by)].merge(present, on=list(by), how="left")
    return pd.Series(merged["_present"].fillna(False).astype(bool).to_numpy(), index=table.index)


def derive_seq(table: pd.DataFrame, by: Sequence[str] = ("USUBJID",), order: Sequence[str] = ()) -> pd.Series:
    """--SEQ: 1, 2, ... within each subject, following `order` (stable: ties keep the table order)."""
    ranked = table.sort_values(list(by) + list(order), kind="mergesort")
    seq = ranked.groupby(list(by), sort=False).cumcount() + 1
    return seq.reindex(table.index).astype("float64")


def derive_blfl(table: pd.DataFrame, result_column: str, dtc_column: str, rfstdtc: pd.Series,
                by: Sequence[str] = ("USUBJID",), order: Sequence[str] = ()) -> pd.Series:
    """Baseline flag "Y" on the last record with a non-missing result on or before RFSTDTC, per `by`
    (e.g. subject and test); "" elsewhere. A date that may fall after RFSTDTC (partial) does not qualify;
    ties on the same date go to the last in `order` (then table order)."""
    eligible = (_text(table[result_column]) != "") & (_latest(table[dtc_column]) <= _complete_dates(rfstdtc))
    candidates = table.loc[eligible].assign(_dtc=_text(table.loc[eligible, dtc_column]).str[:10])
    ranked = candidates.sort_values(list(by) + ["_dtc"] + list(order), kind="mergesort")
    last = ranked.groupby(list(by), sort=False).tail(1).index
    flag = _char(table.index)
    flag.loc[last] = "Y"
    return flag
