"""Registry model (API v2 record) -> ClinicalTrials.gov PRS protocol record (`<prs:study_collection>` with one
`<clinical_study>`, ProtocolRecordSchema.xsd 2018.05.08), as an lxml element tree.

Elements are written in the schema's order; a v2 enumeration becomes the PRS display text (PHASE1 +
PHASE2 -> "Phase 1/Phase 2", ACTIVE_NOT_RECRUITING -> "Active, not recruiting"), a boolean "Yes"/"No",
an estimated date type "Anticipated". Nothing is invented: an element the schema requires whose fact
the record lacks makes its parent left out (`omitted`: interventional design without a phase or
allocation, eligibility without criteria or sex, ...), except the minimum/maximum age, where no limit
is the PRS "N/A". Two facts have no PRS element of their own and are stated where PRS users put them:
`org_name` (the PRS account's short organisation name, which no registry record holds) is the record's
organisation name, and `org_study_id` falls back to the NCT number when the record has no sponsor id.
`HELD` lists every registry field (JSON path, list items as []) this mapping writes; `not_held`
lists the fields of a record that PRS cannot hold (NCT number, record dates, MeSH browse terms, ...).
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from lxml import etree

PRS_NS = "http://clinicaltrials.gov/prs"
STATUS = {"NOT_YET_RECRUITING": "Not yet recruiting", "RECRUITING": "Recruiting",
          "ACTIVE_NOT_RECRUITING": "Active, not recruiting", "ENROLLING_BY_INVITATION": "Enrolling by invitation",
          "COMPLETED": "Completed", "SUSPENDED": "Suspended", "TERMINATED": "Terminated", "WITHDRAWN": "Withdrawn"}
EXPANDED_STATUS = {"AVAILABLE": "Available", "NO_LONGER_AVAILABLE": "No longer available",
                   "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available", "APPROVED_FOR_MARKETING": "Approved for marketing"}
STUDY_TYPE = {"INTERVENTIONAL": "Interventional", "OBSERVATIONAL": "Observational", "EXPANDED_ACCESS": "Expanded Access"}
PURPOSE = {"TREATMENT": "Treatment", "PREVENTION": "Prevention", "DIAGNOSTIC": "Diagnostic", "BASIC_SCIENCE": "Basic Science",
           "SUPPORTIVE_CARE": "Supportive Care", "SCREENING": "Screening", "HEALTH_SERVICES_RESEARCH": "Health Services Research",
           "DEVICE_FEASIBILITY": "Device Feasibility", "ECT": "Educational/Counseling/Training", "OTHER": "Other"}
PHASE = {("EARLY_PHASE1",): "Early Phase 1", ("PHASE1",): "Phase 1", ("PHASE1", "PHASE2"): "Phase 1/Phase 2",
         ("PHASE2",): "Phase 2", ("PHASE2", "PHASE3"): "Phase 2/Phase 3", ("PHASE3",): "Phase 3", ("PHASE4",): "Phase 4",
         ("NA",): "N/A"}
ASSIGNMENT = {"SINGLE_GROUP": "Single Group Assignment", "PARALLEL": "Parallel Assignment", "CROSSOVER": "Crossover Assignment",
              "FACTORIAL": "Factorial Assignment", "SEQUENTIAL": "Sequential Assignment"}
ALLOCATION = {"RANDOMIZED": "Randomized", "NON_RANDOMIZED": "Non-randomized", "NA": "N/A"}
MASKED = (("PARTICIPANT", "masked_subject"), ("CARE_PROVIDER", "masked_caregiver"), ("INVESTIGATOR", "masked_investigator"),
          ("OUTCOMES_ASSESSOR", "masked_assessor"))
OBSERVATIONAL_MODEL = {"COHORT": "Cohort", "CASE_CONTROL": "Case-Control", "CASE_ONLY": "Case-Only", "CASE_CROSSOVER": "Case-Crossover",
                       "ECOLOGIC_OR_COMMUNITY": "Ecologic or Community", "FAMILY_BASED": "Family-Based",
                       "DEFINED_POPULATION": "Defined Population", "NATURAL_HISTORY": "Natural History", "OTHER": "Other"}
TIMING = {"RETROSPECTIVE": "Retrospective", "PROSPECTIVE": "Prospective", "CROSS_SECTIONAL": "Cross-Sectional", "OTHER": "Other"}
RETENTION = {"NONE_RETAINED": "None Retained", "SAMPLES_WITH_DNA": "Samples With DNA", "SAMPLES_WITHOUT_DNA": "Samples Without DNA"}
ARM_TYPE = {"EXPERIMENTAL": "Experimental", "ACTIVE_COMPARATOR": "Active Comparator", "PLACEBO_COMPARATOR": "Placebo Comparator",
            "SHAM_COMPARATOR": "Sham Comparator", "NO_INTERVENTION": "No Intervention", "OTHER": "Other"}
INTERVENTION_TYPE = {"DRUG": "Drug", "DEVICE": "Device", "BIOLOGICAL": "Biological/Vaccine", "PROCEDURE": "Procedure/Surgery",
                     "RADIATION": "Radiation", "BEHAVIORAL": "Behavioral", "GENETIC": "Genetic",
                     "DIETARY_SUPPLEMENT": "Dietary Supplement", "COMBINATION_PRODUCT": "Combination Product",
                     "DIAGNOSTIC_TEST": "Diagnostic Test", "OTHER": "Other"}
SEX = {"ALL": "All", "FEMALE": "Female", "MALE": "Male"}
SAMPLING = {"PROBABILITY_SAMPLE": "Probability Sample", "NON_PROBABILITY_SAMPLE": "Non-Probability Sample"}
ROLE = {"PRINCIPAL_INVESTIGATOR": "Principal Investigator", "STUDY_CHAIR": "Study Chair", "STUDY_DIRECTOR": "Study Director",
        "SUB_INVESTIGATOR": "Sub-Investigator"}
RESPONSIBLE = {"SPONSOR": "Sponsor", "PRINCIPAL_INVESTIGATOR": "Principal Investigator", "SPONSOR_INVESTIGATOR": "Sponsor-Investigator"}
SECONDARY_ID = {"NIH": "NIH Grant Number", "OTHER_GRANT": "Other Grant/Funding Number", "REGISTRY": "Registry Identifier",
                "EUDRACT_NUMBER": "EudraCT Number", "CTIS": "EU Trial (CTIS) Number", "OTHER": "Other Identifier",
                "FDA": "Other Grant/Funding Number", "VA": "Other Grant/Funding Number", "CDC": "Other Grant/Funding Number",
                "AHRQ": "Other Grant/Funding Number", "SAMHSA": "Other Grant/Funding Number"}
IPD = {"YES": "Yes", "NO": "No", "UNDECIDED": "Undecided"}
IPD_TYPES = (("STUDY_PROTOCOL", "ipd_info_type_protocol"), ("SAP", "ipd_info_type_sap"), ("ICF", "ipd_info_type_icf"),
             ("CSR", "ipd_info_type_csr"), ("ANALYTIC_CODE", "ipd_info_type_analytic_code"))
DOCUMENT_TYPES = ("Individual Participant Data Set", "Study Protocol", "Statistical Analysis Plan", "Informed Consent Form",
                  "Clinical Study Report", "Analytic Code")

P = "protocolSection."
# Every registry field the PRS record holds (v2 JSON paths, list items as []).
HELD: frozenset[str] = frozenset(P + p for p in (
    "identificationModule.orgStudyIdInfo.id", "identificationModule.organization.fullName",
    "identificationModule.secondaryIdInfos[].id", "identificationModule.secondaryIdInfos[].type",
    "identificationModule.secondaryIdInfos[].domain", "identificationModule.briefTitle",
    "identificationModule.officialTitle", "identificationModule.acronym",
    "oversightModule.isUnapprovedDevice", "oversightModule.oversightHasDmc", "oversightModule.isFdaRegulatedDrug",
    "oversightModule.isFdaRegulatedDevice", "oversightModule.isUsExport", "oversightModule.isPpsd",
    "statusModule.delayedPosting", "statusModule.overallStatus", "statusModule.whyStopped",
    "statusModule.statusVerifiedDate", "statusModule.startDateStruct.date", "statusModule.startDateStruct.type",
    "statusModule.completionDateStruct.date", "statusModule.completionDateStruct.type",
    "statusModule.primaryCompletionDateStruct.date", "statusModule.primaryCompletionDateStruct.type",
    "sponsorCollaboratorsModule.leadSponsor.name", "sponsorCollaboratorsModule.collaborators[].name",
    "sponsorCollaboratorsModule.responsibleParty.type", "sponsorCollaboratorsModule.responsibleParty.investigatorTitle",
    "sponsorCollaboratorsModule.responsibleParty.investigatorAffiliation",
    "sponsorCollaboratorsModule.responsibleParty.oldNameTitle", "sponsorCollaboratorsModule.responsibleParty.oldOrganization",
    "descriptionModule.briefSummary", "descriptionModule.detailedDescription",
    "designModule.studyType", "designModule.phases[]", "designModule.designInfo.primaryPurpose",
    "designModule.designInfo.interventionModel", "designModule.designInfo.interventionModelDescription",
    "designModule.designInfo.allocation", "designModule.designInfo.maskingInfo.masking",
    "designModule.designInfo.maskingInfo.whoMasked[]", "designModule.designInfo.maskingInfo.maskingDescription",
    "designModule.designInfo.observationalModel", "designModule.designInfo.timePerspective",
    "designModule.bioSpec.retention", "designModule.bioSpec.description", "designModule.patientRegistry",
    "designModule.targetDuration", "designModule.expandedAccessTypes.individual",
    "designModule.expandedAccessTypes.intermediate", "designModule.expandedAccessTypes.treatment",
    "designModule.enrollmentInfo.count", "designModule.enrollmentInfo.type",
    "outcomesModule.primaryOutcomes[].measure", "outcomesModule.primaryOutcomes[].description",
    "outcomesModule.primaryOutcomes[].timeFrame", "outcomesModule.secondaryOutcomes[].measure",
    "outcomesModule.secondaryOutcomes[].description", "outcomesModule.secondaryOutcomes[].timeFrame",
    "outcomesModule.otherOutcomes[].measure", "outcomesModule.otherOutcomes[].description",
    "outcomesModule.otherOutcomes[].timeFrame", "conditionsModule.conditions[]", "conditionsModule.keywords[]",
    "armsInterventionsModule.armGroups[].label", "armsInterventionsModule.armGroups[].type",
    "armsInterventionsModule.armGroups[].description", "armsInterventionsModule.armGroups[].interventionNames[]",
    "armsInterventionsModule.interventions[].type", "armsInterventionsModule.interventions[].name",
    "armsInterventionsModule.interventions[].description", "armsInterventionsModule.interventions[].armGroupLabels[]",
    "armsInterventionsModule.interventions[].otherNames[]",
    "eligibilityModule.studyPopulation", "eligibilityModule.samplingMethod", "eligibilityModule.eligibilityCriteria",
    "eligibilityModule.healthyVolunteers", "eligibilityModule.sex", "eligibilityModule.genderBased",
    "eligibilityModule.genderDescription", "eligibilityModule.minimumAge", "eligibilityModule.maximumAge",
    "contactsLocationsModule.overallOfficials[].name", "contactsLocationsModule.overallOfficials[].role",
    "contactsLocationsModule.overallOfficials[].affiliation", "contactsLocationsModule.centralContacts[].name",
    "contactsLocationsModule.centralContacts[].phone", "contactsLocationsModule.centralContacts[].phoneExt",
    "contactsLocationsModule.centralContacts[].email", "contactsLocationsModule.locations[].facility",
    "contactsLocationsModule.locations[].city", "contactsLocationsModule.locations[].state",
    "contactsLocationsModule.locations[].country", "contactsLocationsModule.locations[].zip",
    "contactsLocationsModule.locations[].status", "contactsLocationsModule.locations[].contacts[].name",
    "contactsLocationsModule.locations[].contacts[].role", "contactsLocationsModule.locations[].contacts[].phone",
    "contactsLocationsModule.locations[].contacts[].phoneExt", "contactsLocationsModule.locations[].contacts[].email",
    "ipdSharingStatementModule.ipdSharing", "ipdSharingStatementModule.description", "ipdSharingStatementModule.infoTypes[]",
    "ipdSharingStatementModule.timeFrame", "ipdSharingStatementModule.accessCriteria", "ipdSharingStatementModule.url",
    "referencesModule.seeAlsoLinks[].url", "referencesModule.seeAlsoLinks[].label", "referencesModule.references[].citation",
    "referencesModule.references[].pmid", "referencesModule.references[].type", "referencesModule.availIpds[].type",
    "referencesModule.availIpds[].url", "referencesModule.availIpds[].id", "referencesModule.availIpds[].comment",
))


def _get(node: Any, path: str, default: Any = None) -> Any:
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


def _list(node: Any, path: str) -> list:
    found = _get(node, path, [])
    return [x for x in found if x not in (None, "")] if isinstance(found, list) else []


def _yes_no(value: Any) -> str | None:
    return None if value is None else ("Yes" if value else "No")


def _date_type(value: Any) -> str | None:
    return {"ACTUAL": "Actual", "ESTIMATED": "Anticipated"}.get(str(value)) if value else None


def _add(parent: etree._Element, tag: str, value: Any) -> etree._Element | None:
    """`<tag>value</tag>` under `parent` when the value is there (None and "" are absent)."""
    if value is None or value == "":
        return None
    child = etree.SubElement(parent, tag)
    child.text = str(value)
    return child


def _block(parent: etree._Element, tag: str, value: Any) -> None:
    """`<tag><textblock>value</textblock></tag>` when the value is there."""
    if value:
        etree.SubElement(etree.SubElement(parent, tag), "textblock").text = str(value)


class _Omitted(list):
    """The PRS elements left out because the record lacks a fact the schema requires in them."""

    def note(self, element: str, missing: str) -> None:
        self.append((element, missing))


def _id_info(study: etree._Element, p: Mapping[str, Any]) -> None:
    ident = p.get("identificationModule", {})
    info = etree.SubElement(study, "id_info")
    etree.SubElement(info, "org_name").text = str(_get(ident, "organization.fullName")
                                                  or _get(p, "sponsorCollaboratorsModule.leadSponsor.name") or "")
    etree.SubElement(info, "org_study_id").text = str(_get(ident, "orgStudyIdInfo.id") or ident.get("nctId", ""))
    for secondary in _list(ident, "secondaryIdInfos"):
        if not secondary.get("id"):
            continue
        element = etree.SubElement(info, "secondary_id")
        _add(element, "id", secondary["id"])
        kind = secondary.get("type", "")
        _add(element, "id_type", SECONDARY_ID.get(kind))
        _add(element, "id_domain", secondary.get("domain") or (kind if kind in ("FDA", "VA", "CDC", "AHRQ", "SAMHSA") else None))


def _sponsors(study: etree._Element, p: Mapping[str, Any], omitted: _Omitted) -> None:
    module = p.get("sponsorCollaboratorsModule", {})
    lead = _get(module, "leadSponsor.name")
    if not lead:
        omitted.note("sponsors", "sponsorCollaboratorsModule.leadSponsor.name")
        return
    sponsors = etree.SubElement(study, "sponsors")
    _add(etree.SubElement(sponsors, "lead_sponsor"), "agency", lead)
    for collaborator in _list(module, "collaborators"):
        if collaborator.get("name"):
            _add(etree.SubElement(sponsors, "collaborator"), "agency", collaborator["name"])
    party = module.get("responsibleParty", {})
    if party.get("type"):
        element = etree.SubElement(sponsors, "resp_party")
        _add(element, "resp_party_type", RESPONSIBLE.get(party["type"]))
        _add(element, "investigator_title", party.get("investigatorTitle"))
        _add(element, "investigator_affiliation", party.get("investigatorAffiliation"))
    elif party.get("oldNameTitle") or party.get("oldOrganization"):
        omitted.note("sponsors/resp_party", "sponsorCollaboratorsModule.responsibleParty.type (an old-style party: "
                                            "name_title and organization without a type)")


def _oversight(study: etree._Element, p: Mapping[str, Any]) -> None:
    module = p.get("oversightModule", {})
    values = [("has_dmc", module.get("oversightHasDmc")), ("fda_regulated_drug", module.get("isFdaRegulatedDrug")),
              ("fda_regulated_device", module.get("isFdaRegulatedDevice")),
              ("post_prior_to_approval", _get(p, "statusModule.delayedPosting")),
              ("exported_from_us", module.get("isUsExport")), ("ped_postmarket_surv", module.get("isPpsd"))]
    if any(v is not None for _, v in values):
        element = etree.SubElement(study, "oversight_info")
        for tag, value in values:
            _add(element, tag, _yes_no(value))


def _status(study: etree._Element, p: Mapping[str, Any], omitted: _Omitted) -> None:
    status = p.get("statusModule", {})
    overall = status.get("overallStatus", "")
    if overall in STATUS:
        _add(study, "overall_status", STATUS[overall])
    elif overall == "UNKNOWN" and status.get("lastKnownStatus") in STATUS:
        _add(study, "overall_status", STATUS[status["lastKnownStatus"]])
        omitted.note("overall_status UNKNOWN", "no PRS value for UNKNOWN (ClinicalTrials.gov's own status for a record "
                                               "not verified in two years); the last known status is written instead")
    elif overall and overall not in EXPANDED_STATUS:
        omitted.note("overall_status", f"a PRS recruitment status for {overall}")
    _add(study, "why_stopped", status.get("whyStopped"))
    _add(study, "expanded_access_status", EXPANDED_STATUS.get(overall))
    _add(study, "verification_date", status.get("statusVerifiedDate"))
    for struct, date_tag in (("startDateStruct", "start_date"), ("completionDateStruct", "last_follow_up_date"),
                             ("primaryCompletionDateStruct", "primary_compl_date")):
        if _get(status, f"{struct}.date"):
            _add(study, date_tag, _get(status, f"{struct}.date"))
            _add(study, f"{date_tag}_type", _date_type(_get(status, f"{struct}.type")))


def _interventional(design: etree._Element, d: Mapping[str, Any], arms: int, omitted: _Omitted) -> None:
    info = d.get("designInfo", {})
    phase = PHASE.get(tuple(d.get("phases", [])))
    purpose, allocation = PURPOSE.get(info.get("primaryPurpose", "")), ALLOCATION.get(info.get("allocation", ""))
    missing = [name for name, value in (("designInfo.primaryPurpose", purpose), ("phases", phase),
                                        ("designInfo.allocation", allocation)) if not value]
    if missing:
        omitted.note("study_design/interventional_design", ", ".join(f"designModule.{m}" for m in missing))
        return
    element = etree.SubElement(design, "interventional_design")
    _add(element, "interventional_subtype", purpose)
    _add(element, "phase", phase)
    _add(element, "assignment", ASSIGNMENT.get(info.get("interventionModel", "")))
    _block(element, "model_description", info.get("interventionModelDescription"))
    _add(element, "allocation", allocation)
    masking = info.get("maskingInfo", {})
    if masking.get("masking"):
        who = set(masking.get("whoMasked", []))
        _add(element, "no_masking", _yes_no(masking["masking"] == "NONE"))
        for code, tag in MASKED:
            _add(element, tag, _yes_no(code in who))
    _block(element, "masking_description", masking.get("maskingDescription"))
    _add(element, "number_of_arms", str(arms) if arms else None)


def _observational(design: etree._Element, d: Mapping[str, Any], groups: int, omitted: _Omitted) -> None:
    info = d.get("designInfo", {})
    model, timing = OBSERVATIONAL_MODEL.get(info.get("observationalModel", "")), TIMING.get(info.get("timePerspective", ""))
    retention = RETENTION.get(_get(d, "bioSpec.retention", ""))
    missing = [name for name, value in (("designInfo.observationalModel", model), ("designInfo.timePerspective", timing),
                                        ("bioSpec.retention", retention)) if not value]
    if missing:
        omitted.note("study_design/observational_design", ", ".join(f"designModule.{m}" for m in missing))
        return
    element = etree.SubElement(design, "observational_design")
    _add(element, "observational_study_design", model)
    _add(element, "biospecimen_retention", retention)
    _block(element, "biospecimen_description", _get(d, "bioSpec.description"))
    _add(element, "timing", timing)
    _add(element, "number_of_groups", str(groups))
    _add(element, "patient_registry", _yes_no(d.get("patientRegistry")))
    duration = re.match(r"^\s*(\d+)\s+(Year|Month|Week|Day)s?\s*$", str(d.get("targetDuration", "")), re.I)
    if duration:
        _add(element, "target_duration_quantity", duration.group(1))
        _add(element, "target_duration_units", duration.group(2).capitalize() + "s")
    elif d.get("targetDuration"):
        omitted.note("observational_design/target_duration_*", f"designModule.targetDuration as a number of years, months, "
                                                                f"weeks or days ('{d['targetDuration']}')")


def _design(study: etree._Element, p: Mapping[str, Any], omitted: _Omitted) -> None:
    d = p.get("designModule", {})
    kind = d.get("studyType", "")
    if kind not in STUDY_TYPE:
        omitted.note("study_design", "designModule.studyType")
        return
    design = etree.SubElement(study, "study_design")
    _add(design, "study_type", STUDY_TYPE[kind])
    arms = len(_list(p, "armsInterventionsModule.armGroups"))
    if kind == "INTERVENTIONAL":
        _interventional(design, d, arms, omitted)
    elif kind == "OBSERVATIONAL":
        _observational(design, d, arms, omitted)
    else:
        types = d.get("expandedAccessTypes", {})
        if types:
            _add(design, "no_exp_acc_type", _yes_no(not any(types.values())))
            for key in ("individual", "intermediate", "treatment"):
                _add(design, f"exp_acc_type_{key}", _yes_no(bool(types.get(key))))


def _outcomes(study: etree._Element, p: Mapping[str, Any]) -> None:
    for kind, tag in (("primaryOutcomes", "primary_outcome"), ("secondaryOutcomes", "secondary_outcome"),
                      ("otherOutcomes", "other_outcome")):
        for outcome in _list(p, f"outcomesModule.{kind}"):
            if not outcome.get("measure"):
                continue
            element = etree.SubElement(study, tag)
            _add(element, "outcome_measure", outcome["measure"])
            _add(element, "outcome_time_frame", outcome.get("timeFrame"))
            _block(element, "outcome_description", outcome.get("description"))


def _arms(study: etree._Element, p: Mapping[str, Any]) -> None:
    interventional = _get(p, "designModule.studyType") == "INTERVENTIONAL"
    for group in _list(p, "armsInterventionsModule.armGroups"):
        element = etree.SubElement(study, "arm_group")
        _add(element, "arm_group_label", group.get("label", "")) if group.get("label") else \
            etree.SubElement(element, "arm_group_label")
        if interventional:
            _add(element, "arm_type", ARM_TYPE.get(group.get("type", "")))
        _block(element, "arm_group_description", group.get("description"))
    for item in _list(p, "armsInterventionsModule.interventions"):
        element = etree.SubElement(study, "intervention")
        _add(element, "intervention_type", INTERVENTION_TYPE.get(item.get("type", "")))
        etree.SubElement(element, "intervention_name").text = str(item.get("name", ""))
        _block(element, "intervention_description", item.get("description"))
        for label in item.get("armGroupLabels", []):
            _add(element, "arm_group_label", label)
        for name in item.get("otherNames", []):
            _add(element, "intervention_other_name", name)


def _eligibility(study: etree._Element, p: Mapping[str, Any], omitted: _Omitted) -> None:
    e = p.get("eligibilityModule", {})
    if not e:
        return
    missing = [name for name in ("eligibilityCriteria", "sex") if not e.get(name) or (name == "sex" and e[name] not in SEX)]
    if missing:
        omitted.note("eligibility", ", ".join(f"eligibilityModule.{m}" for m in missing))
        return
    element = etree.SubElement(study, "eligibility")
    _block(element, "study_population", e.get("studyPopulation"))
    _add(element, "sampling_method", SAMPLING.get(e.get("samplingMethod", "")))
    _block(element, "criteria", e["eligibilityCriteria"])
    _add(element, "healthy_volunteers", _yes_no(e.get("healthyVolunteers")))
    _add(element, "gender", SEX[e["sex"]])
    _add(element, "gender_based", _yes_no(e.get("genderBased")))
    _block(element, "gender_description", e.get("genderDescription"))
    _add(element, "minimum_age", e.get("minimumAge") or "N/A")
    _add(element, "maximum_age", e.get("maximumAge") or "N/A")


def _person(parent: etree._Element, tag: str, person: Mapping[str, Any], fields: tuple[str, ...]) -> etree._Element:
    """A PRS person: the registry's one name goes whole into last_name (PRS splits names; the registry does not)."""
    element = etree.SubElement(parent, tag)
    etree.SubElement(element, "last_name").text = str(person.get("name", ""))
    for key, child in (("phone", "phone"), ("phoneExt", "phone_ext"), ("email", "email")):
        if key in fields:
            _add(element, child, person.get(key))
    return element


def _contacts(study: etree._Element, p: Mapping[str, Any], omitted: _Omitted) -> None:
    module = p.get("contactsLocationsModule", {})
    for official in _list(module, "overallOfficials"):
        element = _person(study, "overall_official", official, ())
        _add(element, "role", ROLE.get(official.get("role", "")))
        _add(element, "affiliation", official.get("affiliation"))
    central = _list(module, "centralContacts")
    for contact, tag in zip(central, ("overall_contact", "overall_contact_backup")):
        _person(study, tag, contact, ("phone", "phoneExt", "email"))
    if len(central) > 2:
        omitted.note("overall_contact", f"central contacts beyond the second ({len(central) - 2})")
    for location in _list(module, "locations"):
        element = etree.SubElement(study, "location")
        facility = etree.SubElement(element, "facility")
        etree.SubElement(facility, "name").text = str(location.get("facility", ""))
        address = etree.SubElement(facility, "address")
        for key in ("city", "state", "country", "zip"):
            _add(address, key, location.get(key))
        _add(element, "status", STATUS.get(location.get("status", "")) or EXPANDED_STATUS.get(location.get("status", "")))
        people = [c for c in location.get("contacts", []) if isinstance(c, Mapping)]
        plain = [c for c in people if c.get("role") not in ROLE]
        for contact, tag in zip(plain, ("contact", "contact_backup")):
            _person(element, tag, contact, ("phone", "phoneExt", "email"))
        if len(plain) > 2:
            omitted.note("location/contact", f"site contacts beyond the second at '{location.get('facility', '')}'")
        for investigator in (c for c in people if c.get("role") in ROLE):
            inv = _person(element, "investigator", investigator, ())
            _add(inv, "role", ROLE[investigator["role"]])


def _ipd(study: etree._Element, p: Mapping[str, Any]) -> None:
    module = p.get("ipdSharingStatementModule", {})
    if not module:
        return
    element = etree.SubElement(study, "ipd_sharing_statement")
    _add(element, "sharing_ipd", IPD.get(module.get("ipdSharing", "")))
    _block(element, "ipd_description", module.get("description"))
    types = set(module.get("infoTypes", []))
    if types:
        for code, tag in IPD_TYPES:
            _add(element, tag, _yes_no(code in types))
    _block(element, "ipd_time_frame", module.get("timeFrame"))
    _block(element, "ipd_access_criteria", module.get("accessCriteria"))
    _add(element, "ipd_url", module.get("url"))


def _references(study: etree._Element, p: Mapping[str, Any]) -> None:
    refs = p.get("referencesModule", {})
    for link in _list(refs, "seeAlsoLinks"):
        if link.get("url"):
            element = etree.SubElement(study, "link")
            _add(element, "url", link["url"])
            etree.SubElement(element, "description").text = str(link.get("label") or link["url"])
    for ref in _list(refs, "references"):
        element = etree.SubElement(study, "reference")
        _add(element, "citation", ref.get("citation"))
        _add(element, "pubmed_id", ref.get("pmid"))
        _add(element, "is_results_ref", _yes_no(ref.get("type") == "RESULT") if ref.get("type") else None)
    for doc in _list(refs, "availIpds"):
        element = etree.SubElement(study, "study_document")
        kind = str(doc.get("type", ""))
        known = next((t for t in DOCUMENT_TYPES if t.lower() == kind.lower()), None)
        _add(element, "study_document_type", known or "Other")
        _add(element, "study_document_other_type", None if known else kind)
        _add(element, "url", doc.get("url"))
        _add(element, "study_document_identifier", doc.get("id"))
        _block(element, "study_document_comments", doc.get("comment"))


def prs_study(record: Mapping[str, Any]) -> tuple[etree._Element, list[tuple[str, str]]]:
    """The PRS `<prs:study_collection>` of one registry record, and the PRS elements left out (element, why)."""
    p = record.get("protocolSection", {})
    omitted = _Omitted()
    root = etree.Element(f"{{{PRS_NS}}}study_collection", nsmap={"prs": PRS_NS})
    study = etree.SubElement(root, "clinical_study")
    _id_info(study, p)
    _add(study, "delayed_posting", _yes_no(_get(p, "oversightModule.isUnapprovedDevice")))
    ident = p.get("identificationModule", {})
    _add(study, "brief_title", ident.get("briefTitle"))
    _add(study, "acronym", ident.get("acronym"))
    _add(study, "official_title", ident.get("officialTitle"))
    _sponsors(study, p, omitted)
    _oversight(study, p)
    _block(study, "brief_summary", _get(p, "descriptionModule.briefSummary"))
    _block(study, "detailed_description", _get(p, "descriptionModule.detailedDescription"))
    _status(study, p, omitted)
    _design(study, p, omitted)
    _outcomes(study, p)
    _add(study, "enrollment", _get(p, "designModule.enrollmentInfo.count"))
    _add(study, "enrollment_type", _date_type(_get(p, "designModule.enrollmentInfo.type")))
    for tag, path in (("condition", "conditionsModule.conditions"), ("keyword", "conditionsModule.keywords")):
        for value in _list(p, path):
            _add(study, tag, value)
    _arms(study, p)
    _eligibility(study, p, omitted)
    _contacts(study, p, omitted)
    _ipd(study, p)
    _references(study, p)
    return root, list(omitted)


def leaf_paths(node: Any, path: str = "") -> Iterator[str]:
    """Every field of the record that holds a value, as a JSON path with list items as []."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from leaf_paths(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for value in node:
            yield from leaf_paths(value, f"{path}[]")
    elif node not in (None, ""):
        yield path


def not_held(record: Mapping[str, Any]) -> list[str]:
    """The fields of `record` (JSON paths, list items as []) that the PRS protocol record cannot hold."""
    return sorted({p for p in leaf_paths(record) if p not in HELD and p != "hasResults"})
