"""DS (Disposition) + SUPPDS from the enrolment and end-of-study forms.

Three record sets per subject: informed consent (protocol milestone, enrolment.csv CONSDAT), end of
treatment (disposition event, study treatment, EOTDAT/EOTREAS) and end of study (disposition event, study
participation, EOSDAT/EOSSTAT/EOSREAS). A death that ends the study is the end-of-study record with
DSDECOD = DEATH and the investigator's verbatim cause of death as DSTERM (beyond 200 characters the rest
goes to SUPPDS DSTERM1, DSTERM2). DSDECOD terms come from CDISC CT: Protocol Milestone (C114118) for
consent, Completion/Reason for Non-Completion (C66727) for the disposition events; DSTERM is the text the
CRF prints for the reason code.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.converters.trial import Trial
from trialbridge.mappings.sdtm.algorithms import (
    Mapped,
    assign_ct,
    assign_datetime,
    assign_no_ct,
    bind_rows,
    coalesce,
    derive_epoch,
    derive_seq,
    derive_study_day,
    derive_usubjid,
    finalize,
    hardcode_ct,
    hardcode_no_ct,
    is_in,
    is_present,
    lookup,
    no_rejects,
    require_declared,
    split_long_text,
    start_table,
    study_identifier,
    to_supp,
)
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_spec import study_spec

# End of treatment, end_of_study.csv EOTREAS: the CRF's printed reason (DSTERM) and its CDISC term (DSDECOD,
# C66727). Stopping at the protocol's planned end (sCR persisting 3 months, one year after transplant) is
# COMPLETED; steroid-refractory GVHD is an adverse event; "consent withdrawn" is WITHDRAWAL OF CONSENT.
EOT_TERM = {
    "SCR_SUSTAINED": "STRINGENT COMPLETE RESPONSE PERSISTING 3 MONTHS",
    "PROGRESSION": "PROGRESSION (IMWG CRITERIA)",
    "TOXICITY": "UNACCEPTABLE TOXICITY",
    "GVHD": "STEROID-REFRACTORY GRAFT VERSUS HOST DISEASE",
    "ONE_YEAR": "ONE YEAR AFTER TRANSPLANT",
    "DEATH": "DEATH",
    "WITHDRAWAL": "CONSENT WITHDRAWN",
    "OTHER": "OTHER",
}
EOT_DSDECOD = {
    "SCR_SUSTAINED": "COMPLETED",
    "PROGRESSION": "PROGRESSIVE DISEASE",
    "TOXICITY": "ADVERSE EVENT",
    "GVHD": "ADVERSE EVENT",
    "ONE_YEAR": "COMPLETED",
    "DEATH": "DEATH",
    "WITHDRAWAL": "WITHDRAWAL OF CONSENT",
    "OTHER": "OTHER",  # no CDISC term says "other": a sponsor extension of C66727, reported as such
}
# End of study, end_of_study.csv EOSSTAT and (when DISCONTINUED) EOSREAS.
EOS_TERM = {
    "COMPLETED": "COMPLETED",
    "DEATH": "DEATH",
    "WITHDRAWAL": "WITHDRAWAL",
    "LOST_TO_FOLLOW_UP": "LOST TO FOLLOW-UP",
    "PHYSICIAN_DECISION": "PHYSICIAN DECISION",
}
EOS_REASON_DSDECOD = {
    "DEATH": "DEATH",
    "WITHDRAWAL": "WITHDRAWAL BY SUBJECT",
    "LOST_TO_FOLLOW_UP": "LOST TO FOLLOW-UP",
    "PHYSICIAN_DECISION": "PHYSICIAN DECISION",
}
EOS_STATUS_DSDECOD = {"COMPLETED": "COMPLETED", "DISCONTINUED": ""}  # DISCONTINUED: the reason decides


def _identify(table: pd.DataFrame, source: pd.DataFrame, studyid: str) -> None:
    table["STUDYID"] = hardcode_no_ct(source, studyid)  # STUDYID: the registry acronym
    table["DOMAIN"] = hardcode_no_ct(source, "DS")  # DOMAIN: DS
    table["USUBJID"] = derive_usubjid(source, "SITEID", "SUBJID", studyid)  # USUBJID: STUDYID-SITEID-SUBJID


def _deaths_without_disposition(eos: pd.DataFrame, studyid: str) -> list[Finding]:
    """A death recorded while the study did not end with DEATH: in DM, but no DS death record."""
    died = is_present(eos, "DTHDAT") | is_present(eos, "DTHCAUSE")
    rows = eos.loc[died & ~is_in(eos, "EOSREAS", ["DEATH"])]
    usubjid = derive_usubjid(rows, "SITEID", "SUBJID", studyid)
    return [
        finding("SDTM-DS-DEATH-NOT-DISPOSITION", f"{file}:{line}:EOSREAS", [subject, date],
                usubjid=subject, dthdtc=date, cause=cause, eos=reason or status)
        for file, line, subject, date, cause, reason, status in zip(
            rows["_file"], rows["_line"], usubjid, assign_datetime(rows, "DTHDAT"), rows["DTHCAUSE"],
            rows["EOSREAS"], rows["EOSSTAT"])
    ]  # a handful of rows at most: one finding each


def map_ds(trial: Trial, sdtm: dict[str, pd.DataFrame]) -> Mapped:
    """DS and SUPPDS: consent for every enrolled subject, end of treatment and end of study for every
    end-of-study row; nothing rejected."""
    spec = study_spec()
    enrolment, eos = trial.forms["enrolment"], trial.forms["end_of_study"]
    studyid = study_identifier(trial.registry)
    findings: list[Finding] = []

    consent = start_table(enrolment)  # informed consent: a protocol milestone
    _identify(consent, enrolment, studyid)
    consent["DSTERM"] = hardcode_no_ct(enrolment, "INFORMED CONSENT OBTAINED")  # DSTERM: the milestone
    consent["DSDECOD"] = hardcode_ct(enrolment, "INFORMED CONSENT OBTAINED", "C114118")  # DSDECOD: PROTMLST
    consent["DSCAT"] = hardcode_ct(enrolment, "PROTOCOL MILESTONE", "C74558")  # DSCAT: PROTOCOL MILESTONE
    consent["DSSCAT"] = hardcode_no_ct(enrolment, "")  # DSSCAT: none for milestones
    consent["DSSTDTC"] = assign_datetime(enrolment, "CONSDAT")  # DSSTDTC: consent date

    treatment = start_table(eos)  # end of treatment: a disposition event of the study treatment
    _identify(treatment, eos, studyid)
    treatment["DSTERM"] = assign_no_ct(eos, "EOTREAS", EOT_TERM)  # DSTERM: the CRF's reason text
    treatment["DSDECOD"], found = assign_ct(eos, "EOTREAS", "C66727", EOT_DSDECOD, "DSDECOD")  # DSDECOD: NCOMPLT
    findings += found
    treatment["DSCAT"] = hardcode_ct(eos, "DISPOSITION EVENT", "C74558")  # DSCAT: DISPOSITION EVENT
    treatment["DSSCAT"] = hardcode_ct(eos, "STUDY TREATMENT", "C170443")  # DSSCAT: STUDY TREATMENT
    ended_by_death = is_in(eos, "EOTREAS", ["DEATH"]) & is_present(eos, "DTHDAT")
    treatment["DSSTDTC"] = coalesce(
        assign_datetime(eos, "DTHDAT").where(ended_by_death, ""),  # DSSTDTC: a DEATH record is dated DTHDTC,
        assign_datetime(eos, "EOTDAT"))  # else the last lenalidomide dose (CORE-000034)

    study = start_table(eos)  # end of study: a disposition event of the study participation
    _identify(study, eos, studyid)
    death = is_in(eos, "EOSREAS", ["DEATH"])
    study["DSTERM"] = coalesce(assign_no_ct(eos, "DTHCAUSE", where=death),  # DSTERM: cause of death verbatim,
                               assign_no_ct(eos, "EOSREAS", EOS_TERM),  # else the CRF's reason text,
                               assign_no_ct(eos, "EOSSTAT", EOS_TERM))  # else the status (COMPLETED)
    reason, found = assign_ct(eos, "EOSREAS", "C66727", EOS_REASON_DSDECOD, "DSDECOD")
    findings += found
    status, found = assign_ct(eos, "EOSSTAT", "C66727", EOS_STATUS_DSDECOD, "DSDECOD")
    findings += found
    study["DSDECOD"] = coalesce(reason, status)  # DSDECOD: NCOMPLT term of the reason, else COMPLETED
    study["DSCAT"] = hardcode_ct(eos, "DISPOSITION EVENT", "C74558")  # DSCAT: DISPOSITION EVENT
    study["DSSCAT"] = hardcode_ct(eos, "STUDY PARTICIPATION", "C170443")  # DSSCAT: STUDY PARTICIPATION
    study["DSSTDTC"] = coalesce(
        assign_datetime(eos, "DTHDAT").where(death & is_present(eos, "DTHDAT"), ""),  # DSSTDTC: death date,
        assign_datetime(eos, "EOSDAT"))  # else the date the subject left the study
    findings += _deaths_without_disposition(eos, studyid)

    ds = bind_rows(consent, treatment, study)
    dm = sdtm["DM"]
    ds["EPOCH"] = derive_epoch(ds["DSSTDTC"], lookup(ds, dm, "RFXSTDTC"),  # EPOCH: of the event date
                               lookup(ds, dm, "RFXENDTC"))
    ds["DSSTDY"] = derive_study_day(ds["DSSTDTC"], lookup(ds, dm, "RFSTDTC"))  # DSSTDY: no day 0
    ds["DSSEQ"] = derive_seq(ds, order=("DSSTDTC", "_set", "_line"))  # DSSEQ: chronological per subject
    parts, found = split_long_text(ds, "DSTERM", "DSTERM")  # DSTERM over 200 characters: rest to SUPPDS
    findings += found
    qvals = spec.supp_qvals("SUPPDS")
    require_declared(parts, "DSTERM", qvals)
    ds[parts.columns] = parts
    supp = to_supp(ds, "DS", qvals, idvar="DSSEQ")
    return Mapped(table=finalize(ds, spec.dataset("DS")), supp=supp if len(supp) else None,
                  findings=findings, rejected=no_rejects())
