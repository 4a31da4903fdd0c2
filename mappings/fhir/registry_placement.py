"""Where each registry field goes in FHIR, release by release, and the list of fields that go nowhere.

`PLACEMENTS` is the reviewable account of the registry mappings (research_study, organization,
location, practitioner, group): one line per registry field (a JSON path whose list positions are `[*]`;
a path also covers everything under it) with the FHIR element that holds it in R5 and in R4 (`SAME` when
R4 uses the same element; alternatives separated by `|`), or why it is held nowhere. `unplaced_fields`
walks every scalar of a record and reports, once per field, those that no element of the release holds:
a field of the line `left_out`, a field R4 cannot hold, or a field the table does not know (a newer API
field): nothing the record holds disappears without a finding. The tests check the table against the
built resources: each field present in a record has its element present in the output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trialbridge.mappings.fhir.registry import leaves, pattern
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import REGISTRY_FILE

SAME = "="
UNKNOWN_FIELD = "no FHIR element is mapped for this registry field (a field this mapping does not know)"
MAX_VALUES = 5  # values quoted per finding
MAX_VALUE_LENGTH = 80


@dataclass(frozen=True)
class Placement:
    source: str  # registry path, list positions as [*]; covers the fields under it
    r5: str | None  # FHIR element(s) in R5 ("A|B": either), None: not placed
    r4: str | None = SAME  # in R4: SAME, another element, or None: not placed
    why: str = ""  # why not placed (in the release(s) where it is not)

    def target(self, release: str) -> str | None:
        return self.r5 if release == "R5" or self.r4 == SAME else self.r4


def place(source: str, r5: str, r4: str | None = SAME, why: str = "") -> Placement:
    return Placement(source, r5, r4, why)


def left_out(source: str, why: str) -> Placement:
    return Placement(source, None, None, why)


P, I, S, D = "protocolSection.", "protocolSection.identificationModule.", "protocolSection.statusModule.", \
    "derivedSection."
EXT = "ResearchStudy.extension"  # R4: an R5 cross-version extension (registry.xver)
NO_NAME_R4 = ("R4 Location has no contact: the site contact's name and role have no R4 element (phone and e-mail "
              "go to Location.telecom)")
BROWSE = ("ClinicalTrials.gov's browse index (M-ids, relevance, branches) built from MeSH for its own search pages; "
          "the MeSH terms themselves are placed (condition, focus, keyword)")

PLACEMENTS: tuple[Placement, ...] = (
    # identification
    place(I + "nctId", "ResearchStudy.identifier"),
    place(I + "orgStudyIdInfo.id", "ResearchStudy.identifier"),
    place(I + "orgStudyIdInfo.type", "ResearchStudy.identifier"),
    place(I + "orgStudyIdInfo.link", "ResearchStudy.relatedArtifact"),
    place(I + "secondaryIdInfos[*].id", "ResearchStudy.identifier"),
    place(I + "secondaryIdInfos[*].type", "ResearchStudy.identifier"),
    place(I + "secondaryIdInfos[*].domain", "ResearchStudy.identifier"),
    place(I + "secondaryIdInfos[*].link", "ResearchStudy.relatedArtifact"),
    place(I + "organization.fullName", "Organization.name"),
    place(I + "organization.class", "Organization.type"),
    place(I + "briefTitle", "ResearchStudy.title"),
    place(I + "officialTitle", "ResearchStudy.label", EXT),
    place(I + "acronym", "ResearchStudy.label", EXT),
    # status
    place(S + "statusVerifiedDate", "ResearchStudy.note"),
    place(S + "overallStatus", "ResearchStudy.progressStatus", "ResearchStudy.status"),
    place(S + "lastKnownStatus", "ResearchStudy.progressStatus", "ResearchStudy.status"),
    place(S + "delayedPosting", "ResearchStudy.classifier", "ResearchStudy.category"),
    place(S + "whyStopped", "ResearchStudy.whyStopped", "ResearchStudy.reasonStopped"),
    place(S + "expandedAccessInfo", "ResearchStudy.classifier", "ResearchStudy.category"),
    place(S + "startDateStruct.date", "ResearchStudy.period"),
    place(S + "startDateStruct.type", "ResearchStudy.progressStatus", EXT),
    place(S + "primaryCompletionDateStruct", "ResearchStudy.progressStatus", EXT),
    place(S + "completionDateStruct.date", "ResearchStudy.period"),
    place(S + "completionDateStruct.type", "ResearchStudy.progressStatus", EXT),
    *[place(S + key, "ResearchStudy.note") for key in (
        "studyFirstSubmitDate", "studyFirstSubmitQcDate", "studyFirstPostDateStruct", "resultsFirstSubmitDate",
        "resultsFirstSubmitQcDate", "resultsFirstPostDateStruct", "dispFirstSubmitDate", "dispFirstSubmitQcDate",
        "dispFirstPostDateStruct", "lastUpdateSubmitDate", "lastUpdatePostDateStruct")],
    # sponsor, collaborators, responsible party
    place(P + "sponsorCollaboratorsModule.leadSponsor.name", "Organization.name"),
    place(P + "sponsorCollaboratorsModule.leadSponsor.class", "Organization.type"),
    place(P + "sponsorCollaboratorsModule.collaborators[*].name", "Organization.name"),
    place(P + "sponsorCollaboratorsModule.collaborators[*].class", "Organization.type"),
    place(P + "sponsorCollaboratorsModule.responsibleParty.type", "ResearchStudy.associatedParty", EXT),
    place(P + "sponsorCollaboratorsModule.responsibleParty.investigatorFullName", "Practitioner.name"),
    place(P + "sponsorCollaboratorsModule.responsibleParty.investigatorTitle", "PractitionerRole.code"),
    place(P + "sponsorCollaboratorsModule.responsibleParty.investigatorAffiliation", "Organization.name"),
    place(P + "sponsorCollaboratorsModule.responsibleParty.oldNameTitle", "ResearchStudy.note"),
    place(P + "sponsorCollaboratorsModule.responsibleParty.oldOrganization", "ResearchStudy.note"),
    place(P + "oversightModule", "ResearchStudy.classifier", "ResearchStudy.category"),
    # description, conditions, design
    place(P + "descriptionModule.briefSummary", "ResearchStudy.descriptionSummary", "ResearchStudy.description"),
    place(P + "descriptionModule.detailedDescription", "ResearchStudy.description"),
    place(P + "conditionsModule.conditions", "ResearchStudy.condition"),
    place(P + "conditionsModule.keywords", "ResearchStudy.keyword"),
    place(P + "designModule.phases", "ResearchStudy.phase"),
    place(P + "designModule.designInfo.primaryPurpose", "ResearchStudy.primaryPurposeType"),
    *[place(P + "designModule." + key, "ResearchStudy.studyDesign", "ResearchStudy.category") for key in (
        "studyType", "patientRegistry", "targetDuration", "designInfo", "bioSpec", "expandedAccessTypes",
        "nPtrsToThisExpAccNctId")],
    place(P + "designModule.enrollmentInfo", "ResearchStudy.recruitment", EXT),
    # arms and interventions
    *[place(P + f"armsInterventionsModule.armGroups[*].{key}", "ResearchStudy.comparisonGroup", "ResearchStudy.arm")
      for key in ("label", "type", "description", "interventionNames")],
    place(P + "armsInterventionsModule.interventions[*].name", "ResearchStudy.focus"),
    place(P + "armsInterventionsModule.interventions", "ResearchStudy.note"),
    # outcomes: R4 objective has name and type only; the description and time frame ride in the extension
    *[place(P + f"outcomesModule.{key}[*].measure", "ResearchStudy.outcomeMeasure", "ResearchStudy.objective")
      for key in ("primaryOutcomes", "secondaryOutcomes", "otherOutcomes")],
    place(P + "outcomesModule", "ResearchStudy.outcomeMeasure", EXT),
    # eligibility -> Group
    place(P + "eligibilityModule.minimumAge", "Group.characteristic"),
    place(P + "eligibilityModule.maximumAge", "Group.characteristic"),
    place(P + "eligibilityModule.sex", "Group.characteristic"),
    place(P + "eligibilityModule.healthyVolunteers", "Group.characteristic"),
    place(P + "eligibilityModule", "Group.description", "Group.extension"),
    # contacts and locations
    place(P + "contactsLocationsModule.centralContacts", "ResearchStudy.associatedParty", "ResearchStudy.contact"),
    place(P + "contactsLocationsModule.overallOfficials[*].name", "Practitioner.name"),
    place(P + "contactsLocationsModule.overallOfficials[*].role", "ResearchStudy.associatedParty",
          "ResearchStudy.principalInvestigator|ResearchStudy.extension"),
    place(P + "contactsLocationsModule.overallOfficials[*].affiliation", "Organization.name"),
    place(P + "contactsLocationsModule.locations[*].facility", "Location.name"),
    place(P + "contactsLocationsModule.locations[*].status", "Location.description"),
    *[place(P + f"contactsLocationsModule.locations[*].{key}", "Location.address")
      for key in ("city", "state", "zip")],
    place(P + "contactsLocationsModule.locations[*].country", "Location.address|ResearchStudy.region",
          "Location.address|ResearchStudy.location"),
    place(P + "contactsLocationsModule.locations[*].geoPoint", "Location.position"),
    place(P + "contactsLocationsModule.locations[*].contacts[*].name", "Location.contact", None, NO_NAME_R4),
    place(P + "contactsLocationsModule.locations[*].contacts[*].role", "Location.contact", None, NO_NAME_R4),
    place(P + "contactsLocationsModule.locations[*].contacts", "Location.contact", "Location.telecom"),
    # references, IPD
    place(P + "referencesModule.references[*].pmid", "ResearchStudy.relatedArtifact"),
    place(P + "referencesModule.references[*].type", "ResearchStudy.relatedArtifact"),
    place(P + "referencesModule.references[*].citation", "ResearchStudy.relatedArtifact"),
    left_out(P + "referencesModule.references[*].retractions",
             "retraction notices of a cited paper: RelatedArtifact has no element for them"),
    place(P + "referencesModule.seeLinks", "ResearchStudy.relatedArtifact"),
    place(P + "referencesModule.availIpds", "ResearchStudy.relatedArtifact"),
    place(P + "ipdSharingStatementModule", "ResearchStudy.note"),
    # derived by ClinicalTrials.gov
    place(D + "conditionBrowseModule.meshes", "ResearchStudy.condition"),
    place(D + "conditionBrowseModule.ancestors", "ResearchStudy.keyword"),
    left_out(D + "conditionBrowseModule.browseLeaves", BROWSE),
    left_out(D + "conditionBrowseModule.browseBranches", BROWSE),
    place(D + "interventionBrowseModule.meshes", "ResearchStudy.focus|ResearchStudy.keyword"),
    place(D + "interventionBrowseModule.ancestors", "ResearchStudy.keyword"),
    left_out(D + "interventionBrowseModule.browseLeaves", BROWSE),
    left_out(D + "interventionBrowseModule.browseBranches", BROWSE),
    left_out(D + "miscInfoModule.versionHolder",
             "the date of the ClinicalTrials.gov data release the copy was taken from: a fact about the copy, "
             "not about the study"),
    left_out(D + "miscInfoModule.modelPredictions",
             "values predicted by ClinicalTrials.gov's models (e.g. BMI limits read from the criteria), not "
             "registered facts; the criteria text itself is in the eligibility Group"),
    place(D + "miscInfoModule.removedCountries", "ResearchStudy.note"),
    left_out(D + "miscInfoModule.submissionTracking",
             "ClinicalTrials.gov's processing history of results submissions"),
    place("hasResults", "ResearchStudy.classifier", "ResearchStudy.category"),
    left_out("resultsSection", "study results: ResearchStudy.result would need EvidenceReport/Citation "
                               "resources, outside this mapping"),
    left_out("annotationSection",
             "ClinicalTrials.gov's own annotations (e.g. FDAAA 801 violations), not study facts"),
    left_out("documentSection", "the record's uploaded documents (protocol, SAP, ICF): not converted"),
)


def placement(field: str) -> Placement | None:
    """The most specific line of the table for a field pattern, None when the table does not know it."""
    matches = [p for p in PLACEMENTS if field == p.source or field.startswith(p.source + ".")
               or field.startswith(p.source + "[")]
    return max(matches, key=lambda p: len(p.source)) if matches else None


def field_values(record: dict) -> dict[str, list[Any]]:
    """Every field pattern of the record with its values, in record order."""
    found: dict[str, list[Any]] = {}
    for path, value in leaves(record):
        found.setdefault(pattern(path), []).append(value)
    return found


def unplaced_fields(record: dict, release: str) -> list[Finding]:
    """One info finding per registry field that no element of `release` holds, with the reason."""
    out = []
    for field, values in field_values(record).items():
        line = placement(field)
        if line is not None and line.target(release):
            continue
        reason = line.why if line is not None else UNKNOWN_FIELD
        shown = [str(v)[:MAX_VALUE_LENGTH] for v in values[:MAX_VALUES]]
        out.append(finding("FHIR-REGISTRY-UNPLACED", f"{REGISTRY_FILE}:{field}", shown, field=field,
                           release=release, count=len(values), reason=reason))
    return out
