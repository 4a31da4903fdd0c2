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
The code tables and `HELD` are in `prs_codes`, the element helpers in `prs_elements`, the design, outcome,
arm and eligibility elements in `prs_design`.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from lxml import etree

from trialbridge.mappings.prs_codes import (
    DOCUMENT_TYPES, EXPANDED_STATUS, HELD, IPD, IPD_TYPES, PRS_NS, RESPONSIBLE, ROLE, SECONDARY_ID, STATUS,
)
from trialbridge.mappings.prs_design import arms_and_interventions, eligibility, outcomes, study_design
from trialbridge.mappings.prs_elements import Omitted, add_block, add_text, date_type, items_at, yes_no
from trialbridge.mappings.registry.common import value_at


def _id_info(study: etree._Element, p: Mapping[str, Any]) -> None:
    ident = p.get("identificationModule", {})
    info = etree.SubElement(study, "id_info")
    etree.SubElement(info, "org_name").text = str(value_at(ident, "organization.fullName")
                                                  or value_at(p, "sponsorCollaboratorsModule.leadSponsor.name") or "")
    etree.SubElement(info, "org_study_id").text = str(value_at(ident, "orgStudyIdInfo.id") or ident.get("nctId", ""))
    for secondary in items_at(ident, "secondaryIdInfos"):
        if not secondary.get("id"):
            continue
        element = etree.SubElement(info, "secondary_id")
        add_text(element, "id", secondary["id"])
        kind = secondary.get("type", "")
        add_text(element, "id_type", SECONDARY_ID.get(kind))
        add_text(element, "id_domain", secondary.get("domain") or (kind if kind in ("FDA", "VA", "CDC", "AHRQ", "SAMHSA") else None))


def _sponsors(study: etree._Element, p: Mapping[str, Any], omitted: Omitted) -> None:
    module = p.get("sponsorCollaboratorsModule", {})
    lead = value_at(module, "leadSponsor.name")
    if not lead:
        omitted.note("sponsors", "sponsorCollaboratorsModule.leadSponsor.name")
        return
    sponsors = etree.SubElement(study, "sponsors")
    add_text(etree.SubElement(sponsors, "lead_sponsor"), "agency", lead)
    for collaborator in items_at(module, "collaborators"):
        if collaborator.get("name"):
            add_text(etree.SubElement(sponsors, "collaborator"), "agency", collaborator["name"])
    party = module.get("responsibleParty", {})
    if party.get("type"):
        element = etree.SubElement(sponsors, "resp_party")
        add_text(element, "resp_party_type", RESPONSIBLE.get(party["type"]))
        add_text(element, "investigator_title", party.get("investigatorTitle"))
        add_text(element, "investigator_affiliation", party.get("investigatorAffiliation"))
    elif party.get("oldNameTitle") or party.get("oldOrganization"):
        omitted.note("sponsors/resp_party", "sponsorCollaboratorsModule.responsibleParty.type (an old-style party: "
                                            "name_title and organization without a type)")


def _oversight(study: etree._Element, p: Mapping[str, Any]) -> None:
    module = p.get("oversightModule", {})
    values = [("has_dmc", module.get("oversightHasDmc")), ("fda_regulated_drug", module.get("isFdaRegulatedDrug")),
              ("fda_regulated_device", module.get("isFdaRegulatedDevice")),
              ("post_prior_to_approval", value_at(p, "statusModule.delayedPosting")),
              ("exported_from_us", module.get("isUsExport")), ("ped_postmarket_surv", module.get("isPpsd"))]
    if any(v is not None for _, v in values):
        element = etree.SubElement(study, "oversight_info")
        for tag, value in values:
            add_text(element, tag, yes_no(value))


def _status(study: etree._Element, p: Mapping[str, Any], omitted: Omitted) -> None:
    status = p.get("statusModule", {})
    overall = status.get("overallStatus", "")
    if overall in STATUS:
        add_text(study, "overall_status", STATUS[overall])
    elif overall == "UNKNOWN" and status.get("lastKnownStatus") in STATUS:
        add_text(study, "overall_status", STATUS[status["lastKnownStatus"]])
        omitted.note("overall_status UNKNOWN", "no PRS value for UNKNOWN (ClinicalTrials.gov's own status for a record "
                                               "not verified in two years); the last known status is written instead")
    elif overall and overall not in EXPANDED_STATUS:
        omitted.note("overall_status", f"a PRS recruitment status for {overall}")
    add_text(study, "why_stopped", status.get("whyStopped"))
    add_text(study, "expanded_access_status", EXPANDED_STATUS.get(overall))
    add_text(study, "verification_date", status.get("statusVerifiedDate"))
    for struct, date_tag in (("startDateStruct", "start_date"), ("completionDateStruct", "last_follow_up_date"),
                             ("primaryCompletionDateStruct", "primary_compl_date")):
        if value_at(status, f"{struct}.date"):
            add_text(study, date_tag, value_at(status, f"{struct}.date"))
            add_text(study, f"{date_tag}_type", date_type(value_at(status, f"{struct}.type")))


def _person(parent: etree._Element, tag: str, person: Mapping[str, Any], fields: tuple[str, ...]) -> etree._Element:
    """A PRS person: the registry's one name goes whole into last_name (PRS splits names; the registry does not)."""
    element = etree.SubElement(parent, tag)
    etree.SubElement(element, "last_name").text = str(person.get("name", ""))
    for key, child in (("phone", "phone"), ("phoneExt", "phone_ext"), ("email", "email")):
        if key in fields:
            add_text(element, child, person.get(key))
    return element


def _contacts(study: etree._Element, p: Mapping[str, Any], omitted: Omitted) -> None:
    module = p.get("contactsLocationsModule", {})
    for official in items_at(module, "overallOfficials"):
        element = _person(study, "overall_official", official, ())
        add_text(element, "role", ROLE.get(official.get("role", "")))
        add_text(element, "affiliation", official.get("affiliation"))
    central = items_at(module, "centralContacts")
    for contact, tag in zip(central, ("overall_contact", "overall_contact_backup")):
        _person(study, tag, contact, ("phone", "phoneExt", "email"))
    if len(central) > 2:
        omitted.note("overall_contact", f"central contacts beyond the second ({len(central) - 2})")
    for location in items_at(module, "locations"):
        element = etree.SubElement(study, "location")
        facility = etree.SubElement(element, "facility")
        etree.SubElement(facility, "name").text = str(location.get("facility", ""))
        address = etree.SubElement(facility, "address")
        for key in ("city", "state", "country", "zip"):
            add_text(address, key, location.get(key))
        add_text(element, "status", STATUS.get(location.get("status", "")) or EXPANDED_STATUS.get(location.get("status", "")))
        people = [c for c in location.get("contacts", []) if isinstance(c, Mapping)]
        plain = [c for c in people if c.get("role") not in ROLE]
        for contact, tag in zip(plain, ("contact", "contact_backup")):
            _person(element, tag, contact, ("phone", "phoneExt", "email"))
        if len(plain) > 2:
            omitted.note("location/contact", f"site contacts beyond the second at '{location.get('facility', '')}'")
        for investigator in (c for c in people if c.get("role") in ROLE):
            inv = _person(element, "investigator", investigator, ())
            add_text(inv, "role", ROLE[investigator["role"]])


def _ipd(study: etree._Element, p: Mapping[str, Any]) -> None:
    module = p.get("ipdSharingStatementModule", {})
    if not module:
        return
    element = etree.SubElement(study, "ipd_sharing_statement")
    add_text(element, "sharing_ipd", IPD.get(module.get("ipdSharing", "")))
    add_block(element, "ipd_description", module.get("description"))
    types = set(module.get("infoTypes", []))
    if types:
        for code, tag in IPD_TYPES:
            add_text(element, tag, yes_no(code in types))
    add_block(element, "ipd_time_frame", module.get("timeFrame"))
    add_block(element, "ipd_access_criteria", module.get("accessCriteria"))
    add_text(element, "ipd_url", module.get("url"))


def _references(study: etree._Element, p: Mapping[str, Any]) -> None:
    refs = p.get("referencesModule", {})
    for link in items_at(refs, "seeAlsoLinks"):
        if link.get("url"):
            element = etree.SubElement(study, "link")
            add_text(element, "url", link["url"])
            etree.SubElement(element, "description").text = str(link.get("label") or link["url"])
    for ref in items_at(refs, "references"):
        element = etree.SubElement(study, "reference")
        add_text(element, "citation", ref.get("citation"))
        add_text(element, "pubmed_id", ref.get("pmid"))
        add_text(element, "is_results_ref", yes_no(ref.get("type") == "RESULT") if ref.get("type") else None)
    for doc in items_at(refs, "availIpds"):
        element = etree.SubElement(study, "study_document")
        kind = str(doc.get("type", ""))
        known = next((t for t in DOCUMENT_TYPES if t.lower() == kind.lower()), None)
        add_text(element, "study_document_type", known or "Other")
        add_text(element, "study_document_other_type", None if known else kind)
        add_text(element, "url", doc.get("url"))
        add_text(element, "study_document_identifier", doc.get("id"))
        add_block(element, "study_document_comments", doc.get("comment"))


def prs_study(record: Mapping[str, Any]) -> tuple[etree._Element, list[tuple[str, str]]]:
    """The PRS `<prs:study_collection>` of one registry record, and the PRS elements left out (element, why)."""
    p = record.get("protocolSection", {})
    omitted = Omitted()
    root = etree.Element(f"{{{PRS_NS}}}study_collection", nsmap={"prs": PRS_NS})
    study = etree.SubElement(root, "clinical_study")
    _id_info(study, p)
    add_text(study, "delayed_posting", yes_no(value_at(p, "oversightModule.isUnapprovedDevice")))
    ident = p.get("identificationModule", {})
    add_text(study, "brief_title", ident.get("briefTitle"))
    add_text(study, "acronym", ident.get("acronym"))
    add_text(study, "official_title", ident.get("officialTitle"))
    _sponsors(study, p, omitted)
    _oversight(study, p)
    add_block(study, "brief_summary", value_at(p, "descriptionModule.briefSummary"))
    add_block(study, "detailed_description", value_at(p, "descriptionModule.detailedDescription"))
    _status(study, p, omitted)
    study_design(study, p, omitted)
    outcomes(study, p)
    add_text(study, "enrollment", value_at(p, "designModule.enrollmentInfo.count"))
    add_text(study, "enrollment_type", date_type(value_at(p, "designModule.enrollmentInfo.type")))
    for tag, path in (("condition", "conditionsModule.conditions"), ("keyword", "conditionsModule.keywords")):
        for value in items_at(p, path):
            add_text(study, tag, value)
    arms_and_interventions(study, p)
    eligibility(study, p, omitted)
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
