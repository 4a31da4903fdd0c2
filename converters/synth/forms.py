"""REVALLO's CRF forms as its spec declares them (package data `revallo_spec/`) -> names, files, row schemas.

The generator (`synth`) writes REVALLO-like records, so it needs REVALLO's forms: the native datasets of
the spec's sources table, in its order, each with the row schema the table names (`forms/*.schema.json`).
Nothing here is a study constant of the converter: the names come from the spec files.
"""
from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources
from importlib.abc import Traversable
from typing import Any

from trialbridge.schemas.native import FormSchema, form_schema_text

SPEC_PACKAGE = "revallo_spec"  # the generator's spec, package data of trialbridge.converters.synth


def spec_files() -> Traversable:
    """The folder of REVALLO's spec inside the installed package."""
    return resources.files("trialbridge.converters.synth").joinpath(SPEC_PACKAGE)


@lru_cache(maxsize=1)
def revallo_forms() -> dict[str, FormSchema]:
    """Dataset name -> checked row schema, for every native dataset of REVALLO's sources table, in order."""
    text = spec_files().joinpath("sources.csv").read_text(encoding="utf-8")
    forms = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["format"] == "native":
            schema = spec_files().joinpath(*row["schema"].split("/")).read_text(encoding="utf-8")
            forms[row["dataset"]] = form_schema_text(schema, row["dataset"], row["file"], row["schema"])
    return forms


FORM_NAMES: tuple[str, ...] = tuple(revallo_forms())


def revallo_form(form: str) -> FormSchema:
    if form not in FORM_NAMES:
        raise KeyError(f"unknown form {form!r}; known forms: {', '.join(FORM_NAMES)}")
    return revallo_forms()[form]


def form_schema(form: str) -> dict[str, Any]:
    """The JSON Schema of one CRF form row."""
    return revallo_form(form).schema


def form_columns(form: str) -> list[str]:
    """The CSV columns of a form, in the order an export writes them."""
    return revallo_form(form).columns


def form_file(form: str) -> str:
    return revallo_form(form).file
