"""Subject-level trial design, one explicit step after the domain mappings: the mapped SDTM tables + the
study's planned visits and elements (`TrialDesign`, from the study specification) -> TV, SV, SE.

TV is the visits table as SDTM; SV the visits each subject had, from the VISITNUM/VISIT/--DTC of the
findings domains; SE each subject's elements, from DM, EX and DS (`tv.py`, `sv.py`, `se.py`). TA, TE and
TI come from the registry record elsewhere (`ta.py`, `te.py`, `ti.py`); the elements table's ETCDs are
the ones TE declares. Findings domains are the mapped tables of the Findings class that carry VISITNUM.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from trialbridge.mappings.sdtm.algorithms import Mapped
from trialbridge.mappings.sdtm.se import map_se
from trialbridge.mappings.sdtm.sv import map_sv
from trialbridge.mappings.sdtm.tv import map_tv
from trialbridge.schemas.sdtm_spec import StudySpec


@dataclass(frozen=True)
class TrialDesign:
    """The study's planned visits (VISITNUM, VISIT, VISITDY, window, TVSTRL, TVENRL, ARMCD, ARM) and
    elements (ETCD, ELEMENT, TESTRL, TEENRL, EPOCH, TAETORD, EXDOSE): see tv.py and se.py."""

    visits: pd.DataFrame
    elements: pd.DataFrame


def findings_tables(tables: Mapping[str, pd.DataFrame], spec: StudySpec) -> dict[str, pd.DataFrame]:
    """The mapped Findings-class domains that carry VISITNUM (LB, RS, VS, ...)."""
    return {name: table for name, table in tables.items()
            if name in spec.datasets and spec.datasets[name].cls == "Findings" and "VISITNUM" in table.columns}


def map_subject_design(tables: Mapping[str, pd.DataFrame], design: TrialDesign, spec: StudySpec) -> dict[str, Mapped]:
    """TV, SV and SE for the datasets the specification declares (none without DM)."""
    dm = tables.get("DM")
    if dm is None or not len(dm):
        return {}
    out: dict[str, Mapped] = {}
    if "TV" in spec.datasets and len(design.visits):
        out["TV"] = map_tv(design.visits, str(dm["STUDYID"].iloc[0]), spec.dataset("TV"))
    if "SV" in spec.datasets and len(design.visits):
        out["SV"] = map_sv(dm, findings_tables(tables, spec), design.visits, spec.dataset("SV"))
    if "SE" in spec.datasets and len(design.elements):
        out["SE"] = map_se(dm, tables.get("EX"), tables.get("DS"), design.elements, spec.dataset("SE"))
    return out
