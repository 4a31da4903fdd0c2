"""FHIR resources (plain dicts) -> findings: each resource checked three ways against its release.

Every resource first goes through the compiled checks of `fhir_fast` (jsonschema-rs: the official
schema, and a schema derived from it for bindings, UCUM and choice types); a resource they accept has
nothing to report. The three exact layers below locate every problem of a resource they refuse:
1. The official FHIR JSON Schema of the release (`fhir/<release>/fhir.schema.json`, copied unmodified):
   each resource against its own definition (`#/definitions/<resourceType>`), jsonschema's Draft6Validator.
2. The typed models of fhir.resources: R5 from `fhir.resources`, R4 from `fhir.resources.R4B` (there are
   no R4 models). For the resource types we emit (ResearchStudy, ResearchSubject, Patient, Medication,
   MedicationAdministration, Organization, Location, Practitioner, PractitionerRole, Group, AdverseEvent,
   Observation, contained Specimen) and every datatype they use, the R4 and R4B
   StructureDefinitions are identical except `Extension.value[x]`: R4B adds CodeableReference and
   RatioRange and removes Meta. The R4 JSON Schema (layer 1) catches an R4B-only extension value; the
   R4B model would reject only a `valueMeta` extension, which we never write. fhir.resources accepts codes
   outside required bindings (gender "banana"), hence layer 3.
3. Required bindings that the schema cannot see (the R5 schema has no `enum` at all; neither schema
   checks codes inside CodeableConcept or Coding), from the HL7 ValueSets and CodeSystems copied into
   `fhir/<release>/terminology/`, plus the UCUM unit of each Quantity whose system is UCUM (a known list).

The model also parses the first accepted resource of each shape, as a second opinion.
Every problem is a Finding at its FHIR path, e.g. `Bundle.entry[3].resource.status`.
The release files, bindings and models are loaded by `fhir_standards` (its names re-exported here).
"""
from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import pandas as pd
from pydantic import ValidationError

from trialbridge.schemas import fhir_fast
from trialbridge.schemas.fhir_standards import (
    KNOWN_UCUM, MODEL_PACKAGE, QUANTITY_TYPES, RELEASES, REQUIRED_BINDINGS, UCUM, ValueSetCodes, element_children,
    fhir_schema, model_class, require_release, schema_validator, value_set,
)
from trialbridge.schemas.findings import Finding, finding

__all__ = [
    "KNOWN_UCUM", "QUANTITY_TYPES", "RELEASES", "REQUIRED_BINDINGS", "UCUM", "Coded", "ValueSetCodes", "binding_findings",
    "check_codes", "check_resources", "coded_elements", "fhir_schema", "model_class", "model_findings",
    "resource_location", "schema_findings", "schema_validator", "value_set",
]


# ------------------------------------------------------------------------------------ locations
def resource_location(base_path: str, index: int, resource: dict[str, Any]) -> str:
    """Where a resource is: `Bundle.entry[3].resource` under a base path, else `<Type>/<id>`."""
    if base_path:
        return f"{base_path}[{index}].resource"
    return f"{resource.get('resourceType', '?')}/{resource.get('id', index)}"


def _path(location: str, steps: Sequence[Any]) -> str:
    return location + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)


def _model_step(step: Any) -> Any:
    """A pydantic loc step as a FHIR element name (`birthDate__ext` -> `_birthDate`, `class_` -> `class`)."""
    if isinstance(step, str):
        if step.endswith("__ext"):
            return "_" + step.removesuffix("__ext")
        if step.endswith("_") and keyword.iskeyword(step[:-1]):
            return step[:-1]
    return step


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------ 1. JSON Schema
_REQUIRED = re.compile(r"^'(.+)' is a required property$")


def schema_findings(resource: dict[str, Any], release: str, location: str) -> list[Finding]:
    """Layer 1: the resource against its definition in the release's official JSON Schema."""
    resource_type = str(resource.get("resourceType", ""))
    validator = schema_validator(release, resource_type)
    if validator is None:
        return [finding("FHIR-SCHEMA", location, [resource_type], release=release, resource_type=resource_type or "?",
                        reason=f"'{resource_type}' is not a resource type of FHIR {release}")]
    out = []
    for error in validator.iter_errors(resource):
        steps = list(error.absolute_path)
        missing = _REQUIRED.match(error.message) if error.validator == "required" else None
        if missing:
            steps.append(missing.group(1))
        reason = _short(error.message, 300)
        value = [] if error.validator in ("required", "additionalProperties") else [_short(error.instance)]
        out.append(finding("FHIR-SCHEMA", _path(location, steps), value,
                           release=release, resource_type=resource_type, reason=reason))
    return out


# ------------------------------------------------------------------------------------ 2. models
def model_findings(resource: dict[str, Any], release: str, location: str) -> list[Finding]:
    """Layer 2: parse into the fhir.resources model of the release; each validation error is a finding."""
    resource_type = str(resource.get("resourceType", ""))
    package = MODEL_PACKAGE[release]
    try:
        model = model_class(release, resource_type)
    except (KeyError, ValueError, AttributeError, ModuleNotFoundError):
        if schema_validator(release, resource_type) is not None:
            return []  # a resource type of R4 that R4B (the model package of R4) dropped: the R4 schema checked it
        return [finding("FHIR-MODEL", location, [resource_type], release=release, package=package,
                        resource_type=resource_type or "?", reason="no model for this resource type")]
    try:
        model.model_validate(resource)
    except ValidationError as error:
        return [finding("FHIR-MODEL", _path(location, [_model_step(s) for s in e["loc"]]),
                        [_short(e.get("input", ""))] if e["type"] not in ("extra_forbidden", "missing") else [],
                        release=release, package=package, resource_type=resource_type, reason=_short(e["msg"], 300))
                for e in error.errors()]
    return []


# ------------------------------------------------------------------------------------ 3. bindings
@dataclass(frozen=True)
class Coded:
    """One bound element found in a resource: its element path, its location and its value."""

    element: str
    location: str
    value: Any


def coded_elements(node: dict[str, Any], release: str, definition: str, element: str,
                   location: str) -> Iterator[Coded]:
    """Every bound element and every UCUM Quantity under `node`, whose schema definition is `definition`.

    `element` is the FHIR element path of `node` (a resource type, a datatype name, or a backbone
    element path such as `Bundle.entry.request`), so a child's path is looked up in REQUIRED_BINDINGS.
    """
    bindings = REQUIRED_BINDINGS[release]
    children = element_children(release)
    kids = children.get(definition, {})
    if definition in QUANTITY_TYPES and node.get("system") == UCUM and "code" in node:
        yield Coded("Quantity.code", f"{location}.code", node["code"])
    for key, value in node.items():
        child = kids.get(key)
        if child is None:
            continue  # unknown elements are the schema check's business
        path = f"{element}.{key}"
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            where = f"{location}.{key}" if index is None else f"{location}.{key}[{index}]"
            if path in bindings:
                yield Coded(path, where, item)
            if not isinstance(item, dict):
                continue
            if child == "ResourceList":
                inner = str(item.get("resourceType", ""))
                yield from coded_elements(item, release, inner, inner, where)
            elif child in children:
                inner_path = path if "_" in child else ("Quantity" if child in QUANTITY_TYPES else child)
                yield from coded_elements(item, release, child, inner_path, where)


def _binding_rows(coded: list[Coded], release: str) -> pd.DataFrame:
    """One row per code to check: element, location, system ('' for code elements), code."""
    rows = []
    for c in coded:
        if c.element == "Quantity.code" or isinstance(c.value, str):
            rows.append((c.element, c.location, "", str(c.value), "code"))
        elif isinstance(c.value, dict) and "coding" in c.value:  # CodeableConcept: one coding must fit
            codings = c.value.get("coding") or []
            for i, coding in enumerate(codings):
                rows.append((c.element, f"{c.location}.coding[{i}]", str(coding.get("system", "")),
                             str(coding.get("code", "")), c.location))
            if not codings:
                rows.append((c.element, c.location, "", "", c.location))
        elif isinstance(c.value, dict):  # Coding
            rows.append((c.element, c.location, str(c.value.get("system", "")), str(c.value.get("code", "")), "coding"))
    return pd.DataFrame(rows, columns=["element", "location", "system", "code", "concept"])


def binding_findings(coded: list[Coded], release: str) -> list[Finding]:
    """Layer 3: each bound code against its ValueSet, each UCUM code against the known list."""
    rows = _binding_rows(coded, release)
    out: list[Finding] = []
    for element, group in rows.groupby("element", sort=True):
        if element == "Quantity.code":
            bad = group[~group["code"].isin(KNOWN_UCUM)]
            out += [finding("FHIR-UCUM", loc, [code], code=code) for loc, code in zip(bad["location"], bad["code"])]
            continue
        vs = value_set(release, REQUIRED_BINDINGS[release][str(element)])
        is_code = group["concept"] == "code"
        ok_code = group["code"].isin(vs.codes)
        ok_pair = pd.Series([(s, c) in vs.pairs for s, c in zip(group["system"], group["code"])], index=group.index,
                            dtype=bool)
        fits = (is_code & ok_code) | (~is_code & ok_pair)
        # a CodeableConcept passes when any of its codings is in the ValueSet
        concept_ok = fits.groupby(group["concept"]).transform("any")
        failed = ~fits & (is_code | (group["concept"] == "coding") | ~concept_ok)
        bad = group[failed]
        out += [finding("FHIR-BINDING", loc, [code if not system else f"{system}|{code}"],
                        element=element, code=code or "(no coding)", valueset=vs.url, release=release)
                for loc, system, code in zip(bad["location"], bad["system"], bad["code"])]
    return out


# ------------------------------------------------------------------------------------ all three
def _guarded(layer: str, location: str, function: Any, *args: Any) -> list[Finding]:
    """Run one check; an exception becomes an error finding and the other checks go on."""
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 - a broken check is reported, never swallowed
        return [finding("FHIR-CHECK-ERROR", location, [type(error).__name__], layer=layer, detail=_short(str(error)))]


def _passes(resource: dict[str, Any], release: str) -> bool:
    try:
        return fhir_fast.passes(resource, release)
    except Exception:  # noqa: BLE001 - an input the compiled check cannot take goes to the exact layers
        return False


def _exact(resource: dict[str, Any], release: str, where: str) -> tuple[list[Finding], list[Coded]]:
    """The exact layers on one resource the compiled check refused: schema and model findings, bound codes."""
    out = _guarded("schema", where, schema_findings, resource, release, where)
    out += _guarded("model", where, model_findings, resource, release, where)
    rtype = str(resource.get("resourceType", ""))
    try:
        return out, list(coded_elements(resource, release, rtype, rtype, where))
    except Exception as error:  # noqa: BLE001
        return out + [finding("FHIR-CHECK-ERROR", where, [type(error).__name__], layer="bindings",
                              detail=_short(str(error)))], []


def check_resources(resources: Sequence[dict[str, Any]], release: str, base_path: str = "Bundle.entry",
                    start: int = 0) -> list[Finding]:
    """Check every resource against the release: JSON Schema, required bindings and UCUM, choice types.

    Every resource goes through the compiled validators of `fhir_fast` (official schema; bindings, UCUM,
    choice types). Those it refuses go through the exact layers, which locate each problem: the Python
    JSON Schema validator, the fhir.resources model and the bound-code walk. Of the resources it accepts,
    the first of each shape (resource type and top-level elements) in `resources` is also parsed by the
    fhir.resources model, a second opinion from a different implementation (the checks the model makes
    are all in the compiled layers; see README). Resource `i` is located at `<base_path>[start + i].resource`
    (a bundle entry), or at `<Type>/<id>` when `base_path` is "".
    """
    require_release(release)
    out: list[Finding] = []
    coded: list[Coded] = []
    shapes: set[tuple[str, ...]] = set()
    for index, resource in enumerate(resources, start):
        if _passes(resource, release):
            shape = tuple(resource)
            if shape in shapes:
                continue
            shapes.add(shape)
            where = resource_location(base_path, index, resource)
            out += _guarded("model", where, model_findings, resource, release, where)
            continue
        where = resource_location(base_path, index, resource)
        found, codes = _exact(resource, release, where)
        coded += codes
        if not found and not binding_findings(codes, release):
            found = [finding("FHIR-CHECK-ERROR", where, [], layer="compiled",
                             detail="the compiled check refused the resource but no exact layer says why: "
                                    + _compiled_reason(resource, release))]
        out += found
    out += _guarded("bindings", base_path or "resources", binding_findings, coded, release)
    return out


def _compiled_reason(resource: dict[str, Any], release: str) -> str:
    for validator in (fhir_fast.official_validator(release), fhir_fast.derived_validator(release)):
        for error in validator.iter_errors(resource):
            return _short(f"{error.message} at {'/'.join(map(str, error.instance_path))}")
    return "no error message"


def check_codes(release: str, element: str, values: Sequence[tuple[str, str]]) -> list[Finding]:
    """Check (location, code) pairs of one bound code element, e.g. the bundle's `Bundle.entry.request.method`."""
    return binding_findings([Coded(element, location, code) for location, code in values], release)
