"""Trial design, one explicit step after the domain mappings: the mapped SDTM tables + the study
specification's design tables (`TrialDesign`: planned visits, elements, arms) -> TV, TE, TA, SV, SE.

TV is the planned visits as SDTM, TE and TA the elements and arms tables (`tv.py`, `trial_arms.py`); SV
the visits each subject had, from the VISITNUM/VISIT/--DTC of the findings domains; SE each subject's
elements, from DM, EX and DS, following the elements of the subject's actual arm (ACTARMCD, else ARMCD;
`sv.py`, `se.py`). A dataset is made when the specification declares it (`datasets` table) and has the
table it comes from: a study without design tables gets none. Findings domains are the mapped tables of
the Findings class that carry VISITNUM.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd

from trialbridge.mappings.sdtm.algorithms import Mapped
from trialbridge.mappings.sdtm.se import map_se
from trialbridge.mappings.sdtm.sv import map_sv
from trialbridge.mappings.sdtm.trial_arms import arm_elements, map_ta, map_te, text
from trialbridge.mappings.sdtm.tv import map_tv
from trialbridge.schemas.sdtm_spec import StudySpec


@dataclass(frozen=True)
class TrialDesign:
    """The study's planned visits (VISITNUM, VISIT, VISITDY, window, TVSTRL, TVENRL, ARMCD, ARM), elements
    (ETCD, ELEMENT, TESTRL, TEENRL, TEDUR, EXDOSE) and arms (ARMCD, ARM, TAETORD, ETCD, EPOCH, TABRANCH,
    TATRANS). Without arms, an elements table carrying EPOCH (and TAETORD) is the plan of every subject."""

    visits: pd.DataFrame
    elements: pd.DataFrame
    arms: pd.DataFrame = field(default_factory=pd.DataFrame)


def design_of(visits: pd.DataFrame, elements: pd.DataFrame, arms: pd.DataFrame) -> TrialDesign:
    """The design a specification states: its visits (those not marked `planned` N), elements and arms."""
    planned = visits[text(visits, "planned").str.upper() != "N"] if len(visits) else visits
    return TrialDesign(planned.reset_index(drop=True), elements, arms)


def findings_tables(tables: Mapping[str, pd.DataFrame], spec: StudySpec) -> dict[str, pd.DataFrame]:
    """The mapped Findings-class domains that carry VISITNUM (LB, RS, VS, ...)."""
    return {name: table for name, table in tables.items()
            if name in spec.datasets and spec.datasets[name].cls == "Findings" and "VISITNUM" in table.columns}


def _subject_elements(dm: pd.DataFrame, tables: Mapping[str, pd.DataFrame], design: TrialDesign,
                      spec: StudySpec) -> Mapped | None:
    """SE of every subject, each following the elements of their arm (one call per arm)."""
    if len(design.arms):
        plans = arm_elements(design.arms, design.elements)
    elif len(design.elements) and "EPOCH" in design.elements.columns:
        plans = {"": design.elements}
    else:
        return None
    ex, ds = tables.get("EX"), tables.get("DS")
    if len(plans) == 1:
        return map_se(dm, ex, ds, next(iter(plans.values())), spec.dataset("SE"))
    arm = text(dm, "ACTARMCD").where(text(dm, "ACTARMCD") != "", text(dm, "ARMCD"))
    parts = []
    for code, plan in plans.items():
        subjects = dm[arm == code]
        if len(subjects):
            mine = [None if t is None else t[t["USUBJID"].isin(set(subjects["USUBJID"]))] for t in (ex, ds)]
            parts.append(map_se(subjects, mine[0], mine[1], plan, spec.dataset("SE")))
    if not parts:
        return None
    table = pd.concat([p.table for p in parts], ignore_index=True)
    table = table.sort_values(["USUBJID", "SESEQ"], kind="mergesort").reset_index(drop=True)
    return Mapped(table=table, supp=None, findings=[f for p in parts for f in p.findings], rejected=parts[0].rejected)


def map_subject_design(tables: Mapping[str, pd.DataFrame], design: TrialDesign, spec: StudySpec) -> dict[str, Mapped]:
    """TV, TE, TA, SV and SE for the datasets the specification declares (none without DM)."""
    dm = tables.get("DM")
    if dm is None or not len(dm):
        return {}
    studyid = str(dm["STUDYID"].iloc[0])
    out: dict[str, Mapped] = {}
    if "TE" in spec.datasets and len(design.elements):
        out["TE"] = map_te(design.elements, studyid, spec.dataset("TE"))
    if "TA" in spec.datasets and len(design.arms):
        out["TA"] = map_ta(design.arms, design.elements, studyid, spec.dataset("TA"))
    if "TV" in spec.datasets and len(design.visits):
        out["TV"] = map_tv(design.visits, studyid, spec.dataset("TV"))
    if "SV" in spec.datasets and len(design.visits):
        out["SV"] = map_sv(dm, findings_tables(tables, spec), design.visits, spec.dataset("SV"))
    if "SE" in spec.datasets:
        se = _subject_elements(dm, tables, design, spec)
        if se is not None:
            out["SE"] = se
    return out
