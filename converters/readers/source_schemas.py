"""The row schemas a spec's sources table names -> each `Source` with its checked `FormSchema`, + findings.

A source's `schema` cell is a JSON Schema file relative to the spec folder (the workbook's folder for an
.xlsx spec). Each is read and checked (`schemas.native.form_schema_of`); a file that is missing, not
JSON, or uses a construct the checks do not implement is an error finding at `sources.csv:ROW:schema`.
Then the enrolment declaration is checked: at most one dataset `enrols` subjects, it names its subject
column, and every `x-not-before: DATASET.COLUMN` of a row schema names that dataset and one of its columns.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from trialbridge.mappings.spec.model import Source
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import UnsupportedSchema, form_schema_text

YES = frozenset({"yes", "y", "true", "1", "x"})


def enrols(cell: str) -> bool:
    """The sources table's `enrols` cell: yes (also y, true, 1, x, any case) or empty."""
    return cell.strip().lower() in YES


def _with_form(source: Source, base: Path) -> tuple[Source, list[Finding]]:
    where = source.where.at("schema")

    def problem(detail: str) -> list[Finding]:
        return [finding("SPEC-SCHEMA", where, [source.schema], schema=source.schema, dataset=source.name,
                        detail=detail)]

    path = base / source.schema
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return source, problem(f"no such file {path}")
    except (OSError, UnicodeDecodeError) as error:
        return source, problem(f"cannot be read ({error})")
    try:
        form = form_schema_text(text, source.name, Path(source.file).name, source.schema)
    except UnsupportedSchema as error:
        return source, problem(str(error))
    return replace(source, form=form), []


def _enrolment_findings(sources: tuple[Source, ...]) -> list[Finding]:
    registers = [s for s in sources if s.enrols]
    out = [finding("SPEC-ENROLMENT", s.where.at("enrols"), [s.name],
                   detail=f"{s.name} enrols subjects, but so does {registers[0].name} "
                          f"({registers[0].where.at('enrols')}); expected one dataset that enrols subjects")
           for s in registers[1:]]
    out += [finding("SPEC-ENROLMENT", s.where.at("subject"), [s.name],
                    detail=f"{s.name} enrols subjects but names no subject column")
            for s in registers if not s.subject]
    register = registers[0] if registers else None
    for source in sources:
        if source.form is None:
            continue
        for reference, later in source.form.not_before(qualified=True):
            dataset, _, column = reference.partition(".")
            if register is None or dataset != register.name:
                detail = (f"{source.form.place} {later} x-not-before names {reference}, but {dataset} does not "
                          f"enrol subjects; expected " + (f"{register.name}.<column>" if register else
                                                         "a dataset with enrols = yes in the sources table"))
            elif register.form is not None and column not in register.form.properties:
                detail = (f"{source.form.place} {later} x-not-before names {reference}: "
                          f"{register.name} has no column {column}")
            else:
                continue
            out.append(finding("SPEC-ENROLMENT", source.where.at("schema"), [reference], detail=detail))
    return out


def with_schemas(sources: tuple[Source, ...], base: Path) -> tuple[tuple[Source, ...], list[Finding]]:
    """Every source with its row schema read from `base` (the spec folder), and the findings of reading them."""
    read: list[Source] = []
    findings: list[Finding] = []
    for source in sources:
        if source.schema:
            source, found = _with_form(source, base)
            findings += found
        read.append(source)
    out = tuple(read)
    return out, findings + _enrolment_findings(out)
