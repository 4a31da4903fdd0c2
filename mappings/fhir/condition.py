"""The study condition of each subject (SDTM DM, MH; the study spec's conditions) -> Condition, R5 and R4.

A subject is in the study for its condition (the registry's conditions, the spec's `conditions.csv`), so each
DM subject has one Condition per study condition. Rules:
- which conditions: those of the study spec (StudyInfo.conditions), else the registry's conditionsModule;
- id: resource_id("Condition", USUBJID, condition name in upper case); identifier "<USUBJID>/<name>"
  (SYSTEM_CONDITION, in the sponsor's namespace);
- clinicalStatus active (THO condition-clinical), verificationStatus confirmed (THO condition-ver-status):
  the condition the subject was enrolled with (eligibility), as of enrolment;
- code: SNOMED CT as the study spec states it, the registry's MeSH descriptor when the registry names the
  condition, text the condition's name;
- subject: the Patient of USUBJID; onsetDateTime: MHSTDTC of the subject's MH record whose MHTERM or
  MHDECOD is the condition's name (case-insensitive), when the hub has MH; recordedDate: DM RFICDTC (the
  informed consent: the study records the condition then);
- text: a generated narrative "<name> (study condition of <USUBJID>): active, confirmed; onset <date>".
Built only when the hub has DM. R4 and R5 Condition have the same elements for all of this (`R4` declares no
difference).
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.fhir.common import (
    SNOMED,
    FhirInput,
    coding,
    concept,
    fhir_date,
    fhir_datetime,
    joined,
    narratives,
    prefixed,
    prune,
    reference,
    resource_id,
    sdtm_columns,
    system,
)
from trialbridge.mappings.fhir.r4_differences import R4Differences
from trialbridge.mappings.fhir.registry import MESH, module

SYSTEM_CONDITION = "urn:trialbridge:condition"  # a subject's study condition: "<USUBJID>/<condition name>"
THO = "http://terminology.hl7.org/CodeSystem/"
ACTIVE = concept(coding(THO + "condition-clinical", "active", "Active"))
CONFIRMED = concept(coding(THO + "condition-ver-status", "confirmed", "Confirmed"))
R4 = R4Differences()  # Condition: no difference for the elements mapped here


def study_conditions(inp: FhirInput) -> list[tuple[str, dict]]:
    """(name, code) of each study condition: the spec's, else the registry's; MeSH from the registry."""
    meshes = {str(m.get("term", "")).casefold(): m
              for m in module(inp.registry, "conditionBrowseModule").get("meshes", []) if m.get("id")}
    stated = list(inp.study.conditions) if inp.study is not None else []
    names = [c.name for c in stated] or [str(c) for c in module(inp.registry, "conditionsModule").get("conditions", [])]
    snomed = {c.name.casefold(): c.snomed for c in stated if c.snomed}
    spec_mesh = {c.name.casefold(): c.mesh for c in stated if c.mesh}
    out = []
    for name in dict.fromkeys(n for n in names if n.strip()):
        key = name.casefold()
        found = meshes.get(key)  # as ResearchStudy.condition codes it: MeSH (the registry's term), then SNOMED CT
        mesh = [coding(MESH, str(found["id"]), str(found.get("term", "")))] if found else \
            [coding(MESH, spec_mesh[key])] if key in spec_mesh else []
        codes = mesh + ([coding(SNOMED, snomed[key])] if key in snomed else [])
        out.append((name, concept(*codes, text=name)))
    return out


def _onsets(inp: FhirInput, name: str) -> dict[str, str]:
    """USUBJID -> the earliest MHSTDTC of its MH records of the condition (FHIR dateTime)."""
    if inp.sdtm.get("MH") is None:
        return {}
    mh = sdtm_columns(inp, "MH", ("USUBJID", "MHTERM", "MHDECOD", "MHSTDTC"))
    hit = (mh["MHTERM"].str.casefold() == name.casefold()) | (mh["MHDECOD"].str.casefold() == name.casefold())
    dated = mh[hit & (mh["MHSTDTC"] != "")]
    when = pd.Series(fhir_datetime(dated["MHSTDTC"]).to_numpy(), index=dated["USUBJID"].to_numpy(), dtype=object)
    return when.groupby(level=0, sort=False).min().to_dict()


def build_r5(inp: FhirInput) -> list[dict]:
    if inp.sdtm.get("DM") is None:
        return []
    dm = sdtm_columns(inp, "DM", ("USUBJID", "RFICDTC"))
    recorded = fhir_date(dm["RFICDTC"])
    identifier_system = system(inp, SYSTEM_CONDITION)
    out = []
    for name, code in study_conditions(inp):
        onsets = _onsets(inp, name)
        onset = pd.Series([onsets.get(u, "") for u in dm["USUBJID"]], index=dm.index, dtype=object)
        texts = joined(pd.Series(f"{name} (study condition of ", index=dm.index) + dm["USUBJID"] + "): active, confirmed",
                       prefixed("onset", onset))
        out += [prune({
            "resourceType": "Condition",
            "id": resource_id("Condition", usubjid, name.upper()),
            "text": text,
            "identifier": [{"system": identifier_system, "value": f"{usubjid}/{name}"}],
            "clinicalStatus": ACTIVE,
            "verificationStatus": CONFIRMED,
            "code": code,
            "subject": reference("Patient", usubjid),
            "onsetDateTime": start,
            "recordedDate": date,
        }) for usubjid, text, start, date in zip(dm["USUBJID"], narratives(texts), onset, recorded) if usubjid]
    return out


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 shares them)."""
    return build_r5(inp) if r5 is None else r5
