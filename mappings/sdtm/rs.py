"""response.csv -> RS (SDTMIG 3.4 Disease Response and Clin Classification): one IMWG overall response per
assessment per subject.

- RSTESTCD/RSTEST = OVRLRESP / Overall Response (CDISC Oncology Response Assessment Test Code C96782 and
  Name C96781, term C96613).
- RSCAT = DURIE MULTIPLE MYELOMA 2006 (Category of Oncology Response Assessment C124298, term C126003): the
  IMWG uniform response criteria (Durie et al., Leukemia 2006), the criteria that define the sCR, CR,
  VGPR, PR, SD and PD categories the CRF collects and that were current when REVALLO started (2011).
  KUMAR IMWG 2016 adds minimal residual disease categories the study did not assess.
- RSORRES as collected; RSSTRESC the CDISC Oncology Response Assessment Result (C96785) term, which for
  the IMWG categories is the collected value itself (`sCR` is a CDISC term, case included).
- RSEVAL = INVESTIGATOR (C78735): the CRF records the investigator's assessment.
- VISITNUM from the visit schedule (INCLUSION = 1, M01 = 2 ... M12 = 13, EOT = 14); RSDTC, RSDY, EPOCH.
- No baseline flag: the inclusion assessment records the response to the therapy before the transplant
  (an eligibility criterion: 2nd or 3rd CR or PR), not a baseline of lenalidomide's effect, which IMWG
  judges from the M-protein and free light chains (LB, flagged there). EPOCH = SCREENING marks it.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.converters.trial import Trial
from trialbridge.mappings.sdtm.algorithms import (
    Mapped,
    assign_ct,
    assign_datetime,
    assign_no_ct,
    assign_visitnum,
    derive_epoch,
    derive_seq,
    derive_study_day,
    derive_usubjid,
    finalize,
    hardcode_ct,
    hardcode_no_ct,
    lookup,
    no_rejects,
    start_table,
    study_identifier,
)
from trialbridge.schemas.sdtm_spec import study_spec

FORM = "response"


def map_rs(trial: Trial, sdtm: dict[str, pd.DataFrame]) -> Mapped:
    src = trial.forms[FORM]
    dm = sdtm["DM"]
    studyid = study_identifier(trial.registry)
    findings = []

    rs = start_table(src)
    # STUDYID: the study identifier; DOMAIN: "RS"
    rs["STUDYID"] = hardcode_no_ct(src, studyid)
    rs["DOMAIN"] = hardcode_no_ct(src, "RS")
    # USUBJID = STUDYID-SITEID-SUBJID
    rs["USUBJID"] = derive_usubjid(src, "SITEID", "SUBJID", studyid)
    # RSTESTCD/RSTEST: IMWG overall response (C96782 / C96781)
    rs["RSTESTCD"] = hardcode_ct(src, "OVRLRESP", "C96782")
    rs["RSTEST"] = hardcode_ct(src, "Overall Response", "C96781")
    # RSCAT: the IMWG uniform response criteria (C124298)
    rs["RSCAT"] = hardcode_ct(src, "DURIE MULTIPLE MYELOMA 2006", "C124298")
    # RSORRES: the response as collected; RSSTRESC: its CDISC Oncology Response Assessment Result (C96785)
    rs["RSORRES"] = assign_no_ct(src, "RESP")
    rs["RSSTRESC"], found = assign_ct(src, "RESP", "C96785", variable="RSSTRESC")
    findings += found
    # RSEVAL: the investigator (C78735)
    rs["RSEVAL"] = hardcode_ct(src, "INVESTIGATOR", "C78735")
    # VISIT as collected; VISITNUM from the visit schedule
    rs["VISIT"] = assign_no_ct(src, "VISIT")
    rs["VISITNUM"], found = assign_visitnum(src, "VISIT")
    findings += found
    # RSDTC: the assessment date, ISO 8601; RSDY: its study day; EPOCH from it
    rs["RSDTC"] = assign_datetime(src, "RSDAT")
    rs["RSDY"] = derive_study_day(rs["RSDTC"], lookup(rs, dm, "RFSTDTC"))
    rs["EPOCH"] = derive_epoch(rs["RSDTC"], lookup(rs, dm, "RFXSTDTC"), lookup(rs, dm, "RFXENDTC"))
    # RSSEQ: per subject, by assessment date then visit
    rs["RSSEQ"] = derive_seq(rs, order=("RSDTC", "VISITNUM"))

    table = finalize(rs, study_spec().dataset("RS"))
    return Mapped(table=table, supp=None, findings=findings, rejected=no_rejects())
