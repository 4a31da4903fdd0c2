"""Two SDTM domains + a relationship rule -> RELREC records (SDTMIG 3.4 section 8.2 Relating Peer Records,
section 8.3 Relating Datasets). Pure functions over DataFrames; the spec's `relate` step
(`mappings.spec.domain_steps`) reads the rule from a mapping row and evaluates its conditions.

Record level (8.2): each record of the first domain (already reduced to those meeting the rule's condition)
is paired, within its subject (USUBJID), with the records of the second domain (reduced likewise); with
`dates`, only when the second record's date falls `days` after the first's (complete dates; a bound may be
open); with `pick=nearest`, only the second record nearest in date (then the lowest key). Each pair is two
RELREC records sharing a RELID (`<relid><n>`, n counted over the pairs in subject and key order): RDOMAIN,
USUBJID, IDVAR (the identifying variable of each domain, e.g. AESEQ and EXSEQ), IDVARVAL, RELTYPE null.
Every record carries the provenance (`_file`, `_line`) of the record it names.

Dataset level (8.3, `reltype`): two records naming each domain's identifying variable (e.g. --LNKID) and its
RELTYPE (ONE or MANY), USUBJID and IDVARVAL null: every record of one dataset relates to the records of the
other with the same value of that variable.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialbridge.mappings.sdtm.frames import SOURCE_FILE, SOURCE_LINE

RELREC_COLUMNS = ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELTYPE", "RELID")
RELTYPES = ("ONE", "MANY")  # CDISC CT C78737 Relationship Type
PICKS = ("all", "nearest")


@dataclass(frozen=True)
class Relation:
    """One relationship rule: which domains, their identifying variables, and how records pair."""

    left: str  # the first domain (e.g. AE)
    right: str  # the second domain (e.g. EX)
    left_key: str  # IDVAR of the first domain (e.g. AESEQ)
    right_key: str  # IDVAR of the second domain (e.g. EXSEQ)
    relid: str  # RELID prefix (e.g. AEEX)
    left_dtc: str = ""  # the first record's date variable (with `right_dtc`: pairs by date)
    right_dtc: str = ""
    low: int | None = None  # least days from the first date to the second (None: no bound)
    high: int | None = None  # most days from the first date to the second
    pick: str = "all"  # all | nearest (per record of the first domain)
    reltype: tuple[str, ...] = ()  # dataset level: (RELTYPE of the first, RELTYPE of the second)


def parse_days(text: str) -> tuple[int | None, int | None]:
    """`0;30` -> (0, 30); `0;` -> (0, None); `;-1` -> (None, -1). Raises ValueError for anything else."""
    low, sep, high = text.partition(";")
    if not sep:
        raise ValueError(f"days={text!r}: expected <least>;<most> (either may be empty), e.g. days=0;30")
    bounds = tuple(int(b) if b.strip() else None for b in (low.strip(), high.strip()))
    if None not in bounds and bounds[0] > bounds[1]:
        raise ValueError(f"days={text!r}: the least number of days is above the most")
    return bounds  # type: ignore[return-value]


def _day(values: pd.Series) -> pd.Series:
    """The calendar day of ISO 8601 values (NaT where the date is not complete)."""
    return pd.to_datetime(values.astype(object).where(values.notna(), "").astype(str).str[:10],
                          format="%Y-%m-%d", errors="coerce")


def key_text(values: pd.Series) -> pd.Series:
    """IDVARVAL: a number as written in the dataset (`3`, not `3.0`), text as is."""
    numbers = pd.to_numeric(values, errors="coerce")
    whole = numbers.notna() & (numbers == numbers.round())
    text = values.astype(object).where(values.notna(), "").astype(str)
    return text.where(~whole, numbers.where(whole, 0).astype("int64").astype(str))


def _side(table: pd.DataFrame, key: str, dtc: str, tag: str) -> pd.DataFrame:
    columns = {"USUBJID": table["USUBJID"], f"_{tag}key": table[key], f"_{tag}file": table[SOURCE_FILE],
               f"_{tag}line": table[SOURCE_LINE], f"_{tag}row": np.arange(len(table))}
    if dtc:
        columns[f"_{tag}day"] = _day(table[dtc])
    return pd.DataFrame(columns, index=table.index)


def related_pairs(left: pd.DataFrame, right: pd.DataFrame, rule: Relation) -> pd.DataFrame:
    """The pairs of records the rule relates: USUBJID, `_lkey`/`_rkey`, `_lrow` (the first record's
    position in `left`), the provenance of both records; ordered by subject, first key, second key."""
    dated = bool(rule.left_dtc and rule.right_dtc)
    lhs = _side(left, rule.left_key, rule.left_dtc if dated else "", "l")
    rhs = _side(right, rule.right_key, rule.right_dtc if dated else "", "r")
    pairs = lhs.merge(rhs, on="USUBJID", how="inner")
    if dated:
        days = (pairs["_rday"] - pairs["_lday"]).dt.days
        keep = days.notna()
        if rule.low is not None:
            keep &= days >= rule.low
        if rule.high is not None:
            keep &= days <= rule.high
        pairs = pairs.assign(_days=days.abs()).loc[keep]
        if rule.pick == "nearest":
            pairs = pairs.sort_values(["_lrow", "_days", "_rkey"], kind="mergesort").drop_duplicates("_lrow")
    elif rule.pick == "nearest":
        raise ValueError("pick=nearest needs dates=<first date>;<second date>")
    ordered = pairs.assign(_lnum=pd.to_numeric(pairs["_lkey"], errors="coerce"),
                           _rnum=pd.to_numeric(pairs["_rkey"], errors="coerce"))
    ordered = ordered.sort_values(["USUBJID", "_lnum", "_lkey", "_rnum", "_rkey"], kind="mergesort")
    return ordered.drop(columns=["_lnum", "_rnum"]).reset_index(drop=True)


def record_rows(pairs: pd.DataFrame, rule: Relation, studyid: str) -> pd.DataFrame:
    """Two RELREC records per pair (the first domain's, then the second's), RELID `<relid>1`, `<relid>2`, ..."""
    if not len(pairs):
        return empty_relrec()
    relid = rule.relid + pd.Series(np.arange(1, len(pairs) + 1), index=pairs.index).astype(str)
    sides = []
    for order, (domain, key, tag) in enumerate(((rule.left, rule.left_key, "l"), (rule.right, rule.right_key, "r"))):
        sides.append(pd.DataFrame({
            "STUDYID": studyid, "RDOMAIN": domain, "USUBJID": pairs["USUBJID"].astype(str), "IDVAR": key,
            "IDVARVAL": key_text(pairs[f"_{tag}key"]), "RELTYPE": "", "RELID": relid,
            SOURCE_FILE: pairs[f"_{tag}file"].astype(str), SOURCE_LINE: pairs[f"_{tag}line"].astype("int64"),
            "_pair": np.arange(len(pairs)), "_side": order}, index=pairs.index))
    rows = pd.concat(sides, ignore_index=True).sort_values(["_pair", "_side"], kind="mergesort")
    return rows.drop(columns=["_pair", "_side"]).reset_index(drop=True)


def dataset_rows(rule: Relation, studyid: str) -> pd.DataFrame:
    """SDTMIG 8.3: the two datasets related through their identifying variables, RELTYPE ONE or MANY."""
    return pd.DataFrame({
        "STUDYID": studyid, "RDOMAIN": [rule.left, rule.right], "USUBJID": "", "IDVAR": [rule.left_key, rule.right_key],
        "IDVARVAL": "", "RELTYPE": list(rule.reltype), "RELID": rule.relid, SOURCE_FILE: "", SOURCE_LINE: 0})


def empty_relrec() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in RELREC_COLUMNS})
    return frame.assign(**{SOURCE_FILE: pd.Series(dtype=object), SOURCE_LINE: pd.Series(dtype="int64")})


def relate(left: pd.DataFrame, right: pd.DataFrame, rule: Relation, studyid: str) -> tuple[pd.DataFrame, pd.Series]:
    """RELREC records of the rule, and a mask of the `left` records it related to nothing (always False at
    dataset level). `left`/`right`: the records that take part, with USUBJID, the keys, the dates and the
    provenance columns."""
    if rule.reltype:
        return dataset_rows(rule, studyid), pd.Series(False, index=left.index)
    pairs = related_pairs(left, right, rule)
    linked = np.zeros(len(left), dtype=bool)
    linked[pairs["_lrow"].to_numpy(dtype="int64")] = True
    return record_rows(pairs, rule, studyid), pd.Series(~linked, index=left.index)
