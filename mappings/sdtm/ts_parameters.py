"""Registry record (ClinicalTrials.gov API v2, read through `ts_record.Record`) + the study's constants -> the
TS parameter values: one small function per parameter, and `PARAMETERS`, the list of them in table order
(the rules are listed in `ts`).
"""
from __future__ import annotations

from typing import Callable

from trialbridge.mappings.sdtm.ts_record import (
    SDTM_VERSION, TRIAL_TYPE, YES_NO, Record, Value, coded, ct, iso8601, iso_duration, null_flavor, text, yes_no,
)
from trialbridge.mappings.sdtm.ts_study import (
    agents, conditions, from_spec, objectives, pharmacologic_class, study_start, treatment_facts,
)
from trialbridge.schemas.sdtm_standards import SDTMIG_VERSION


# Registry enumerations -> CDISC CT submission values.
PHASES: dict[tuple[str, ...], str] = {
    ("EARLY_PHASE1",): "EARLY PHASE I", ("PHASE1",): "PHASE I TRIAL", ("PHASE1", "PHASE2"): "PHASE I/II TRIAL",
    ("PHASE2",): "PHASE II TRIAL", ("PHASE2", "PHASE3"): "PHASE II/III TRIAL", ("PHASE3",): "PHASE III TRIAL",
    ("PHASE4",): "PHASE IV TRIAL", ("NA",): "NOT APPLICABLE",
}
STUDY_TYPES = {"INTERVENTIONAL": "INTERVENTIONAL", "OBSERVATIONAL": "OBSERVATIONAL", "EXPANDED_ACCESS": "EXPANDED ACCESS"}
INTERVENTION_MODELS = {"SINGLE_GROUP": "SINGLE GROUP", "PARALLEL": "PARALLEL", "CROSSOVER": "CROSS-OVER",
                       "FACTORIAL": "FACTORIAL", "SEQUENTIAL": "SEQUENTIAL"}
INTERVENTION_TYPES = {
    "DRUG": "DRUG", "BIOLOGICAL": "BIOLOGIC", "DEVICE": "DEVICE", "PROCEDURE": "PROCEDURE", "RADIATION": "RADIATION",
    "BEHAVIORAL": "BEHAVIORAL THERAPY", "GENETIC": "GENETIC", "DIETARY_SUPPLEMENT": "DIETARY SUPPLEMENT",
    "COMBINATION_PRODUCT": "COMBINATION PRODUCT", "DIAGNOSTIC_TEST": "DIAGNOSTIC TEST",
}
MASKING = {"NONE": "OPEN LABEL", "SINGLE": "SINGLE BLIND", "DOUBLE": "DOUBLE BLIND", "TRIPLE": "DOUBLE BLIND",
           "QUADRUPLE": "DOUBLE BLIND"}
ALLOCATION = {"RANDOMIZED": "Y", "NON_RANDOMIZED": "N", "NA": "N"}  # NA: a single-group study, not randomised
PURPOSES = {
    "TREATMENT": "TREATMENT", "PREVENTION": "PREVENTION", "DIAGNOSTIC": "DIAGNOSIS", "SUPPORTIVE_CARE": "SUPPORTIVE CARE",
    "SCREENING": "SCREENING", "HEALTH_SERVICES_RESEARCH": "HEALTH SERVICES RESEARCH", "BASIC_SCIENCE": "BASIC SCIENCE",
    "DEVICE_FEASIBILITY": "DEVICE FEASIBILITY",
}
CONTROLS = {"PLACEBO_COMPARATOR": "PLACEBO", "ACTIVE_COMPARATOR": "ACTIVE", "SHAM_COMPARATOR": "SHAM"}
SEXES = {"ALL": "BOTH", "FEMALE": "F", "MALE": "M"}
ONGOING = {"RECRUITING": "Y", "NOT_YET_RECRUITING": "Y", "ACTIVE_NOT_RECRUITING": "Y", "ENROLLING_BY_INVITATION": "Y",
           "COMPLETED": "N", "TERMINATED": "N", "WITHDRAWN": "N"}
SECONDARY_REGISTRIES = {"EUDRACT_NUMBER": "EudraCT", "CTIS": "CTIS"}


# ------------------------------------------------------------------------------ the parameters
def title(r: Record) -> list[Value]:
    """TITLE: the official title (the brief title when there is none)."""
    name = r.get("identificationModule.officialTitle") or r.get("identificationModule.briefTitle", "")
    return [text(name)] if name else []


def registry_ids(r: Record) -> list[Value]:
    """REGID: the NCT number, then EudraCT / CTIS numbers among the secondary ids."""
    nct = r.get("identificationModule.nctId", "")
    others = [coded(s["id"], s["id"], SECONDARY_REGISTRIES[s.get("type", "")])
              for s in r.get("identificationModule.secondaryIdInfos", [])
              if s.get("type") in SECONDARY_REGISTRIES and s.get("id")]
    return ([coded(nct, nct, "ClinicalTrials.gov")] if nct else []) + others


def sponsor_reference(r: Record) -> list[Value]:
    """SPREFID: the sponsor's own study identifier."""
    value = r.get("identificationModule.orgStudyIdInfo.id", "")
    return [text(value)] if value else []


def sponsor(r: Record) -> list[Value]:
    """SPONSOR: the lead sponsor (its D-U-N-S number is not in the record)."""
    name = r.get("sponsorCollaboratorsModule.leadSponsor.name", "")
    if name:
        r.no_code("SPONSOR", name, "D-U-N-S NUMBER")
    return [text(name)] if name else []


def study_end(r: Record) -> list[Value]:
    """SENDTC: the actual study completion date (an estimated date is not an end date)."""
    end = r.get("statusModule.completionDateStruct", {})
    return [iso8601(end["date"])] if end.get("date") and end.get("type") == "ACTUAL" else []


def ongoing(r: Record) -> list[Value]:
    """ONGOSIND: Y while the study recruits or runs, N once completed, terminated or withdrawn."""
    status = r.get("statusModule.overallStatus", "")
    return [ct(ONGOING[status], YES_NO)] if status in ONGOING else []


def mapped(r: Record, path: str, table: dict[str, str], parmcd: str, codelist: str) -> list[Value]:
    """A registry enumeration value as the CDISC term of `table` (unmapped values are reported)."""
    value = r.get(path, "")
    if not value:
        return []
    if value not in table:
        r.unmapped(path, value, parmcd, codelist)
        return []
    return [ct(table[value], codelist)]


def study_type(r: Record) -> list[Value]:
    """STYPE: interventional / observational / expanded access; a patient registry is PATIENT REGISTRY."""
    if r.get("designModule.patientRegistry", False):
        return [ct("PATIENT REGISTRY", "C99077")]
    return mapped(r, "designModule.studyType", STUDY_TYPES, "STYPE", "C99077")


def phase(r: Record) -> list[Value]:
    """TPHASE: the registry phases as one CDISC trial phase (PHASE1 + PHASE2 -> PHASE I/II TRIAL)."""
    phases = tuple(r.get("designModule.phases", []))
    if not phases:
        return []
    if phases not in PHASES:
        r.unmapped("designModule.phases", "+".join(phases), "TPHASE", "C66737")
        return []
    return [ct(PHASES[phases], "C66737")]


def intervention_model(r: Record) -> list[Value]:
    """INTMODEL: single group, parallel, cross-over, factorial, sequential."""
    return mapped(r, "designModule.designInfo.interventionModel", INTERVENTION_MODELS, "INTMODEL", "C99076")


def intent(r: Record) -> list[Value]:
    """TINDTP: the primary purpose (treatment, prevention, diagnosis, ...)."""
    return mapped(r, "designModule.designInfo.primaryPurpose", PURPOSES, "TINDTP", "C66736")


def blinding(r: Record) -> list[Value]:
    """TBLIND: masking NONE is open label, SINGLE single blind, DOUBLE or more double blind."""
    return mapped(r, "designModule.designInfo.maskingInfo.masking", MASKING, "TBLIND", "C66735")


def randomised(r: Record) -> list[Value]:
    """RANDOM: Y for a randomised allocation, N otherwise (N/A: a single-group study)."""
    return mapped(r, "designModule.designInfo.allocation", ALLOCATION, "RANDOM", YES_NO)


def subjects(r: Record, parmcd: str) -> list[Value]:
    """ACTSUB: the actual enrolment; PLANSUB: the anticipated one (an ESTIMATED count), else the spec's."""
    info = r.get("designModule.enrollmentInfo", {})
    wanted = "ACTUAL" if parmcd == "ACTSUB" else "ESTIMATED"
    if "count" in info and info.get("type", "ESTIMATED") == wanted:
        return [text(str(info["count"]))]
    if parmcd == "PLANSUB":  # a completed study's record keeps only the actual count
        return [text(v) for v in r.spec_values("PLANSUB")] or r.unknown("PLANSUB")
    return []


def arms(r: Record) -> list[Value]:
    """NARMS: the number of arm groups."""
    groups = r.get("armsInterventionsModule.armGroups", [])
    return [text(str(len(groups)))] if groups else []


def control(r: Record) -> list[Value]:
    """TCNTRL: placebo / active / sham comparator arms; NONE when every arm is experimental or other."""
    types = [g.get("type", "") for g in r.get("armsInterventionsModule.armGroups", [])]
    controls = sorted({CONTROLS[t] for t in types if t in CONTROLS})
    if controls:
        return [ct(c, "C66785") for c in controls]
    if types and all(t in ("EXPERIMENTAL", "OTHER") for t in types):
        return [ct("NONE", "C66785")]
    return []


def intervention_types(r: Record) -> list[Value]:
    """INTTYPE: each distinct intervention type, in the record's order."""
    values: list[Value] = []
    for kind in dict.fromkeys(i.get("type", "") for i in r.get("armsInterventionsModule.interventions", [])):
        if kind in INTERVENTION_TYPES:
            values.append(ct(INTERVENTION_TYPES[kind], "C99078"))
        elif kind:
            r.unmapped("armsInterventionsModule.interventions.type", kind, "INTTYPE", "C99078")
    return values


def keywords(r: Record) -> list[Value]:
    """KEYWORD: the protocol keywords."""
    return [text(k) for k in r.get("conditionsModule.keywords", [])]


def outcomes(r: Record, kind: str) -> list[Value]:
    """OUTMSPRI / OUTMSSEC / OUTMSADD: the outcome measures (their titles)."""
    return [text(o["measure"]) for o in r.get(f"outcomesModule.{kind}Outcomes", []) if o.get("measure")]


def minimum_age(r: Record) -> list[Value]:
    """AGEMIN: the minimum age as an ISO 8601 duration (18 Years -> P18Y)."""
    age = r.get("eligibilityModule.minimumAge", "")
    return [iso8601(iso_duration(age))] if age else []


def maximum_age(r: Record) -> list[Value]:
    """AGEMAX: the maximum age as an ISO 8601 duration; no maximum is positive infinity (TSVALNF PINF)."""
    age = r.get("eligibilityModule.maximumAge", "")
    return [iso8601(iso_duration(age))] if age else [null_flavor("PINF")]


def sex(r: Record) -> list[Value]:
    """SEXPOP: ALL -> BOTH, FEMALE -> F, MALE -> M."""
    return mapped(r, "eligibilityModule.sex", SEXES, "SEXPOP", "C66732")


def healthy(r: Record) -> list[Value]:
    """HLTSUBJI: whether healthy volunteers are accepted."""
    flag = r.get("eligibilityModule.healthyVolunteers")
    return [] if flag is None else [yes_no(bool(flag))]


def indicator(path: str) -> Callable[[Record], list[Value]]:
    """A registry boolean as a Y/N parameter (e.g. DMCIND from oversightModule.oversightHasDmc)."""
    def values(r: Record) -> list[Value]:
        flag = r.get(path)
        return [] if flag is None else [yes_no(bool(flag))]
    return values


def publications(r: Record) -> list[Value]:
    """PUBMEDID: the PubMed ids of the record's references."""
    return [text(ref["pmid"]) for ref in r.get("referencesModule.references", []) if ref.get("pmid")]


def fixed(value: str) -> Callable[[Record], list[Value]]:
    def values(r: Record) -> list[Value]:
        return [text(value)]
    return values


PARAMETERS: tuple[tuple[str, Callable[[Record], list[Value]]], ...] = (
    ("TITLE", title),
    ("REGID", registry_ids),
    ("SPREFID", sponsor_reference),
    ("SPONSOR", sponsor),
    ("SSTDTC", study_start),
    ("SENDTC", study_end),
    ("ONGOSIND", ongoing),
    ("STYPE", study_type),
    ("TPHASE", phase),
    ("TINDTP", intent),
    ("INTMODEL", intervention_model),
    ("INTTYPE", intervention_types),
    ("NARMS", arms),
    ("TCNTRL", control),
    ("RANDOM", randomised),
    ("TBLIND", blinding),
    ("TTYPE", from_spec("TTYPE", TRIAL_TYPE)),
    ("ADDON", from_spec("ADDON", YES_NO)),
    ("ADAPT", from_spec("ADAPT", YES_NO)),
    ("TRT", agents),
    ("PCLAS", pharmacologic_class),
    ("DOSE", lambda r: treatment_facts(r, "DOSE")),
    ("DOSU", lambda r: treatment_facts(r, "DOSU")),
    ("DOSFRQ", lambda r: treatment_facts(r, "DOSFRQ")),
    ("ROUTE", lambda r: treatment_facts(r, "ROUTE")),
    ("DOSFRM", lambda r: treatment_facts(r, "DOSFRM")),
    ("INDIC", lambda r: conditions(r, "INDIC")),
    ("TDIGRP", lambda r: conditions(r, "TDIGRP")),
    ("KEYWORD", keywords),
    ("PLANSUB", lambda r: subjects(r, "PLANSUB")),
    ("ACTSUB", lambda r: subjects(r, "ACTSUB")),
    ("LENGTH", from_spec("LENGTH", iso=True)),
    ("STOPRULE", from_spec("STOPRULE")),
    ("OBJPRIM", lambda r: objectives(r, "OBJPRIM")),
    ("OBJSEC", lambda r: objectives(r, "OBJSEC")),
    ("AGEMIN", minimum_age),
    ("AGEMAX", maximum_age),
    ("SEXPOP", sex),
    ("HLTSUBJI", healthy),
    ("OUTMSPRI", lambda r: outcomes(r, "primary")),
    ("OUTMSSEC", lambda r: outcomes(r, "secondary")),
    ("OUTMSADD", lambda r: outcomes(r, "other")),
    ("DMCIND", indicator("oversightModule.oversightHasDmc")),
    ("FDADRIND", indicator("oversightModule.isFdaRegulatedDrug")),
    ("FDADEIND", indicator("oversightModule.isFdaRegulatedDevice")),
    ("PUBMEDID", publications),
    ("SDTIGVER", fixed(SDTMIG_VERSION)),
    ("SDTMVER", fixed(SDTM_VERSION)),
)
# Registry paths read elsewhere (STUDYID from the acronym): they are not "unplaced".
READ_ELSEWHERE = ("identificationModule.acronym",)
