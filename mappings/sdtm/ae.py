"""adverse_events.csv -> AE + SUPPAE (SDTMIG 3.4 Adverse Events): one record per adverse event per subject.

- AETERM is the investigator's verbatim term as written (French, accents kept: the XPT writer
  transliterates and reports it); a term over 200 characters keeps its first part in AETERM and continues
  in SUPPAE AETERM1, AETERM2 (SDTMIG 4.5.3.2, cut at a word boundary).
- The MedDRA terms and codes are those the EDC export carries (AELLT ... AESOC with their codes);
  AEBODSYS/AEBDSYCD is the primary SOC, the one the analyses use. The MedDRA version (MEDDRAV) is a
  property of the dictionary, described in define.xml, not a record variable.
- AETOXGR is the NCI CTCAE v3.0 grade as collected (the study grades with CTCAE, so AESEV is not used).
- AESER and the six seriousness criteria (C66742 No Yes Response), AEACN (C66767), AEOUT (C66768) as
  collected; AEREL as collected (no CDISC codelist: the study's five-level causality scale).
- Dates stay as precise as collected: a partial onset or end date (`2011-12`, `2011`) is kept partial,
  never imputed, and then has no study day. An event ongoing at the end of the study has no AEENDTC,
  AEENRTPT = ONGOING (C66728) and AEENTPT = END OF STUDY.
- GVHD details go to SUPPAE, one qualifier per collected item: GVHDTYPE (ACUTE / CHRONIC), GVHDGRD (the
  Seattle grade I-IV for acute GVHD, the NIH global severity for chronic GVHD) and GVHDSR (steroid-
  refractory, Y/N). SDTMIG 8.4 puts a non-standard qualifier of one parent record in SUPP--; a Findings
  About (FA) domain is the place for findings about an event collected separately from it (several
  assessments over time, or about events not recorded as AEs), which the CRF does not do: it asks each
  item once, on the AE line of the GVHD. IDVAR = AESEQ.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.converters.trial import Trial
from trialbridge.mappings.sdtm.algorithms import (
    Mapped,
    assign_ct,
    assign_datetime,
    assign_no_ct,
    assign_numeric,
    derive_epoch,
    derive_seq,
    derive_study_day,
    derive_usubjid,
    finalize,
    hardcode_ct,
    hardcode_no_ct,
    lookup,
    no_rejects,
    require_declared,
    split_long_text,
    start_table,
    study_identifier,
    to_supp,
)
from trialbridge.schemas.sdtm_spec import study_spec

FORM = "adverse_events"
MEDDRA = (("AELLT", "AELLTCD"), ("AEDECOD", "AEPTCD"), ("AEHLT", "AEHLTCD"), ("AEHLGT", "AEHLGTCD"),
          ("AESOC", "AESOCCD"))
SERIOUSNESS = ("AESER", "AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESMIE")


def map_ae(trial: Trial, sdtm: dict[str, pd.DataFrame]) -> Mapped:
    src = trial.forms[FORM]
    dm = sdtm["DM"]
    spec = study_spec()
    studyid = study_identifier(trial.registry)
    findings = []

    ae = start_table(src)
    # STUDYID: the study identifier; DOMAIN: "AE"
    ae["STUDYID"] = hardcode_no_ct(src, studyid)
    ae["DOMAIN"] = hardcode_no_ct(src, "AE")
    # USUBJID = STUDYID-SITEID-SUBJID
    ae["USUBJID"] = derive_usubjid(src, "SITEID", "SUBJID", studyid)
    # AESPID: the CRF line number of the event
    ae["AESPID"] = assign_no_ct(src, "AESPID")
    # AETERM: verbatim; beyond 200 characters continued in SUPPAE AETERM1, AETERM2 (SDTMIG 4.5.3.2)
    ae["AETERM"] = assign_no_ct(src, "AETERM")
    parts, found = split_long_text(ae, "AETERM", "AETERM")
    require_declared(parts, "AETERM", spec.supp_qvals("SUPPAE"))
    ae[list(parts.columns)] = parts
    findings += found
    # MedDRA terms and codes as the EDC coded them (LLT, PT, HLT, HLGT, primary SOC)
    for term, code in MEDDRA:
        ae[term] = assign_no_ct(src, term)
        ae[code], found = assign_numeric(src, code, variable=code)
        findings += found
    # AEBODSYS/AEBDSYCD: the primary SOC
    ae["AEBODSYS"] = assign_no_ct(src, "AESOC")
    ae["AEBDSYCD"], _ = assign_numeric(src, "AESOCCD", variable="AEBDSYCD")
    # AESER and the seriousness criteria: Y/N (C66742)
    for flag in SERIOUSNESS:
        ae[flag], found = assign_ct(src, flag, "C66742", variable=flag)
        findings += found
    # AEACN (C66767), AEOUT (C66768) as collected; AEREL: the study's causality scale
    ae["AEACN"], found = assign_ct(src, "AEACN", "C66767", variable="AEACN")
    findings += found
    ae["AEOUT"], found = assign_ct(src, "AEOUT", "C66768", variable="AEOUT")
    findings += found
    ae["AEREL"] = assign_no_ct(src, "AEREL")
    # AETOXGR: the NCI CTCAE v3.0 grade as collected
    ae["AETOXGR"] = assign_no_ct(src, "AEGRADE")
    # AESTDTC/AEENDTC: ISO 8601, partial dates kept partial
    ae["AESTDTC"] = assign_datetime(src, "AESTDAT")
    ae["AEENDTC"] = assign_datetime(src, "AEENDAT")
    # AESTDY/AEENDY: study days of complete dates (no day 0); EPOCH from the onset date
    rfstdtc = lookup(ae, dm, "RFSTDTC")
    ae["AESTDY"] = derive_study_day(ae["AESTDTC"], rfstdtc)
    ae["AEENDY"] = derive_study_day(ae["AEENDTC"], rfstdtc)
    ae["EPOCH"] = derive_epoch(ae["AESTDTC"], lookup(ae, dm, "RFXSTDTC"), lookup(ae, dm, "RFXENDTC"))
    # AEENRTPT = ONGOING (C66728) and AEENTPT = END OF STUDY for events ongoing at the end of the study
    ongoing = src["AEONGO"] == "Y"
    ae["AEENRTPT"] = hardcode_ct(src, "ONGOING", "C66728", where=ongoing)
    ae["AEENTPT"] = hardcode_no_ct(src, "END OF STUDY", where=ongoing)
    # AESEQ: per subject, by onset date then CRF line number
    ae["AESPIDN"], _ = assign_numeric(src, "AESPID")
    ae["AESEQ"] = derive_seq(ae, order=("AESTDTC", "AESPIDN"))
    # SUPPAE: GVHD type, grade (Seattle / NIH) and steroid-refractory flag, as collected
    ae["GVHDTYPE"] = assign_no_ct(src, "GVHDTYPE")
    ae["GVHDGRD"] = assign_no_ct(src, "GVHDGRADE")
    ae["GVHDSR"], found = assign_ct(src, "GVHDSR", "C66742", variable="GVHDSR")
    findings += found

    supp = to_supp(ae, "AE", spec.supp_qvals("SUPPAE"), idvar="AESEQ")
    table = finalize(ae, spec.dataset("AE"))
    return Mapped(table=table, supp=supp, findings=findings, rejected=no_rejects())
