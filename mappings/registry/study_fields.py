"""Classic ClinicalTrials.gov API (v1) `StudyFieldsResponse` -> a classic v1 `Study` (PascalCase
`ProtocolSection`) that `v1.py` turns into the registry model.

The classic `study_fields` query answered with `{"StudyFieldsResponse": {"FieldList": [...], "StudyFields":
[{"Rank": 1, "NCTId": ["NCT..."], "BriefTitle": ["..."], "LocationCountry": [...], ...}]}}`: each requested
field is a list of the values the study holds, in record order, a field the study lacks being an empty list.
The field names are the leaf names of the classic Study structure, so each goes back to its place:
- a single field (`BriefTitle`, `StartDate`, `MinimumAge`) to its one path (`SINGLE`); a list field
  (`Condition`, `Phase`, `StdAge`) to its list (`LISTS`);
- the fields of a repeating structure (a location: `LocationFacility`, `LocationCity`, `LocationCountry`)
  are lists in parallel; the API leaves out empty values, so a field whose list is shorter than the
  structure's longest one cannot be matched to its items: it is left out and reported (REGISTRY-FIELDS),
  never guessed; a list inside each item (an arm's intervention names) is carried only when the structure
  has one item. A field the model has no place for (results fields) is reported the same way.
"""
from __future__ import annotations

from typing import Any

from trialbridge.schemas.findings import Finding, finding

_I, _S, _SP, _O, _D = ("IdentificationModule", "StatusModule", "SponsorCollaboratorsModule", "OversightModule",
                       "DesignModule")
_E, _C, _A, _OUT = "EligibilityModule", "ContactsLocationsModule", "ArmsInterventionsModule", "OutcomesModule"

# field -> its path under ProtocolSection
SINGLE: dict[str, str] = {
    "NCTId": f"{_I}.NCTId", "OrgStudyId": f"{_I}.OrgStudyIdInfo.OrgStudyId",
    "OrgFullName": f"{_I}.Organization.OrgFullName", "OrgClass": f"{_I}.Organization.OrgClass",
    "BriefTitle": f"{_I}.BriefTitle", "OfficialTitle": f"{_I}.OfficialTitle", "Acronym": f"{_I}.Acronym",
    "StatusVerifiedDate": f"{_S}.StatusVerifiedDate", "OverallStatus": f"{_S}.OverallStatus",
    "LastKnownStatus": f"{_S}.LastKnownStatus", "WhyStopped": f"{_S}.WhyStopped",
    "HasExpandedAccess": f"{_S}.ExpandedAccessInfo.HasExpandedAccess",
    "StudyFirstSubmitDate": f"{_S}.StudyFirstSubmitDate", "StudyFirstSubmitQCDate": f"{_S}.StudyFirstSubmitQCDate",
    "ResultsFirstSubmitDate": f"{_S}.ResultsFirstSubmitDate", "LastUpdateSubmitDate": f"{_S}.LastUpdateSubmitDate",
    **{f"{name}{part}": f"{_S}.{name}Struct.{name}{part}"
       for name in ("StartDate", "PrimaryCompletionDate", "CompletionDate", "StudyFirstPostDate",
                    "ResultsFirstPostDate", "LastUpdatePostDate") for part in ("", "Type")},
    **{f"ResponsibleParty{k}": f"{_SP}.ResponsibleParty.ResponsibleParty{k}"
       for k in ("Type", "InvestigatorFullName", "InvestigatorTitle", "InvestigatorAffiliation", "OldNameTitle",
                 "OldOrganization")},
    "LeadSponsorName": f"{_SP}.LeadSponsor.LeadSponsorName", "LeadSponsorClass": f"{_SP}.LeadSponsor.LeadSponsorClass",
    **{k: f"{_O}.{k}" for k in ("OversightHasDMC", "IsFDARegulatedDrug", "IsFDARegulatedDevice")},
    "BriefSummary": "DescriptionModule.BriefSummary", "DetailedDescription": "DescriptionModule.DetailedDescription",
    **{k: f"{_D}.{k}" for k in ("StudyType", "PatientRegistry", "TargetDuration")},
    **{k: f"{_D}.DesignInfo.{k}" for k in ("DesignAllocation", "DesignInterventionModel",
                                            "DesignInterventionModelDescription", "DesignPrimaryPurpose")},
    **{k: f"{_D}.DesignInfo.DesignMaskingInfo.{k}" for k in ("DesignMasking", "DesignMaskingDescription")},
    **{k: f"{_D}.EnrollmentInfo.{k}" for k in ("EnrollmentCount", "EnrollmentType")},
    **{k: f"{_E}.{k}" for k in ("EligibilityCriteria", "HealthyVolunteers", "Gender", "GenderBased",
                                 "GenderDescription", "MinimumAge", "MaximumAge", "StudyPopulation",
                                 "SamplingMethod")},
    **{k: f"IPDSharingStatementModule.{k}" for k in ("IPDSharing", "IPDSharingDescription", "IPDSharingTimeFrame",
                                                     "IPDSharingAccessCriteria", "IPDSharingURL")},
}
# field -> the path of its list under ProtocolSection
LISTS: dict[str, str] = {
    "NCTIdAlias": f"{_I}.NCTIdAliasList.NCTIdAlias",
    "Condition": "ConditionsModule.ConditionList.Condition", "Keyword": "ConditionsModule.KeywordList.Keyword",
    "Phase": f"{_D}.PhaseList.Phase",
    "DesignObservationalModel": f"{_D}.DesignInfo.DesignObservationalModelList.DesignObservationalModel",
    "DesignTimePerspective": f"{_D}.DesignInfo.DesignTimePerspectiveList.DesignTimePerspective",
    "DesignWhoMasked": f"{_D}.DesignInfo.DesignMaskingInfo.DesignWhoMaskedList.DesignWhoMasked",
    "StdAge": f"{_E}.StdAgeList.StdAge",
    "IPDSharingInfoType": "IPDSharingStatementModule.IPDSharingInfoTypeList.IPDSharingInfoType",
}
# repeating structure: its list path under ProtocolSection -> its fields
GROUPS: dict[str, tuple[str, ...]] = {
    f"{_I}.SecondaryIdInfoList.SecondaryIdInfo": ("SecondaryId", "SecondaryIdType", "SecondaryIdDomain", "SecondaryIdLink"),
    f"{_SP}.CollaboratorList.Collaborator": ("CollaboratorName", "CollaboratorClass"),
    f"{_A}.ArmGroupList.ArmGroup": ("ArmGroupLabel", "ArmGroupType", "ArmGroupDescription"),
    f"{_A}.InterventionList.Intervention": ("InterventionType", "InterventionName", "InterventionDescription"),
    **{f"{_OUT}.{kind}OutcomeList.{kind}Outcome": tuple(f"{kind}Outcome{p}" for p in ("Measure", "Description", "TimeFrame"))
       for kind in ("Primary", "Secondary", "Other")},
    f"{_C}.CentralContactList.CentralContact": tuple(f"CentralContact{p}" for p in ("Name", "Role", "Phone", "PhoneExt", "EMail")),
    f"{_C}.OverallOfficialList.OverallOfficial": ("OverallOfficialName", "OverallOfficialAffiliation", "OverallOfficialRole"),
    f"{_C}.LocationList.Location": tuple(f"Location{p}" for p in ("Facility", "Status", "City", "State", "Zip", "Country")),
    "ReferencesModule.ReferenceList.Reference": ("ReferencePMID", "ReferenceType", "ReferenceCitation"),
    "ReferencesModule.SeeAlsoLinkList.SeeAlsoLink": ("SeeAlsoLinkLabel", "SeeAlsoLinkURL"),
}
# a list inside each item of a repeating structure: its items are told apart only when there is one item
NESTED: dict[str, dict[str, str]] = {
    f"{_A}.ArmGroupList.ArmGroup": {"ArmGroupInterventionName": "ArmGroupInterventionList.ArmGroupInterventionName"},
    f"{_A}.InterventionList.Intervention": {
        "InterventionArmGroupLabel": "InterventionArmGroupLabelList.InterventionArmGroupLabel",
        "InterventionOtherName": "InterventionOtherNameList.InterventionOtherName"},
}
NOT_FIELDS = ("Rank",)


def _put(root: dict, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = root
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _values(entry: dict, name: str) -> list[str]:
    value = entry.get(name, [])
    return [str(v) for v in (value if isinstance(value, list) else [value]) if v is not None]


def study_fields_to_v1(entry: dict, source: str) -> tuple[dict, list[Finding]]:
    """One `StudyFields[]` entry -> a classic `Study` ({"ProtocolSection": ...}) and the fields left out."""
    protocol: dict = {}
    left: list[str] = []
    for name, path in SINGLE.items():
        values = _values(entry, name)
        if values:
            _put(protocol, path, values[0])
    for name, path in LISTS.items():
        values = _values(entry, name)
        if values:
            _put(protocol, path, values)
    for path, names in GROUPS.items():
        lists = {name: _values(entry, name) for name in names}
        size = max(len(v) for v in lists.values())
        if not size:
            continue
        left += [name for name, values in lists.items() if values and len(values) != size]
        items = [{name: values[i] for name, values in lists.items() if len(values) == size and values[i] != ""}
                 for i in range(size)]
        for name, inner in NESTED.get(path, {}).items():
            values = _values(entry, name)
            if values and size == 1:
                _put(items[0], inner, values)
            elif values:
                left.append(name)
        _put(protocol, path, items)
    known = (set(SINGLE) | set(LISTS) | {n for names in GROUPS.values() for n in names} | set(NOT_FIELDS)
             | {n for nested in NESTED.values() for n in nested})
    left += sorted(name for name in entry if name not in known and _values(entry, name))
    findings = [finding("REGISTRY-FIELDS", source, left, fields=", ".join(left))] if left else []
    return {"ProtocolSection": protocol}, findings
