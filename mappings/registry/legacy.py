"""Legacy ClinicalTrials.gov XML (`<clinical_study>`, public.xsd, as archives and AACT hold it) -> the API v2
record (`protocolSection` / `derivedSection` dict) the rest of the code reads.

Element -> v2 path, one line per fact (`_protocol`); display text becomes the v2 enumeration, "July 2001"
becomes 2001-07, "18 Years"/"N/A" become the v2 age or no limit (`common.py`). Text blocks lose the
indentation and hard line wrapping of the XML (paragraphs and list items are kept). The results section
(`clinical_results`) is not converted (no output of the registry command carries results): the caller
reports it. Takes a parsed element tree: the reader (`converters/readers/registry.py`) does the I/O.
"""
from __future__ import annotations

import re
import textwrap
from typing import Any

from trialbridge.mappings.registry.common import Problem, age, enum, integer, iso_date, phases, prune, yes_no

RESULTS_ELEMENTS = ("clinical_results", "pending_results")


def _node(el: Any, path: str) -> Any:
    return el.find(path) if el is not None else None


def text(el: Any, path: str = ".") -> str:
    """The stripped text of the first element at `path` ("" when absent)."""
    found = _node(el, path)
    return (found.text or "").strip() if found is not None else ""


def texts(el: Any, path: str) -> list[str]:
    return [(e.text or "").strip() for e in el.findall(path) if (e.text or "").strip()]


def textblock(el: Any, path: str) -> str:
    """A `<textblock>` without the XML's indentation and hard wraps: lines of one paragraph or list item
    are joined, blank lines and item starts are kept."""
    raw = text(el, f"{path}/textblock") or text(el, path)
    if not raw:
        return ""
    lines = textwrap.dedent(raw.strip("\n")).strip().splitlines()
    out: list[str] = []
    for line in lines:  # the XML wraps every paragraph and item at a fixed width: join the wrapped lines
        stripped = line.strip()
        starts_item = bool(_ITEM.match(stripped))
        if out and out[-1].strip() and stripped and not starts_item and not out[-1].endswith(":"):
            out[-1] = f"{out[-1]} {stripped}"
        else:
            out.append(line.rstrip())
    return "\n".join(out).strip()


_ITEM = re.compile(r"^([-*\u2022\u00b7o]|\(?\d+[.)]|\(?[a-zA-Z][.)]|[ivxIVX]+[.)])\s")


def person(el: Any) -> str:
    """first, middle, last name and degrees as one name ("Arthur Malkani, MD")."""
    name = " ".join(p for p in (text(el, "first_name"), text(el, "middle_name"), text(el, "last_name")) if p)
    degrees = text(el, "degrees")
    return f"{name}, {degrees}" if degrees and name else name


def _date(el: Any, tag: str, problem: Problem) -> dict | None:
    node = _node(el, tag)
    if node is None or not (node.text or "").strip():
        return None
    value = iso_date(node.text)
    if value is None:
        problem(tag, node.text.strip(), "a date such as 'July 2001' or 'September 13, 2001'")
        return None
    kind = enum("date_type", node.get("type", ""))
    return {"date": value, **({"type": kind} if kind else {})}


def _plain_date(el: Any, tag: str, problem: Problem) -> str | None:
    found = _date(el, tag, problem)
    return found["date"] if found else None


def _enum(kind: str, value: str, tag: str, problem: Problem) -> str | None:
    if not value:
        return None
    found = enum(kind, value)
    if found is None:
        problem(tag, value, f"a ClinicalTrials.gov {kind.replace('_', ' ')} value")
    return found


LEVELS = ("SINGLE", "DOUBLE", "TRIPLE", "QUADRUPLE")  # ClinicalTrials.gov: the level counts the masked roles


def _masking(value: str, problem: Problem) -> dict:
    """"Double (Participant, Investigator)" -> masking DOUBLE, whoMasked [PARTICIPANT, INVESTIGATOR]; the
    roles alone ("Participant, Investigator", as records of 2017 write it) give the level by their count."""
    if not value:
        return {}
    head, _, rest = value.partition("(")
    masking = enum("masking", head) or enum("masking", value)
    listed = [enum("who_masked", w) for w in re.split(r",\s*", value) if w.strip()]
    if masking is None and listed and all(listed) and len(set(listed)) <= len(LEVELS):
        # 2017 records list only who is masked ("Participant, Investigator"): the level is how many roles
        return {"masking": LEVELS[len(set(listed)) - 1], "whoMasked": list(dict.fromkeys(listed))}
    who = [enum("who_masked", w) for w in re.split(r",\s*", rest.rstrip(")")) if w.strip()] if masking != "NONE" else []
    if masking is None:
        problem("study_design_info/masking", value, "a masking such as 'Double (Participant, Investigator)'")
        return {}
    return {"masking": masking, **({"whoMasked": [w for w in who if w]} if any(who) else {})}


def _old_design(value: str) -> dict[str, str]:
    """The pre-2017 one-line `<study_design>` ("Allocation: Randomized, ..., Masking: Double Blind (...)")."""
    parts = re.findall(r"([A-Za-z ]+):\s*([^:]+?)(?=,\s*[A-Za-z ]+:|$)", value)
    return {key.strip().lower().replace(" ", "_"): item.strip() for key, item in parts}


def _design_info(root: Any, problem: Problem) -> dict:
    info = root.find("study_design_info")
    fields = {child.tag: (child.text or "").strip() for child in info} if info is not None else \
        _old_design(text(root, "study_design"))
    return {
        "allocation": _enum("allocation", fields.get("allocation", ""), "allocation", problem),
        "interventionModel": _enum("intervention_model", fields.get("intervention_model", ""), "intervention_model", problem),
        "interventionModelDescription": fields.get("intervention_model_description", ""),
        "primaryPurpose": _enum("primary_purpose", fields.get("primary_purpose", ""), "primary_purpose", problem),
        "observationalModel": _enum("observational_model", fields.get("observational_model", ""), "observational_model", problem),
        "timePerspective": _enum("time_perspective", fields.get("time_perspective", ""), "time_perspective", problem),
        "maskingInfo": {**_masking(fields.get("masking", ""), problem),
                        "maskingDescription": fields.get("masking_description", "")},
    }


def _outcomes(root: Any, tag: str) -> list[dict]:
    return [{"measure": text(o, "measure"), "description": text(o, "description"), "timeFrame": text(o, "time_frame")}
            for o in root.findall(tag)]


def _contact(el: Any, role: str = "") -> dict:
    return {"name": person(el), "role": role, "phone": text(el, "phone"), "phoneExt": text(el, "phone_ext"),
            "email": text(el, "email")}


def _location(el: Any, problem: Problem) -> dict:
    address = "facility/address"
    contacts = [_contact(c, "CONTACT") for c in (el.find("contact"), el.find("contact_backup")) if c is not None]
    contacts += [{"name": person(i), "role": _enum("contact_role", text(i, "role"), "location/investigator/role", problem)
                  or "", "phone": "", "phoneExt": "", "email": ""} for i in el.findall("investigator")]
    return {
        "facility": text(el, "facility/name"),
        "status": _enum("status", text(el, "status"), "location/status", problem),
        "city": text(el, f"{address}/city"), "state": text(el, f"{address}/state"),
        "zip": text(el, f"{address}/zip"), "country": text(el, f"{address}/country"),
        "contacts": contacts,
    }


def _eligibility(root: Any, problem: Problem) -> dict:
    el = root.find("eligibility")
    if el is None:
        return {}
    limits = {}
    for tag, key in (("minimum_age", "minimumAge"), ("maximum_age", "maximumAge")):
        value, known = age(text(el, tag))
        if not known:
            problem(f"eligibility/{tag}", text(el, tag), "an age such as '18 Years', '6 Months' or N/A")
        limits[key] = value
    return {
        "eligibilityCriteria": textblock(el, "criteria"),
        "healthyVolunteers": yes_no(text(el, "healthy_volunteers")) if text(el, "healthy_volunteers") else None,
        "sex": _enum("sex", text(el, "gender"), "eligibility/gender", problem),
        "genderBased": yes_no(text(el, "gender_based")) if text(el, "gender_based") else None,
        "genderDescription": textblock(el, "gender_description"),
        **limits,
        "studyPopulation": textblock(el, "study_pop"),
        "samplingMethod": _enum("sampling", text(el, "sampling_method"), "eligibility/sampling_method", problem),
    }


_EUDRACT = re.compile(r"^\d{4}-\d{6}-\d{2}$")


def _secondary_ids(root: Any) -> list[dict]:
    """The secondary ids (the XML gives no type; an id of the EudraCT form 2017-004180-12 is typed EUDRACT_NUMBER,
    as the API v2 record of the same study types it)."""
    return [{"id": value, **({"type": "EUDRACT_NUMBER"} if _EUDRACT.match(value) else {})}
            for value in texts(root, "id_info/secondary_id")]


def _documents(root: Any) -> list[dict]:
    """`<study_docs><study_doc>` -> referencesModule.availIpds (id, type, url, comment)."""
    return [{"id": text(d, "doc_id"), "type": text(d, "doc_type"), "url": text(d, "doc_url"),
             "comment": text(d, "doc_comment")} for d in root.findall("study_docs/study_doc")]


def _sponsor(el: Any, problem: Problem) -> dict:
    return {"name": text(el, "agency"), "class": _enum("agency_class", text(el, "agency_class"), "agency_class", problem)}


def _responsible(root: Any, problem: Problem) -> dict:
    el = root.find("responsible_party")
    if el is None:
        return {}
    return {"type": _enum("responsible_party", text(el, "responsible_party_type"), "responsible_party_type", problem),
            "investigatorFullName": text(el, "investigator_full_name"),
            "investigatorTitle": text(el, "investigator_title"),
            "investigatorAffiliation": text(el, "investigator_affiliation"),
            "oldNameTitle": text(el, "name_title"), "oldOrganization": text(el, "organization")}


def _references(root: Any, problem: Problem) -> list[dict]:
    found = []
    for tag, kind in (("reference", "BACKGROUND"), ("results_reference", "RESULT")):
        for ref in root.findall(tag):
            pmid = text(ref, "PMID")
            found.append({"pmid": pmid if pmid.isdigit() else "", "type": kind, "citation": text(ref, "citation")})
    return found


def _ipd(root: Any, problem: Problem) -> dict:
    el = root.find("patient_data")
    if el is None:
        return {}
    return {"ipdSharing": _enum("ipd_sharing", text(el, "sharing_ipd"), "patient_data/sharing_ipd", problem),
            "description": text(el, "ipd_description"),
            "infoTypes": [v for v in (enum("ipd_info", t) for t in texts(el, "ipd_info_type")) if v],
            "timeFrame": text(el, "ipd_time_frame"), "accessCriteria": text(el, "ipd_access_criteria"),
            "url": text(el, "ipd_url")}


def _status(root: Any, problem: Problem) -> dict:
    access = text(root, "has_expanded_access")
    return {
        "statusVerifiedDate": _plain_date(root, "verification_date", problem),
        "overallStatus": _enum("status", text(root, "overall_status"), "overall_status", problem),
        "lastKnownStatus": _enum("status", text(root, "last_known_status"), "last_known_status", problem),
        "whyStopped": text(root, "why_stopped"),
        "expandedAccessInfo": {"hasExpandedAccess": yes_no(access)} if access else {},
        "startDateStruct": _date(root, "start_date", problem),
        "primaryCompletionDateStruct": _date(root, "primary_completion_date", problem),
        "completionDateStruct": _date(root, "completion_date", problem),
        "studyFirstSubmitDate": _plain_date(root, "study_first_submitted", problem)
        or _plain_date(root, "firstreceived_date", problem),
        "studyFirstSubmitQcDate": _plain_date(root, "study_first_submitted_qc", problem),
        "studyFirstPostDateStruct": _date(root, "study_first_posted", problem),
        "resultsFirstSubmitDate": _plain_date(root, "results_first_submitted", problem)
        or _plain_date(root, "firstreceived_results_date", problem),
        "resultsFirstSubmitQcDate": _plain_date(root, "results_first_submitted_qc", problem),
        "resultsFirstPostDateStruct": _date(root, "results_first_posted", problem),
        "lastUpdateSubmitDate": _plain_date(root, "last_update_submitted", problem)
        or _plain_date(root, "lastchanged_date", problem),
        "lastUpdatePostDateStruct": _date(root, "last_update_posted", problem),
    }


def _design(root: Any, problem: Problem) -> dict:
    phase_text = text(root, "phase")
    found_phases = phases(phase_text) if phase_text else None
    if phase_text and found_phases is None:
        problem("phase", phase_text, "a phase such as 'Phase 1/Phase 2' or N/A")
    study_type = text(root, "study_type")
    enrollment = root.find("enrollment")
    count = integer(enrollment.text) if enrollment is not None and enrollment.text else None
    return {
        "studyType": _enum("study_type", study_type, "study_type", problem),
        "patientRegistry": True if "registry" in study_type.lower() else None,
        "targetDuration": text(root, "target_duration"),
        "phases": found_phases or [],
        "designInfo": _design_info(root, problem),
        "bioSpec": {"retention": _enum("retention", text(root, "biospec_retention"), "biospec_retention", problem),
                    "description": textblock(root, "biospec_descr")},
        "enrollmentInfo": {"count": count, "type": enum("enrollment_type", enrollment.get("type", ""))}
        if count is not None else {},
    }


def _arms(root: Any, problem: Problem) -> dict:
    interventions = [{
        "type": _enum("intervention_type", text(i, "intervention_type"), "intervention/intervention_type", problem),
        "name": text(i, "intervention_name"),
        "description": textblock(i, "description") if i.find("description/textblock") is not None else text(i, "description"),
        "armGroupLabels": texts(i, "arm_group_label"),
        "otherNames": texts(i, "other_name"),
    } for i in root.findall("intervention")]
    labels_of = {}
    for item in interventions:
        for label in item["armGroupLabels"]:
            labels_of.setdefault(label, []).append(item)
    groups = []
    for group in root.findall("arm_group"):
        label = text(group, "arm_group_label")
        groups.append({
            "label": label,
            "type": _enum("arm_type", text(group, "arm_group_type"), "arm_group/arm_group_type", problem),
            "description": text(group, "description"),
            "interventionNames": [f"{_display_type(i['type'])}: {i['name']}" for i in labels_of.get(label, [])],
        })
    return {"armGroups": groups, "interventions": interventions}


def _display_type(kind: str | None) -> str:
    """DRUG -> Drug, DIETARY_SUPPLEMENT -> Dietary Supplement (how v2 prefixes armGroups.interventionNames)."""
    return (kind or "Other").replace("_", " ").title()


def _protocol(root: Any, problem: Problem) -> dict:
    return {
        "identificationModule": {
            "nctId": text(root, "id_info/nct_id"),
            "nctIdAliases": texts(root, "id_info/nct_alias"),
            "orgStudyIdInfo": {"id": text(root, "id_info/org_study_id")},
            "secondaryIdInfos": _secondary_ids(root),
            "organization": {"fullName": text(root, "source")},
            "briefTitle": text(root, "brief_title"),
            "officialTitle": text(root, "official_title"),
            "acronym": text(root, "acronym"),
        },
        "statusModule": _status(root, problem),
        "sponsorCollaboratorsModule": {
            "responsibleParty": _responsible(root, problem),
            "leadSponsor": _sponsor(root.find("sponsors/lead_sponsor"), problem)
            if root.find("sponsors/lead_sponsor") is not None else {},
            "collaborators": [_sponsor(c, problem) for c in root.findall("sponsors/collaborator")],
        },
        "oversightModule": {
            "oversightHasDmc": yes_no(text(root, "oversight_info/has_dmc")),
            "isFdaRegulatedDrug": yes_no(text(root, "oversight_info/is_fda_regulated_drug")),
            "isFdaRegulatedDevice": yes_no(text(root, "oversight_info/is_fda_regulated_device")),
            "isUnapprovedDevice": yes_no(text(root, "oversight_info/is_unapproved_device")),
            "isPpsd": yes_no(text(root, "oversight_info/is_ppsd")),
            "isUsExport": yes_no(text(root, "oversight_info/is_us_export")),
        },
        "descriptionModule": {"briefSummary": textblock(root, "brief_summary"),
                              "detailedDescription": textblock(root, "detailed_description")},
        "conditionsModule": {"conditions": texts(root, "condition"), "keywords": texts(root, "keyword")},
        "designModule": _design(root, problem),
        "armsInterventionsModule": _arms(root, problem),
        "outcomesModule": {"primaryOutcomes": _outcomes(root, "primary_outcome"),
                           "secondaryOutcomes": _outcomes(root, "secondary_outcome"),
                           "otherOutcomes": _outcomes(root, "other_outcome")},
        "eligibilityModule": _eligibility(root, problem),
        "contactsLocationsModule": {
            "centralContacts": [_contact(c, "CONTACT") for c in (root.find("overall_contact"),
                                                                 root.find("overall_contact_backup")) if c is not None],
            "overallOfficials": [{"name": person(o), "affiliation": text(o, "affiliation"),
                                  "role": _enum("official_role", text(o, "role"), "overall_official/role", problem)}
                                 for o in root.findall("overall_official")],
            "locations": [_location(loc, problem) for loc in root.findall("location")],
        },
        "referencesModule": {
            "references": _references(root, problem),
            "seeAlsoLinks": [{"label": text(link, "description"), "url": text(link, "url")} for link in root.findall("link")],
            "availIpds": _documents(root),
        },
        "ipdSharingStatementModule": _ipd(root, problem),
    }


def _browse(root: Any, tag: str) -> dict:
    """The MeSH terms of condition_browse / intervention_browse (the XML gives no descriptor ids)."""
    return {"meshes": [{"term": term} for term in texts(root, f"{tag}/mesh_term")]}


def legacy_to_v2(root: Any, problem: Problem) -> dict:
    """A `<clinical_study>` element -> the API v2 record (protocolSection, derivedSection, hasResults)."""
    record = {
        "protocolSection": _protocol(root, problem),
        "derivedSection": {"conditionBrowseModule": _browse(root, "condition_browse"),
                           "interventionBrowseModule": _browse(root, "intervention_browse")},
        "hasResults": root.find("clinical_results") is not None,
    }
    countries = texts(root, "location_countries/country")
    pruned = prune(record)
    if countries and not pruned["protocolSection"].get("contactsLocationsModule", {}).get("locations"):
        pruned.setdefault("protocolSection", {}).setdefault("contactsLocationsModule", {})["locations"] = [
            {"country": country} for country in countries]
    return pruned
