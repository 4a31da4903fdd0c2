"""The study specification's `elements` and `arms` tables -> TE (SDTMIG 3.4 Trial Elements) and TA (Trial
Arms), and the per-arm element plan SE follows.

`elements`: one row per planned element (ETCD, ELEMENT, TESTRL, TEENRL, TEDUR as ISO 8601 duration, and
optionally EXDOSE, the planned dose that identifies a treatment element). `arms`: one row per element of
each arm, in order (ARMCD, ARM, TAETORD, ETCD, EPOCH, TABRANCH, TATRANS). The element's name in TA is the
elements table's. Pure functions over the tables; the spec reader checks that every arm row names a
declared element.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE
from trialbridge.mappings.sdtm.algorithms import Mapped, finalize, no_rejects
from trialbridge.schemas.sdtm_spec import Dataset

SPECIFICATION = "study specification"  # provenance of trial design rows


def text(table: pd.DataFrame, column: str) -> pd.Series:
    """A column of a spec table as stripped text ("" when the table lacks it)."""
    if column not in table.columns:
        return pd.Series("", index=table.index, dtype=object)
    return table[column].fillna("").astype(str).str.strip()


def map_te(elements: pd.DataFrame, studyid: str, dataset: Dataset) -> Mapped:
    """TE: the elements table as written (row order kept)."""
    te = pd.DataFrame({column: text(elements, column) for column in ("ETCD", "ELEMENT", "TESTRL", "TEENRL", "TEDUR")})
    # STUDYID, DOMAIN: the study and "TE"
    te["STUDYID"], te["DOMAIN"] = studyid, "TE"
    te[SOURCE_FILE], te[SOURCE_LINE] = SPECIFICATION, 0
    return Mapped(table=finalize(te.reset_index(drop=True), dataset), supp=None, findings=[], rejected=no_rejects())


def map_ta(arms: pd.DataFrame, elements: pd.DataFrame, studyid: str, dataset: Dataset) -> Mapped:
    """TA: one record per element of each arm, arms in the order first written, elements by TAETORD."""
    ta = pd.DataFrame({column: text(arms, column) for column in ("ARMCD", "ARM", "ETCD", "EPOCH", "TABRANCH", "TATRANS")})
    ta["TAETORD"] = pd.to_numeric(arms["TAETORD"], errors="coerce").astype("float64")
    # ELEMENT: the element's name from the elements table
    ta["ELEMENT"] = ta["ETCD"].map(dict(zip(text(elements, "ETCD"), text(elements, "ELEMENT")))).fillna("")
    arm_order = ta["ARMCD"].map({code: n for n, code in enumerate(dict.fromkeys(ta["ARMCD"]))})
    ta = ta.assign(_arm=arm_order).sort_values(["_arm", "TAETORD"], kind="mergesort").drop(columns="_arm")
    # STUDYID, DOMAIN: the study and "TA"
    ta["STUDYID"], ta["DOMAIN"] = studyid, "TA"
    ta[SOURCE_FILE], ta[SOURCE_LINE] = SPECIFICATION, 0
    return Mapped(table=finalize(ta.reset_index(drop=True), dataset), supp=None, findings=[], rejected=no_rejects())


def arm_elements(arms: pd.DataFrame, elements: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per ARMCD, its elements in TAETORD order with what SE needs: ETCD, ELEMENT, TESTRL, TEENRL, EPOCH,
    TAETORD and (when the elements table has it) EXDOSE."""
    plan = pd.DataFrame({"ARMCD": text(arms, "ARMCD"), "ETCD": text(arms, "ETCD"), "EPOCH": text(arms, "EPOCH"),
                         "TAETORD": pd.to_numeric(arms["TAETORD"], errors="coerce").astype("float64")})
    dosed = "EXDOSE" in elements.columns and (text(elements, "EXDOSE") != "").any()
    columns = ["ETCD", "ELEMENT", "TESTRL", "TEENRL"] + (["EXDOSE"] if dosed else [])
    described = pd.DataFrame({column: text(elements, column) for column in columns}).drop_duplicates("ETCD")
    plan = plan.merge(described, on="ETCD", how="left").fillna("")
    return {code: rows.sort_values("TAETORD", kind="mergesort").drop(columns="ARMCD").reset_index(drop=True)
            for code, rows in plan.groupby("ARMCD", sort=False)}
