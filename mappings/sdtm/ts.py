"""registry.json (ClinicalTrials.gov API v2 record) -> TS (SDTMIG 3.4 Trial Summary): one record per trial
summary parameter value.

FDA's technical rejection criteria refuse a submission without ts.xpt and SSTDTC. Every parameter the
registry record can give is carried (the list `PARAMETERS`, one line per parameter, in the order the
table is built), plus SDTIGVER and SDTMVER; nothing is invented: a parameter the record does not give is
left out, except AGEMAX without a maximum age (TSVALNF = PINF, as SDTMIG's example shows for no upper
limit). TSPARMCD/TSPARM are CDISC CT C66738/C67152. TSVALCD/TSVCDREF/TSVCDVER carry the code of the value
where one applies:
- CDISC CT terms (TPHASE, STYPE, INTMODEL, INTTYPE, TBLIND, TCNTRL, TINDTP, SEXPOP, Y/N indicators):
  the term's NCI C-code, TSVCDREF "CDISC CT", TSVCDVER the CT release;
- dates and durations (SSTDTC, SENDTC, AGEMIN, AGEMAX): ISO 8601 values, TSVCDREF "ISO 8601";
- REGID: the NCT number, TSVCDREF "ClinicalTrials.gov" (EudraCT / CTIS numbers likewise);
- TRT: the FDA UNII of the substance (TSVCDREF "UNII"), INDIC and TDIGRP: the SNOMED CT concept of the
  condition (TSVCDREF "SNOMED"), from the small tables `UNII` and `SNOMED_BY_MESH` below (external codes
  the registry does not hold); a condition without a SNOMED entry falls back to the record's own MeSH
  descriptor (TSVCDREF "MeSH");
- FCNTRY: the ISO 3166-1 alpha-3 codes of the sites' countries as DM records them (TSVCDREF "ISO 3166").
A value over 200 characters keeps its first part in TSVAL and continues in TSVAL1, TSVAL2 ... (SDTMIG
3.4 TS assumption 8), cut at a word boundary. The registry facts TS has no parameter for (summaries,
eligibility text, officials, site names, ...) are listed in an info finding: FHIR ResearchStudy carries
them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import pandas as pd

from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE, Trial
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
from trialbridge.schemas.sdtm_spec import CT_VERSION, SDTMIG_VERSION, terminology

SDTM_VERSION = "2.0"  # the SDTM model version SDTMIG 3.4 implements
TSPARMCD_CODELIST, TSPARM_CODELIST = "C66738", "C67152"
CDISC_CT, ISO_8601, ISO_3166 = "CDISC CT", "ISO 8601", "ISO 3166"

# External codes the registry record does not hold.
UNII: dict[str, str] = {"LENALIDOMIDE": "F0P408N6V4"}  # FDA Global Substance Registration System
SNOMED_BY_MESH: dict[str, str] = {"D009101": "109989006"}  # MeSH Multiple Myeloma -> SNOMED CT Multiple myeloma (disorder)

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
AGENT_TYPES = ("DRUG", "BIOLOGICAL")  # interventions that are protocol agents (TRT)
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
AGE_UNITS = {"Year": "P{}Y", "Month": "P{}M", "Week": "P{}W", "Day": "P{}D", "Hour": "PT{}H", "Minute": "PT{}M"}
SECONDARY_REGISTRIES = {"EUDRACT_NUMBER": "EudraCT", "CTIS": "CTIS"}
YES_NO = "C66742"


# ------------------------------------------------------------------------------------ the record
@dataclass
class Record:
    """The registry record, remembering which `module.field` paths the parameters read."""

    data: dict[str, Any]
    used: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)

    def get(self, path: str, default: Any = None) -> Any:
        """The value at a dotted path under protocolSection / derivedSection (e.g. `designModule.phases`)."""
        section = "derivedSection" if path.split(".")[0].endswith("BrowseModule") else "protocolSection"
        node: Any = self.data.get(section, {})
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            self.used.add(".".join(path.split(".")[:2]))
        return default if node is None else node

    def unmapped(self, path: str, value: str, parmcd: str, codelist: str) -> None:
        self.findings.append(finding("TS-VALUE-UNMAPPED", f"{REGISTRY_FILE}:{path}", [value], path=path,
                                     value=value, parmcd=parmcd, codelist=codelist))

    def no_code(self, parmcd: str, value: str, reference: str) -> None:
        self.findings.append(finding("TS-CODE-UNKNOWN", f"{REGISTRY_FILE}:{parmcd}", [value], parmcd=parmcd,
                                     value=value, reference=reference))


# A parameter value: TSVAL, TSVALCD, TSVCDREF, TSVCDVER, TSVALNF.
Value = tuple[str, str, str, str, str]


def text(value: str) -> Value:
    return (value, "", "", "", "")


def ct(value: str, codelist: str) -> Value:
    """A CDISC CT term with its NCI C-code."""
    return (value, terminology().term_code(codelist, value), CDISC_CT, CT_VERSION, "")


def coded(value: str, code: str, reference: str) -> Value:
    return (value, code, reference if code else "", "", "")


def iso8601(value: str) -> Value:
    return (value, "", ISO_8601, "", "")


def null_flavor(flavor: str) -> Value:
    return ("", "", "", "", flavor)


def yes_no(flag: bool) -> Value:
    return ct("Y" if flag else "N", YES_NO)


def iso_duration(age: str) -> str:
    """A registry age ("18 Years", "6 Months") as an ISO 8601 duration (P18Y, P6M)."""
    number, unit = age.split()
    return AGE_UNITS[unit.rstrip("s")].format(number)


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


def study_start(r: Record) -> list[Value]:
    """SSTDTC: the study start date (ISO 8601, partial when the record is)."""
    date = r.get("statusModule.startDateStruct.date", "")
    return [iso8601(date)] if date else []


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
    """ACTSUB: the actual enrolment; PLANSUB: the anticipated one (an ESTIMATED count)."""
    info = r.get("designModule.enrollmentInfo", {})
    wanted = "ACTUAL" if parmcd == "ACTSUB" else "ESTIMATED"
    return [text(str(info["count"]))] if "count" in info and info.get("type", "ESTIMATED") == wanted else []


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


def agents(r: Record) -> list[Value]:
    """TRT: each drug or biological intervention, upper case as EXTRT, with its UNII."""
    values: list[Value] = []
    for item in r.get("armsInterventionsModule.interventions", []):
        if item.get("type") in AGENT_TYPES:
            name = item["name"].upper()
            if name not in UNII:
                r.no_code("TRT", name, "UNII")
            values.append(coded(name, UNII.get(name, ""), "UNII"))
    return values


def conditions(r: Record, parmcd: str) -> list[Value]:
    """INDIC / TDIGRP: each condition, with its SNOMED CT concept (else the record's MeSH descriptor)."""
    meshes = {m["term"].casefold(): m.get("id", "") for m in r.get("conditionBrowseModule.meshes", [])}
    values: list[Value] = []
    for condition in r.get("conditionsModule.conditions", []):
        mesh = meshes.get(condition.casefold(), "")
        if mesh in SNOMED_BY_MESH:
            values.append(coded(condition, SNOMED_BY_MESH[mesh], "SNOMED"))
        elif mesh:
            values.append(coded(condition, mesh, "MeSH"))
        else:
            r.no_code(parmcd, condition, "SNOMED CT or MeSH")
            values.append(text(condition))
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
    ("TRT", agents),
    ("INDIC", lambda r: conditions(r, "INDIC")),
    ("TDIGRP", lambda r: conditions(r, "TDIGRP")),
    ("KEYWORD", keywords),
    ("PLANSUB", lambda r: subjects(r, "PLANSUB")),
    ("ACTSUB", lambda r: subjects(r, "ACTSUB")),
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
    rows += [("FCNTRY", country, "", ISO_3166, "", "") for country in countries]
    return pd.DataFrame(rows, columns=["TSPARMCD", "TSVAL", "TSVALCD", "TSVCDREF", "TSVCDVER", "TSVALNF"], dtype=object)


def _unplaced(record: Record) -> list[str]:
    """The `module.field` paths of the registry record no parameter read (schema order)."""
    paths = [f"{module}.{key}" for section in ("protocolSection", "derivedSection")
             for module, fields in record.data.get(section, {}).items() if isinstance(fields, dict)
             for key in fields]
    return [p for p in paths if p not in record.used and p not in READ_ELSEWHERE]


def map_ts(trial: Trial, sdtm: dict[str, pd.DataFrame]) -> Mapped:
    record = Record(trial.registry)
    dm = sdtm.get("DM")
    countries = sorted(set(dm["COUNTRY"]) - {""}) if dm is not None and "COUNTRY" in dm else []
    src = _rows(record, countries)
    src[SOURCE_FILE], src[SOURCE_LINE] = REGISTRY_FILE, 0
    findings = list(record.findings)

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
