"""registry.json (ClinicalTrials.gov API v2 record) + the study's constants (StudyInfo) + DM -> TS (SDTMIG 3.4
Trial Summary): one record per trial summary parameter value.

FDA's technical rejection criteria refuse a submission without ts.xpt and SSTDTC. Every parameter the
registry record can give is carried (the list `PARAMETERS`, one line per parameter, in the order the
table is built), plus the parameters the FDA Study Data Technical Conformance Guide and the CDISC TS
examples expect of an interventional trial (`schemas/sdtm/ts-parameters.json`, checked by
`schemas/ts_checks.py`). Where each value comes from, in order:
- SSTDTC: the earliest informed consent in DM (min RFICDTC), FDA's definition of the study start; the
  registry's start date only when DM has no consent date. SENDTC: the registry's actual completion date.
- the registry record (title, ids, design, arms, eligibility, outcomes, the primary objective sentence of
  the description, ...);
- the study's constants (`mappings.study.StudyInfo`, from the study specification): TRT with the UNII of
  each treatment, DOSE (one record per planned dose level), DOSU, DOSFRQ, ROUTE, DOSFRM of the treatment,
  INDIC/TDIGRP with the SNOMED CT concept of each condition; parameters no record holds come from
  `StudyInfo.extra` under `TS.<TSPARMCD>` ("|" separates several values: TTYPE, ADDON, ADAPT, LENGTH,
  STOPRULE, PCLAS (+ `TS.PCLAS.MED-RT` its MED-RT code), OBJPRIM, OBJSEC, PLANSUB), dictionary versions
  under `VERSION.<reference>` (VERSION.SNOMED, VERSION.UNII, VERSION.MED-RT);
- nothing is invented: an expected parameter no input gives is one record with TSVAL null and TSVALNF
  "UNK" (SDTMIG 3.4 TS assumption 10), reported (TS-VALUE-NOT-GIVEN) so the sponsor completes the spec;
  AGEMAX without a maximum age is TSVALNF "PINF", as SDTMIG's example shows.
TSPARMCD/TSPARM are CDISC CT C66738/C67152. TSVALCD/TSVCDREF/TSVCDVER carry the code of the value
where one applies: CDISC CT terms (NCI C-code, "CDISC CT", the CT release); ISO 8601 dates and
durations ("ISO 8601"); REGID (the NCT number, "ClinicalTrials.gov"; EudraCT / CTIS numbers likewise);
TRT (UNII), INDIC/TDIGRP (SNOMED, else the record's MeSH descriptor), PCLAS (MED-RT), each with its
version when the study states it; FCNTRY the ISO 3166-1 alpha-3 code of each site country DM records,
or without DM countries of each registry location's country (`mappings/countries.py`) ("ISO 3166"). A value over 200 characters keeps its first part in TSVAL and continues in TSVAL1,
TSVAL2 ... (SDTMIG 3.4 TS assumption 8), cut at a word boundary. The registry facts TS has no parameter
for (summaries, eligibility text, officials, site names, ...) are listed in an info finding: FHIR
ResearchStudy carries them.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

import pandas as pd

from trialbridge.mappings.countries import country_code
from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE, Trial
from trialbridge.mappings.study import StudyInfo
from trialbridge.mappings.sdtm.ts_record import (
    ISO_3166, SDTM_VERSION, TRIAL_TYPE, TSPARM_CODELIST, TSPARMCD_CODELIST, YES_NO, Record, Value, coded, ct,
    iso8601, iso_duration, null_flavor, text, yes_no,
)
from trialbridge.mappings.sdtm.ts_study import (
    agents, conditions, from_spec, objectives, pharmacologic_class, study_start, treatment_facts,
)
from trialbridge.mappings.sdtm.algorithms import (
    Mapped,
    derive_seq,
    finalize,
    hardcode_no_ct,
    no_rejects,
    split_to_columns,
    study_identifier,
)
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import REGISTRY_FILE
from trialbridge.schemas.sdtm_standards import SDTMIG_VERSION, terminology


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


@lru_cache(maxsize=1)
def parameter_names() -> dict[str, str]:
    """TSPARMCD -> TSPARM: the CDISC CT test name with the same NCI code as the test code."""
    terms = terminology()
    by_code = {terms.term_code(TSPARM_CODELIST, name): name for name in terms.submission_values(TSPARM_CODELIST)}
    return {code: by_code[terms.term_code(TSPARMCD_CODELIST, code)] for code in terms.submission_values(TSPARMCD_CODELIST)}


def _rows(record: Record, countries: list[str]) -> pd.DataFrame:
    """One row per parameter value, in PARAMETERS order (FCNTRY after the design parameters)."""
    rows = [(parmcd, *value) for parmcd, values in PARAMETERS for value in values(record)]
    rows += [("FCNTRY", country, country, ISO_3166, record.version(ISO_3166), "") for country in countries]
    return pd.DataFrame(rows, columns=["TSPARMCD", "TSVAL", "TSVALCD", "TSVCDREF", "TSVCDVER", "TSVALNF"], dtype=object)


def _unplaced(record: Record) -> list[str]:
    """The `module.field` paths of the registry record no parameter read (schema order)."""
    paths = [f"{module}.{key}" for section in ("protocolSection", "derivedSection")
             for module, fields in record.data.get(section, {}).items() if isinstance(fields, dict)
             for key in fields]
    return [p for p in paths if p not in record.used and p not in READ_ELSEWHERE]


def site_countries(record: Record) -> list[str]:
    """FCNTRY: the ISO 3166-1 alpha-3 codes of the countries DM's sites are in; without DM countries, those
    of the registry's locations (a name ISO 3166 has no code for is reported, not given a code)."""
    dm = record.dm
    if dm is not None and "COUNTRY" in dm and (dm["COUNTRY"].astype(str).str.strip() != "").any():
        return sorted(set(dm["COUNTRY"].astype(str).str.strip()) - {""})
    names = [str(site.get("country", "")).strip() for site in record.get("contactsLocationsModule.locations", [])
             if isinstance(site, dict)]
    codes = {name: country_code(name) for name in dict.fromkeys(n for n in names if n)}
    for name, code in codes.items():
        if not code:
            record.findings.append(finding("TS-COUNTRY-UNKNOWN", f"{REGISTRY_FILE}:contactsLocationsModule.locations",
                                           [name], country=name))
    return sorted(set(codes.values()) - {""})


def map_ts(trial: Trial, sdtm: dict[str, pd.DataFrame], study: StudyInfo | None = None) -> Mapped:
    """TS from the registry record, the study's constants (`study`, from the study specification) and DM
    (consent dates, site countries, subject count)."""
    dm = sdtm.get("DM")
    record = Record(trial.registry, study=study, dm=dm)
    countries = site_countries(record)
    src = _rows(record, countries)
    src[SOURCE_FILE], src[SOURCE_LINE] = REGISTRY_FILE, 0
    findings = list(record.findings)
    if record.not_given:
        findings.append(finding("TS-VALUE-NOT-GIVEN", "ts:TSVALNF", record.not_given,
                                parameters=", ".join(record.not_given)))

    ts = src.copy()
    # STUDYID: the study identifier; DOMAIN: "TS"
    ts["STUDYID"] = hardcode_no_ct(src, study_identifier(trial.registry))
    ts["DOMAIN"] = hardcode_no_ct(src, "TS")
    # TSPARM: the CDISC CT name of TSPARMCD (C67152)
    ts["TSPARM"] = src["TSPARMCD"].map(parameter_names()).astype(object)
    # TSSEQ: 1, 2, ... within each parameter, in the record's order
    ts["TSSEQ"] = derive_seq(ts, by=("TSPARMCD",))
    table = finalize(ts, trial.mapping.sdtm.dataset("TS"))
    # TSVAL over 200 characters: continued in TSVAL1, TSVAL2, ... (SDTMIG 3.4 TS assumption 8)
    parts, found = split_to_columns(table, "TSVAL")
    findings += found
    table = continue_columns(table, parts)
    findings += _consistency(table, dm)
    unplaced = _unplaced(record)
    if unplaced:
        findings.append(finding("TS-REGISTRY-UNPLACED", REGISTRY_FILE, unplaced, paths=", ".join(unplaced)))
    return Mapped(table=table, supp=None, findings=findings, rejected=no_rejects())


def continue_columns(table: pd.DataFrame, parts: pd.DataFrame) -> pd.DataFrame:
    """`table` with TSVAL replaced by its first part and the continuation columns TSVAL1 ... placed after
    the spec's variables, before the provenance columns (no columns added when nothing was split)."""
    out = table.drop(columns=[SOURCE_FILE, SOURCE_LINE]).assign(**{c: parts[c] for c in parts.columns})
    return pd.concat([out, table[[SOURCE_FILE, SOURCE_LINE]]], axis=1)


def _consistency(table: pd.DataFrame, dm: pd.DataFrame | None) -> list[Finding]:
    """ACTSUB against the subjects DM holds."""
    actsub = table.loc[table["TSPARMCD"] == "ACTSUB", "TSVAL"]
    if dm is None or actsub.empty or not re.fullmatch(r"\d+", actsub.iloc[0]):
        return []
    subjects = dm["USUBJID"].nunique()
    if int(actsub.iloc[0]) == subjects:
        return []
    row = int(actsub.index[0]) + 1
    return [finding("TS-ACTSUB-DM", f"ts:TSVAL:{row}", [actsub.iloc[0], subjects], actsub=actsub.iloc[0],
                    subjects=subjects)]
