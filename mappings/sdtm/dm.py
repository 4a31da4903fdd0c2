"""DM (Demographics) + SUPPDM from the enrolment and end-of-study forms, the registry and EX.

One record per enrolled subject. The reference period comes from EX (RFSTDTC = RFXSTDTC = first
lenalidomide dose, RFENDTC = RFXENDTC = last dose), consent from the enrolment form, end of participation
and death from the end-of-study form, the arm from the registry's single arm group. French sites do not
collect race or ethnicity: both are the CDISC term NOT REPORTED (see the CommentDef in study-spec.json).
Transplant and disease facts that have no DM variable go to SUPPDM, one QNAM each (study-spec.json).
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
    coalesce,
    derive_age,
    derive_exists,
    derive_first_dtc,
    derive_last_contact,
    derive_last_dtc,
    derive_usubjid,
    finalize,
    hardcode_ct,
    hardcode_no_ct,
    is_in,
    is_present,
    merge_source,
    no_rejects,
    registry_arm,
    start_table,
    study_identifier,
    to_supp,
)
from trialbridge.schemas.findings import finding
from trialbridge.schemas.sdtm_spec import study_spec


def map_dm(trial: Trial, sdtm: dict[str, pd.DataFrame]) -> Mapped:
    """DM and SUPPDM: one row per enrolment row, nothing rejected."""
    spec = study_spec()
    src = merge_source(trial.forms["enrolment"], trial.forms["end_of_study"], by=("SUBJID",))
    ex = sdtm["EX"]
    studyid, arm = study_identifier(trial.registry), registry_arm(trial.registry)
    findings = []
    if arm.count != 1:
        findings.append(finding("SDTM-DM-ARM-NOT-SINGLE", "registry.json:armsInterventionsModule.armGroups",
                                [arm.label], count=arm.count, label=arm.label))
    dm = start_table(src)
    dm["STUDYID"] = hardcode_no_ct(src, studyid)  # STUDYID: the registry acronym
    dm["DOMAIN"] = hardcode_no_ct(src, "DM")  # DOMAIN: DM
    dm["USUBJID"] = derive_usubjid(src, "SITEID", "SUBJID", studyid)  # USUBJID: STUDYID-SITEID-SUBJID
    dm["SUBJID"] = assign_no_ct(src, "SUBJID")  # SUBJID: as on the CRF
    dm["RFXSTDTC"] = derive_first_dtc(dm, ex, "EXSTDTC")  # RFXSTDTC: earliest EXSTDTC
    dm["RFXENDTC"] = derive_last_dtc(dm, ex, ("EXENDTC", "EXSTDTC"))  # RFXENDTC: latest EXENDTC, else EXSTDTC
    dm["RFSTDTC"] = assign_no_ct(dm, "RFXSTDTC")  # RFSTDTC: the first dose
    dm["RFENDTC"] = assign_no_ct(dm, "RFXENDTC")  # RFENDTC: the last dose
    dm["RFICDTC"] = assign_datetime(src, "CONSDAT")  # RFICDTC: informed consent signed
    dm["RFPENDTC"] = coalesce(assign_datetime(src, "EOSDAT"),  # RFPENDTC: end of study, else last contact
                              derive_last_contact(dm, trial.forms))
    dm["DTHDTC"] = assign_datetime(src, "DTHDAT")  # DTHDTC: death date as collected (partial kept)
    died = (is_present(src, "DTHDAT") | is_present(src, "DTHCAUSE")
            | is_in(src, "EOSREAS", ["DEATH"]) | is_in(src, "EOTREAS", ["DEATH"]))
    dm["DTHFL"] = hardcode_ct(src, "Y", "C66742", where=died)  # DTHFL: Y when the subject died, else null
    dm["SITEID"] = assign_no_ct(src, "SITEID")  # SITEID: as in the EDC
    dm["BRTHDTC"] = assign_datetime(src, "BRTHDAT")  # BRTHDTC: as collected, month/year only kept as is
    collected_age, found = assign_numeric(src, "AGE", "AGE")
    findings += found
    dm["AGE"] = coalesce(collected_age, derive_age(dm["BRTHDTC"], dm["RFICDTC"]))  # AGE: at consent
    dm["AGEU"] = hardcode_ct(src, "YEARS", "C66781", where=is_present(dm, "AGE"))  # AGEU: YEARS with AGE
    dm["SEX"], found = assign_ct(src, "SEX", "C66731", variable="SEX")  # SEX: M/F as collected
    findings += found
    dm["RACE"] = hardcode_ct(src, "NOT REPORTED", "C74457")  # RACE: not collected in France
    dm["ETHNIC"] = hardcode_ct(src, "NOT REPORTED", "C66790")  # ETHNIC: not collected in France
    treated = derive_exists(dm, ex)
    dm["ARMCD"] = hardcode_no_ct(src, arm.code)  # ARMCD: the single planned arm
    dm["ARM"] = hardcode_no_ct(src, arm.label)  # ARM: the registry arm label
    dm["ACTARMCD"] = hardcode_no_ct(src, arm.code, where=treated)  # ACTARMCD: planned arm if dosed
    dm["ACTARM"] = hardcode_no_ct(src, arm.label, where=treated)  # ACTARM: planned arm if dosed
    dm["ARMNRS"] = hardcode_ct(src, "ASSIGNED, NOT TREATED", "C142179", where=~treated)  # ARMNRS: never dosed
    dm["ACTARMUD"] = hardcode_no_ct(src, "")  # ACTARMUD: nobody had an unplanned treatment
    dm["COUNTRY"] = assign_no_ct(src, "SITECTRY")  # COUNTRY: ISO 3166-1 alpha-3 of the site
    # SUPPDM qualifiers, named by QNAM (study-spec.json)
    dm["TXDTC"] = assign_datetime(src, "TXDAT")  # TXDTC: allogeneic transplant date (Day 0)
    dm["DONOR"] = assign_no_ct(src, "DONOR")  # DONOR: related / unrelated donor
    dm["HLAMATCH"] = assign_no_ct(src, "HLAMATCH")  # HLAMATCH: 10/10 or 9/10
    dm["CONDIT"] = assign_no_ct(src, "CONDIT")  # CONDIT: conditioning regimen, verbatim
    dm["DISSTAT"] = assign_no_ct(src, "DISSTAT")  # DISSTAT: CR / PR at inclusion
    dm["RESPLINE"] = assign_no_ct(src, "RESPLINE")  # RESPLINE: 2nd or 3rd response
    dm["PRLEN"] = assign_no_ct(src, "PRLEN")  # PRLEN: prior lenalidomide Y/N
    dm["PRLENMO"] = assign_no_ct(src, "PRLENMO")  # PRLENMO: months of prior lenalidomide
    dm["LENREFR"] = assign_no_ct(src, "LENREFR")  # LENREFR: ever refractory to lenalidomide Y/N
    dm["DTHTRM"] = assign_no_ct(src, "DTHTRM")  # DTHTRM: transplant-related death Y/N
    supp = to_supp(dm, "DM", spec.supp_qvals("SUPPDM"))
    return Mapped(table=finalize(dm, spec.dataset("DM")), supp=supp if len(supp) else None,
                  findings=findings, rejected=no_rejects())
