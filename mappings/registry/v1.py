"""Classic ClinicalTrials.gov API JSON (v1, `FullStudiesResponse` / `Study` with a PascalCase
`ProtocolSection`) -> the API v2 record (`protocolSection` / `derivedSection` dict) the rest of the code reads.

v1 wraps every list in an object (`ConditionList.Condition`), prefixes the fields of an item with its
name (`ArmGroupLabel`), writes enumerations as display text ("Phase 1", "Active, not recruiting") and
dates as "July 2001"; v2 does none of that. Each module is converted by one function, one line per
field. The results, annotation and document sections are not converted (no output of the registry
command carries them): the caller reports them.
"""
from __future__ import annotations

from typing import Any

from trialbridge.mappings.registry.common import (
    Problem, age, enum, integer, iso_date, phases, prune, value_at, yes_no,
)

RESULTS_SECTIONS = ("ResultsSection", "AnnotationSection", "DocumentSection")


def items(node: Any, path: str) -> list:
    """A v1 list (`XList.X`), always a list."""
    found = value_at(node, path, [])
    return found if isinstance(found, list) else [found]


def _enum(kind: str, value: Any, path: str, problem: Problem) -> str | None:
    if value in (None, ""):
        return None
    found = enum(kind, value)
    if found is None:
        problem(path, str(value), f"a ClinicalTrials.gov {kind.replace('_', ' ')} value")
    return found


def _date(value: Any, path: str, problem: Problem) -> str | None:
    if value in (None, ""):
        return None
    found = iso_date(value)
    if found is None:
        problem(path, str(value), "a date such as 'July 2001' or 'September 13, 2001'")
    return found


def _struct(module: dict, name: str, problem: Problem) -> dict:
    """`StartDateStruct {StartDate, StartDateType}` -> `startDateStruct {date, type}`."""
    struct = module.get(f"{name}Struct", {})
    return {"date": _date(struct.get(name), f"{name}Struct.{name}", problem),
            "type": enum("date_type", struct.get(f"{name}Type", ""))}


def _identification(m: dict) -> dict:
    return {
        "nctId": m.get("NCTId", ""),
        "nctIdAliases": items(m, "NCTIdAliasList.NCTIdAlias"),
        "orgStudyIdInfo": {"id": value_at(m, "OrgStudyIdInfo.OrgStudyId", ""),
                           "type": enum("secondary_id_type", value_at(m, "OrgStudyIdInfo.OrgStudyIdType", "")),
                           "link": value_at(m, "OrgStudyIdInfo.OrgStudyIdLink", "")},
        "secondaryIdInfos": [{"id": s.get("SecondaryId", ""), "type": enum("secondary_id_type", s.get("SecondaryIdType", "")),
                              "domain": s.get("SecondaryIdDomain", ""), "link": s.get("SecondaryIdLink", "")}
                             for s in items(m, "SecondaryIdInfoList.SecondaryIdInfo")],
        "organization": {"fullName": value_at(m, "Organization.OrgFullName", ""), "class": enum("agency_class", value_at(m, "Organization.OrgClass", ""))},
        "briefTitle": m.get("BriefTitle", ""),
        "officialTitle": m.get("OfficialTitle", ""),
        "acronym": m.get("Acronym", ""),
    }


def _status(m: dict, problem: Problem) -> dict:
    access = m.get("ExpandedAccessInfo", {})
    return {
        "statusVerifiedDate": _date(m.get("StatusVerifiedDate"), "StatusVerifiedDate", problem),
        "overallStatus": _enum("status", m.get("OverallStatus"), "StatusModule.OverallStatus", problem),
        "lastKnownStatus": _enum("status", m.get("LastKnownStatus"), "StatusModule.LastKnownStatus", problem),
        "delayedPosting": yes_no(m["DelayedPosting"]) if m.get("DelayedPosting") else None,
        "whyStopped": m.get("WhyStopped", ""),
        "expandedAccessInfo": {"hasExpandedAccess": yes_no(access.get("HasExpandedAccess", "")),
                               "nctId": access.get("ExpandedAccessNCTId", ""),
                               "statusForNctId": enum("status", access.get("ExpandedAccessStatusForNCTId", ""))},
        "startDateStruct": _struct(m, "StartDate", problem),
        "primaryCompletionDateStruct": _struct(m, "PrimaryCompletionDate", problem),
        "completionDateStruct": _struct(m, "CompletionDate", problem),
        "studyFirstSubmitDate": _date(m.get("StudyFirstSubmitDate"), "StudyFirstSubmitDate", problem),
        "studyFirstSubmitQcDate": _date(m.get("StudyFirstSubmitQCDate"), "StudyFirstSubmitQCDate", problem),
        "studyFirstPostDateStruct": _struct(m, "StudyFirstPostDate", problem),
        "resultsFirstSubmitDate": _date(m.get("ResultsFirstSubmitDate"), "ResultsFirstSubmitDate", problem),
        "resultsFirstSubmitQcDate": _date(m.get("ResultsFirstSubmitQCDate"), "ResultsFirstSubmitQCDate", problem),
        "resultsFirstPostDateStruct": _struct(m, "ResultsFirstPostDate", problem),
        "lastUpdateSubmitDate": _date(m.get("LastUpdateSubmitDate"), "LastUpdateSubmitDate", problem),
        "lastUpdatePostDateStruct": _struct(m, "LastUpdatePostDate", problem),
    }


def _sponsors(m: dict, problem: Problem) -> dict:
    party = m.get("ResponsibleParty", {})
    return {
        "responsibleParty": {
            "type": _enum("responsible_party", party.get("ResponsiblePartyType"), "ResponsiblePartyType", problem),
            "investigatorFullName": party.get("ResponsiblePartyInvestigatorFullName", ""),
            "investigatorTitle": party.get("ResponsiblePartyInvestigatorTitle", ""),
            "investigatorAffiliation": party.get("ResponsiblePartyInvestigatorAffiliation", ""),
            "oldNameTitle": party.get("ResponsiblePartyOldNameTitle", ""),
            "oldOrganization": party.get("ResponsiblePartyOldOrganization", ""),
        },
        "leadSponsor": {"name": value_at(m, "LeadSponsor.LeadSponsorName", ""),
                        "class": _enum("agency_class", value_at(m, "LeadSponsor.LeadSponsorClass"), "LeadSponsorClass", problem)},
        "collaborators": [{"name": c.get("CollaboratorName", ""),
                           "class": _enum("agency_class", c.get("CollaboratorClass"), "CollaboratorClass", problem)}
                          for c in items(m, "CollaboratorList.Collaborator")],
    }


def _oversight(m: dict) -> dict:
    return {"oversightHasDmc": yes_no(m.get("OversightHasDMC", "")), "isFdaRegulatedDrug": yes_no(m.get("IsFDARegulatedDrug", "")),
            "isFdaRegulatedDevice": yes_no(m.get("IsFDARegulatedDevice", "")),
            "isUnapprovedDevice": yes_no(m.get("IsUnapprovedDevice", "")), "isPpsd": yes_no(m.get("IsPPSD", "")),
            "isUsExport": yes_no(m.get("IsUSExport", ""))}


def _design(m: dict, problem: Problem) -> dict:
    info = m.get("DesignInfo", {})
    masking = info.get("DesignMaskingInfo", {})
    phase_list = items(m, "PhaseList.Phase")
    found_phases = [p for text in phase_list for p in (phases(text) or [])]
    if len(found_phases) < len(phase_list):
        problem("DesignModule.PhaseList.Phase", "/".join(phase_list), "phases such as 'Phase 1' or 'Not Applicable'")
    study_type = m.get("StudyType", "")
    count = integer(value_at(m, "EnrollmentInfo.EnrollmentCount", ""))
    head = str(masking.get("DesignMasking", "")).partition("(")[0]
    return {
        "studyType": _enum("study_type", study_type, "DesignModule.StudyType", problem),
        "patientRegistry": yes_no(m["PatientRegistry"]) if m.get("PatientRegistry") else None,
        "targetDuration": m.get("TargetDuration", ""),
        "phases": sorted(set(found_phases), key=found_phases.index),
        "designInfo": {
            "allocation": _enum("allocation", info.get("DesignAllocation"), "DesignAllocation", problem),
            "interventionModel": _enum("intervention_model", info.get("DesignInterventionModel"), "DesignInterventionModel", problem),
            "interventionModelDescription": info.get("DesignInterventionModelDescription", ""),
            "primaryPurpose": _enum("primary_purpose", info.get("DesignPrimaryPurpose"), "DesignPrimaryPurpose", problem),
            "observationalModel": _enum("observational_model", next(iter(items(info, "DesignObservationalModelList.DesignObservationalModel")), None),
                                        "DesignObservationalModel", problem),
            "timePerspective": _enum("time_perspective", next(iter(items(info, "DesignTimePerspectiveList.DesignTimePerspective")), None),
                                     "DesignTimePerspective", problem),
            "maskingInfo": {"masking": _enum("masking", head, "DesignMasking", problem) if head else None,
                            "maskingDescription": masking.get("DesignMaskingDescription", ""),
                            "whoMasked": [w for w in (enum("who_masked", x) for x in items(masking, "DesignWhoMaskedList.DesignWhoMasked")) if w]},
        },
        "bioSpec": {"retention": enum("retention", value_at(m, "BioSpec.BioSpecRetention", "")),
                    "description": value_at(m, "BioSpec.BioSpecDescription", "")},
        "enrollmentInfo": {"count": count, "type": enum("enrollment_type", value_at(m, "EnrollmentInfo.EnrollmentType", ""))}
        if count is not None else {},
    }


def _arms(m: dict, problem: Problem) -> dict:
    return {
        "armGroups": [{"label": g.get("ArmGroupLabel", ""),
                       "type": _enum("arm_type", g.get("ArmGroupType"), "ArmGroupType", problem),
                       "description": g.get("ArmGroupDescription", ""),
                       "interventionNames": items(g, "ArmGroupInterventionList.ArmGroupInterventionName")}
                      for g in items(m, "ArmGroupList.ArmGroup")],
        "interventions": [{"type": _enum("intervention_type", i.get("InterventionType"), "InterventionType", problem),
                           "name": i.get("InterventionName", ""), "description": i.get("InterventionDescription", ""),
                           "armGroupLabels": items(i, "InterventionArmGroupLabelList.InterventionArmGroupLabel"),
                           "otherNames": items(i, "InterventionOtherNameList.InterventionOtherName")}
                          for i in items(m, "InterventionList.Intervention")],
    }


def _outcomes(m: dict) -> dict:
    def of(kind: str) -> list[dict]:
        return [{"measure": o.get(f"{kind}OutcomeMeasure", ""), "description": o.get(f"{kind}OutcomeDescription", ""),
                 "timeFrame": o.get(f"{kind}OutcomeTimeFrame", "")} for o in items(m, f"{kind}OutcomeList.{kind}Outcome")]
    return {"primaryOutcomes": of("Primary"), "secondaryOutcomes": of("Secondary"), "otherOutcomes": of("Other")}


def _eligibility(m: dict, problem: Problem) -> dict:
    limits = {}
    for v1, v2 in (("MinimumAge", "minimumAge"), ("MaximumAge", "maximumAge")):
        value, known = age(m.get(v1))
        if not known:
            problem(f"EligibilityModule.{v1}", str(m.get(v1)), "an age such as '18 Years', '6 Months' or N/A")
        limits[v2] = value
    return {
        "eligibilityCriteria": m.get("EligibilityCriteria", ""),
        "healthyVolunteers": yes_no(m["HealthyVolunteers"]) if m.get("HealthyVolunteers") else None,
        "sex": _enum("sex", m.get("Gender"), "EligibilityModule.Gender", problem),
        "genderBased": yes_no(m["GenderBased"]) if m.get("GenderBased") else None,
        "genderDescription": m.get("GenderDescription", ""),
        **limits,
        "stdAges": [a for a in (enum("std_age", x) for x in items(m, "StdAgeList.StdAge")) if a],
        "studyPopulation": m.get("StudyPopulation", ""),
        "samplingMethod": _enum("sampling", m.get("SamplingMethod"), "SamplingMethod", problem),
    }


def _contact(c: dict, prefix: str) -> dict:
    return {"name": c.get(f"{prefix}Name", ""), "role": enum("contact_role", c.get(f"{prefix}Role", "")),
            "phone": c.get(f"{prefix}Phone", ""), "phoneExt": c.get(f"{prefix}PhoneExt", ""), "email": c.get(f"{prefix}EMail", "")}


def _contacts(m: dict, problem: Problem) -> dict:
    return {
        "centralContacts": [_contact(c, "CentralContact") for c in items(m, "CentralContactList.CentralContact")],
        "overallOfficials": [{"name": o.get("OverallOfficialName", ""), "affiliation": o.get("OverallOfficialAffiliation", ""),
                              "role": _enum("official_role", o.get("OverallOfficialRole"), "OverallOfficialRole", problem)}
                             for o in items(m, "OverallOfficialList.OverallOfficial")],
        "locations": [{"facility": loc.get("LocationFacility", ""),
                       "status": _enum("status", loc.get("LocationStatus"), "LocationStatus", problem),
                       "city": loc.get("LocationCity", ""), "state": loc.get("LocationState", ""),
                       "zip": loc.get("LocationZip", ""), "country": loc.get("LocationCountry", ""),
                       "contacts": [_contact(c, "LocationContact") for c in items(loc, "LocationContactList.LocationContact")]}
                      for loc in items(m, "LocationList.Location")],
    }


def _references(m: dict) -> dict:
    return {
        "references": [{"pmid": r.get("ReferencePMID", "") if str(r.get("ReferencePMID", "")).isdigit() else "",
                        "type": enum("reference_type", r.get("ReferenceType", "")), "citation": r.get("ReferenceCitation", "")}
                       for r in items(m, "ReferenceList.Reference")],
        "seeAlsoLinks": [{"label": s.get("SeeAlsoLinkLabel", ""), "url": s.get("SeeAlsoLinkURL", "")}
                         for s in items(m, "SeeAlsoLinkList.SeeAlsoLink")],
        "availIpds": [{"id": a.get("AvailIPDId", ""), "type": a.get("AvailIPDType", ""), "url": a.get("AvailIPDURL", ""),
                       "comment": a.get("AvailIPDComment", "")} for a in items(m, "AvailIPDList.AvailIPD")],
    }


def _ipd(m: dict) -> dict:
    return {"ipdSharing": enum("ipd_sharing", m.get("IPDSharing", "")), "description": m.get("IPDSharingDescription", ""),
            "infoTypes": [t for t in (enum("ipd_info", x) for x in items(m, "IPDSharingInfoTypeList.IPDSharingInfoType")) if t],
            "timeFrame": m.get("IPDSharingTimeFrame", ""), "accessCriteria": m.get("IPDSharingAccessCriteria", ""),
            "url": m.get("IPDSharingURL", "")}


def _browse(m: dict, kind: str) -> dict:
    """ConditionBrowseModule / InterventionBrowseModule: MeSH terms, ancestors, leaves and branches."""
    return {
        "meshes": [{"id": x.get(f"{kind}MeshId", ""), "term": x.get(f"{kind}MeshTerm", "")} for x in items(m, f"{kind}MeshList.{kind}Mesh")],
        "ancestors": [{"id": x.get(f"{kind}AncestorId", ""), "term": x.get(f"{kind}AncestorTerm", "")}
                      for x in items(m, f"{kind}AncestorList.{kind}Ancestor")],
        "browseLeaves": [{"id": x.get(f"{kind}BrowseLeafId", ""), "name": x.get(f"{kind}BrowseLeafName", ""),
                          "asFound": x.get(f"{kind}BrowseLeafAsFound", ""),
                          "relevance": str(x.get(f"{kind}BrowseLeafRelevance", "")).upper()}
                         for x in items(m, f"{kind}BrowseLeafList.{kind}BrowseLeaf")],
        "browseBranches": [{"abbrev": x.get(f"{kind}BrowseBranchAbbrev", ""), "name": x.get(f"{kind}BrowseBranchName", "")}
                           for x in items(m, f"{kind}BrowseBranchList.{kind}BrowseBranch")],
    }


def v1_to_v2(study: dict, problem: Problem) -> dict:
    """A v1 `Study` object (ProtocolSection, DerivedSection, ...) -> the API v2 record."""
    p = study.get("ProtocolSection", {})
    d = study.get("DerivedSection", {})
    record = {
        "protocolSection": {
            "identificationModule": _identification(p.get("IdentificationModule", {})),
            "statusModule": _status(p.get("StatusModule", {}), problem),
            "sponsorCollaboratorsModule": _sponsors(p.get("SponsorCollaboratorsModule", {}), problem),
            "oversightModule": _oversight(p.get("OversightModule", {})),
            "descriptionModule": {"briefSummary": value_at(p, "DescriptionModule.BriefSummary", ""),
                                  "detailedDescription": value_at(p, "DescriptionModule.DetailedDescription", "")},
            "conditionsModule": {"conditions": items(p, "ConditionsModule.ConditionList.Condition"),
                                 "keywords": items(p, "ConditionsModule.KeywordList.Keyword")},
            "designModule": _design(p.get("DesignModule", {}), problem),
            "armsInterventionsModule": _arms(p.get("ArmsInterventionsModule", {}), problem),
            "outcomesModule": _outcomes(p.get("OutcomesModule", {})),
            "eligibilityModule": _eligibility(p.get("EligibilityModule", {}), problem),
            "contactsLocationsModule": _contacts(p.get("ContactsLocationsModule", {}), problem),
            "referencesModule": _references(p.get("ReferencesModule", {})),
            "ipdSharingStatementModule": _ipd(p.get("IPDSharingStatementModule", {})),
        },
        "derivedSection": {
            "miscInfoModule": {"versionHolder": _date(value_at(d, "MiscInfoModule.VersionHolder"), "VersionHolder", problem)},
            "conditionBrowseModule": _browse(d.get("ConditionBrowseModule", {}), "Condition"),
            "interventionBrowseModule": _browse(d.get("InterventionBrowseModule", {}), "Intervention"),
        },
        "hasResults": "ResultsSection" in study,
    }
    return prune(record)
