"""R5 ResearchStudy -> R4 ResearchStudy: the one table of what R4 does differently (`R4`), its element order
and the contact points of each person it reads besides the R5 resource (rules in `research_study`).
"""
from __future__ import annotations

from typing import Any, Mapping

from trialbridge.mappings.fhir.common import FhirInput, prune
from trialbridge.mappings.fhir.practitioner import people, telecom
from trialbridge.mappings.fhir.r4_differences import R4Differences, drop, recast, rename
from trialbridge.mappings.fhir.registry import xver
from trialbridge.mappings.fhir.registry_codes import R4_STATUS, R4_STATUS_UNKNOWN, STATES, r4_codes


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
