"""ResearchSubject from SDTM DM and DS: one per subject (DM row), the subject's path through the study.

R5 rules:
- id: resource_id("ResearchSubject", USUBJID); identifier USUBJID (SYSTEM_USUBJID); study: the
  ResearchStudy of STUDYID; subject: the Patient of USUBJID;
- status: `active` for every subject. R5 status is the publication status of the record (required
  binding publication-status: draft | active | retired | unknown), not the subject's state, which
  goes to `progress` (as in the HL7 example ResearchSubject/example-crossover-placebo-to-drug);
- progress, codes from HL7 Terminology (THO 7.0.1):
  * milestones (type Milestone, research-subject-state-type) from the DS protocol milestones
    (DSCAT = PROTOCOL MILESTONE): INFORMED CONSENT OBTAINED -> SignedUp, RANDOMIZED -> Randomized,
    ELIGIBILITY CRITERIA MET -> Screened (research-subject-milestone), DSTERM as text, at DSSTDTC;
  * enrolment states (type Enrollment; required binding research-subject-state), one at a time:
    on-study from RFICDTC (reason informedConsentSigned) to the first dose; on-study-intervention
    from RFXSTDTC to the end-of-treatment disposition (DSSCAT = STUDY TREATMENT), or to RFXENDTC
    when the subject left the study without one; follow-up from the end-of-treatment disposition
    (its DSDECOD/DSTERM as reason) to the end of participation; off-study from RFPENDTC (DTHDTC
    when RFPENDTC is empty and the subject died), reason = the end-of-study disposition (the last
    other DISPOSITION EVENT), or death;
  * a reason carries the state-change-reason code where one means the same (COMPLETED, ADVERSE
    EVENT, DEATH, WITHDRAWAL OF CONSENT, ...), the CDISC term's NCI C-code, and DSTERM as text;
- period: RFICDTC (else RFXSTDTC) .. RFPENDTC (the off-study date);
- assignedComparisonGroup / actualComparisonGroup: arm_link_id(ARMCD / ACTARMCD), the linkId of
  ResearchStudy.comparisonGroup; none for the SDTMIG 3.2 pseudo-arms (SCRNFAIL, NOTASSGN, ...).
R4 differences (declared in `R4`): `subject` is `individual`; `status` is the subject's current
state (research-subject-status has the same codes as R5 research-subject-state): the last
enrolment state, on-study when there is none; `assignedArm`/`actualArm` are the arm names
(ResearchStudy.arm.name = ARM / ACTARM, passed as context by `build`); `progress` has no R4
element, so each entry is kept whole in the R5 cross-version extension
http://hl7.org/fhir/5.0/StructureDefinition/extension-ResearchSubject.progress.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from trialbridge.mappings.fhir.common import (
    NCIT,
    SYSTEM_USUBJID,
    FhirInput,
    arm_link_id,
    coding,
    concept,
    fhir_datetime,
    identifier,
    joined,
    narratives,
    prefixed,
    prune,
    reference,
    resource_id,
    sdtm_columns,
    system,
)
from trialbridge.mappings.fhir.r4_differences import R4Differences, drop, recast, rename, to_r4
from trialbridge.schemas.findings import Finding
from trialbridge.schemas.sdtm_standards import terminology

DM_CHAR = ("USUBJID", "RFICDTC", "RFXSTDTC", "RFXENDTC", "RFPENDTC", "DTHDTC", "DTHFL", "ARMCD", "ARM",
           "ACTARMCD", "ACTARM")
DS_CHAR = ("USUBJID", "DSTERM", "DSDECOD", "DSCAT", "DSSCAT", "DSSTDTC")
STATE_TYPE = "http://terminology.hl7.org/CodeSystem/research-subject-state-type"
STATE = "http://terminology.hl7.org/CodeSystem/research-subject-state"
MILESTONE = "http://terminology.hl7.org/CodeSystem/research-subject-milestone"
REASON = "http://terminology.hl7.org/CodeSystem/state-change-reason"
PROGRESS_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ResearchSubject.progress"

ENROLLMENT = concept(coding(STATE_TYPE, "Enrollment", "Enrollment status"))
MILESTONE_TYPE = concept(coding(STATE_TYPE, "Milestone", "Milestone status"))
STATES: dict[str, dict] = {
    code: concept(coding(STATE, code, display))
    for code, display in (("on-study", "On-study"), ("on-study-intervention", "On-study-intervention"),
                          ("follow-up", "Follow-up"), ("off-study", "Off-study"))
}
MILESTONES: dict[str, dict] = {  # DS protocol milestone DSDECOD -> research-subject-milestone
    "INFORMED CONSENT OBTAINED": coding(MILESTONE, "SignedUp", "Signed up"),
    "ELIGIBILITY CRITERIA MET": coding(MILESTONE, "Screened", "Screened"),
    "RANDOMIZED": coding(MILESTONE, "Randomized", "Randomized"),
}
_REASONS = {code: coding(REASON, code, display) for code, display in (
    ("informedConsentSigned", "Informed consent signed"), ("intOrObsComplete", "intervention or observation complete"),
    ("followUpComplete", "follow-up complete"), ("adverseEvent", "adverse event"), ("death", "death (adverse event)"),
    ("withdrawnConsent", "withdrawn consent"), ("nonCompliance", "non-compliance"), ("screenFailure", "screen failure"),
    ("notEligible", "did not meet eligibility criteria"), ("studyTerminated", "study terminated"),
)}
# DSDECOD -> state-change-reason, by the state the event starts (end of treatment / end of study).
TREATMENT_REASONS = {"COMPLETED": "intOrObsComplete", "ADVERSE EVENT": "adverseEvent", "DEATH": "death",
                     "WITHDRAWAL OF CONSENT": "withdrawnConsent", "NON-COMPLIANCE WITH STUDY DRUG": "nonCompliance",
                     "STUDY TERMINATED BY SPONSOR": "studyTerminated"}
STUDY_REASONS = {**TREATMENT_REASONS, "COMPLETED": "followUpComplete", "SCREEN FAILURE": "screenFailure"}
DS_CODELISTS = ("C66727", "C114118")  # Completion/Reason for Non-Completion; Protocol Milestone
PSEUDO_ARMS = {"SCRNFAIL", "NOTASSGN", "NOTTRT", "UNPLAN"}  # SDTMIG 3.2 codes that are no arm


def _ds_term(decod: str) -> dict | None:
    ct = terminology()
    for codelist in DS_CODELISTS:
        c_code = ct.term_code(codelist, decod)
        if c_code:
            return coding(NCIT, c_code, ct.decode(codelist, decod))
    return None


def _reason(decod: str, term: str, reasons: Mapping[str, str]) -> dict:
    """A progress reason: the THO code meaning the same, the CDISC term's C-code, DSTERM as text."""
    codes = (_REASONS.get(reasons.get(decod, "")), _ds_term(decod) if decod else None)
    return concept(*(c for c in codes if c), text=term or decod)


def _last(ds: pd.DataFrame, mask: pd.Series, index: pd.Series) -> pd.DataFrame:
    """The last (by DSSTDTC, then DSSEQ) record of `mask` per subject, aligned on DM's USUBJID."""
    rows = ds.loc[mask].sort_values(["USUBJID", "DSSTDTC", "DSSEQ"], kind="stable")
    last = rows.drop_duplicates("USUBJID", keep="last").set_index("USUBJID")
    return last.reindex(index).fillna({"DSSTDTC": "", "DSDECOD": "", "DSTERM": ""})


def _milestones(ds: pd.DataFrame, usubjid: pd.Series) -> pd.Series:
    """The milestone progress entries of each subject (DM order), from the DS protocol milestones."""
    rows = ds.loc[ds["DSCAT"] == "PROTOCOL MILESTONE"].sort_values(["USUBJID", "DSSTDTC", "DSSEQ"], kind="stable")
    starts = fhir_datetime(rows["DSSTDTC"])
    entries = [
        {"type": MILESTONE_TYPE, "milestone": concept(*filter(None, [MILESTONES.get(decod)]), text=term or decod),
         "reason": concept(_REASONS["informedConsentSigned"]) if decod == "INFORMED CONSENT OBTAINED" else None,
         "startDate": start}
        for decod, term, start in zip(rows["DSDECOD"], rows["DSTERM"], starts)
    ]
    grouped = pd.Series(entries, index=rows.index, dtype=object).groupby(rows["USUBJID"].to_numpy()).agg(list)
    return usubjid.map(grouped).map(lambda found: found if isinstance(found, list) else [])


def _arm(codes: pd.Series) -> pd.Series:
    return codes.where(~codes.isin(PSEUDO_ARMS), "").map(arm_link_id)


def build_r5(inp: FhirInput) -> list[dict]:
    dm = sdtm_columns(inp, "DM", DM_CHAR)
    ds = sdtm_columns(inp, "DS", DS_CHAR, ("DSSEQ",))
    disposition = ds["DSCAT"] == "DISPOSITION EVENT"
    eot = _last(ds, disposition & (ds["DSSCAT"] == "STUDY TREATMENT"), dm["USUBJID"])
    eos = _last(ds, disposition & (ds["DSSCAT"] != "STUDY TREATMENT"), dm["USUBJID"])
    consent, first, last = (fhir_datetime(dm[v]) for v in ("RFICDTC", "RFXSTDTC", "RFXENDTC"))
    died = (dm["DTHFL"] == "Y") | (dm["DTHDTC"] != "")
    off = fhir_datetime(dm["RFPENDTC"].where(dm["RFPENDTC"] != "", dm["DTHDTC"].where(died, "")))
    treatment_end = fhir_datetime(eot["DSSTDTC"]).to_numpy()
    intervention_end = np.where(treatment_end != "", treatment_end, np.where(off != "", last, ""))
    eos_decod = np.where((eos["DSDECOD"].to_numpy() == "") & died.to_numpy(), "DEATH", eos["DSDECOD"].to_numpy())
    text = joined(prefixed("Subject", dm["USUBJID"]), prefixed("in study", pd.Series(inp.studyid, index=dm.index)),
                  prefixed("arm", dm["ARM"]), prefixed("consent", dm["RFICDTC"]),
                  prefixed("first dose", dm["RFXSTDTC"]), prefixed("last dose", dm["RFXENDTC"]),
                  prefixed("end of treatment:", eot["DSDECOD"]), prefixed("end of study:", pd.Series(eos_decod, index=dm.index)),
                  sep=", ")
    columns = zip(
        narratives(text), dm["USUBJID"], _milestones(ds, dm["USUBJID"]), consent, first, intervention_end, treatment_end,
        eot["DSDECOD"], eot["DSTERM"], off, eos_decod, eos["DSTERM"], _arm(dm["ARMCD"]), _arm(dm["ACTARMCD"]),
    )
    return [
        prune({
            "resourceType": "ResearchSubject",
            "id": resource_id("ResearchSubject", usubjid),
            "text": text_of,
            "identifier": [identifier(system(inp, SYSTEM_USUBJID), usubjid, use="official")],
            "status": "active",
            "progress": milestones + [
                {"type": ENROLLMENT, "subjectState": STATES["on-study"],
                 "reason": concept(_REASONS["informedConsentSigned"]), "startDate": signed,
                 "endDate": dosed or left} if signed else None,
                {"type": ENROLLMENT, "subjectState": STATES["on-study-intervention"], "startDate": dosed,
                 "endDate": stopped} if dosed else None,
                {"type": ENROLLMENT, "subjectState": STATES["follow-up"],
                 "reason": _reason(eot_decod, eot_term, TREATMENT_REASONS), "startDate": eot_date,
                 "endDate": left} if dosed and eot_date else None,
                {"type": ENROLLMENT, "subjectState": STATES["off-study"],
                 "reason": _reason(end_decod, end_term, STUDY_REASONS), "startDate": left} if left else None,
            ],
            "period": {"start": signed or dosed, "end": left},
            "study": reference("ResearchStudy", inp.studyid),
            "subject": reference("Patient", usubjid),
            "assignedComparisonGroup": assigned,
            "actualComparisonGroup": actual,
        })
        for (text_of, usubjid, milestones, signed, dosed, stopped, eot_date, eot_decod, eot_term, left, end_decod,
             end_term, assigned, actual) in columns
    ]


# ------------------------------------------------------------------------------------------ R4
def current_state(resource_r5: dict, context: Mapping[str, Any]) -> str:
    """R4 status: the subject's last enrolment state (R5 progress), on-study when none is known."""
    states = [p["subjectState"]["coding"][0]["code"] for p in resource_r5.get("progress", [])
              if p.get("type") == ENROLLMENT and "subjectState" in p]
    return states[-1] if states else "on-study"


def _arm_name(element: str) -> Callable[[dict, Mapping[str, Any]], str | None]:
    def name(resource_r5: dict, context: Mapping[str, Any]) -> str | None:
        return context.get("arm_names", {}).get(resource_r5.get(element, ""))
    name.__name__ = f"arm_name_of_{element}"
    return name


def progress_extensions(resource_r5: dict, context: Mapping[str, Any]) -> list[dict] | None:
    """Each R5 progress entry as the R5 cross-version extension (one sub-extension per element)."""
    kinds = {"type": "valueCodeableConcept", "subjectState": "valueCodeableConcept",
             "milestone": "valueCodeableConcept", "reason": "valueCodeableConcept",
             "startDate": "valueDateTime", "endDate": "valueDateTime"}
    entries = [
        {"url": PROGRESS_EXTENSION,
         "extension": [{"url": name, kinds[name]: value} for name, value in entry.items() if name in kinds]}
        for entry in resource_r5.get("progress", [])
    ]
    return resource_r5.get("extension", []) + entries or None


R4 = R4Differences(
    recast("status", current_state),
    recast("extension", progress_extensions),
    drop("progress", "no R4 element: each entry is in the extension " + PROGRESS_EXTENSION),
    rename("subject", "individual"),
    recast("assignedComparisonGroup", _arm_name("assignedComparisonGroup")),
    rename("assignedComparisonGroup", "assignedArm"),
    recast("actualComparisonGroup", _arm_name("actualComparisonGroup")),
    rename("actualComparisonGroup", "actualArm"),
)


def arm_names(dm: pd.DataFrame) -> dict[str, str]:
    """R4 arm name (ARM / ACTARM) by R5 comparison group link id."""
    pairs = pd.concat([pd.DataFrame({"code": _arm(dm["ARMCD"]), "name": dm["ARM"]}),
                       pd.DataFrame({"code": _arm(dm["ACTARMCD"]), "name": dm["ACTARM"]})])
    pairs = pairs.loc[pairs["code"] != ""].drop_duplicates("code")
    return dict(zip(pairs["code"], pairs["name"]))


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    if release == "R5":
        return resources
    context = {"arm_names": arm_names(sdtm_columns(inp, "DM", DM_CHAR))}
    return [to_r4(r, R4, context) for r in resources]


def unplaced(inp: FhirInput, release: str) -> list[Finding]:
    """Nothing of DM/DS used here is left out in either release (R4 keeps progress in an extension)."""
    return []
