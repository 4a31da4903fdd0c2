"""Registry values -> PRS XML: reading a path of the registry record, writing a value as an lxml element
(`<tag>value</tag>`, `<tag><textblock>value</textblock></tag>`, "Yes"/"No", "Actual"/"Anticipated"), and
`Omitted`, the account of the elements left out for a missing required fact.
"""
from __future__ import annotations

from typing import Any, Iterable

from lxml import etree

from trialbridge.mappings.registry.common import value_at


def items_at(node: Any, path: str) -> list:
    """The non-empty items of the list at `path` ([] when it is no list)."""
    found = value_at(node, path, [])
    return [x for x in found if x not in (None, "")] if isinstance(found, list) else []


def yes_no(value: Any) -> str | None:
    """A registry flag as PRS text: "Yes", "No", or None when the record does not say."""
    return None if value is None else ("Yes" if value else "No")


def date_type(value: Any) -> str | None:
    """A registry date type as PRS text: ACTUAL -> "Actual", ESTIMATED -> "Anticipated"."""
    return {"ACTUAL": "Actual", "ESTIMATED": "Anticipated"}.get(str(value)) if value else None


def add_text(parent: etree._Element, tag: str, value: Any) -> etree._Element | None:
    """`<tag>value</tag>` under `parent` when the value is there (None and "" are absent)."""
    if value is None or value == "":
        return None
    child = etree.SubElement(parent, tag)
    child.text = str(value)
    return child


def add_block(parent: etree._Element, tag: str, value: Any) -> None:
    """`<tag><textblock>value</textblock></tag>` when the value is there."""
    if value:
        etree.SubElement(etree.SubElement(parent, tag), "textblock").text = str(value)


class Omitted(list):
    """The PRS elements left out because the record lacks a fact the schema requires in them."""

    def note(self, element: str, missing: str) -> None:
        """`element` is left out: the record lacks `missing`."""
        self.append((element, missing))

    def lacks(self, element: str, module: str, facts: Iterable[tuple[str, Any]]) -> bool:
        """Whether a fact `element` requires is absent: each (name, value) with an empty value is noted
        as `<module>.<name>`, together under `element`."""
        missing = [f"{module}.{name}" for name, value in facts if not value]
        if missing:
            self.note(element, ", ".join(missing))
        return bool(missing)
