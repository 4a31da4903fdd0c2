"""DM + the findings tables + the planned visits table -> SV (SDTMIG 3.4 Subject Visits): the visits each
subject actually had, dated from the data.

A visit happened when a findings record (LB, RS, VS, ... any table with VISITNUM, VISIT and --DTC) carries
its VISITNUM: SVSTDTC is the earliest, SVENDTC the latest --DTC of the subject's records at that visit.
The planned visits table (VISITNUM, VISIT, VISITDY, from the study specification, as TV) says which
visits were pre-specified (SVPRESP Y) and their planned day (VISITDY, written when the specification
carries it); any other VISITNUM is an unplanned visit (SVPRESP null, SVUPDES). SVOCCUR is Y: only visits with data are listed. SVSTDY/SVENDY are study days
against RFSTDTC. Vectorised: one concat and one groupby over (USUBJID, VISITNUM).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE
from trialbridge.mappings.sdtm.algorithms import Mapped, derive_study_day, finalize, no_rejects
from trialbridge.schemas.sdtm_spec import Dataset


def _text(values: pd.Series) -> pd.Series:
    return values.fillna("").astype(str).str.strip()


def visit_records(findings: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """(USUBJID, VISITNUM, VISIT, DTC, provenance) of every dated findings record with a VISITNUM."""
    parts = []
    for domain, table in sorted(findings.items()):
        dtc = f"{domain}DTC"
        if not {"USUBJID", "VISITNUM", "VISIT", dtc} <= set(table.columns) or not len(table):
            continue
        part = pd.DataFrame({"USUBJID": _text(table["USUBJID"]), "VISITNUM": pd.to_numeric(table["VISITNUM"],
                                                                                           errors="coerce"),
                             "VISIT": _text(table["VISIT"]), "DTC": _text(table[dtc]),
                             SOURCE_FILE: table.get(SOURCE_FILE, ""), SOURCE_LINE: table.get(SOURCE_LINE, 0)})
        parts.append(part[part["VISITNUM"].notna() & (part["DTC"] != "")])
    if not parts:
        return pd.DataFrame(columns=["USUBJID", "VISITNUM", "VISIT", "DTC", SOURCE_FILE, SOURCE_LINE])
    return pd.concat(parts, ignore_index=True)


def map_sv(dm: pd.DataFrame, findings: Mapping[str, pd.DataFrame], visits: pd.DataFrame, dataset: Dataset) -> Mapped:
    """SV: one record per subject and visit with data."""
    records = visit_records(findings).sort_values(["USUBJID", "VISITNUM", "DTC"], kind="mergesort")
    sv = records.groupby(["USUBJID", "VISITNUM"], sort=True, as_index=False).agg(
        VISIT=("VISIT", "first"), SVSTDTC=("DTC", "min"), SVENDTC=("DTC", "max"),
        **{SOURCE_FILE: (SOURCE_FILE, "first"), SOURCE_LINE: (SOURCE_LINE, "first")})
    planned = visits.assign(VISITNUM=pd.to_numeric(visits["VISITNUM"], errors="coerce"))
    planned_day = dict(zip(planned["VISITNUM"], pd.to_numeric(planned.get("VISITDY"), errors="coerce")))
    is_planned = sv["VISITNUM"].isin(planned["VISITNUM"])
    reference = sv["USUBJID"].map(dict(zip(dm["USUBJID"], _text(dm["RFSTDTC"])))).fillna("")
    # STUDYID, DOMAIN: the study and "SV"
    sv["STUDYID"] = sv["USUBJID"].map(dict(zip(dm["USUBJID"], dm["STUDYID"]))).fillna("")
    sv["DOMAIN"] = "SV"
    # SVPRESP: Y for a visit of the planned schedule; SVOCCUR: Y, the visit has data
    sv["SVPRESP"] = np.where(is_planned, "Y", "")
    sv["SVOCCUR"] = "Y"
    sv["SVREASOC"], sv["SVCNTMOD"], sv["SVEPCHGI"] = "", "", ""
    # VISITDY: the planned study day of the visit (planned visits table)
    sv["VISITDY"] = sv["VISITNUM"].map(planned_day).astype("float64")
    # SVSTDY/SVENDY: study days against RFSTDTC (no day 0)
    sv["SVSTDY"] = derive_study_day(sv["SVSTDTC"], reference)
    sv["SVENDY"] = derive_study_day(sv["SVENDTC"], reference)
    # SVUPDES: what an unplanned visit was (its collected visit name)
    sv["SVUPDES"] = np.where(is_planned, "", "Unplanned visit " + sv["VISIT"])
    return Mapped(table=finalize(sv, dataset), supp=None, findings=[], rejected=no_rejects())
