"""The native trial record format: loads the JSON Schemas of `native/` (registry record and CRF forms).

A native record folder holds `registry.json` (ClinicalTrials.gov API v2 structure) and one CSV per CRF
form. Each form is described by `native/<form>.schema.json`: a JSON Schema of one data row, where every
cell is a string and an empty cell is an absent property. Column order in the CSV is the schema's
property order. Extra annotations: `x-file` (CSV name), `x-key` (columns unique per row), `x-kind`
(code, text, integer, decimal, date, partial-date), `x-minimum`/`x-maximum`, and for the laboratory form
`x-units-by-code`.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

FORM_NAMES: tuple[str, ...] = (
    "enrolment",
    "dosing",
    "adverse_events",
    "response",
    "laboratory",
    "end_of_study",
)
REGISTRY_FILE = "registry.json"


def _read_json(name: str) -> dict[str, Any]:
    path = resources.files("trialbridge.schemas").joinpath("native", name)
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def form_schema(form: str) -> dict[str, Any]:
    """The JSON Schema of one CRF form row."""
    if form not in FORM_NAMES:
        raise KeyError(f"unknown form {form!r}; known forms: {', '.join(FORM_NAMES)}")
    return _read_json(f"{form}.schema.json")


def form_schemas() -> dict[str, dict[str, Any]]:
    return {form: form_schema(form) for form in FORM_NAMES}


def form_columns(form: str) -> list[str]:
    """The CSV columns of a form, in the order an export writes them."""
    return list(form_schema(form)["properties"])


def form_file(form: str) -> str:
    return str(form_schema(form)["x-file"])


@lru_cache(maxsize=1)
def registry_schema() -> dict[str, Any]:
    """The JSON Schema of `registry.json` (the ClinicalTrials.gov API v2 study structure we read)."""
    return _read_json("registry.schema.json")
