"""Registry record (ClinicalTrials.gov API v2) -> ResearchStudy, referencing the Organization, Location,
Practitioner(Role) and Group resources of the sibling modules.

R5 rules (registry path -> element; HL7's own ClinicalTrials.gov mapping in the R5 ResearchStudy
StructureDefinition where it gives one):
- identifier: the NCT number (SYSTEM_NCT, use official; first, so the bundle's conditional create uses
  it), the sponsor's study id (assigner: the registering organisation), each secondary id (type and
  issuing domain kept), and the SDTM STUDYID;
- title: `briefTitle` (HL7 maps Brief Title to title); label: `officialTitle` (title-type official) and
  `acronym` (title-type acronym);
- relatedArtifact: the registry page (derived-from), literature references (citation, PubMed link),
  see-also links, available IPD documents and the links of the study ids (documentation);
- date: last update posted; status: `active` (the publication status of this record, not of the study);
- primaryPurposeType, phase: research-study-prim-purp-type / research-study-phase codes;
- studyDesign: study type, allocation, intervention/observational model, masking, time perspective... as
  SEVCO (study-design) codes where one means the same, text otherwise ("Masking: None (Open Label)");
- focus: each intervention, coded RxNorm + ATC + UNII as the study declares them (StudyInfo.treatments) and
  its MeSH descriptor, referencing the Medication when EX gives the drug; condition: each condition,
  coded MeSH (the record's) + SNOMED CT (the study spec's conditions.csv) when stated;
- keyword: the sponsor's keywords, then the MeSH terms the registry derived (condition ancestors,
  intervention terms and ancestors) coded MeSH where the record gives the descriptor id;
- region: the sites' countries (ISO 3166 code from DM when known); descriptionSummary / description:
  brief summary / detailed description; period: study start .. study completion; site: each Location;
- note: each intervention (type, name, other names, arm groups, description), the registry's record
  dates, the IPD sharing statement, an old-style responsible party;
- classifier: oversight and registry flags (FDA-regulated drug/device coded, others as text);
- associatedParty: lead sponsor (lead-sponsor), the responsible party (sponsor, primary-investigator or
  sponsor-investigator, classifier "Responsible party"), collaborators, officials (primary-investigator,
  study-chair, study-director, sub-investigator -> PractitionerRole), central contacts
  (recruitment-contact -> Practitioner);
- progressStatus: the overall status (research-study-status), the overall study period (overall-study,
  actual when completion is ACTUAL), the study start when its date is typed ACTUAL/ESTIMATED, and the
  primary completion (these two as text: research-study-status has no code for them);
- whyStopped; recruitment: target (ESTIMATED) or actual (ACTUAL) number, eligibility -> Group;
- comparisonGroup: each arm group, linkId = DM ARMCD, name = DM ARM (the registry label), type
  research-study-arm-type, description + its interventions; outcomeMeasure: each primary, secondary and
  other outcome (type primary / secondary / exploratory), description + "Time frame: ...".
R4 (`R4`, the one table at the end): status from the current state (research-study-status, required),
category = studyDesign + classifier, focus = the concepts, contact = recruitment contacts, location =
region, description = brief summary + detailed description, enrollment = the eligibility Group, sponsor =
lead sponsor, principalInvestigator = first principal investigator, reasonStopped = whyStopped, arm =
comparisonGroup (name, type, description), objective = outcome measure name and type; R5 core code
systems move to their HL7 Terminology URLs. What R4 cannot hold natively (labels, date, other parties,
progress states, recruitment numbers, whole outcome measures) goes into the R5 cross-version extensions
(`registry.xver`); the elements are then put in R4 element order.

The elements are built by `research_study_design` (identity, design, subject matter),
`research_study_parties` (notes, parties, progress, arms, outcomes) and `research_study_r4` (the R4 table).
"""
from __future__ import annotations

from trialbridge.mappings.fhir.common import (
    FhirInput,
    concept,
    describe,
    narrative,
    prune,
    reference,
    resource_id,
    with_text,
)
from trialbridge.mappings.fhir.r4_differences import to_r4
from trialbridge.mappings.fhir.registry import in_order, module, sites
from trialbridge.mappings.fhir.registry_placement import unplaced_fields
from trialbridge.mappings.fhir.research_study_design import (
    classifiers, conditions, focus, identifiers, keywords, labels, phase, primary_purpose, regions,
    related_artifacts, study_design,
)
from trialbridge.mappings.fhir.research_study_parties import (
    associated_parties, comparison_groups, notes, outcome_measures, progress, recruitment,
)
from trialbridge.mappings.fhir.research_study_r4 import ELEMENTS_R4, R4, r4_context
from trialbridge.schemas.findings import Finding


def study_key(inp: FhirInput) -> tuple[str, ...]:
    return (inp.studyid,)


def build_r5(inp: FhirInput) -> list[dict]:
    """The R5 resources, each with its generated narrative."""
    return [with_text(r, narrative(describe(r))) for r in _resources_r5(inp)]


def _resources_r5(inp: FhirInput) -> list[dict]:
    record = inp.registry
    status = module(record, "statusModule")
    descriptions = module(record, "descriptionModule")
    return [prune({
        "resourceType": "ResearchStudy",
        "id": resource_id("ResearchStudy", *study_key(inp)),
        "identifier": identifiers(inp),
        "title": module(record, "identificationModule").get("briefTitle"),
        "label": labels(inp),
        "relatedArtifact": related_artifacts(inp),
        "date": status.get("lastUpdatePostDateStruct", {}).get("date"),
        "status": "active",
        "primaryPurposeType": primary_purpose(inp),
        "phase": phase(inp),
        "studyDesign": study_design(inp),
        "focus": focus(inp),
        "condition": conditions(inp),
        "keyword": keywords(inp),
        "region": regions(inp),
        "descriptionSummary": descriptions.get("briefSummary"),
        "description": descriptions.get("detailedDescription"),
        "period": {"start": status.get("startDateStruct", {}).get("date"),
                   "end": status.get("completionDateStruct", {}).get("date")},
        "site": [reference("Location", *site.key, display=site.name) for site in sites(inp)],
        "note": notes(inp),
        "classifier": classifiers(inp),
        "associatedParty": associated_parties(inp),
        "progressStatus": progress(inp),
        "whyStopped": concept(text=str(status["whyStopped"])) if status.get("whyStopped") else None,
        "recruitment": recruitment(inp),
        "comparisonGroup": comparison_groups(inp),
        "outcomeMeasure": outcome_measures(inp),
    })]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    if release == "R5":
        return resources
    context = r4_context(inp)
    return [in_order(prune(to_r4(r, R4, context)), ELEMENTS_R4) for r in resources]


def unplaced(inp: FhirInput, release: str) -> list[Finding]:
    """Every registry field no resource of `release` holds (info findings, one per field pattern)."""
    return unplaced_fields(inp.registry, release)
