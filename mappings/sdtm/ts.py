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

import pandas as pd

from trialbridge.mappings.countries import ISO_3166_EDITION, country_code
from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE, Trial
from trialbridge.mappings.study import StudyInfo
from trialbridge.mappings.sdtm.ts_parameters import PARAMETERS, READ_ELSEWHERE
from trialbridge.mappings.sdtm.ts_record import ISO_3166, TSPARM_CODELIST, TSPARMCD_CODELIST, Record
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
from trialbridge.schemas.sdtm_standards import terminology


@lru_cache(maxsize=1)
def parameter_names() -> dict[str, str]:
    """TSPARMCD -> TSPARM: the CDISC CT test name with the same NCI code as the test code."""
    terms = terminology()
    by_code = {terms.term_code(TSPARM_CODELIST, name): name for name in terms.submission_values(TSPARM_CODELIST)}
    return {code: by_code[terms.term_code(TSPARMCD_CODELIST, code)] for code in terms.submission_values(TSPARMCD_CODELIST)}


def _rows(record: Record, countries: list[str]) -> pd.DataFrame:
    """One row per parameter value, in PARAMETERS order (FCNTRY after the design parameters)."""
    rows = [(parmcd, *value) for parmcd, values in PARAMETERS for value in values(record)]
    rows += [("FCNTRY", country, country, ISO_3166, record.version(ISO_3166) or ISO_3166_EDITION, "") for country in countries]
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
