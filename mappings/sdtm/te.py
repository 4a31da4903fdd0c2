"""Registry record (API v2 model) -> TE (SDTMIG 3.4 Trial Elements), and the element model TA shares.

The registry names arms and interventions, not elements, so the element model is deliberately simple
and the same for every study:
- SCRN "Screening": from informed consent (TESTRL) to the start of the arm's interventions (TEENRL);
- one treatment element per registry arm group, ETCD T01, T02, ... in the record's order, ELEMENT the arm
  group label ("Observation: <label>" for a no-intervention arm or a cohort of an observational study),
  TESTRL the start of the arm's interventions as the registry names them ("Drug: Lenalidomide"), TEENRL
  the end of that treatment (or observation);
- FU "Follow-up": from the end of treatment to the end of study participation.
A record with no arm group has one arm, "All participants" (ARMCD ALL), whose treatment element starts
with every intervention of the record. TEDUR is null: the registry gives no planned durations. Texts are
cut at 200 characters (at a word boundary, ending in "...").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE
from trialbridge.mappings.sdtm.algorithms import Mapped, finalize, hardcode_no_ct, no_rejects
from trialbridge.mappings.studyid import registry_study_identifier
from trialbridge.schemas.sdtm_spec import Dataset

MAX_TEXT = 200
NO_ARMS_LABEL, NO_ARMS_CODE = "All participants", "ALL"
SCREENING = ("SCRN", "Screening", "Informed consent", "Start of the assigned arm's interventions")
FOLLOW_UP = ("FU", "Follow-up", "End of the assigned arm's treatment", "End of study participation")
OBSERVED_TYPES = ("NO_INTERVENTION",)


@dataclass(frozen=True)
class Arm:
    """One planned arm: its code, its registry label, the interventions it names and its treatment element."""

    armcd: str
    arm: str
    interventions: tuple[str, ...]  # "Drug: Lenalidomide", as the registry names them
    etcd: str  # T01, T02, ...
    element: str
    observed: bool  # no intervention given (a no-intervention arm, an observational cohort)


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters ending in "..."."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 3].rsplit(" ", 1)[0] if " " in flat[: limit - 3] else flat[: limit - 3]
    return cut.rstrip(" ,;:") + "..."


def arm_codes(labels: list[str]) -> list[str]:
    """ARMCD per label: its letters and digits, upper case, at most 20 characters (as DM codes a single
    registry arm); an empty or repeated code becomes ARM<n> (n = the arm's position)."""
    codes: list[str] = []
    for n, label in enumerate(labels, start=1):
        code = re.sub(r"[^A-Z0-9]", "", str(label).upper())[:20]
        codes.append(code if code and code not in codes and code != NO_ARMS_CODE else f"ARM{n}")
    return codes


def _section(registry: Mapping[str, Any], module: str) -> dict:
    found = (registry.get("protocolSection") or {}).get(module)
    return found if isinstance(found, dict) else {}


def study_arms(registry: Mapping[str, Any]) -> list[Arm]:
    """The planned arms of the element model, in the registry's order."""
    arms_module = _section(registry, "armsInterventionsModule")
    observational = _section(registry, "designModule").get("studyType") == "OBSERVATIONAL"
    groups = [g for g in arms_module.get("armGroups", []) if isinstance(g, dict)]
    if not groups:
        every = tuple(f"{str(i.get('type', 'OTHER')).replace('_', ' ').title()}: {i.get('name', '')}"
                      for i in arms_module.get("interventions", []) if isinstance(i, dict) and i.get("name"))
        groups = [{"label": NO_ARMS_LABEL, "interventionNames": list(every), "type": ""}]
        codes = [NO_ARMS_CODE]
    else:
        codes = arm_codes([str(g.get("label", "")) for g in groups])
    arms = []
    width = max(2, len(str(len(groups))))
    for n, (group, code) in enumerate(zip(groups, codes), start=1):
        label = shorten(group.get("label", "") or f"Arm {n}")
        observed = observational or group.get("type") in OBSERVED_TYPES or not group.get("interventionNames")
        element = shorten(f"Observation: {label}" if observed else label)
        arms.append(Arm(armcd=code, arm=label, interventions=tuple(str(x) for x in group.get("interventionNames", [])),
                        etcd=f"T{n:0{width}d}", element=element, observed=observed))
    return arms


def treatment_epoch(registry: Mapping[str, Any]) -> str:
    """TREATMENT, or OBSERVATION for an observational study (CDISC CT C99079)."""
    return "OBSERVATION" if _section(registry, "designModule").get("studyType") == "OBSERVATIONAL" else "TREATMENT"


def element_rows(registry: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(ETCD, ELEMENT, TESTRL, TEENRL) of every element: screening, one per arm, follow-up."""
    rows = [SCREENING]
    for arm in study_arms(registry):
        if arm.observed:
            start = f"Start of observation in '{arm.arm}'"
            end = f"End of observation in '{arm.arm}'"
        else:
            start = "Start of " + "; ".join(arm.interventions)
            end = f"End of the treatment of '{arm.arm}'"
        rows.append((arm.etcd, arm.element, shorten(start), shorten(end)))
    return rows + [FOLLOW_UP]


def with_identity(src: pd.DataFrame, registry: Mapping[str, Any], domain: str, source: str) -> pd.DataFrame:
    """A trial design table's rows built from the registry, with their provenance (`source`, line 0), STUDYID by
    the registry STUDYID rule and DOMAIN (TA, TE, TI)."""
    src[SOURCE_FILE], src[SOURCE_LINE] = source, 0
    table = src.copy()
    table["STUDYID"] = hardcode_no_ct(src, registry_study_identifier(registry))
    table["DOMAIN"] = hardcode_no_ct(src, domain)
    return table


def map_te(registry: Mapping[str, Any], dataset: Dataset, source: str) -> Mapped:
    """TE: one record per element of the element model."""
    src = pd.DataFrame(element_rows(registry), columns=["ETCD", "ELEMENT", "TESTRL", "TEENRL"], dtype=object)
    te = with_identity(src, registry, "TE", source)
    # TEDUR: null, the registry gives no planned durations
    te["TEDUR"] = hardcode_no_ct(src, "")
    return Mapped(table=finalize(te, dataset), supp=None, findings=[], rejected=no_rejects())
