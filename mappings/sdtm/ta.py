"""Registry record (API v2 model) -> TA (SDTMIG 3.4 Trial Arms): every planned arm as its ordered elements.

Each arm is SCRN (TAETORD 1, EPOCH SCREENING), its own treatment element (TAETORD 2, EPOCH TREATMENT, or
OBSERVATION for an observational study) and FU (TAETORD 3, EPOCH FOLLOW-UP): the element model of
`te.py`. ARMCD is the registry label's letters and digits (`te.arm_codes`), ARM the registry label. In a
randomised study with more than one arm, the screening element ends in the branch "Randomized to <ARM>"
(TABRANCH, SDTMIG 3.4 section 7.2.1); TATRANS is null (the registry gives no transition rules).
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from trialbridge.mappings.sdtm.algorithms import Mapped, finalize, hardcode_no_ct, no_rejects
from trialbridge.mappings.sdtm.te import FOLLOW_UP, SCREENING, shorten, study_arms, treatment_epoch, with_identity
from trialbridge.schemas.sdtm_spec import Dataset


def _randomised(registry: Mapping[str, Any]) -> bool:
    design = (registry.get("protocolSection") or {}).get("designModule") or {}
    return (design.get("designInfo") or {}).get("allocation") == "RANDOMIZED"


def arm_rows(registry: Mapping[str, Any]) -> list[tuple[str, str, int, str, str, str, str]]:
    """(ARMCD, ARM, TAETORD, ETCD, ELEMENT, TABRANCH, EPOCH) of every arm's elements, arm by arm."""
    arms = study_arms(registry)
    branching = _randomised(registry) and len(arms) > 1
    middle = treatment_epoch(registry)
    rows = []
    for arm in arms:
        branch = shorten(f"Randomized to {arm.arm}") if branching else ""
        rows += [(arm.armcd, arm.arm, 1, SCREENING[0], SCREENING[1], branch, "SCREENING"),
                 (arm.armcd, arm.arm, 2, arm.etcd, arm.element, "", middle),
                 (arm.armcd, arm.arm, 3, FOLLOW_UP[0], FOLLOW_UP[1], "", "FOLLOW-UP")]
    return rows


def map_ta(registry: Mapping[str, Any], dataset: Dataset, source: str) -> Mapped:
    """TA: one record per element of each planned arm."""
    src = pd.DataFrame(arm_rows(registry), columns=["ARMCD", "ARM", "TAETORD", "ETCD", "ELEMENT", "TABRANCH", "EPOCH"])
    src = src.astype({c: object for c in src.columns if c != "TAETORD"})
    ta = with_identity(src, registry, "TA", source)
    # TATRANS: null, the registry gives no transition rules
    ta["TATRANS"] = hardcode_no_ct(src, "")
    return Mapped(table=finalize(ta, dataset), supp=None, findings=[], rejected=no_rejects())
