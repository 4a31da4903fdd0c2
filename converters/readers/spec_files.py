"""A study mapping specification on disk (a folder of CSV tables, or one .xlsx workbook with a sheet per
table, or sdtm.oak's spec and study CT CSVs) -> `StudyMapping` + findings.

The tables (columns in README "The study mapping specification"): study, treatments, conditions, sources,
mappings, ct, tests, visits, elements, arms, datasets, variables, supp, value_level, methods. Only `study`,
`sources` and `mappings` are required: the SDTM metadata a spec leaves out is inferred from its mappings
(`spec_metadata`). Every problem is a finding at file:row:column
(header = row 1); a spec with an error gives no `StudyMapping`.
"""
from __future__ import annotations


from pathlib import Path
from typing import Any

import pandas as pd

from trialbridge.converters.readers.source_schemas import enrols, with_schemas
from trialbridge.converters.readers.spec_metadata import infer_metadata
from trialbridge.converters.readers.tabular import csv_shape_problem
from trialbridge.mappings.spec.model import Source, SpecLocation, Step, StudyMapping
from trialbridge.mappings.study import Condition, StudyInfo, Treatment
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_spec_tables import spec_from_tables

TABLES: dict[str, tuple[str, ...]] = {
    "study": ("key", "value"),
    "treatments": ("name",),
    "conditions": ("name",),
    "sources": ("dataset", "file"),
    "mappings": ("domain", "variable", "algorithm"),
    "ct": ("codelist_code", "term_value", "collected_value"),
    "tests": ("code",),
    "visits": ("visit", "VISITNUM"),
    "elements": ("ETCD", "ELEMENT"),
    "arms": ("ARMCD", "ARM", "TAETORD", "ETCD", "EPOCH"),
    "datasets": ("dataset",),
    "variables": ("dataset", "variable", "origin"),
    "supp": ("dataset", "qnam", "qlabel", "origin"),
    "value_level": ("dataset", "variable", "where_variable", "where_value", "origin"),
    "methods": ("id", "description"),
}
REQUIRED = ("study", "sources", "mappings")  # datasets, variables, methods: inferred when left out
SPEC_FOLDER = "spec"  # the spec's place inside an input folder when --spec is not given
WHERE = "_where"  # optional column of a translated table (sdtm.oak's spec): the row's original `file:row`
ALIASES = "_columns"  # ... and which of its columns each spec column came from (`source_variable=raw_variable; ...`)


def _read_csv(path: Path) -> pd.DataFrame:
    problem = csv_shape_problem(path)
    if problem:
        raise pd.errors.ParserError(problem)
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def read_tables(location: Path) -> tuple[dict[str, tuple[pd.DataFrame, str]], list[Finding]]:
    """Every table of the spec with the name its rows are reported under (`mappings.csv`, `spec.xlsx[mappings]`)."""
    tables: dict[str, tuple[pd.DataFrame, str]] = {}
    findings: list[Finding] = []
    if location.is_file() and location.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            sheets = pd.read_excel(location, sheet_name=None, dtype=str, keep_default_na=False, engine="openpyxl")
        except Exception as error:  # a damaged workbook is a finding, never a traceback
            return {}, [finding("SPEC-UNREADABLE", location.name, [location.name], file=location.name, error=str(error))]
        for name, frame in sheets.items():
            key = str(name).strip().lower()
            if key in TABLES:
                tables[key] = (frame.fillna("").astype(str), f"{location.name}[{name}]")
    elif location.is_dir():
        for key in TABLES:
            path = location / f"{key}.csv"
            if path.is_file():
                try:
                    tables[key] = (_read_csv(path), f"{location.name}/{path.name}")
                except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
                    findings.append(finding("SPEC-UNREADABLE", path.name, [path.name], file=path.name, error=str(error)))
    else:
        return {}, [finding("SPEC-UNREADABLE", str(location), [str(location)], file=str(location),
                            error="not a folder of CSV tables nor an .xlsx workbook")]
    for key, (frame, where) in tables.items():
        missing = [c for c in TABLES[key] if c not in frame.columns]
        if missing:
            findings.append(finding("SPEC-COLUMNS", f"{where}:1", missing, table=key, missing=", ".join(missing),
                                    found=", ".join(frame.columns)))
    for key in REQUIRED:
        if key not in tables:
            findings.append(finding("SPEC-TABLE-MISSING", str(location), [key], table=key))
    return tables, findings


def _rows(tables: dict[str, tuple[pd.DataFrame, str]], key: str) -> list[tuple[dict[str, str], SpecLocation]]:
    if key not in tables:
        return []
    frame, where = tables[key]
    return [({c: str(v).strip() for c, v in row.items() if c not in (WHERE, ALIASES)}, _location(row, where, i + 2))
            for i, row in enumerate(frame.to_dict("records"))]


def _location(row: dict[str, Any], where: str, line: int) -> SpecLocation:
    """The row's place: its position in the table, or a translated table's `_where` (`file:row`)."""
    text = str(row.get(WHERE, "") or "")
    file, _, number = text.rpartition(":")
    aliases = tuple(_pairs(str(row.get(ALIASES, "") or "")))
    return SpecLocation(file, int(number), aliases) if file and number.isdigit() else SpecLocation(where, line)


def _arguments(text: str) -> tuple[tuple[str, str], ...]:
    """`key=value | key=value` -> pairs (values keep their commas and semicolons)."""
    pairs = []
    for part in text.split("|"):
        if part.strip():
            key, _, value = part.partition("=")
            pairs.append((key.strip().lower(), value.strip()))
    return tuple(pairs)


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """`RAW=NAME; RAW2=NAME2` -> pairs (a raw column read under the name the spec uses)."""
    return tuple((a.strip(), b.strip()) for a, _, b in (p.partition("=") for p in text.split(";")) if a.strip() and b.strip())


def _study(tables: dict[str, tuple[pd.DataFrame, str]]) -> tuple[StudyInfo, dict[str, str]]:
    facts = {row["key"].strip(): row["value"] for row, _ in _rows(tables, "study")}
    treatments = tuple(
        Treatment(name=row["name"].upper(), unii=row.get("unii", ""), rxnorm=row.get("rxnorm", ""),
                  atc=row.get("atc", ""), dose_form=row.get("dose_form", ""), route=row.get("route", ""),
                  frequency=row.get("frequency", ""), dose_unit=row.get("dose_unit", ""),
                  dose_levels=tuple(float(x) for x in row.get("dose_levels", "").split(";") if x.strip()))
        for row, _ in _rows(tables, "treatments") if row["name"])
    conditions = tuple(Condition(row["name"], row.get("snomed", ""), row.get("mesh", ""))
                       for row, _ in _rows(tables, "conditions") if row["name"])
    known = {"STUDYID", "sdtmig_version", "ct_version", "sponsor_namespace"}
    info = StudyInfo(studyid=facts.get("STUDYID", ""), sdtmig_version=facts.get("sdtmig_version", "3.4"),
                     ct_version=facts.get("ct_version", "2025-03-28"),
                     sponsor_namespace=facts.get("sponsor_namespace", ""), treatments=treatments,
                     conditions=conditions, extra={k: v for k, v in facts.items() if k not in known})
    return info, facts


def _frame(tables: dict[str, tuple[pd.DataFrame, str]], key: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if key not in tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return tables[key][0].copy()


def _orres_sources(steps: tuple[Step, ...], sources: tuple[Source, ...]) -> dict[str, str]:
    """Per findings domain, where --ORRES is collected ("<file> <column>"), for its value-level metadata."""
    files = {s.name: s.file for s in sources}
    found: dict[str, str] = {}
    current = ""
    for step in steps:
        if step.algorithm == "record_set":
            current = step.source
        elif step.variable == f"{step.domain}ORRES" and step.source_variables and step.domain not in found:
            found[step.domain] = f"{files.get(current, current)} {step.source_variables[0]}"
    return found


def _design_findings(tables: dict[str, tuple[pd.DataFrame, str]]) -> list[Finding]:
    """The design tables agree: every arm row names a declared element and a numeric TAETORD, once per arm;
    every visit has a numeric VISITNUM (and VISITDY when given)."""
    found: list[Finding] = []
    elements = {row["ETCD"] for row, _ in _rows(tables, "elements")}
    seen: set[tuple[str, str]] = set()
    for row, where in _rows(tables, "arms"):
        if row["ETCD"] not in elements:
            found.append(finding("SPEC-DESIGN", where.at("ETCD"), [row["ETCD"]],
                                 detail=f"arm {row['ARMCD']} names the element {row['ETCD']!r}, which the elements table does not declare"))
        if pd.isna(pd.to_numeric(row["TAETORD"], errors="coerce")) or (row["ARMCD"], row["TAETORD"]) in seen:
            found.append(finding("SPEC-DESIGN", where.at("TAETORD"), [row["TAETORD"]],
                                 detail=f"TAETORD {row['TAETORD']!r} of arm {row['ARMCD']} is not a number used once in the arm"))
        seen.add((row["ARMCD"], row["TAETORD"]))
    for row, where in _rows(tables, "visits"):
        for column in ("VISITNUM", "VISITDY"):
            if row.get(column, "") and pd.isna(pd.to_numeric(row[column], errors="coerce")):
                found.append(finding("SPEC-DESIGN", where.at(column), [row[column]],
                                     detail=f"{column} {row[column]!r} of visit {row['visit']!r} is not a number"))
    return found


def build_mapping(tables: dict[str, tuple[pd.DataFrame, str]], origin: str) -> tuple[StudyMapping | None, list[Finding]]:
    """The `StudyMapping` of the tables read; None with findings when the SDTM metadata is inconsistent."""
    study, facts = _study(tables)
    sources = tuple(
        Source(name=row["dataset"], file=row["file"], format=(row.get("format") or "csv").lower(),
               delimiter=row.get("delimiter") or ",", decimal=row.get("decimal") or ".",
               encoding=row.get("encoding") or "utf-8", sheet=row.get("sheet", ""), subject=row.get("subject", ""),
               schema=row.get("schema", ""), rename=_pairs(row.get("rename", "")), where=where,
               site=row.get("site", ""), enrols=enrols(row.get("enrols", "")))
        for row, where in _rows(tables, "sources"))
    origin_path = Path(origin)
    sources, findings = with_schemas(sources, origin_path if origin_path.is_dir() else origin_path.parent)
    findings = _design_findings(tables) + findings
    if any(f.severity == "error" for f in findings):
        return None, findings
    rows, unmapped = _mapped_rows(tables)
    findings += unmapped
    if any(f.severity == "error" for f in unmapped):
        return None, findings
    steps = tuple(
        Step(domain=row["domain"].upper(), variable=row["variable"], algorithm=row["algorithm"].lower(),
             source=row.get("source", ""), source_variable=row.get("source_variable", ""),
             codelist=row.get("codelist", ""), value=row.get("value", ""), condition=row.get("condition", ""),
             arguments=_arguments(row.get("arguments", "")), comment=row.get("comment", ""), where=where)
        for row, where in rows)
    try:
        sdtm = spec_from_tables({key: frame for key, (frame, _) in tables.items()}, _orres_sources(steps, sources))
    except ValueError as error:
        return None, [finding("SPEC-SDTM-METADATA", origin, [], detail=str(error))]
    ct = _frame(tables, "ct", TABLES["ct"])
    for column in ("term_code", "term_preferred_term", "term_synonyms"):
        if column not in ct.columns:
            ct[column] = ""
    mapping = StudyMapping(
        study=study, sources=sources, steps=steps, ct=ct, tests=_frame(tables, "tests", TABLES["tests"]),
        visits=_frame(tables, "visits", TABLES["visits"]), sdtm=sdtm, origin=origin,
        registry=facts.get("registry", ""), extra=dict(study.extra),
        elements=_frame(tables, "elements", TABLES["elements"]), arms=_frame(tables, "arms", TABLES["arms"]))
    return (None if any(f.severity == "error" for f in findings) else mapping), findings


UNTARGETED = ("record_set", "not_submitted")  # rows `spec init` writes with the target domain left to fill


def _mapped_rows(tables: dict[str, tuple[pd.DataFrame, str]]) -> tuple[list[tuple[dict[str, str], SpecLocation]],
                                                                       list[Finding]]:
    """The mapping rows that name a domain. Rows of a raw dataset not yet given one (`spec init` leaves the
    domain of its record_set / not_submitted rows to fill) are left out with one warning naming those
    datasets; any other step without a domain, or a spec whose every row lacks one, is an error."""
    rows, findings, waiting = [], [], {}
    for row, where in _rows(tables, "mappings"):
        if row["domain"]:
            rows.append((row, where))
        elif row["algorithm"].lower() in UNTARGETED:
            waiting.setdefault(row.get("source", "") or "(no source)", where)
        elif row["algorithm"] or row["variable"]:
            findings.append(finding("SPEC-DOMAIN-MISSING", where.at("domain"), [row["variable"] or row["algorithm"]],
                                    step=row["variable"] or row["algorithm"]))
    if waiting:
        first = next(iter(waiting.values()))
        rule = "SPEC-NO-DOMAIN" if not rows and not findings else "SPEC-SOURCE-UNTARGETED"
        findings.append(finding(rule, first.at("domain"), list(waiting), count=len(waiting),
                                datasets=", ".join(list(waiting)[:10]) + (" ..." if len(waiting) > 10 else "")))
    return rows, findings


def read_spec(location: Path) -> tuple[StudyMapping | None, list[Finding]]:
    """Read a spec folder or workbook (or sdtm.oak's spec CSVs in a folder) into a `StudyMapping`."""
    from trialbridge.converters.readers import oak_spec

    location = Path(location)
    if oak_spec.is_oak_folder(location):
        tables, findings = oak_spec.oak_tables(location)
    else:
        tables, findings = read_tables(location)
        if not any(f.severity == "error" for f in findings):
            tables, inferred = infer_metadata(tables)
            findings += inferred
    if any(f.severity == "error" for f in findings):
        return None, findings
    mapping, more = build_mapping(tables, str(location))
    return mapping, findings + more


def find_spec(input_folder: Path, given: Path | None = None) -> Path | None:
    """The spec to use: `--spec` when given, else `spec/` or `spec.xlsx` inside the input folder."""
    if given is not None:
        return Path(given)
    for candidate in (input_folder / SPEC_FOLDER, input_folder / "spec.xlsx"):
        if candidate.exists():
            return candidate
    return None
