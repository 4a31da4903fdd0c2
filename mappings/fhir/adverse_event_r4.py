"""R5 AdverseEvent -> R4 AdverseEvent: the one table of what R4 does differently (`R4`), its required
outcome and severity codes and its element order (rules in `adverse_event`).
"""
from __future__ import annotations

from typing import Any, Mapping

from trialbridge.mappings.fhir.adverse_event_codes import ADVERSE_EVENT_IG, ADVERSE_EVENT_IG_R4, GRADE, GRADES
from trialbridge.mappings.fhir.common import NCIT, coding, concept, prune
from trialbridge.mappings.fhir.observation import THO
from trialbridge.mappings.fhir.r4_differences import R4Differences, drop, recast, rename
from trialbridge.mappings.fhir.registry import xver


# AEOUT (C66768) -> R4 adverse-event-outcome (required binding).
AEOUT_R4: dict[str, tuple[str, str]] = {
    "RECOVERED/RESOLVED": ("resolved", "Resolved"),
    "RECOVERING/RESOLVING": ("recovering", "Recovering"),
    "NOT RECOVERED/NOT RESOLVED": ("ongoing", "Ongoing"),
    "RECOVERED/RESOLVED WITH SEQUELAE": ("resolvedWithSequelae", "Resolved with Sequelae"),
    "FATAL": ("fatal", "Fatal"),
    "UNKNOWN": ("unknown", "Unknown"),
}
# CTCAE grade concept -> R4 adverse-event-severity (required binding): 1 mild, 2 moderate, 3-5 severe.
SEVERITY_R4: dict[str, tuple[str, str]] = {
    GRADES["1"]["code"]: ("mild", "Mild"), GRADES["2"]["code"]: ("moderate", "Moderate"),
    GRADES["3"]["code"]: ("severe", "Severe"), GRADES["4"]["code"]: ("severe", "Severe"),
    GRADES["5"]["code"]: ("severe", "Severe"),
}
ELEMENTS_R4 = ("resourceType", "id", "text", "extension", "identifier", "actuality", "category", "event", "subject",
               "encounter", "date", "detected", "recordedDate", "resultingCondition", "location", "seriousness",
               "severity", "outcome", "recorder", "contributor", "suspectEntity", "subjectMedicalHistory",
               "referenceDocument", "study")


def _grade_code(r5: dict) -> str:
    grade = next((e["valueCodeableConcept"] for e in r5.get("extension", []) if e["url"] == ADVERSE_EVENT_IG + GRADE),
                 {})
    return next((c["code"] for c in grade.get("coding", []) if c["system"] == NCIT), "")


def r4_extensions(r5: dict, _: Mapping[str, Any]) -> list[dict]:
    """The IG extensions under the backport IG's URLs, then what R4 has no element for: the occurrence
    period when it has an end, and each note (R5 cross-version extensions)."""
    moved = [{**e, "url": e["url"].replace(ADVERSE_EVENT_IG, ADVERSE_EVENT_IG_R4)} for e in r5.get("extension", [])]
    period = r5.get("occurrencePeriod", {})
    ended = [xver("AdverseEvent.occurrence", period, "Period")] if "end" in period else []
    return moved + ended + [xver("AdverseEvent.note", note, "Annotation") for note in r5.get("note", [])]


def r4_identifier(r5: dict, _: Mapping[str, Any]) -> dict:
    """R4 AdverseEvent.identifier is 0..1: the first (and only) identifier."""
    return r5["identifier"][0]


def r4_date(r5: dict, _: Mapping[str, Any]) -> str | None:
    return r5.get("occurrencePeriod", {}).get("start")


def r4_severity(r5: dict, _: Mapping[str, Any]) -> dict | None:
    pair = SEVERITY_R4.get(_grade_code(r5))
    return concept(coding(THO + "adverse-event-severity", *pair)) if pair else None


def r4_outcome(r5: dict, _: Mapping[str, Any]) -> dict | None:
    """R4 outcome (0..1, required binding): the R4 code of AEOUT beside the R5 codings; none if AEOUT has no R4 code."""
    outcome = (r5.get("outcome") or [{}])[0]
    pair = AEOUT_R4.get(outcome.get("text", ""))
    if pair is None:
        return None
    return concept(coding(THO + "adverse-event-outcome", *pair), *outcome.get("coding", []), text=outcome["text"])


def r4_suspects(r5: dict, _: Mapping[str, Any]) -> list[dict]:
    return [prune({"instance": s["instanceReference"],
                   "causality": [{"assessment": s["causality"]["entityRelatedness"]}] if "causality" in s else None})
            for s in r5.get("suspectEntity", [])]


R4 = R4Differences(
    recast("extension", r4_extensions),
    recast("identifier", r4_identifier),
    drop("status", "no R4 element: the outcome (ongoing, resolved...) and the occurrence end say it"),
    rename("code", "event"),
    recast("date", r4_date),
    drop("occurrencePeriod", "R4 date holds the onset; the whole period is in the extension "
                             "http://hl7.org/fhir/5.0/StructureDefinition/extension-AdverseEvent.occurrence"),
    recast("severity", r4_severity),
    recast("outcome", r4_outcome),
    recast("suspectEntity", r4_suspects),
    drop("mitigatingAction", "no R4 element: AEACN is in the note 'Action taken with study treatment: ...'"),
    drop("supportingInfo", "no R4 element: each SUPPAE qualifier is in a note '<QLABEL>: <QVAL>'"),
    drop("note", "no R4 element: each note is in the extension "
                 "http://hl7.org/fhir/5.0/StructureDefinition/extension-AdverseEvent.note"),
)
