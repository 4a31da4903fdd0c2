"""Registry record (API v2) interventions, dates, sharing statement, sponsors, people, status, enrolment, arms
and outcomes -> the ResearchStudy elements note, associatedParty, progressStatus, recruitment, comparisonGroup
and outcomeMeasure (R5; the rules are listed in `research_study`).
"""
from __future__ import annotations

from typing import Any

from trialbridge.mappings.fhir.common import FhirInput, coding, concept, reference
from trialbridge.mappings.fhir.group import group_key
from trialbridge.mappings.fhir.organization import organization_reference
from trialbridge.mappings.fhir.practitioner import RESPONSIBLE, people, role_reference
from trialbridge.mappings.fhir.registry import arms, label, module, r5_coded
from trialbridge.mappings.fhir.registry_codes import (
    ARM_TYPES, OFFICIAL_ROLES, OUTCOMES, PARTY_ORGANIZATION_TYPES, R5CS, RECORD_DATES, RESPONSIBLE_ROLES, STATES,
)

IPD_FIELDS = (("description", "Description"), ("timeFrame", "Time frame"), ("accessCriteria", "Access criteria"),
              ("url", "URL"))
RESPONSIBLE_PARTY = concept(text="Responsible party")
STUDY_START, PRIMARY_COMPLETION = concept(text="Study start"), concept(text="Primary completion")


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
    return [r5_coded("research-study-party-organization-type", PARTY_ORGANIZATION_TYPES.get(agency_class),
                     agency_class)]


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
        {"state": r5_coded("research-study-status", current, current_text),
         "actual": True if overall != "UNKNOWN" else None} if overall else None,
        {"state": r5_coded("research-study-status", ("overall-study", "Overall study"), "Overall study"),
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
         "type": r5_coded("research-study-arm-type", ARM_TYPES.get(str(arm.group.get("type", ""))),
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
         "type": [r5_coded("research-study-objective-type", (code, display), display)],
         "description": "\n\n".join(part for part in (
             str(o.get("description", "")), f"Time frame: {o['timeFrame']}" if o.get("timeFrame") else "") if part)}
        for key, code, display in OUTCOMES for o in outcomes.get(key, [])
    ]
