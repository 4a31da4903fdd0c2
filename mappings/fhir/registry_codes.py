"""ClinicalTrials.gov API v2 enumerations -> FHIR codes, for the registry-built resources, and the move of
R5 core code systems to the URLs R4 knows.

Sources: the R5 core value sets bound to ResearchStudy (hl7.fhir.r5.core 5.0.0: research-study-status,
-phase, -prim-purp-type, -arm-type, -objective-type, -party-role, -party-organization-type,
-classifiers, title-type, study-design = SEVCO), their R4 homes in HL7 Terminology (hl7.terminology.r4
7.0.1, `http://terminology.hl7.org/CodeSystem/...`), and the R4 required value set research-study-status
(hl7.fhir.r4.core 4.0.1, 11 codes). A registry value with no table entry keeps its text only.
"""
from __future__ import annotations

from typing import Any

R5CS = "http://hl7.org/fhir/"  # R5 core code systems (the systems of the R5 value sets)
R4CS = "http://terminology.hl7.org/CodeSystem/"  # their R4 home (HL7 Terminology)
THO_SYSTEMS = frozenset({"research-study-objective-type", "research-study-party-role", "research-study-phase",
                         "research-study-prim-purp-type", "research-study-reason-stopped", "research-study-status",
                         "title-type"})  # the R5 core code systems THO 7.0.1 also publishes
THO_MISSING = frozenset({("research-study-party-role", "study-director")})
THO_PARTY_ROLES = {"sponsor": "Sponsor", "lead-sponsor": "Lead sponsor",
                   "sponsor-investigator": "Sponsor-investigator",
                   "primary-investigator": "Principal investigator", "collaborator": "Collaborator",
                   "recruitment-contact": "Recruitment contact", "sub-investigator": "Sub-investigator",
                   "study-chair": "Study chair"}  # THO displays (the R5 CodeSystem's display is the code)

PURPOSES = {"TREATMENT": ("treatment", "Treatment"), "PREVENTION": ("prevention", "Prevention"),
            "DIAGNOSTIC": ("diagnostic", "Diagnostic"), "SUPPORTIVE_CARE": ("supportive-care", "Supportive Care"),
            "SCREENING": ("screening", "Screening"),
            "HEALTH_SERVICES_RESEARCH": ("health-services-research", "Health Services Research"),
            "BASIC_SCIENCE": ("basic-science", "Basic Science"),
            "DEVICE_FEASIBILITY": ("device-feasibility", "Device Feasibility")}
PHASES = {("NA",): ("n-a", "N/A"), ("EARLY_PHASE1",): ("early-phase-1", "Early Phase 1"),
          ("PHASE1",): ("phase-1", "Phase 1"), ("PHASE1", "PHASE2"): ("phase-1-phase-2", "Phase 1/Phase 2"),
          ("PHASE2",): ("phase-2", "Phase 2"), ("PHASE2", "PHASE3"): ("phase-2-phase-3", "Phase 2/Phase 3"),
          ("PHASE3",): ("phase-3", "Phase 3"), ("PHASE4",): ("phase-4", "Phase 4")}
# ClinicalTrials.gov overall status -> R5 research-study-status (ProgressStatus.state).
STATES = {"NOT_YET_RECRUITING": ("not-yet-recruiting", "Not yet recruiting"),
          "RECRUITING": ("recruiting", "Recruiting"),
          "ENROLLING_BY_INVITATION": ("enrolling-by-invitation", "Enrolling by invitation"),
          "ACTIVE_NOT_RECRUITING": ("active-but-not-recruiting", "Active, not recruiting"),
          "SUSPENDED": ("temporarily-closed-to-accrual", "Temporarily Closed to Accrual"),
          "TERMINATED": ("terminated", "Terminated"), "COMPLETED": ("completed", "Completed"),
          "WITHDRAWN": ("withdrawn", "Withdrawn"), "AVAILABLE": ("active", "Active"),
          "NO_LONGER_AVAILABLE": ("closed-to-accrual", "Closed to Accrual"),
          "TEMPORARILY_NOT_AVAILABLE": ("temporarily-closed-to-accrual", "Temporarily Closed to Accrual"),
          "APPROVED_FOR_MARKETING": ("closed-to-accrual", "Closed to Accrual"),
          "WITHHELD": ("closed-to-accrual", "Closed to Accrual")}
# R5 state -> R4 ResearchStudy.status (required binding research-study-status, 11 codes).
R4_STATUS = {"not-yet-recruiting": "approved", "recruiting": "active", "enrolling-by-invitation": "active",
             "active-but-not-recruiting": "closed-to-accrual", "terminated": "administratively-completed"}
R4_STATUS_UNKNOWN = "active"  # an UNKNOWN status without a last known one: R4 requires a status
ARM_TYPES = {"EXPERIMENTAL": ("experimental", "Experimental"),
             "ACTIVE_COMPARATOR": ("active-comparator", "Active Comparator"),
             "PLACEBO_COMPARATOR": ("placebo-comparator", "Placebo Comparator"),
             "SHAM_COMPARATOR": ("sham-comparator", "Sham Comparator"),
             "NO_INTERVENTION": ("no-intervention", "No Intervention"), "OTHER": ("other-arm-type", "Other Arm Type")}
OUTCOMES = (("primaryOutcomes", "primary", "Primary"), ("secondaryOutcomes", "secondary", "Secondary"),
            ("otherOutcomes", "exploratory", "Exploratory"))
OFFICIAL_ROLES = {"PRINCIPAL_INVESTIGATOR": "primary-investigator", "STUDY_CHAIR": "study-chair",
                  "STUDY_DIRECTOR": "study-director", "SUB_INVESTIGATOR": "sub-investigator"}
RESPONSIBLE_ROLES = {"SPONSOR": "sponsor", "PRINCIPAL_INVESTIGATOR": "primary-investigator",
                     "SPONSOR_INVESTIGATOR": "sponsor-investigator"}
PARTY_ORGANIZATION_TYPES = {"NIH": ("nih", "NIH"), "FED": ("government", "Government"),
                            "OTHER_GOV": ("government", "Government"), "INDUSTRY": ("industry", "Industry")}
# SEVCO study-design codes (R5 CodeSystem http://hl7.org/fhir/study-design) for registry design values.
SEVCO = {
    ("studyType", "INTERVENTIONAL"): ("SEVCO:01001", "Interventional research"),
    ("studyType", "OBSERVATIONAL"): ("SEVCO:01002", "Observational research"),
    ("studyType", "EXPANDED_ACCESS"): ("SEVCO:01038", "Expanded Access study"),
    ("allocation", "RANDOMIZED"): ("SEVCO:01003", "randomized assignment"),
    ("allocation", "NON_RANDOMIZED"): ("SEVCO:01005", "Non-randomized assignment"),
    ("interventionModel", "SINGLE_GROUP"): ("SEVCO:01016", "Uncontrolled cohort design"),
    ("interventionModel", "PARALLEL"): ("SEVCO:01011", "Parallel cohort design"),
    ("interventionModel", "CROSSOVER"): ("SEVCO:01012", "Crossover cohort design"),
    ("observationalModel", "CASE_CONTROL"): ("SEVCO:01013", "Case control design"),
    ("observationalModel", "FAMILY_BASED"): ("SEVCO:01020", "Family study design"),
    ("observationalModel", "ECOLOGIC_OR_COMMUNITY"): ("SEVCO:01044", "Ecological design"),
    ("timePerspective", "CROSS_SECTIONAL"): ("SEVCO:01027", "Cross sectional data collection"),
    ("whoMasked", "PARTICIPANT"): ("SEVCO:01060", "Blinding of study participants"),
    ("whoMasked", "CARE_PROVIDER"): ("SEVCO:01061", "Blinding of intervention providers"),
    ("whoMasked", "OUTCOMES_ASSESSOR"): ("SEVCO:01062", "Blinding of outcome assessors"),
}
MASKING_TEXT = {"NONE": "None (Open Label)"}
CLASSIFIERS = {"isFdaRegulatedDrug": ("fda-regulated-drug", "FDA regulated drug"),
               "isFdaRegulatedDevice": ("fda-regulated-device", "FDA regulated device")}
FLAG_LABELS = {"oversightHasDmc": "Data monitoring committee", "isFdaRegulatedDrug": "FDA-regulated drug",
               "isFdaRegulatedDevice": "FDA-regulated device", "isUnapprovedDevice": "Unapproved device",
               "isPpsd": "Pediatric postmarket surveillance of a device", "isUsExport": "Exported from the U.S.",
               "fdaaa801Violation": "FDAAA 801 violation", "hasExpandedAccess": "Expanded access available",
               "delayedPosting": "Delayed posting", "hasResults": "Has results"}
RECORD_DATES = (("statusVerifiedDate", "Status verified"), ("studyFirstSubmitDate", "First submitted"),
                ("studyFirstSubmitQcDate", "First submitted that met QC criteria"),
                ("studyFirstPostDateStruct", "First posted"), ("resultsFirstSubmitDate", "Results first submitted"),
                ("resultsFirstSubmitQcDate", "Results first submitted that met QC criteria"),
                ("resultsFirstPostDateStruct", "Results first posted"),
                ("dispFirstSubmitDate", "Certification/extension first submitted"),
                ("dispFirstSubmitQcDate", "Certification/extension first submitted that met QC criteria"),
                ("dispFirstPostDateStruct", "Certification/extension first posted"),
                ("lastUpdateSubmitDate", "Last update submitted"), ("lastUpdatePostDateStruct", "Last update posted"))


def r4_codes(value: Any) -> Any:
    """The value with the R5 core code systems that HL7 Terminology also holds moved to their THO URL,
    the one R4 knows (a code THO lacks, such as party role study-director, keeps its R5 system)."""
    if isinstance(value, list):
        return [r4_codes(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: r4_codes(v) for k, v in value.items()}
    system = str(value.get("system", ""))
    name = system[len(R5CS):] if system.startswith(R5CS) else ""
    if name in THO_SYSTEMS and (name, value.get("code")) not in THO_MISSING:
        out["system"] = R4CS + name
        if name == "research-study-party-role" and "display" in out:
            out["display"] = THO_PARTY_ROLES.get(str(value.get("code")), out["display"])
    return out
