"""The FHIR R4 and R5 files packaged under `schemas/fhir/` -> what the checks look things up in: the official
JSON Schema and a validator per resource type, the element types of each definition, ValueSet expansions,
the fhir.resources model classes, and the required-binding and UCUM tables (`fhir_checks` uses them).
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources as package_files
from typing import Any, Iterator

from jsonschema import Draft6Validator

RELEASES: tuple[str, ...] = ("R4", "R5")
MODEL_PACKAGE: dict[str, str] = {"R4": "fhir.resources.R4B", "R5": "fhir.resources"}
UCUM = "http://unitsofmeasure.org"
QUANTITY_TYPES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration", "SimpleQuantity", "MoneyQuantity"})

# Required bindings of the resources we emit and of every datatype they use, element path -> ValueSet id,
# listed from the StructureDefinitions of the core packages (binding.strength = required). Not checked
# here because no offline expansion exists or we never write the element: *.language and
# Attachment.language (all-languages, BCP-47), Attachment.contentType and Signature.* (mimetypes, BCP-13),
# Bundle.link.relation (iana-link-relations), Bundle.entry.search.mode, Timing.repeat.durationUnit/dayOfWeek/when
# (never written).
_COMMON_BINDINGS: dict[str, str] = {
    "Address.type": "address-type",
    "Address.use": "address-use",
    "AdverseEvent.actuality": "adverse-event-actuality",
    "Bundle.entry.request.method": "http-verb",
    "Bundle.type": "bundle-type",
    "ContactPoint.system": "contact-point-system",
    "ContactPoint.use": "contact-point-use",
    "Group.type": "group-type",
    "HumanName.use": "name-use",
    "Identifier.use": "identifier-use",
    "Location.mode": "location-mode",
    "Location.status": "location-status",
    "Medication.status": "medication-status",
    "MedicationAdministration.status": "medication-admin-status",
    "MedicationRequest.intent": "medicationrequest-intent",
    "MedicationRequest.status": "medicationrequest-status",
    "Narrative.status": "narrative-status",
    "Observation.status": "observation-status",
    "Patient.contact.gender": "administrative-gender",
    "Patient.gender": "administrative-gender",
    "Patient.link.type": "link-type",
    "Condition.clinicalStatus": "condition-clinical",
    "Condition.verificationStatus": "condition-ver-status",
    "Procedure.status": "event-status",
    "Practitioner.gender": "administrative-gender",
    "Quantity.comparator": "quantity-comparator",
    "RelatedArtifact.type": "related-artifact-type",
    "Specimen.status": "specimen-status",
    "Timing.repeat.periodUnit": "units-of-time",
}
REQUIRED_BINDINGS: dict[str, dict[str, str]] = {
    "R4": {
        **_COMMON_BINDINGS,
        "AdverseEvent.outcome": "adverse-event-outcome",
        "AdverseEvent.severity": "adverse-event-severity",
        "Location.hoursOfOperation.daysOfWeek": "days-of-week",
        "PractitionerRole.availableTime.daysOfWeek": "days-of-week",
        "ResearchStudy.status": "research-study-status",
        "ResearchSubject.status": "research-subject-status",
    },
    "R5": {
        **_COMMON_BINDINGS,
        "AdverseEvent.status": "adverse-event-status",
        "Availability.availableTime.daysOfWeek": "days-of-week",
        "Group.membership": "group-membership-basis",
        "Observation.triggeredBy.type": "observation-triggeredbytype",
        "RelatedArtifact.publicationStatus": "publication-status",
        "ResearchStudy.status": "publication-status",
        "ResearchSubject.progress.subjectState": "research-subject-state",
        "ResearchSubject.status": "publication-status",
        "Specimen.combined": "specimen-combined",
    },
}

# UCUM units this tool knows to be valid (case-sensitive UCUM codes); others get a warning, not an error.
KNOWN_UCUM: frozenset[str] = frozenset({
    "1", "%", "mg", "g", "kg", "ug", "ng", "mg/d", "mg/kg", "mg/m2", "m2", "kg/m2", "cm", "m",
    "L", "dL", "mL", "uL", "fL", "pg", "a", "mo", "wk", "d", "h", "min", "s",
    "g/L", "g/dL", "mg/dL", "mg/L", "umol/L", "mmol/L", "U/L", "[iU]/L", "/uL", "/mm3", "/L",
    "10*3/uL", "10*6/uL", "10*6/L", "10*9/L", "10*12/L", "{cells}/uL", "mm[Hg]", "Cel", "[degF]",
})


def _package_text(*parts: str) -> str:
    return package_files.files("trialbridge.schemas").joinpath("fhir", *parts).read_text(encoding="utf-8")


def require_release(release: str) -> str:
    """`release` when it is one of RELEASES, else ValueError."""
    if release not in RELEASES:
        raise ValueError(f"unknown FHIR release {release!r}; known: {', '.join(RELEASES)}")
    return release


@lru_cache(maxsize=None)
def fhir_schema(release: str) -> dict[str, Any]:
    """The official FHIR JSON Schema of the release, as published, but for two known defects (the files in
    schemas/fhir stay unmodified): null placeholders in primitive-extension arrays (below), and the R4 schema's
    FHIRVersion enumerations stop at 4.0.0, so every R4 StructureDefinition, CapabilityStatement and
    ImplementationGuide saying `"fhirVersion": "4.0.1"` (the release itself, as HL7's own examples do)
    would fail; 4.0.1 is added where 4.0.0 is listed."""
    schema = json.loads(_package_text(require_release(release), "fhir.schema.json"))
    if release == "R4":
        _add_after(schema, "4.0.0", "4.0.1")
    _allow_null_placeholders(schema)
    return schema


def _allow_null_placeholders(schema: dict[str, Any]) -> None:
    """The FHIR JSON rules let an array of primitive extensions (`_given`, `_base`) hold `null` where its
    primitive has no extension ("null is used as a placeholder", http://hl7.org/fhir/json.html#primitive);
    the published schemas of both releases forbid it. Their item becomes Element or null."""
    for definition in schema.get("definitions", {}).values():
        for name, prop in (definition.get("properties") or {}).items():
            items = prop.get("items") if name.startswith("_") and prop.get("type") == "array" else None
            if isinstance(items, dict) and "$ref" in items:
                prop["items"] = {"anyOf": [items, {"type": "null"}]}


def _add_after(node: Any, listed: str, added: str) -> None:
    """Append `added` to every `enum` of `node` (recursively) that holds `listed` but not `added`."""
    if isinstance(node, dict):
        enum = node.get("enum")
        if isinstance(enum, list) and listed in enum and added not in enum:
            enum.append(added)
        for value in node.values():
            _add_after(value, listed, added)
    elif isinstance(node, list):
        for value in node:
            _add_after(value, listed, added)


@lru_cache(maxsize=None)
def schema_validator(release: str, resource_type: str) -> Draft6Validator | None:
    """The exact (pure Python) validator of one resource type, used to locate every problem of a resource
    the compiled check (`fhir_fast`) refused; None when the release has no such resource."""
    schema = fhir_schema(release)
    definition = schema["definitions"].get(resource_type)
    if definition is None or "resourceType" not in definition.get("properties", {}):
        return None
    return Draft6Validator({**definition, "definitions": schema["definitions"]})


@lru_cache(maxsize=None)
def element_children(release: str) -> dict[str, dict[str, str]]:
    """Definition name -> {property: definition name of its value}, from the schema (`_x` keys left out)."""
    out: dict[str, dict[str, str]] = {}
    for name, definition in fhir_schema(release)["definitions"].items():
        props = definition.get("properties")
        if not props:
            continue
        kids: dict[str, str] = {}
        for key, prop in props.items():
            if key.startswith("_"):
                continue
            ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
            if isinstance(ref, str):
                kids[key] = ref.rsplit("/", 1)[-1]
            elif "enum" in prop or "enum" in prop.get("items", {}):
                kids[key] = "code"  # the R4 schema writes a required code binding as an inline enum
        out[name] = kids
    return out


@dataclass(frozen=True)
class ValueSetCodes:
    """The expansion of a simple ValueSet: its canonical URL and its (system, code) pairs."""

    url: str
    pairs: frozenset[tuple[str, str]]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(code for _, code in self.pairs)


def _concept_codes(concepts: list[dict[str, Any]]) -> Iterator[str]:
    for concept in concepts:
        yield concept["code"]
        yield from _concept_codes(concept.get("concept", []))


@lru_cache(maxsize=None)
def _code_systems(release: str) -> dict[str, frozenset[str]]:
    folder = package_files.files("trialbridge.schemas").joinpath("fhir", require_release(release), "terminology")
    out: dict[str, frozenset[str]] = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.startswith("CodeSystem-"):
            system = json.loads(item.read_text(encoding="utf-8"))
            out[system["url"]] = frozenset(_concept_codes(system.get("concept", [])))
    return out


@lru_cache(maxsize=None)
def value_set(release: str, name: str) -> ValueSetCodes:
    """Expand `ValueSet-<name>.json` of the release: `compose.include` of whole code systems or concepts."""
    vs = json.loads(_package_text(require_release(release), "terminology", f"ValueSet-{name}.json"))
    systems = _code_systems(release)
    pairs: set[tuple[str, str]] = set()
    for include in vs["compose"]["include"]:
        if "filter" in include or "valueSet" in include:
            raise ValueError(f"ValueSet {name}: only whole code systems and concept lists are expanded")
        system = include["system"]
        codes = [c["code"] for c in include["concept"]] if "concept" in include else systems[system]
        pairs.update((system, code) for code in codes)
    return ValueSetCodes(vs["url"], frozenset(pairs))


@lru_cache(maxsize=None)
def model_class(release: str, resource_type: str) -> Any:
    """The fhir.resources model class of a resource type (R5: fhir.resources; R4: fhir.resources.R4B)."""
    package = importlib.import_module(MODEL_PACKAGE[require_release(release)])
    return package.get_fhir_model_class(resource_type)
