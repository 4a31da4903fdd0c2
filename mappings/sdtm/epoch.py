"""SE + a domain's record dates -> EPOCH (SDTMIG 3.4 section 4.1.3.1 and SE assumptions): the epoch of the
subject's element that contains the record's date.

An element covers [SESTDTC, SEENDTC] (open when SEENDTC is empty). Where one element ends on the day the
next starts, a record dated that day belongs to the treatment element when one of the two is one (its EPOCH
names TREATMENT: the day of a first or of a last dose is a treatment day), else to the later element (the
one that starts that day). A partial date is placed when its first and last possible days fall in the same epoch; a date outside
every element of the subject (before informed consent, after the end of participation), a missing date or
a subject without SE records gets no epoch. Vectorised: one merge of records and elements per domain.
Every dated record left without an epoch is accounted for in an info finding per domain and reason
(EPOCH-NOT-PLACED: a partial date whose possible days span two epochs, or a date outside every element),
so a reviewer sees why EPOCH is null there.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from trialbridge.mappings.sdtm.frames import _records, _shown
from trialbridge.mappings.sdtm.timing import _earliest, _latest
from trialbridge.schemas.findings import Finding, finding

SPANNING = "dated only to a month or a year whose days do not all fall in one epoch"
OUTSIDE = "dated outside every element of the subject (before informed consent or after the end of participation)"


def _elements(se: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"USUBJID": se["USUBJID"].astype(str).to_numpy(), "_start": _latest(se["SESTDTC"]).to_numpy(),
                         "_end": _earliest(se["SEENDTC"]).to_numpy(),
                         "_open": se["SEENDTC"].fillna("").astype(str).str.strip().eq("").to_numpy(),
                         "EPOCH": se["EPOCH"].fillna("").astype(str).to_numpy(),
                         "_treatment": se["EPOCH"].fillna("").astype(str).str.contains("TREATMENT").to_numpy()})


def _epoch_on(usubjid: np.ndarray, day: pd.Series, elements: pd.DataFrame) -> np.ndarray:
    """The epoch of the element each (subject, day) falls in ("" when none; transition days as documented)."""
    points = pd.DataFrame({"USUBJID": usubjid, "_day": day.to_numpy(), "_row": np.arange(len(day))})
    joined = points.dropna(subset=["_day"]).merge(elements.dropna(subset=["_start"]), on="USUBJID")
    inside = (joined["_day"] >= joined["_start"]) & (joined["_open"] | (joined["_day"] <= joined["_end"]))
    found = joined[inside].sort_values(["_row", "_treatment", "_start"], kind="mergesort")
    found = found.drop_duplicates("_row", keep="last")
    out = np.full(len(day), "", dtype=object)
    out[found["_row"].to_numpy()] = found["EPOCH"].to_numpy()
    return out


def _epochs(usubjid: pd.Series, dtc: pd.Series, se: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The epochs of the first and the last day each record's date may mean."""
    elements, subjects = _elements(se), usubjid.astype(str).to_numpy()
    return _epoch_on(subjects, _earliest(dtc), elements), _epoch_on(subjects, _latest(dtc), elements)


def epoch_of(usubjid: pd.Series, dtc: pd.Series, se: pd.DataFrame) -> pd.Series:
    """EPOCH per record (index of `dtc`) from the subject's SE elements: a partial date gets the epoch its
    first and last possible days share (an epoch may hold several elements, e.g. one per dose level)."""
    first, last = _epochs(usubjid, dtc, se)
    return pd.Series(np.where(first == last, first, ""), index=dtc.index, dtype=object)


def _unplaced(table: pd.DataFrame, domain: str, variable: str, se: pd.DataFrame) -> list[Finding]:
    """One finding per reason a dated record of `domain` got no EPOCH (subjects without SE records aside)."""
    dtc = table[variable]
    first, last = _epochs(table["USUBJID"], dtc, se)
    dated = dtc.fillna("").astype(str).str.strip().ne("").to_numpy()
    in_se = table["USUBJID"].astype(str).isin(set(se["USUBJID"].astype(str))).to_numpy()
    null = dated & in_se & ((first != last) | (first == ""))
    earliest, latest = _earliest(dtc), _latest(dtc)
    readable = earliest.notna().to_numpy()  # an unreadable date is the ISO 8601 check's to report
    partial = (earliest != latest).to_numpy()
    spanning, outside = null & readable & partial, null & readable & ~partial
    found = []
    for reason, mask in ((SPANNING, spanning), (OUTSIDE, outside)):
        if mask.any():
            records = _records(table, pd.Series(mask, index=table.index))
            found.append(finding("EPOCH-NOT-PLACED", f"{records[0]}:{variable}", [], dataset=domain,
                                 count=len(records), variable=variable, reason=reason, records=_shown(records)))
    return found


def with_epochs(tables: Mapping[str, pd.DataFrame], se: pd.DataFrame, dates: Mapping[str, str]
                ) -> tuple[dict[str, pd.DataFrame], list[Finding]]:
    """`tables` with EPOCH of each domain in `dates` (domain -> its record date variable) taken from SE,
    and the findings naming the dated records no epoch could be given."""
    out, findings = dict(tables), []
    for domain, variable in dates.items():
        table = out.get(domain)
        if table is None or "EPOCH" not in table.columns or variable not in table.columns or "USUBJID" not in table:
            continue
        out[domain] = table.assign(EPOCH=epoch_of(table["USUBJID"], table[variable], se))
        findings += _unplaced(table, domain, variable, se)
    return out, findings
