"""FHIR resources (plain dicts) -> valid or not, fast: the compiled checks that every resource goes through.

Two compiled validators (jsonschema-rs, Rust) per resource type and release:
1. `official`: the resource's definition in the release's official FHIR JSON Schema, used as published
   (`{"$ref": "#/definitions/<Type>"}` over the file's own definitions; draft-06).
2. `derived`: a draft-07 schema generated from the same file that holds only what the official one does
   not check: (a) the required bindings of REQUIRED_BINDINGS (a code in the ValueSet's codes; a
   CodeableConcept with at least one coding whose system and code are in the ValueSet; a Coding whose
   system and code are), (b) UCUM: a Quantity (or Age, Count, Duration...) whose system is UCUM has a
   code of KNOWN_UCUM, and (c) choice types (`value[x]`): at most one member of each choice group, the
   groups taken from the fhir.resources models (the FHIR JSON Schema lists every member as optional and
   cannot say "one of"). Only the paths leading to such elements are kept; `contained` resources are
   checked by their own resourceType.

A resource both validators accept has nothing to report in the three layers of `fhir_checks`; the
slower, exact layers (which locate every problem) run only on the resources refused here. `fhir_checks`
proves with tests that each refusal of the exact layers is also a refusal here.
"""
from __future__ import annotations

import importlib
import json
from functools import lru_cache
from importlib import resources as package_files
from typing import Any, Callable, Iterable

import jsonschema_rs

RefsFunction = Callable[[str], dict[str, str]]


def _ref_name(prop: dict[str, Any]) -> str | None:
    ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) and ref.startswith("#/definitions/") else None


@lru_cache(maxsize=None)
def element_paths(release: str) -> dict[str, str]:
    """Definition name -> FHIR element path: `Patient` -> `Patient`, `Bundle_Request` -> `Bundle.entry.request`,
    Quantity's profiles (Age, Count, Distance, Duration, SimpleQuantity, MoneyQuantity) -> `Quantity`."""
    from trialbridge.schemas.fhir_standards import QUANTITY_TYPES, fhir_schema

    definitions = fhir_schema(release)["definitions"]
    out = {name: ("Quantity" if name in QUANTITY_TYPES else name) for name in definitions if "_" not in name}
    todo = sorted(out)
    while todo:
        name = todo.pop()
        for key, prop in (definitions[name].get("properties") or {}).items():
            child = _ref_name(prop)
            if child and "_" in child and child not in out:
                out[child] = f"{out[name]}.{key}"
                todo.append(child)
    return out


def _model_of(release: str, definition: str) -> Any | None:
    """The fhir.resources class of a schema definition (Bundle_Request -> BundleEntryRequest), None if none."""
    from trialbridge.schemas.fhir_standards import model_class

    path = element_paths(release).get(definition)
    if path is None:
        return None
    head = path.split(".")[0]
    try:
        module = importlib.import_module(model_class(release, head).__module__)
    except (KeyError, ValueError, AttributeError, ModuleNotFoundError):
        return None
    return getattr(module, "".join(p[0].upper() + p[1:] for p in path.split(".")), None)


def model_choice_groups(release: str, definition: str) -> list[list[str]]:
    """The choice groups (`value[x]` members as JSON names) of a definition, from its fhir.resources model
    (importing the models takes seconds: `choice_groups` reads the copy written by `write_choice_groups`)."""
    model = _model_of(release, definition)
    groups: dict[str, list[str]] = {}
    for name, info in (getattr(model, "model_fields", None) or {}).items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("one_of_many"):
            groups.setdefault(str(extra["one_of_many"]), []).append(info.alias or name)
    return [sorted(members) for _, members in sorted(groups.items()) if len(members) > 1]


def write_choice_groups(release: str) -> str:
    """The text of `fhir/<release>/choice-groups.json`: every definition's choice groups per its model."""
    from trialbridge.schemas.fhir_standards import fhir_schema

    groups = {name: model_choice_groups(release, name) for name in sorted(fhir_schema(release)["definitions"])}
    return json.dumps({name: g for name, g in groups.items() if g}, indent=1, sort_keys=True) + "\n"


@lru_cache(maxsize=None)
def _choice_file(release: str) -> dict[str, list[list[str]]]:
    return json.loads(package_files.files("trialbridge.schemas").joinpath(
        "fhir", release, "choice-groups.json").read_text(encoding="utf-8"))


def choice_groups(release: str, definition: str) -> list[list[str]]:
    """The choice groups of a definition (from `fhir/<release>/choice-groups.json`, see `write_choice_groups`)."""
    return _choice_file(release).get(definition, [])


def _pairs_schema(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A Coding whose (system, code) is one of `pairs`."""
    by_system: dict[str, list[str]] = {}
    for system, code in sorted(pairs):
        by_system.setdefault(system, []).append(code)
    return {"anyOf": [{"required": ["system", "code"],
                       "properties": {"system": {"const": system}, "code": {"enum": codes}}}
                      for system, codes in by_system.items()]}


def _binding_schema(release: str, valueset: str, target: str | None) -> dict[str, Any]:
    from trialbridge.schemas.fhir_standards import value_set

    vs = value_set(release, valueset)
    if target == "CodeableConcept":
        return {"required": ["coding"], "properties": {"coding": {"contains": _pairs_schema(vs.pairs)}}}
    if target == "Coding":
        return _pairs_schema(vs.pairs)
    return {"enum": sorted(vs.codes)}


def _dispatch(types: list[str]) -> dict[str, Any]:
    """Each resource checked by its own type's definition: `if resourceType is T then T`, in two levels
    (the initial letter first), so a resource meets about 30 tests rather than one per resource type."""
    def when(values: list[str], then: dict[str, Any]) -> dict[str, Any]:
        return {"if": {"required": ["resourceType"], "properties": {"resourceType": {"enum": values}}}, "then": then}

    letters = sorted({t[0] for t in types})
    return {"allOf": [when([t for t in types if t[0] == letter],
                           {"allOf": [when([t], {"$ref": f"#/definitions/{t}"}) for t in types if t[0] == letter]})
                      for letter in letters]}


def _derived_definition(release: str, name: str, definition: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    from trialbridge.schemas.fhir_standards import KNOWN_UCUM, QUANTITY_TYPES, REQUIRED_BINDINGS, UCUM

    if name == "ResourceList":  # contained resources: checked by their own type
        return _dispatch([t for t in (_ref_name(option) for option in definition.get("oneOf", [])) if t in keep])
    bindings = REQUIRED_BINDINGS[release]
    path = element_paths(release).get(name, name)
    props: dict[str, Any] = {}
    for key, prop in (definition.get("properties") or {}).items():
        if key.startswith("_"):
            continue
        child = _ref_name(prop)
        parts = [{"$ref": f"#/definitions/{child}"}] if child in keep else []
        if f"{path}.{key}" in bindings:
            parts.append(_binding_schema(release, bindings[f"{path}.{key}"], child))
        if parts:
            one = parts[0] if len(parts) == 1 else {"allOf": parts}
            props[key] = {"items": one} if prop.get("type") == "array" or "items" in prop else one
    out: dict[str, Any] = {"properties": props} if props else {}
    if name in QUANTITY_TYPES:
        out["if"] = {"required": ["system", "code"], "properties": {"system": {"const": UCUM}}}
        out["then"] = {"properties": {"code": {"enum": sorted(KNOWN_UCUM)}}}
    groups = choice_groups(release, name)
    if groups:
        out["dependencies"] = {member: {"not": {"anyOf": [{"required": [other]} for other in group if other != member]}}
                               for group in groups for member in group}
    return out


@lru_cache(maxsize=None)
def derived_schema(release: str) -> dict[str, Any]:
    """The bindings + UCUM + choice schema of the release (draft-07), generated from the official file."""
    from trialbridge.schemas.fhir_standards import fhir_schema

    definitions = fhir_schema(release)["definitions"]
    keep = {name for name, d in definitions.items() if d.get("properties") or name == "ResourceList"}
    return {"$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {name: _derived_definition(release, name, definitions[name], keep)
                            for name in sorted(keep)}}


def _rust_pattern(pattern: str) -> str:
    """The same pattern in a form the Rust regex engine takes: the R5 decimal pattern ends its exponent with
    `{1,9}}`, whose last `}` is a literal in ECMAScript and Python regexes; Rust wants it escaped."""
    return pattern.replace("}}", "}\\}")


def _with_patterns(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (_rust_pattern(v) if k == "pattern" and isinstance(v, str) else _with_patterns(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_with_patterns(v) for v in node]
    return node


@lru_cache(maxsize=None)
def _official_definitions(release: str) -> dict[str, Any]:
    """The official schema's definitions as published, but for the one escape of `_rust_pattern`."""
    from trialbridge.schemas.fhir_standards import fhir_schema

    return _with_patterns(fhir_schema(release)["definitions"])


@lru_cache(maxsize=None)
def official_validator(release: str) -> Any:
    """The compiled official schema of the release, its own root (`oneOf` ResourceList: any resource)."""
    from trialbridge.schemas.fhir_standards import fhir_schema

    root = {k: v for k, v in fhir_schema(release).items() if k not in ("definitions", "$schema", "id")}
    return jsonschema_rs.Draft6Validator({**root, "definitions": _official_definitions(release)})


@lru_cache(maxsize=None)
def derived_validator(release: str) -> Any:
    """The compiled derived schema of the release, dispatched on resourceType."""
    return jsonschema_rs.Draft7Validator({"$ref": "#/definitions/ResourceList", **derived_schema(release)})


def passes(resource: dict[str, Any], release: str) -> bool:
    """True when the resource follows the official schema, its required bindings, UCUM and choice rules."""
    return official_validator(release).is_valid(resource) and derived_validator(release).is_valid(resource)


def warm(release: str) -> None:
    """Compile the validators now (before worker processes fork: they inherit them)."""
    official_validator(release)
    derived_validator(release)


if __name__ == "__main__":  # regenerate the choice-group files from the installed fhir.resources
    import sys
    from pathlib import Path

    for name in ("R4", "R5"):
        (Path(__file__).parent / "fhir" / name / "choice-groups.json").write_text(write_choice_groups(name),
                                                                                encoding="utf-8")
    sys.exit(0)
