"""Generic RELREC builders (SDTMIG 3.4 section 8.2, Related Records): pairs of records of two domains ->
RELREC rows, one per related record, the two records of a pair sharing a RELID.

Which records relate is study knowledge (the study specification says, e.g., "an AE whose action is DOSE
REDUCED relates to the EX record that starts the reduced dose"); these functions only do the generic part,
vectorised:
- `pairs_within`: for each subject, the left records whose date falls within a right record's period
  (e.g. AE onset within an EX dosing interval), or just before its start when `before_start` is given;
- `relrec_rows`: the RELREC records of such pairs (RDOMAIN, USUBJID, IDVAR = --SEQ, IDVARVAL, RELTYPE
  null for record-level relationships, RELID "<prefix><n>" numbered in subject and key order).
"""
from __future__ import annotations

import pandas as pd

RELREC_COLUMNS = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELTYPE", "RELID"]


def _day(values: pd.Series) -> pd.Series:
    """The date part of ISO 8601 values as datetimes (NaT where incomplete)."""
    return pd.to_datetime(values.fillna("").astype(str).str[:10], format="%Y-%m-%d", errors="coerce")


def pairs_within(left: pd.DataFrame, left_key: str, left_dtc: str, right: pd.DataFrame, right_key: str,
                 start: str, end: str, before_start: int = 0) -> pd.DataFrame:
    """(USUBJID, left key, right key) where the left date lies in [right start - before_start days, right end]
    (an open end counts as no end). Incomplete dates relate nothing."""
    lhs = pd.DataFrame({"USUBJID": left["USUBJID"], "_left": left[left_key], "_date": _day(left[left_dtc])})
    rhs = pd.DataFrame({"USUBJID": right["USUBJID"], "_right": right[right_key],
                        "_start": _day(right[start]) - pd.Timedelta(days=before_start), "_end": _day(right[end])})
    joined = lhs.dropna(subset=["_date"]).merge(rhs.dropna(subset=["_start"]), on="USUBJID", how="inner")
    inside = (joined["_date"] >= joined["_start"]) & (joined["_end"].isna() | (joined["_date"] <= joined["_end"]))
    found = joined.loc[inside, ["USUBJID", "_left", "_right"]]
    return found.rename(columns={"_left": left_key, "_right": right_key}).reset_index(drop=True)


def _seq_text(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.map(lambda n: f"{n:g}", na_action="ignore").fillna(values.astype(str))


def relrec_rows(pairs: pd.DataFrame, studyid: str, left_domain: str, left_key: str, right_domain: str,
                right_key: str, prefix: str) -> pd.DataFrame:
    """RELREC records of record pairs: two rows per pair (left, then right), RELID `prefix`1, 2, ..."""
    if pairs.empty:
        return pd.DataFrame(columns=RELREC_COLUMNS)
    ordered = pairs.sort_values(["USUBJID", left_key, right_key], kind="mergesort").reset_index(drop=True)
    relid = prefix + (ordered.index + 1).astype(str)
    sides = []
    for domain, key in ((left_domain, left_key), (right_domain, right_key)):
        sides.append(pd.DataFrame({"STUDYID": studyid, "RDOMAIN": domain, "USUBJID": ordered["USUBJID"],
                                   "IDVAR": key, "IDVARVAL": _seq_text(ordered[key]), "RELTYPE": "",
                                   "RELID": relid, "_pair": ordered.index, "_side": len(sides)}))
    rows = pd.concat(sides, ignore_index=True).sort_values(["_pair", "_side"], kind="mergesort")
    return rows[RELREC_COLUMNS].reset_index(drop=True)
