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
"""
from __future__ import annotations

from typing import Any, Mapping

from trialbridge.mappings.fhir.common import (
    SNOMED,
    SYSTEM_NCT,
    SYSTEM_ORG_STUDY_ID,
    SYSTEM_SECONDARY_ID,
    SYSTEM_STUDYID,
    FhirInput,
    R4Differences,
    coding,
    concept,
    describe,
    drop,
    identifier,
    narrative,
    prune,
    recast,
    reference,
    rename,
    resource_id,
    system,
    to_r4,
    with_text,
)
from trialbridge.mappings.fhir.group import group_key
from trialbridge.mappings.fhir.medication import drug_codes
from trialbridge.mappings.fhir.organization import organization_reference, sponsor_name
from trialbridge.mappings.fhir.practitioner import RESPONSIBLE, people, role_reference, telecom
from trialbridge.mappings.fhir.registry import (
    ISO3166,
    MESH,
    REGISTRY_PAGE,
    arms,
    in_order,
    label,
    module,
    nct_id,
    sites,
    xver,
)
from trialbridge.mappings.fhir.registry_codes import (
    ARM_TYPES,
    CLASSIFIERS,
    FLAG_LABELS,
    MASKING_TEXT,
    OFFICIAL_ROLES,
    OUTCOMES,
    PARTY_ORGANIZATION_TYPES,
    PHASES,
    PURPOSES,
    R4_STATUS,
    R4_STATUS_UNKNOWN,
    R5CS,
    RECORD_DATES,
    RESPONSIBLE_ROLES,
    SEVCO,
    STATES,
    r4_codes,
)
from trialbridge.mappings.fhir.registry_placement import unplaced_fields
from trialbridge.schemas.findings import Finding

# External codes of REVALLO's treatment and condition, moved here unchanged from mappings/sdtm/ts.py (TS now
# takes them from StudyInfo): ResearchStudy should take them from StudyInfo too (FHIR lane, issue 14).
IPD_FIELDS = (("description", "Description"), ("timeFrame", "Time frame"), ("accessCriteria", "Access criteria"),
              ("url", "URL"))
RESPONSIBLE_PARTY = concept(text="Responsible party")
STUDY_START, PRIMARY_COMPLETION = concept(text="Study start"), concept(text="Primary completion")


def _code(system: str, pair: tuple[str, str] | None, text: str) -> dict:
    return concept(*([coding(R5CS + system, *pair)] if pair else []), text=text)


def _yes_no(flag: Any) -> str:
    return "Yes" if flag else "No"


def _mesh(term: dict) -> dict:
    return concept(*([coding(MESH, str(term["id"]), str(term.get("term", "")))] if term.get("id") else []),
                   text=str(term.get("term", "")))


# ------------------------------------------------------------------------------------ identity
def study_key(inp: FhirInput) -> tuple[str, ...]:
    return (inp.studyid,)


def identifiers(inp: FhirInput) -> list[dict]:
    ident = module(inp.registry, "identificationModule")
    org_id = ident.get("orgStudyIdInfo", {})
    registering = str(ident.get("organization", {}).get("fullName", "")) or sponsor_name(inp)
    return [
        identifier(system(inp, SYSTEM_NCT), nct_id(inp.registry), use="official") if nct_id(inp.registry) else None,
        identifier(system(inp, SYSTEM_ORG_STUDY_ID), str(org_id["id"]), **prune({
            "type": concept(text=label(str(org_id.get("type", "")))) if org_id.get("type") else None,
            "assigner": organization_reference(inp, registering) if registering else None,
        })) if org_id.get("id") else None,
        *[identifier(system(inp, SYSTEM_SECONDARY_ID), str(s["id"]), **prune({
            "type": concept(text=label(str(s.get("type", "")))) if s.get("type") else None,
            "assigner": {"display": str(s["domain"])} if s.get("domain") else None,
        })) for s in ident.get("secondaryIdInfos", []) if s.get("id")],
        identifier(system(inp, SYSTEM_STUDYID), inp.studyid) if inp.studyid else None,
    ]


def labels(inp: FhirInput) -> list[dict]:
    ident = module(inp.registry, "identificationModule")
    return [
        {"type": concept(coding(R5CS + "title-type", code, display), text=display), "value": str(ident[key])}
        for key, code, display in (("officialTitle", "official", "Official title"), ("acronym", "acronym", "Acronym"))
        if ident.get(key)
    ]


def related_artifacts(inp: FhirInput) -> list[dict]:
    nct, refs = nct_id(inp.registry), module(inp.registry, "referencesModule")
    ident = module(inp.registry, "identificationModule")
    id_links = [i for i in [ident.get("orgStudyIdInfo", {}), *ident.get("secondaryIdInfos", [])] if i.get("link")]
    return [
        {"type": "derived-from", "label": "ClinicalTrials.gov", "display": f"ClinicalTrials.gov record {nct}",
         "document": {"url": REGISTRY_PAGE + nct}} if nct else None,
        *[{"type": "citation", "label": label(str(r.get("type", ""))), "citation": r.get("citation"),
           "document": {"url": f"https://pubmed.ncbi.nlm.nih.gov/{r['pmid']}/"} if r.get("pmid") else None}
          for r in refs.get("references", [])],
        *[{"type": "documentation", "display": link.get("label"), "document": {"url": link.get("url")}}
          for link in refs.get("seeLinks", [])],
        *[{"type": "documentation", "label": ipd.get("id"),
           "display": ": ".join(str(v) for v in (ipd.get("type"), ipd.get("comment")) if v),
           "document": {"url": ipd.get("url")}} for ipd in refs.get("availIpds", [])],
        *[{"type": "documentation", "display": f"Study id {i['id']}", "document": {"url": i["link"]}}
          for i in id_links],
    ]


# ------------------------------------------------------------------------------------ design
def primary_purpose(inp: FhirInput) -> dict | None:
    purpose = str(module(inp.registry, "designModule").get("designInfo", {}).get("primaryPurpose", ""))
    return _code("research-study-prim-purp-type", PURPOSES.get(purpose), label(purpose)) if purpose else None


def phase(inp: FhirInput) -> dict | None:
    phases = tuple(str(p) for p in module(inp.registry, "designModule").get("phases", []))
    pair = PHASES.get(phases)
    return _code("research-study-phase", pair, pair[1] if pair else " / ".join(label(p) for p in phases)) \
        if phases else None


def _design(field: str, value: Any, title: str) -> dict:
    text = f"{title}: {MASKING_TEXT.get(str(value), label(str(value))) if isinstance(value, str) else value}"
    pair = SEVCO.get((field, str(value)))
    return concept(*([coding(R5CS + "study-design", *pair)] if pair else []), text=text)


def study_design(inp: FhirInput) -> list[dict]:
    design = module(inp.registry, "designModule")
    info, masking, bio = design.get("designInfo", {}), design.get("designInfo", {}).get("maskingInfo", {}), \
        design.get("bioSpec", {})
    fields = [("studyType", design.get("studyType"), "Study type"),
              ("patientRegistry", _yes_no(design["patientRegistry"]) if "patientRegistry" in design else None,
               "Patient registry"),
              ("allocation", info.get("allocation"), "Allocation"),
              ("interventionModel", info.get("interventionModel"), "Intervention model"),
              ("interventionModelDescription", info.get("interventionModelDescription"),
               "Intervention model description"),
              ("observationalModel", info.get("observationalModel"), "Observational model"),
              ("timePerspective", info.get("timePerspective"), "Time perspective"),
              ("masking", masking.get("masking"), "Masking"),
              *[("whoMasked", who, "Masked") for who in masking.get("whoMasked", [])],
              ("maskingDescription", masking.get("maskingDescription"), "Masking description"),
              ("targetDuration", design.get("targetDuration"), "Target follow-up duration"),
              ("retention", bio.get("retention"), "Biospecimen retention"),
              ("bioSpecDescription", bio.get("description"), "Biospecimen description"),
              *[(f"expandedAccess.{k}", _yes_no(v), f"Expanded access type {k}")
                for k, v in design.get("expandedAccessTypes", {}).items()],
              ("nPtrsToThisExpAccNctId", design.get("nPtrsToThisExpAccNctId"),
               "Records pointing to this expanded access record")]
    free_text = {"interventionModelDescription", "maskingDescription", "targetDuration", "bioSpecDescription"}
    return [concept(text=f"{title}: {value}") if field in free_text else _design(field, value, title)
            for field, value, title in fields if value not in (None, "")]


def classifiers(inp: FhirInput) -> list[dict]:
    oversight = module(inp.registry, "oversightModule")
    status = module(inp.registry, "statusModule")
    access = status.get("expandedAccessInfo", {})
    flags = [*oversight.items(), ("delayedPosting", status.get("delayedPosting")),
             ("hasExpandedAccess", access.get("hasExpandedAccess")), ("hasResults", inp.registry.get("hasResults"))]
    out = [_code("research-study-classifiers", CLASSIFIERS.get(k) if v is True else None,
                 f"{FLAG_LABELS.get(k, k)}: {_yes_no(v) if isinstance(v, bool) else v}")
           for k, v in flags if v is not None]
    out += [concept(text=f"Expanded access record: {access['nctId']}")] if access.get("nctId") else []
    out += [concept(text=f"Expanded access status: {label(str(access['statusForNctId']))}")] \
        if access.get("statusForNctId") else []
    return out


# ------------------------------------------------------------------------------------ subject matter
def _intervention_codes(inp: FhirInput, name: str) -> list[dict]:
    meshes = module(inp.registry, "interventionBrowseModule").get("meshes", [])
    key = name.upper()
    return [*drug_codes(inp, key),
            *[coding(MESH, str(m["id"]), str(m.get("term", ""))) for m in meshes
              if m.get("id") and str(m.get("term", "")).lower() == name.lower()]]


def focus(inp: FhirInput) -> list[dict]:
    ex = inp.sdtm.get("EX")
    given = set(ex["EXTRT"]) if ex is not None and "EXTRT" in ex else set()
    return [
        {"concept": concept(*_intervention_codes(inp, str(i.get("name", ""))), text=str(i.get("name", ""))),
         "reference": reference("Medication", str(i["name"]).upper(), display=str(i["name"]))
         if str(i.get("name", "")).upper() in given else None}
        for i in module(inp.registry, "armsInterventionsModule").get("interventions", []) if i.get("name")
    ]


def stated_snomed(inp: FhirInput, name: str, mesh_id: str = "") -> str:
    """The SNOMED CT concept the study spec states for a condition (by its name, else by its MeSH id), or ""."""
    stated = inp.study.conditions if inp.study is not None else ()
    by_name = [c.snomed for c in stated if c.snomed and c.name.casefold() == name.casefold()]
    by_mesh = [c.snomed for c in stated if c.snomed and mesh_id and c.mesh == mesh_id]
    return (by_name + by_mesh + [""])[0]


def conditions(inp: FhirInput) -> list[dict]:
    """The registry's conditions: MeSH from the record, SNOMED CT as the study spec states it (conditions.csv)."""
    meshes = module(inp.registry, "conditionBrowseModule").get("meshes", [])
    by_term = {str(m.get("term", "")).lower(): m for m in meshes}
    named = [str(c) for c in module(inp.registry, "conditionsModule").get("conditions", [])]

    def coded(text: str, mesh: dict | None) -> dict:
        mesh_id = str((mesh or {}).get("id", ""))
        snomed = stated_snomed(inp, text, mesh_id)
        codes = [coding(MESH, mesh_id, str(mesh.get("term", "")))] if mesh_id and mesh else []
        codes += [coding(SNOMED, snomed)] if snomed else []
        return concept(*codes, text=text)

    extra = [m for m in meshes if str(m.get("term", "")).lower() not in {c.lower() for c in named}]
    return [coded(c, by_term.get(c.lower())) for c in named] + [coded(str(m.get("term", "")), m) for m in extra]


def keywords(inp: FhirInput) -> list[dict]:
    interventions = {str(i.get("name", "")).lower()
                     for i in module(inp.registry, "armsInterventionsModule").get("interventions", [])}
    condition_browse = module(inp.registry, "conditionBrowseModule")
    intervention_browse = module(inp.registry, "interventionBrowseModule")
    return [
        *[concept(text=str(k)) for k in module(inp.registry, "conditionsModule").get("keywords", [])],
        *[_mesh(m) for m in condition_browse.get("ancestors", [])],
        *[_mesh(m) for m in intervention_browse.get("meshes", [])
          if str(m.get("term", "")).lower() not in interventions],  # the others code a focus
        *[_mesh(m) for m in intervention_browse.get("ancestors", [])],
    ]


def regions(inp: FhirInput) -> list[dict]:
    found: dict[str, dict] = {}
    for site in sites(inp):
        name = str(site.location.get("country", "")) or site.country_code
        code = site.country_code
        if name and name not in found:
            found[name] = concept(*([coding(ISO3166, code, name if name != code else "")] if code else []), text=name)
    return list(found.values())


# ------------------------------------------------------------------------------------ notes
def _dated(value: Any) -> str:
    """A registry date or date struct as text: "2011-08-23 (Estimated)"."""
    if isinstance(value, dict):
        kind = f" ({label(str(value['type']))})" if value.get("type") else ""
        return f"{value.get('date', '')}{kind}"
    return str(value)


def notes(inp: FhirInput) -> list[dict]:
    status = module(inp.registry, "statusModule")
    responsible = module(inp.registry, "sponsorCollaboratorsModule").get("responsibleParty", {})
    ipd = module(inp.registry, "ipdSharingStatementModule")
    removed = module(inp.registry, "miscInfoModule").get("removedCountries", [])
    texts = [_intervention_note(i) for i in module(inp.registry, "armsInterventionsModule").get("interventions", [])]
    dates = [f"{title}: {_dated(status[key])}" for key, title in RECORD_DATES if status.get(key)]
    texts.append("**ClinicalTrials.gov record dates**\n\n" + "\n".join(f"* {d}" for d in dates) if dates else "")
    if ipd:
        texts.append(_ipd_note(ipd))
    if responsible.get("oldNameTitle") or responsible.get("oldOrganization"):
        texts.append("Responsible party (as registered): " + ", ".join(
            str(responsible[k]) for k in ("oldNameTitle", "oldOrganization") if responsible.get(k)))
    if removed:
        texts.append("Countries removed from the record: " + ", ".join(str(c) for c in removed))
    return [{"text": t} for t in texts if t]


def _listed(title: str, values: Any) -> str:
    return f"* {title}: {', '.join(map(str, values))}" if values else ""


def _intervention_note(intervention: dict) -> str:
    """**Intervention: Drug: Lenalidomide**, its other names and arm groups, then its description."""
    head = f"**Intervention: {label(str(intervention.get('type', '')))}: {intervention.get('name', '')}**"
    body = "\n".join(line for line in (_listed("Other names", intervention.get("otherNames")),
                                       _listed("Arm groups", intervention.get("armGroupLabels"))) if line)
    return "\n\n".join(part for part in (head, body, str(intervention.get("description", ""))) if part)


def _ipd_note(ipd: dict) -> str:
    """The individual participant data sharing statement, one line per registry field."""
    parts = [f"* Plan to share individual participant data: {label(str(ipd.get('ipdSharing', '')))}",
             *[f"* {title}: {ipd[key]}" for key, title in IPD_FIELDS if ipd.get(key)],
             _listed("Information types", [label(str(t)) for t in ipd.get("infoTypes", [])])]
    return "**IPD sharing statement**\n\n" + "\n".join(p for p in parts if p)


# ------------------------------------------------------------------------------------ parties and progress
def _party_classifier(agency_class: str) -> list[dict]:
    if not agency_class:
        return []
    return [_code("research-study-party-organization-type", PARTY_ORGANIZATION_TYPES.get(agency_class), agency_class)]


def _role(code: str) -> dict:
    return concept(coding(R5CS + "research-study-party-role", code, code))  # R5 display = the code


def _organization_party(inp: FhirInput, organization: dict, code: str, classifier: list[dict]) -> dict:
    name = str(organization["name"])
    return {"name": name, "role": _role(code), "classifier": classifier, "party": organization_reference(inp, name)}


def associated_parties(inp: FhirInput) -> list[dict]:
    """Lead sponsor, responsible party, collaborators, then the people in `practitioner.people` order."""
    sponsors = module(inp.registry, "sponsorCollaboratorsModule")
    lead, responsible = sponsors.get("leadSponsor", {}), sponsors.get("responsibleParty", {})
    kind = str(responsible.get("type", ""))
    parties = [_organization_party(inp, lead, "lead-sponsor", _party_classifier(str(lead.get("class", ""))))
               ] if lead.get("name") else []
    if kind == "SPONSOR" and lead.get("name"):
        parties.append(_organization_party(inp, lead, "sponsor", [RESPONSIBLE_PARTY]))
    parties += [_organization_party(inp, c, "collaborator", _party_classifier(str(c.get("class", ""))))
                for c in sponsors.get("collaborators", []) if c.get("name")]
    for person in people(inp):
        if person.role in OFFICIAL_ROLES:
            parties.append({"name": person.name, "role": _role(OFFICIAL_ROLES[person.role]),
                            "party": role_reference(person)})
        elif person.role == RESPONSIBLE and kind in RESPONSIBLE_ROLES:
            parties.append({"name": person.name, "role": _role(RESPONSIBLE_ROLES[kind]),
                            "classifier": [RESPONSIBLE_PARTY], "party": role_reference(person)})
        elif not person.role:
            parties.append({"name": person.name, "role": _role("recruitment-contact"),
                            "party": reference("Practitioner", person.name, display=person.name)})
    if kind and kind not in RESPONSIBLE_ROLES:  # a responsible-party type this mapping does not know
        parties.append({"name": label(kind), "role": concept(text=label(kind)), "classifier": [RESPONSIBLE_PARTY]})
    return parties


def progress(inp: FhirInput) -> list[dict]:
    status = module(inp.registry, "statusModule")
    overall, last_known = str(status.get("overallStatus", "")), str(status.get("lastKnownStatus", ""))
    start, primary, completion = (status.get(k, {}) for k in ("startDateStruct", "primaryCompletionDateStruct",
                                                               "completionDateStruct"))
    current_text = label(overall) + (f" (last known status: {label(last_known)})" if last_known else "")
    current = STATES.get(last_known if overall == "UNKNOWN" else overall)
    return [
        {"state": _code("research-study-status", current, current_text),
         "actual": True if overall != "UNKNOWN" else None} if overall else None,
        {"state": _code("research-study-status", ("overall-study", "Overall study"), "Overall study"),
         "actual": completion.get("type") == "ACTUAL" if completion.get("type") else None,
         "period": {"start": start.get("date"), "end": completion.get("date")}} if start or completion else None,
        {"state": STUDY_START, "actual": start["type"] == "ACTUAL", "period": {"start": start.get("date")}}
        if start.get("date") and start.get("type") else None,  # an untyped start is the overall period's
        {"state": PRIMARY_COMPLETION, "actual": primary["type"] == "ACTUAL" if primary.get("type") else None,
         "period": {"end": primary.get("date")}} if primary.get("date") else None,
    ]


def recruitment(inp: FhirInput) -> dict:
    enrolment = module(inp.registry, "designModule").get("enrollmentInfo", {})
    count, actual = enrolment.get("count"), enrolment.get("type") == "ACTUAL"
    return {"targetNumber": None if actual else count, "actualNumber": count if actual else None,
            "eligibility": reference("Group", *group_key(inp))}


def comparison_groups(inp: FhirInput) -> list[dict]:
    return [
        {"linkId": arm.link, "name": arm.arm,
         "type": _code("research-study-arm-type", ARM_TYPES.get(str(arm.group.get("type", ""))),
                       label(str(arm.group.get("type", "")))) if arm.group.get("type") else None,
         "description": "\n\n".join(part for part in (
             str(arm.group.get("description", "")),
             f"Interventions: {', '.join(map(str, arm.group['interventionNames']))}"
             if arm.group.get("interventionNames") else "") if part)}
        for arm in arms(inp)
    ]


def outcome_measures(inp: FhirInput) -> list[dict]:
    outcomes = module(inp.registry, "outcomesModule")
    return [
        {"name": o.get("measure"),
         "type": [_code("research-study-objective-type", (code, display), display)],
         "description": "\n\n".join(part for part in (
             str(o.get("description", "")), f"Time frame: {o['timeFrame']}" if o.get("timeFrame") else "") if part)}
        for key, code, display in OUTCOMES for o in outcomes.get(key, [])
    ]


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


# ------------------------------------------------------------------------------------ R4
ELEMENTS_R4 = ("resourceType", "id", "text", "extension", "identifier", "title", "protocol", "partOf", "status",
               "primaryPurposeType", "phase", "category", "focus", "condition", "contact", "relatedArtifact",
               "keyword", "location", "description", "enrollment", "period", "sponsor", "principalInvestigator",
               "site", "reasonStopped", "note", "arm", "objective")
PARTY_TYPES = {"name": "string", "role": "CodeableConcept", "period": "Period", "classifier": "CodeableConcept",
               "party": "Reference"}


def _role_code(party: dict) -> str:
    return next((c["code"] for c in party.get("role", {}).get("coding", [])), "")


def _native_parties(study: dict) -> tuple[dict | None, dict | None]:
    """The parties R4 holds natively: the lead sponsor (sponsor) and the first principal investigator."""
    parties = study.get("associatedParty", [])
    lead = next((p for p in parties if _role_code(p) == "lead-sponsor" and p.get("party")), None)
    pi = next((p for p in parties if _role_code(p) == "primary-investigator" and p.get("party")), None)
    return lead, pi


def _r4_status(study: dict, _: Mapping[str, Any]) -> str:
    """R4 status (required research-study-status) from the R5 current state."""
    states = {code for code, _display in STATES.values()}
    code = next((c["code"] for p in study.get("progressStatus", []) for c in p.get("state", {}).get("coding", [])
                 if c.get("code") in states), "")
    return R4_STATUS.get(code, code) if code else R4_STATUS_UNKNOWN


LABEL_TYPES = {"type": "CodeableConcept", "value": "string"}
PROGRESS_TYPES = {"state": "CodeableConcept", "actual": "boolean", "period": "Period"}
NUMBER_TYPES = {"targetNumber": "unsignedInt", "actualNumber": "unsignedInt"}
MEASURE_TYPES = {"name": "string", "type": "CodeableConcept", "description": "markdown"}


def _r4_extensions(study: dict, _: Mapping[str, Any]) -> list[dict]:
    """R5 elements R4 lacks, as cross-version extensions (parties R4 holds natively left out)."""
    native = [p for p in _native_parties(study) if p]
    parties = [p for p in study.get("associatedParty", [])
               if not any(p is n for n in native) and _role_code(p) != "recruitment-contact"]
    numbers = {k: v for k, v in study.get("recruitment", {}).items() if k in NUMBER_TYPES}
    return r4_codes([
        *[xver("ResearchStudy.label", item, LABEL_TYPES) for item in study.get("label", [])],
        *([xver("ResearchStudy.date", study["date"], "dateTime")] if study.get("date") else []),
        *[xver("ResearchStudy.associatedParty", p, PARTY_TYPES) for p in parties],
        *[xver("ResearchStudy.progressStatus", p, PROGRESS_TYPES) for p in study.get("progressStatus", [])],
        *([xver("ResearchStudy.recruitment", numbers, NUMBER_TYPES)] if numbers else []),
        *[xver("ResearchStudy.outcomeMeasure", o, MEASURE_TYPES) for o in study.get("outcomeMeasure", [])],
    ])


def _r4_description(study: dict, _: Mapping[str, Any]) -> str:
    return "\n\n".join(t for t in (study.get("descriptionSummary"), study.get("description")) if t)


def _r4_enrollment(study: dict, _: Mapping[str, Any]) -> list[dict] | None:
    eligibility = study.get("recruitment", {}).get("eligibility")
    return [eligibility] if eligibility else None


def _r4_arms(study: dict, _: Mapping[str, Any]) -> list[dict]:
    return [prune({"name": g.get("name"), "type": g.get("type"), "description": g.get("description")})
            for g in study.get("comparisonGroup", [])]


def _r4_objectives(study: dict, _: Mapping[str, Any]) -> list[dict]:
    return [{"name": o.get("name"), "type": r4_codes(o["type"][0])} for o in study.get("outcomeMeasure", [])]


def _r4_contacts(study: dict, context: Mapping[str, Any]) -> list[dict]:
    """R4 contact (ContactDetail): each recruitment contact's name and contact points."""
    points: Mapping[str, list[dict]] = context.get("telecom", {})
    return [prune({"name": p.get("name"), "telecom": points.get(str(p.get("name")), [])})
            for p in study.get("associatedParty", []) if _role_code(p) == "recruitment-contact"]


R4 = R4Differences(
    recast("extension", _r4_extensions),
    recast("status", _r4_status),
    recast("primaryPurposeType", lambda s, _: r4_codes(s.get("primaryPurposeType"))),
    recast("phase", lambda s, _: r4_codes(s.get("phase"))),
    recast("studyDesign", lambda s, _: s.get("studyDesign", []) + s.get("classifier", [])),
    rename("studyDesign", "category"),
    recast("focus", lambda s, _: [f["concept"] for f in s.get("focus", []) if f.get("concept")]),
    recast("contact", _r4_contacts),
    rename("region", "location"),
    recast("description", _r4_description),
    recast("enrollment", _r4_enrollment),
    recast("sponsor", lambda s, _: (_native_parties(s)[0] or {}).get("party")),
    recast("principalInvestigator", lambda s, _: (_native_parties(s)[1] or {}).get("party")),
    rename("whyStopped", "reasonStopped"),
    recast("arm", _r4_arms),
    recast("objective", _r4_objectives),
    drop("label", "R4 has no label: official title and acronym go to extension-ResearchStudy.label"),
    drop("date", "R4 has no date: extension-ResearchStudy.date"),
    drop("descriptionSummary", "R4 has one description: the brief summary opens it"),
    drop("classifier", "R4 category holds the R5 studyDesign and classifier together"),
    drop("associatedParty", "R4 sponsor (lead sponsor), principalInvestigator (first PI), contact (recruitment "
                            "contacts); every other party: extension-ResearchStudy.associatedParty"),
    drop("progressStatus", "R4 status (current state); every state: extension-ResearchStudy.progressStatus"),
    drop("recruitment", "R4 enrollment (eligibility Group); numbers: extension-ResearchStudy.recruitment"),
    drop("comparisonGroup", "R4 arm (name = DM ARM, type, description); linkId has no R4 element: R4 links "
                            "subjects to arms by name"),
    drop("outcomeMeasure", "R4 objective (name, type); the whole measure with its description and time frame: "
                           "extension-ResearchStudy.outcomeMeasure"),
)


def r4_context(inp: FhirInput) -> dict[str, Any]:
    """What the R4 recasts read besides the R5 resource: the contact points of each person."""
    found: dict[str, list[dict]] = {}
    for person in people(inp):
        found.setdefault(person.name, []).extend(telecom(person))
    return {"telecom": found}


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
