"""`trialbridge spec init RAW_DIR --out SPEC`: a folder of raw extracts -> a starting study mapping
specification (CSV tables in the spec format), written whole or not at all.

For each raw dataset (`.csv` with its delimiter and encoding sniffed, each sheet of an `.xlsx`, `.sas7bdat`,
`.xpt`): a `sources` row (the subject column guessed from the usual names), a `record_set` row (the target
domain guessed from the file name when it starts with an SDTM domain code, e.g. `cm_raw_data.csv` -> CM) and
one `mappings` row per raw column. A column whose name is an SDTMIG 3.4 variable of the guessed domain is
mapped to it (`assign_ct` with its codelist, `assign_numeric`, `assign_datetime` or `assign_no_ct`);
every other column is a `not_submitted` row whose comment says its type, how many values it holds and a few
of them, for the data manager to give it a target. Dates and times are recognised when every value fits
one obvious layout (`dd-MMM-yyyy`, `dd/MM/yyyy`, `MM/dd/yyyy`, `HH:nn`, ...; ambiguous day/month orders
are said so). The distinct values of short text columns become candidate `ct` rows (term_value = the CDISC
term when one matches ignoring case, else the value itself, for review).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from trialbridge.converters.atomic import atomic_output_dir
from trialbridge.converters.outdir import OutputRefused, claim_output
from trialbridge.converters.readers.tabular import read_source
from trialbridge.mappings.spec.dates import layout_pattern, parse_layout
from trialbridge.mappings.spec.model import Source
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_standards import CT_VERSION, sdtmig_variables, terminology

SUBJECT_NAMES = ("USUBJID", "SUBJID", "SUBJECT", "PATNUM", "PATIENT", "PATID", "SUBJECT_ID", "RECORD_ID")
LAYOUTS = ("iso", "dd-MMM-yyyy", "dd-MMM-yy", "dd MMM yyyy", "dd/MM/yyyy", "MM/dd/yyyy", "yyyy/MM/dd", "dd.MM.yyyy",
           "dd-MM-yyyy", "yyyyMMdd", "HH:nn", "HH:nn:ss")
SHORT = 20  # a column with at most this many distinct values (each at most 40 characters) is a CT candidate
EXAMPLES = 4
MAPPINGS = ("domain", "variable", "algorithm", "source", "source_variable", "codelist", "value", "condition",
            "arguments", "comment")


def _sniff(path: Path) -> tuple[str, str]:
    """(delimiter, encoding) of a CSV file: UTF-8 when it decodes, else windows-1252."""
    data = path.read_bytes()[:65536]
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = data.decode("windows-1252", errors="replace"), "windows-1252"
    try:
        delimiter = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    return delimiter, encoding


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower() or "raw"


def _files(raw: Path) -> list[Path]:
    """The raw files of RAW_DIR (or RAW_DIR itself when it is one file)."""
    if raw.is_file():
        return [raw]
    return sorted(p for p in raw.iterdir() if p.is_file() and not p.name.startswith(".")) if raw.is_dir() else []


def _sources(files: list[Path]) -> list[Source]:
    out: list[Source] = []
    for path in files:
        suffix = path.suffix.lower()
        if suffix == ".csv":
            delimiter, encoding = _sniff(path)
            out.append(Source(_name(path.stem), path.name, "csv", delimiter=delimiter, encoding=encoding))
        elif suffix in (".sas7bdat", ".xpt"):
            out.append(Source(_name(path.stem), path.name, suffix[1:]))
        elif suffix in (".xlsx", ".xlsm"):
            try:
                sheets = pd.ExcelFile(path, engine="openpyxl").sheet_names
            except Exception:  # a damaged workbook: read_source reports it on its first sheet
                sheets = [""]
            out.extend(Source(_name(f"{path.stem}_{sheet}"), path.name, "xlsx", sheet=str(sheet)) for sheet in sheets)
    return out


def _domain(name: str, domains: set[str]) -> str:
    """The SDTM domain a raw dataset's name starts with (`cm_raw_data` -> CM, `ae` -> AE), else ""."""
    match = re.match(r"^([a-z]{2})(?:[^a-z]|$)", name)
    return match.group(1).upper() if match and match.group(1).upper() in domains else ""


def _layout(values: pd.Series) -> tuple[str, str]:
    """(layout, note) of a date or time column: the first layout that reads every distinct value ("" when
    none does); a layout's pattern screens the values before they are parsed."""
    text = pd.Series(pd.unique(values[values != ""]), dtype=object)
    if text.empty or not text.str.contains(r"\d").all():
        return "", ""
    fitting = []
    for layout in LAYOUTS:
        screen = r"^(\d{4}|UNK)" if layout == "iso" else layout_pattern(layout)
        if not text.str.match(screen).all():
            continue
        iso, bad = parse_layout(text, layout)
        years = pd.to_numeric(iso.str[:4], errors="coerce").dropna()
        plausible = years.between(1800, 2200).all()  # an ID such as 1000015 also reads as yyyyMMdd: 1000-01-05
        if not bad.any() and (iso != "").any() and plausible:
            fitting.append(layout)
    if "dd/MM/yyyy" in fitting and "MM/dd/yyyy" in fitting:
        return "dd/MM/yyyy", "day and month order ambiguous (dd/MM/yyyy or MM/dd/yyyy): check"
    return (fitting[0], "") if fitting else ("", "")


def _kind(values: pd.Series) -> str:
    text = values[values != ""]
    if text.empty:
        return "empty"
    if pd.to_numeric(text, errors="coerce").notna().all():
        return "integer" if text.str.fullmatch(r"[+-]?\d+").all() else "number"
    return "text"


def _describe(values: pd.Series, kind: str) -> str:
    text = values[values != ""]
    shown = ", ".join(repr(v) for v in pd.unique(text)[:EXAMPLES])
    return f"{kind}, {len(text)} of {len(values)} values, {text.nunique()} distinct" + (f": {shown}" if shown else "")


def _candidates(values: pd.Series, codelist: str, dataset: str, column: str) -> list[dict[str, str]]:
    """Candidate study CT rows of a short text column (one per distinct value)."""
    text = values[values != ""]
    distinct = sorted(pd.unique(text))
    repeated = 2 <= len(distinct) <= min(SHORT, len(text) // 2)  # a pick list, not free text nor a constant
    if not distinct or max(len(v) for v in distinct) > 40 or not (repeated or codelist and len(distinct) <= SHORT):
        return []
    ct = terminology()
    terms = {t.casefold(): t for t in ct.submission_values(codelist)} if codelist and ct.has_codelist(codelist) else {}
    return [{"codelist_code": codelist or f"{dataset}.{column}", "term_code": "",
             "term_value": terms.get(value.casefold(), value), "collected_value": value, "term_preferred_term": "",
             "term_synonyms": "", "comment": ("matches the CDISC term" if value.casefold() in terms else
                                              "candidate: check the submission value") +
             f" ({dataset}.{column}, {int((text == value).sum())} record(s))"} for value in distinct]


def _columns(source: Source, table: pd.DataFrame, domain: str, ig: pd.DataFrame) -> tuple[list[dict], list[dict], list[dict], int, int]:
    """mappings rows, ct rows and variables rows of one raw dataset; counts of matched and dated columns."""
    rows = [{**dict.fromkeys(MAPPINGS, ""), "domain": domain, "algorithm": "record_set", "source": source.name,
             "comment": f"one record per row of {source.file}" + ("" if domain else ": set the target domain")}]
    variables = ig[ig["Dataset Name"] == domain].set_index("Variable Name") if domain else ig.iloc[0:0]
    ct_rows, declared, matched, dated = [], [], 0, 0
    if domain:  # the identifiers every domain needs
        rows, declared = rows + _identifiers(domain, source, table, variables), _identifier_rows(domain, source, table, variables)
    for column in [c for c in table.columns if not c.startswith("_")]:
        values = table[column].astype(str).str.strip()
        kind = _kind(values)
        layout, note = _layout(values) if kind == "text" or values.str.fullmatch(r"\d{8}").all() else ("", "")
        dated += bool(layout)
        codelists = variables.loc[column, "CDISC CT Codelist Code(s)"].split(";") if column in variables.index else []
        codelist = codelists[0].strip() if codelists and codelists[0].strip() else ""
        row = {**dict.fromkeys(MAPPINGS, ""), "domain": domain, "source_variable": column,
               "comment": _describe(values, f"date, layout {layout}" if layout else kind) + (f"; {note}" if note else "")}
        if layout:
            row["arguments"] = f"format={layout}"
        if column in variables.index and column not in ("STUDYID", "DOMAIN"):
            matched += 1
            typed = variables.loc[column, "Type"]
            algorithm = ("assign_datetime" if layout or column.endswith("DTC") else
                         "assign_ct" if codelist else "assign_numeric" if typed == "Num" else "assign_no_ct")
            row.update(variable=column, algorithm=algorithm, codelist=codelist if algorithm == "assign_ct" else "")
            declared.append({"dataset": domain, "variable": column, "origin": "Collected",
                             "source": f"{source.file} {column}", "method": "", "comment": "", "codelist": ""})
        else:
            row.update(algorithm="not_submitted", source=source.name)
        rows.append(row)
        if kind == "text" and not layout:
            ct_rows += _candidates(values, codelist, source.name, column)
    return rows, ct_rows, declared, matched, dated


def _identifiers(domain: str, source: Source, table: pd.DataFrame, variables: pd.DataFrame) -> list[dict]:
    step = dict.fromkeys(MAPPINGS, "")
    rows = [{**step, "domain": domain, "variable": "STUDYID", "algorithm": "hardcode_no_ct", "value": "{STUDYID}"},
            {**step, "domain": domain, "variable": "DOMAIN", "algorithm": "hardcode_no_ct", "value": domain}]
    if "USUBJID" not in table.columns and source.subject:
        rows.append({**step, "domain": domain, "variable": "USUBJID", "algorithm": "derive_usubjid",
                     "source_variable": source.subject, "comment": "STUDYID-<subject>: add the site column if needed"})
    seq = f"{domain}SEQ"
    if seq in variables.index and seq not in table.columns:
        rows.append({**step, "domain": domain, "variable": seq, "algorithm": "derive_seq", "arguments": "order=_line",
                     "comment": "1, 2, ... per subject in the order of the raw rows: order by a date column instead"})
    return rows


def _identifier_rows(domain: str, source: Source, table: pd.DataFrame, variables: pd.DataFrame) -> list[dict]:
    rows = [{"dataset": domain, "variable": "STUDYID", "origin": "Protocol"},
            {"dataset": domain, "variable": "DOMAIN", "origin": "Assigned"}]
    if "USUBJID" not in table.columns and source.subject:
        rows.append({"dataset": domain, "variable": "USUBJID", "origin": "Derived", "method": "MT.USUBJID"})
    seq = f"{domain}SEQ"
    if seq in variables.index and seq not in table.columns:
        rows.append({"dataset": domain, "variable": seq, "origin": "Derived", "method": "MT.SEQ"})
    return rows


def init_spec(raw_folder: Path, out: Path, force: bool = False) -> tuple[list[Finding], str]:
    """Write a starting spec for the raw datasets of `raw_folder` into `out`, whole or not at all; `out` must be
    new, empty or (with `force`) an earlier trialbridge output (converters/outdir.py), else OUT-* findings."""
    from trialbridge.converters.spec_tools.init_edc import edc_parts, is_edc_file, skipped_dictionaries

    raw_folder, out = Path(raw_folder), Path(out)
    files = _files(raw_folder)
    edc = [p for p in files if is_edc_file(p)]
    edc = [p for p in edc if p not in skipped_dictionaries(edc)]  # a dictionary beside its export: read with it
    sources = _sources([p for p in files if not is_edc_file(p)])
    if not sources and not edc:
        return [finding("SPEC-INIT-NO-RAW", str(raw_folder), [str(raw_folder)], folder=str(raw_folder))], ""
    base = raw_folder if raw_folder.is_dir() else raw_folder.parent
    ig = sdtmig_variables()
    domains = set(ig["Dataset Name"])
    findings: list[Finding] = []
    mappings, ct_rows, variables, source_rows, datasets, visits = [], [], [], [], [], []
    matched = dated = 0
    studyid = ""
    for path in edc:
        parts, found = edc_parts(path, path.name, ig, lambda name: _domain(_name(name), domains))
        findings += found
        source_rows += parts.sources
        mappings += parts.mappings
        ct_rows += parts.ct
        variables += parts.variables
        visits += parts.visits
        datasets += [{"dataset": d, "parent": "", "keys": "STUDYID;USUBJID", "label": ""}
                     for d in parts.datasets if d not in {r["dataset"] for r in datasets}]
        matched, dated, studyid = matched + parts.matched, dated + parts.dated, studyid or parts.studyid
        if parts.sources:
            findings.append(finding("SPEC-INIT-EDC", path.name, [path.name], file=path.name,
                                    system=parts.system or "ODM", datasets=len(parts.sources),
                                    annotated=parts.annotated, matched=parts.matched,
                                    ct=len(parts.ct), visits=len(parts.visits)))
    for source in sources:
        table, found = read_source(base, source)
        findings += found
        if table is None:
            continue
        subject = next((c for name in SUBJECT_NAMES for c in table.columns if c.upper() == name), "")
        source_rows.append({"dataset": source.name, "file": source.file, "format": source.format,
                            "delimiter": source.delimiter, "decimal": ".", "encoding": source.encoding,
                            "sheet": source.sheet, "subject": subject, "schema": "", "rename": ""})
        study = next((c for c in table.columns if c.upper() in ("STUDYID", "STUDY", "PROTOCOL")), "")
        if study and not studyid and table[study].astype(str).str.strip().nunique() == 1:
            studyid = str(table[study].iloc[0]).strip()
        domain = _domain(source.name, domains)
        rows, cts, declared, m, d = _columns(source, table, domain, ig)
        mappings += rows
        ct_rows += cts
        variables += declared
        matched, dated = matched + m, dated + d
        if declared and domain not in {r["dataset"] for r in datasets}:
            datasets.append({"dataset": domain, "parent": "", "keys": "STUDYID;USUBJID", "label": ""})
    errors = any(f.severity == "error" for f in findings)
    if errors or not source_rows:  # bad input (ODM 2.0, a damaged export): nothing written, exit 2
        return findings + ([] if errors else [finding(
            "SPEC-INIT-NO-RAW", str(raw_folder), [str(raw_folder)], folder=str(raw_folder))]), ""
    tables = {
        "study": pd.DataFrame({"key": ["STUDYID", "sdtmig_version", "ct_version"],
                               "value": [studyid or base.absolute().name.upper(), "3.4", CT_VERSION]}),
        "sources": pd.DataFrame(source_rows),
        "mappings": pd.DataFrame(mappings, columns=list(MAPPINGS)),
        "ct": pd.DataFrame(ct_rows, columns=["codelist_code", "term_code", "term_value", "collected_value",
                                             "term_preferred_term", "term_synonyms", "comment"]),
        "datasets": pd.DataFrame(datasets, columns=["dataset", "parent", "keys", "label"]),
        "variables": pd.DataFrame(variables, columns=["dataset", "variable", "origin", "source", "method", "comment",
                                                      "codelist"]),
        **({"visits": pd.DataFrame(visits, columns=["visit", "VISITNUM", "VISIT", "VISITDY"])} if visits else {}),
        "methods": pd.DataFrame({"id": ["MT.USUBJID", "MT.SEQ"],
                                 "description": ["USUBJID = STUDYID || '-' || the subject column.",
                                                 "--SEQ = 1, 2, ... per USUBJID in the order of the raw rows."]}),
    }
    try:
        with claim_output(out, (raw_folder,), force), atomic_output_dir(out) as work:
            for name, frame in tables.items():
                frame.to_csv(work / f"{name}.csv", index=False, lineterminator="\n", encoding="utf-8")
    except OutputRefused as refused:
        return findings + refused.findings, ""
    findings.append(finding("SPEC-INIT-WRITTEN", str(out), [str(out)], out=str(out), raw=str(raw_folder),
                            datasets=len(source_rows), rows=len(mappings), matched=matched, ct=len(ct_rows),
                            dates=dated))
    return findings, f"wrote {out}: {', '.join(f'{name}.csv' for name in tables)}"
