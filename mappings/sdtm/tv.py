"""The study's planned visits table -> TV (SDTMIG 3.4 Trial Visits): one record per planned visit.

The visits table (from the study specification) has VISITNUM, VISIT, VISITDY (planned study day, null for
a visit not planned on a day, e.g. screening or end of treatment) and optionally TVSTRL/TVENRL (the start
and end rules as the protocol words them), `window` (e.g. "+/- 3 days") and ARMCD/ARM (blank: the visit is
planned in every arm). Without a TVSTRL the rule is stated from the planned day and window.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE
from trialbridge.mappings.sdtm.algorithms import Mapped, finalize, no_rejects
from trialbridge.schemas.sdtm_spec import Dataset

SPECIFICATION = "study specification"  # provenance of trial design rows


def _text(visits: pd.DataFrame, column: str) -> pd.Series:
    if column not in visits.columns:
        return pd.Series("", index=visits.index, dtype=object)
    return visits[column].fillna("").astype(str).str.strip()


def start_rule(visits: pd.DataFrame) -> pd.Series:
    """TVSTRL: the table's rule, else "Study day N" (+ the window), else the visit name's own event."""
    day = pd.to_numeric(visits.get("VISITDY"), errors="coerce")
    window = _text(visits, "window")
    stated = "Study day " + day.map(lambda d: f"{d:g}", na_action="ignore").fillna("") \
        + window.map(lambda w: f" ({w})" if w else "")
    stated = stated.where(day.notna(), "Start of visit " + _text(visits, "VISIT"))
    rule = _text(visits, "TVSTRL")
    return rule.where(rule != "", stated)


def map_tv(visits: pd.DataFrame, studyid: str, dataset: Dataset) -> Mapped:
    """TV: the planned visits in VISITNUM order."""
    tv = visits.copy()
    tv["VISITNUM"] = pd.to_numeric(tv["VISITNUM"], errors="raise")
    tv = tv.sort_values("VISITNUM", kind="mergesort").reset_index(drop=True)
    # STUDYID, DOMAIN: the study and "TV"
    tv["STUDYID"], tv["DOMAIN"] = studyid, "TV"
    tv["VISIT"] = _text(tv, "VISIT")
    tv["VISITDY"] = pd.to_numeric(tv.get("VISITDY"), errors="coerce").astype("float64")
    # ARMCD/ARM: blank when the visit is planned in every arm
    tv["ARMCD"], tv["ARM"] = _text(tv, "ARMCD"), _text(tv, "ARM")
    # TVSTRL/TVENRL: the protocol's rules, else the planned day and window
    tv["TVSTRL"] = start_rule(tv)
    tv["TVENRL"] = _text(tv, "TVENRL")
    tv[SOURCE_FILE], tv[SOURCE_LINE] = SPECIFICATION, 0
    return Mapped(table=finalize(tv, dataset), supp=None, findings=[], rejected=no_rejects())
