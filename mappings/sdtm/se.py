"""DM + EX + DS + the study's elements table -> SE (SDTMIG 3.4 Subject Elements): each subject's elements
with their start and end.

The elements table (from the study specification) has one row per planned element: ETCD, ELEMENT, TESTRL,
TEENRL, EPOCH, optionally TAETORD (default: the row order) and EXDOSE (the planned dose that identifies a
treatment element, for designs with one element per dose level). A subject's elements follow the data:
- the first SCREENING element: from informed consent (RFICDTC) to the first dose (RFXSTDTC), or to the
  end of participation for a subject never dosed;
- TREATMENT elements from EX, record by record in time order: the element whose EXDOSE is the record's
  dose (the single treatment element when the table gives no EXDOSE); consecutive records of one element
  make one SE record, which ends where the next one starts (SDTMIG 3.4 SE assumption: no gaps), the
  last one on the last dose (EXENDTC, else EXSTDTC);
- the first FOLLOW-UP element: from the last dose to the end of participation (RFPENDTC, else the latest
  DSSTDTC), for a subject whose participation went on after the last dose.
SESTDY/SEENDY are study days against RFSTDTC; SESEQ numbers a subject's elements in time order. An EX
dose no element plans is an unplanned element (TAETORD null, SEUPDES says so).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE
from trialbridge.mappings.sdtm.algorithms import Mapped, derive_seq, derive_study_day, finalize, no_rejects
from trialbridge.schemas.sdtm_spec import Dataset

COLUMNS = ["USUBJID", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC", "SEUPDES", SOURCE_FILE, SOURCE_LINE]


def _text(values: pd.Series) -> pd.Series:
    return values.fillna("").astype(str).str.strip()


def _first_of(elements: pd.DataFrame, epoch: str) -> pd.Series | None:
    rows = elements[_text(elements["EPOCH"]) == epoch]
    return rows.iloc[0] if len(rows) else None


def _orders(elements: pd.DataFrame) -> pd.Series:
    if "TAETORD" in elements.columns:
        return pd.to_numeric(elements["TAETORD"], errors="coerce").astype("float64")
    return pd.Series(np.arange(1, len(elements) + 1, dtype="float64"), index=elements.index)


def _end_of_participation(dm: pd.DataFrame, ds: pd.DataFrame | None) -> pd.Series:
    """RFPENDTC, else the subject's latest disposition date (DSSTDTC)."""
    end = _text(dm["RFPENDTC"]) if "RFPENDTC" in dm.columns else pd.Series("", index=dm.index)
    if ds is not None and len(ds) and "DSSTDTC" in ds.columns:
        latest = ds.assign(_d=_text(ds["DSSTDTC"])).groupby("USUBJID")["_d"].max()
        end = end.where(end != "", dm["USUBJID"].map(latest).fillna(""))
    return end


def _records(dm: pd.DataFrame, element: pd.Series, order: float, start: pd.Series, end: pd.Series,
             keep: pd.Series) -> pd.DataFrame:
    chosen = dm.loc[keep]
    return pd.DataFrame({
        "USUBJID": chosen["USUBJID"], "ETCD": element["ETCD"], "ELEMENT": element["ELEMENT"], "TAETORD": order,
        "EPOCH": element["EPOCH"], "SESTDTC": start[keep], "SEENDTC": end[keep], "SEUPDES": "",
        SOURCE_FILE: chosen[SOURCE_FILE], SOURCE_LINE: chosen[SOURCE_LINE],
    }, columns=COLUMNS)


def treatment_runs(ex: pd.DataFrame, elements: pd.DataFrame) -> pd.DataFrame:
    """EX records as runs of one element each: USUBJID, ETCD, ELEMENT, TAETORD, EPOCH, start, end (+ provenance)."""
    treatment = elements[_text(elements["EPOCH"]) == "TREATMENT"].assign(TAETORD=_orders(elements))
    if ex is None or not len(ex) or treatment.empty:
        return pd.DataFrame(columns=COLUMNS)
    records = ex.assign(_start=_text(ex["EXSTDTC"]), _end=_text(ex.get("EXENDTC", ex["EXSTDTC"])))
    records = records.assign(_end=records["_end"].where(records["_end"] != "", records["_start"]))
    records = records.sort_values(["USUBJID", "_start"], kind="mergesort")
    if "EXDOSE" in treatment.columns:
        planned = treatment.assign(_dose=pd.to_numeric(treatment["EXDOSE"], errors="coerce"))
        matched = records.merge(planned[["_dose", "ETCD", "ELEMENT", "TAETORD", "EPOCH"]], how="left",
                                left_on=pd.to_numeric(records["EXDOSE"], errors="coerce"), right_on="_dose")
        matched.index = records.index
        unplanned = matched["ETCD"].isna()
        matched.loc[unplanned, "ETCD"] = "UNPLAN"
        matched.loc[unplanned, "ELEMENT"] = ""
        matched.loc[unplanned, "EPOCH"] = "TREATMENT"
        matched["SEUPDES"] = np.where(unplanned, "Dose " + _text(records["EXDOSE"]) + " not planned by any element", "")
        records = matched
    else:
        first = treatment.iloc[0]
        records = records.assign(ETCD=first["ETCD"], ELEMENT=first["ELEMENT"], TAETORD=first["TAETORD"],
                                 EPOCH=first["EPOCH"], SEUPDES="")
    new_run = (records["USUBJID"] != records["USUBJID"].shift()) | (records["ETCD"] != records["ETCD"].shift())
    records = records.assign(_run=new_run.cumsum())
    runs = records.groupby("_run", sort=True).agg(
        USUBJID=("USUBJID", "first"), ETCD=("ETCD", "first"), ELEMENT=("ELEMENT", "first"),
        TAETORD=("TAETORD", "first"), EPOCH=("EPOCH", "first"), SESTDTC=("_start", "min"), SEENDTC=("_end", "max"),
        SEUPDES=("SEUPDES", "first"), **{SOURCE_FILE: (SOURCE_FILE, "first"), SOURCE_LINE: (SOURCE_LINE, "first")})
    following = runs["SESTDTC"].shift(-1)
    same_subject = runs["USUBJID"] == runs["USUBJID"].shift(-1)
    runs["SEENDTC"] = following.where(same_subject, runs["SEENDTC"])  # an element ends where the next starts
    return runs[COLUMNS].reset_index(drop=True)


def map_se(dm: pd.DataFrame, ex: pd.DataFrame | None, ds: pd.DataFrame | None, elements: pd.DataFrame,
           dataset: Dataset) -> Mapped:
    """SE: every subject's screening, treatment and follow-up elements as the data dates them."""
    orders = _orders(elements)
    consent, first, last = _text(dm["RFICDTC"]), _text(dm["RFXSTDTC"]), _text(dm["RFXENDTC"])
    end = _end_of_participation(dm, ds)
    pieces = []
    screening = _first_of(elements, "SCREENING")
    if screening is not None:
        stop = first.where(first != "", end)
        pieces.append(_records(dm, screening, orders[screening.name], consent, stop, consent != ""))
    pieces.append(treatment_runs(ex, elements))
    follow_up = _first_of(elements, "FOLLOW-UP")
    if follow_up is not None:
        later = (last != "") & (end.str[:10] > last.str[:10])
        pieces.append(_records(dm, follow_up, orders[follow_up.name], last, end, later))
    se = pd.concat([p for p in pieces if len(p)], ignore_index=True) if any(len(p) for p in pieces) else \
        pd.DataFrame(columns=COLUMNS)
    se = se.sort_values(["USUBJID", "SESTDTC", "TAETORD"], kind="mergesort").reset_index(drop=True)
    reference = se["USUBJID"].map(dict(zip(dm["USUBJID"], _text(dm["RFSTDTC"])))).fillna("")
    # STUDYID, DOMAIN: the study and "SE"; SESEQ: 1, 2, ... per subject in time order
    se["STUDYID"] = se["USUBJID"].map(dict(zip(dm["USUBJID"], dm["STUDYID"]))).fillna("")
    se["DOMAIN"] = "SE"
    se["SESEQ"] = derive_seq(se, by=("USUBJID",))
    # SESTDY/SEENDY: study days of the element's start and end against RFSTDTC (no day 0)
    se["SESTDY"] = derive_study_day(se["SESTDTC"], reference)
    se["SEENDY"] = derive_study_day(se["SEENDTC"], reference)
    return Mapped(table=finalize(se, dataset), supp=None, findings=[], rejected=no_rejects())
