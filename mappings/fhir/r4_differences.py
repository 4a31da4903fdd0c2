"""An R5 resource + its R4Differences table -> the R4 resource: the three verbs every FHIR resource module
uses to declare what R4 does differently, and `to_r4` that applies them.

Each resource module builds R5 (`build_r5`) and declares what R4 does differently in one small table,
`R4 = R4Differences(...)`, written in three verbs:
- `rename(path_r5, path_r4)`: the element moves, value unchanged (`subject` -> `individual`,
  `medication.reference` -> `medicationReference`); it takes the place of the R5 element's
  top-most moved ancestor, so the key order stays the element order;
- `drop(path, reason)`: R4 has no such element; the reason says where its content went (or why it
  may go), so nothing vanishes without a word;
- `recast(element, function)`: the value changes form; `function(resource_r5, context)` returns the
  R4 value of that top-level element, computed from the whole R5 resource (None removes it). It
  replaces the element in place, or is appended when R5 has no such element. `context` carries
  study-level lookups the caller passes to `to_r4` (e.g. arm names by arm link id).
`to_r4` applies the recasts first (they read the untouched R5 resource), then the renames, then the
drops; the elements every resource starts with (id, meta, text, extension...) are then put first.
A path is dot-separated element names; a list on the way applies the step to each item.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from trialbridge.mappings.fhir.common import is_empty

# Elements every DomainResource starts with, in this order (FHIR R4 and R5 alike).
BASE_ELEMENTS = ("resourceType", "id", "meta", "implicitRules", "language", "text", "contained",
                 "extension", "modifierExtension")

Recaster = Callable[[dict, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Rename:
    path_r5: str
    path_r4: str


@dataclass(frozen=True)
class Drop:
    path: str
    reason: str


@dataclass(frozen=True)
class Recast:
    path: str
    function: Recaster


def rename(path_r5: str, path_r4: str) -> Rename:
    """The R5 element at `path_r5` is the R4 element at `path_r4` (same value)."""
    return Rename(path_r5, path_r4)


def drop(path: str, reason: str) -> Drop:
    """R4 has no element at `path`; `reason` says where its content is carried instead, or why not."""
    return Drop(path, reason)


def recast(path: str, function: Recaster) -> Recast:
    """The R4 element at `path` is `function(resource_r5, context)` (None: no element)."""
    return Recast(path, function)


@dataclass(frozen=True)
class R4Differences:
    """What one resource's R4 form does differently from its R5 form: renames, drops, recasts."""

    steps: tuple[Rename | Drop | Recast, ...] = field(default_factory=tuple)

    def __init__(self, *steps: Rename | Drop | Recast) -> None:
        object.__setattr__(self, "steps", tuple(steps))

    @property
    def renames(self) -> tuple[Rename, ...]:
        return tuple(s for s in self.steps if isinstance(s, Rename))

    @property
    def drops(self) -> tuple[Drop, ...]:
        return tuple(s for s in self.steps if isinstance(s, Drop))

    @property
    def recasts(self) -> tuple[Recast, ...]:
        return tuple(s for s in self.steps if isinstance(s, Recast))


def _without(node: dict, names: list[str]) -> dict:
    """A copy of `node` without the element at `names`, and without any object left empty on the way
    (only the objects on the path are copied; the rest is shared)."""
    head = names[0]
    if head not in node:
        return node
    if len(names) == 1:
        return {k: v for k, v in node.items() if k != head}
    child = node[head]
    items = [_without(c, names[1:]) if isinstance(c, dict) else c
             for c in (child if isinstance(child, list) else [child])]
    items = [c for c in items if not is_empty(c)]
    value = items if isinstance(child, list) else (items[0] if items else None)
    if is_empty(value):
        return {k: v for k, v in node.items() if k != head}
    return {k: (value if k == head else v) for k, v in node.items()}


def _get(node: Any, names: list[str]) -> Any:
    """The value at `names` through objects only (a move out of a list is ambiguous: refused)."""
    for name in names:
        if isinstance(node, list):
            raise ValueError(f"rename across a list must keep the list as common ancestor: {names}")
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


def _apply_rename(resource: dict, step: Rename) -> dict:
    old, new = step.path_r5.split("."), step.path_r4.split(".")
    common = 0
    while common < min(len(old), len(new)) - 1 and old[common] == new[common]:
        common += 1
    if common:  # a shared ancestor: rename inside each object found there
        return _rename_under(resource, old[:common], Rename(".".join(old[common:]), ".".join(new[common:])))
    value = _get(resource, old)
    if value is None:
        return resource
    if new[0] in resource and new[0] != old[0]:
        raise ValueError(f"rename onto an existing element: {step.path_r4}")
    rest = _without(resource, old)
    moved = _build(new[1:], value)
    out: dict[str, Any] = {}
    for key in resource:  # the moved element goes where its R5 ancestor was
        if key == old[0]:
            out[new[0]] = moved
        if key in rest and key != new[0]:
            out[key] = rest[key]
    return out


def _rename_under(resource: dict, prefix: list[str], inner: Rename) -> dict:
    """Apply `inner` in every object found at `prefix` (lists walked)."""
    out = dict(resource)
    head, rest = prefix[0], prefix[1:]
    child = out.get(head)
    if child is None:
        return out
    items = child if isinstance(child, list) else [child]
    done = [
        (_rename_under(c, rest, inner) if rest else _apply_rename(c, inner)) if isinstance(c, dict) else c
        for c in items
    ]
    out[head] = done if isinstance(child, list) else done[0]
    return out


def _build(names: list[str], value: Any) -> dict:
    for name in reversed(names):
        value = {name: value}
    return value


def _apply_recast(resource: dict, r5: dict, step: Recast, context: Mapping[str, Any]) -> dict:
    if "." in step.path:
        raise ValueError(f"recast works on top-level elements: {step.path}")
    value = step.function(r5, context)
    if is_empty(value):
        return {k: v for k, v in resource.items() if k != step.path}
    return {**resource, step.path: value}


def to_r4(resource_r5: dict, differences: R4Differences, context: Mapping[str, Any] | None = None) -> dict:
    """The R4 form of an R5 resource: recasts (read from R5), then renames, then drops.

    The R5 resource is never changed; the result shares the parts no step touches with it."""
    ctx = context or {}
    out = resource_r5
    for step in differences.recasts:
        out = _apply_recast(out, resource_r5, step, ctx)
    for step in differences.renames:
        out = _apply_rename(out, step)
    for step in differences.drops:
        out = _without(out, step.path.split("."))
    base = {k: out[k] for k in BASE_ELEMENTS if k in out}  # an added extension goes where it belongs
    return {**base, **{k: v for k, v in out.items() if k not in base}}
