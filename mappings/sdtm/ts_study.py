"""Trial Summary parameters from the study's constants (StudyInfo, from the study specification) and DM.

SSTDTC from the earliest informed consent; TRT/DOSE/DOSU/DOSFRQ/ROUTE/DOSFRM from the treatments; INDIC/
TDIGRP from the conditions (SNOMED CT); PCLAS, TTYPE, ADDON, ADAPT, LENGTH, STOPRULE, OBJPRIM/OBJSEC,
PLANSUB from `StudyInfo.extra` (`TS.<TSPARMCD>`), OBJPRIM else from the registry description. A value no
input gives is a null flavor (UNK), never invented (see `Record.unknown`).
"""
from __future__ import annotations

import re
from typing import Callable

import pandas as pd

from trialbridge.mappings.sdtm.ts_record import (
    DOSE_FORM, FREQUENCY, MEDRT_REF, MESH_REF, ROUTE, SNOMED_REF, UNII_REF, UNIT, Record, Value, coded, ct,
    iso8601, text,
)

AGENT_TYPES = ("DRUG", "BIOLOGICAL")  # interventions that are protocol agents (TRT)


def earliest_consent(dm: pd.DataFrame | None) -> str:
    """The earliest informed consent date in DM (RFICDTC): complete dates first, else the earliest partial."""
    if dm is None or "RFICDTC" not in dm:
        return ""
    dates = dm["RFICDTC"].astype(str).str.strip()
    complete = dates[dates.str.fullmatch(r"\d{4}-\d{2}-\d{2}(T.*)?")]
    chosen = complete if len(complete) else dates[dates != ""]
    return str(chosen.min())[:10] if len(chosen) else ""


def study_start(r: Record) -> list[Value]:
    """SSTDTC: the earliest informed consent (FDA: the study start date is the first subject's consent);
    the registry's start date (partial when the record is) only when DM holds no consent date; UNK when
    neither gives one (an expanded access record has no start date)."""
    consent = earliest_consent(r.dm)
    if consent:
        return [iso8601(consent)]
    date = r.get("statusModule.startDateStruct.date", "")
    return [iso8601(date)] if date else r.unknown("SSTDTC")


def agents(r: Record) -> list[Value]:
    """TRT: each drug or biological intervention, upper case as EXTRT, with the UNII the study states."""
    values: list[Value] = []
    for name in agent_names(r):
        treatment = r.study.treatment(name) if r.study is not None else None
        unii = treatment.unii if treatment is not None else ""
        if not unii:
            r.no_code("TRT", name, UNII_REF)
        values.append(coded(name, unii, UNII_REF, r.version(UNII_REF)))
    return values


def agent_names(r: Record) -> list[str]:
    """The registry's drug and biological interventions, upper case as EXTRT."""
    return [item["name"].upper() for item in r.get("armsInterventionsModule.interventions", [])
            if item.get("type") in AGENT_TYPES and item.get("name")]


def treatment_facts(r: Record, parmcd: str) -> list[Value]:
    """DOSE (one record per planned dose level), DOSU, DOSFRQ, ROUTE, DOSFRM of the protocol treatments,
    from the study's treatment facts; UNK when the specification does not state them."""
    values: list[Value] = []
    for name in agent_names(r):
        treatment = r.study.treatment(name) if r.study is not None else None
        if treatment is None:
            continue
        if parmcd == "DOSE":
            values += [text(f"{level:g}") for level in treatment.dose_levels]
            continue
        term, codelist = {"DOSU": (treatment.dose_unit, UNIT), "DOSFRQ": (treatment.frequency, FREQUENCY),
                          "ROUTE": (treatment.route, ROUTE), "DOSFRM": (treatment.dose_form, DOSE_FORM)}[parmcd]
        if term:
            values.append(ct(term, codelist))
    values = list(dict.fromkeys(values))  # two treatments with the same route give one ROUTE record
    return values or r.unknown(parmcd)


def conditions(r: Record, parmcd: str) -> list[Value]:
    """INDIC / TDIGRP: each condition, with the SNOMED CT concept the study states (else the record's MeSH)."""
    meshes = {m["term"].casefold(): m.get("id", "") for m in r.get("conditionBrowseModule.meshes", [])}
    known = {c.name.casefold(): c for c in (r.study.conditions if r.study is not None else ())}
    values: list[Value] = []
    for condition in r.get("conditionsModule.conditions", []):
        mesh = meshes.get(condition.casefold(), "")
        stated = known.get(condition.casefold())
        if stated is not None and stated.snomed:
            values.append(coded(condition, stated.snomed, SNOMED_REF, r.version(SNOMED_REF)))
        elif mesh or (stated is not None and stated.mesh):
            values.append(coded(condition, mesh or stated.mesh, MESH_REF))
        else:
            r.no_code(parmcd, condition, "SNOMED CT or MeSH")
            values.append(text(condition))
    return values


def from_spec(parmcd: str, codelist: str = "", iso: bool = False) -> Callable[[Record], list[Value]]:
    """A parameter only the study specification can give (`TS.<parmcd>`): a CDISC term of `codelist`, an
    ISO 8601 value, or text; UNK when the specification does not give it."""
    def values(r: Record) -> list[Value]:
        given = r.spec_values(parmcd)
        if not given:
            return r.unknown(parmcd)
        if codelist:
            return [ct(v, codelist) for v in given]
        return [iso8601(v) if iso else text(v) for v in given]
    return values


def pharmacologic_class(r: Record) -> list[Value]:
    """PCLAS: the established pharmacologic class of the treatment, with its MED-RT code when stated."""
    given = r.spec_values("PCLAS")
    if not given:
        return r.unknown("PCLAS")
    codes = r.spec_values("PCLAS.MED-RT")
    for value in given[len(codes):]:
        r.no_code("PCLAS", value, MEDRT_REF)
    return [coded(v, codes[i] if i < len(codes) else "", MEDRT_REF, r.version(MEDRT_REF)) for i, v in enumerate(given)]


OBJECTIVE = re.compile(r"[^.]*\b(?:primary|main) (?:objective|aim)\b[^.]*\.", re.IGNORECASE)


def objectives(r: Record, parmcd: str) -> list[Value]:
    """OBJPRIM / OBJSEC: the specification's objectives; OBJPRIM else the registry description's sentence
    naming the primary objective ("The primary objective of this study is ..."); else UNK for OBJPRIM."""
    given = r.spec_values(parmcd)
    if given:
        return [text(v) for v in given]
    if parmcd == "OBJSEC":
        return []
    for path in ("descriptionModule.detailedDescription", "descriptionModule.briefSummary"):
        found = OBJECTIVE.search(" ".join(str(r.get(path, "")).split()))
        if found:
            return [text(found.group(0).strip())]
    return r.unknown(parmcd)
