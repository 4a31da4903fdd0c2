"""EX (Exposure) from the dosing form: one record per period of constant daily lenalidomide dose.

Protocol: lenalidomide capsules by mouth once a day, from 5 mg/day, one level up (10, 15 mg/day) every
third month when platelets and neutrophils allow, down for toxicity. The CRF holds one line per period
with its reason (start, escalation, reduction, resumption); EXADJ keeps that reason. EX is mapped first:
its first dose is the study's reference start (RFSTDTC = RFXSTDTC), used here for EXSTDY/EXENDY.
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
    derive_first_dtc,
    derive_last_dtc,
    derive_seq,
    derive_study_day,
    derive_usubjid,
    finalize,
    hardcode_ct,
    hardcode_no_ct,
    no_rejects,
    start_table,
    study_identifier,
)
from trialbridge.schemas.sdtm_spec import study_spec

TREATMENT = "LENALIDOMIDE"
# The CRF prints the unit "mg/j" (milligrammes par jour): a daily dose taken once a day, so EXDOSU is the
# CDISC unit of the amount (mg, C71620) and the "per day" goes to EXDOSFRQ = QD.
EXDOSU_OF_CRF_UNIT = {"mg/j": "mg"}
# Why a period starts (dosing.csv CHGREAS) -> EXADJ, the reason the dose was adjusted; the first period
# (START) is no adjustment.
EXADJ_OF_REASON = {
    "START": "",
    "ESCALATION": "PROTOCOL DOSE ESCALATION",
    "REDUCTION": "DOSE REDUCED FOR TOXICITY",
    "RESUMPTION": "RESUMED AFTER INTERRUPTION",
}


def map_ex(trial: Trial, sdtm: dict[str, pd.DataFrame]) -> Mapped:
    """EX from dosing.csv: one row per dosing line, nothing rejected."""
    dosing = trial.forms["dosing"]
    studyid = study_identifier(trial.registry)
    findings = []
    ex = start_table(dosing)
    ex["STUDYID"] = hardcode_no_ct(dosing, studyid)  # STUDYID: the registry acronym
    ex["DOMAIN"] = hardcode_no_ct(dosing, "EX")  # DOMAIN: EX
    ex["USUBJID"] = derive_usubjid(dosing, "SITEID", "SUBJID", studyid)  # USUBJID: STUDYID-SITEID-SUBJID
    ex["EXSPID"] = assign_no_ct(dosing, "EXLINE")  # EXSPID: the CRF line of the dose period
    ex["EXTRT"] = hardcode_no_ct(dosing, TREATMENT)  # EXTRT: the protocol treatment
    ex["EXDOSE"], found = assign_numeric(dosing, "DOSE", "EXDOSE")  # EXDOSE: daily dose as collected
    findings += found
    ex["EXDOSU"], found = assign_ct(dosing, "DOSEU", "C71620", EXDOSU_OF_CRF_UNIT, "EXDOSU")  # EXDOSU: mg
    findings += found
    ex["EXDOSFRM"] = hardcode_ct(dosing, "CAPSULE", "C66726")  # EXDOSFRM: capsules (protocol)
    ex["EXDOSFRQ"] = hardcode_ct(dosing, "QD", "C71113")  # EXDOSFRQ: once a day (protocol)
    ex["EXROUTE"] = hardcode_ct(dosing, "ORAL", "C66729")  # EXROUTE: by mouth (protocol)
    ex["EXADJ"] = assign_no_ct(dosing, "CHGREAS", EXADJ_OF_REASON)  # EXADJ: why the dose changed
    ex["EXSTDTC"] = assign_datetime(dosing, "EXSTDAT")  # EXSTDTC: first day of the period
    ex["EXENDTC"] = assign_datetime(dosing, "EXENDAT")  # EXENDTC: last day, empty while ongoing
    rfxstdtc = derive_first_dtc(ex, ex, "EXSTDTC")  # the subject's first dose = RFSTDTC = RFXSTDTC
    rfxendtc = derive_last_dtc(ex, ex, ("EXENDTC", "EXSTDTC"))  # the subject's last dose = RFXENDTC
    ex["EXSTDY"] = derive_study_day(ex["EXSTDTC"], rfxstdtc)  # EXSTDY: study day of EXSTDTC, no day 0
    ex["EXENDY"] = derive_study_day(ex["EXENDTC"], rfxstdtc)  # EXENDY: study day of EXENDTC, no day 0
    ex["EPOCH"] = derive_epoch(ex["EXSTDTC"], rfxstdtc, rfxendtc)  # EPOCH: of the period start
    ex["EXSEQ"] = derive_seq(ex, order=("EXSTDTC", "_line"))  # EXSEQ: by start date per subject
    return Mapped(table=finalize(ex, study_spec().dataset("EX")), supp=None, findings=findings,
                  rejected=no_rejects())
