"""Raw sources declared in a spec's sources table -> raw datasets (str cells + `_file`, `_line`).

Formats: `csv` (delimiter, decimal mark and encoding as declared: `utf-8`, `windows-1252`, `latin-1`, ...),
`xlsx` (one sheet), `sas7bdat` and `xpt` (SAS files through pyreadstat, with the declared encoding),
and `odm`/`redcap` when those readers are installed (the item group / instrument is the `sheet`). Every
cell becomes text exactly as written: numbers from SAS files without a trailing `.0`, dates of SAS
date formats as ISO 8601. A file that is missing or unreadable, or that lacks the declared subject
column, is a finding with its place; nothing is dropped (the count of non-empty values read is kept).
An EDC export named by several sources is read once; per export, `SOURCE-EDC-COUNTS` says how many values
were read and handed to the spec's sources, and each raw dataset no source names is a `SOURCE-EDC-UNUSED`
warning with its value count (besides the reader's own per-form accounting, ODM-FORM-COUNTS / REDCAP-COUNTS).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd

from trialbridge.converters.readers.raw import RawRead, values_in
from trialbridge.mappings.spec.model import Source
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE

FORMATS = ("csv", "xlsx", "sas7bdat", "xpt", "odm", "redcap", "native")
EDC_FORMATS = ("odm", "redcap")


def _stamp(table: pd.DataFrame, file: str, first_line: int) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    table[SOURCE_FILE] = file
    table[SOURCE_LINE] = np.arange(first_line, first_line + len(table), dtype="int64")
    return table


def _sas_text(values: pd.Series) -> pd.Series:
    """SAS values as text: whole numbers without `.0`, dates as ISO 8601, missing as ""."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m-%dT%H:%M:%S").str.replace("T00:00:00", "", regex=False).fillna("")

    def one(value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return str(value)
    return values.map(one).astype(object)


def csv_shape_problem(path: Path, delimiter: str = ",", encoding: str = "utf-8-sig") -> str:
    """What pandas would read without a word ("" when nothing): a header naming a column twice (the second is
    read as `name.1`, i.e. never used), a row with fewer fields than the header (padded with empty values: a
    file cut short loses the end of its last record silently) or, first data row, more (read as an index: every
    value lands one column off)."""
    with open(path, encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:
            return f"column '{twice[0]}' appears {header.count(twice[0])} times in the header (line 1); expected each column once"
        ragged = next(((reader.line_num, len(row)) for row in reader if row and len(row) != len(header)), None)
    if ragged:
        return f"line {ragged[0]} has {ragged[1]} fields; expected {len(header)}, as many as the header"
    return ""


def _read_csv(path: Path, source: Source) -> pd.DataFrame:
    problem = csv_shape_problem(path, source.delimiter or ",", source.encoding or "utf-8")
    if problem:
        raise ValueError(problem)
    table = pd.read_csv(path, sep=source.delimiter or ",", dtype=str, keep_default_na=False,
                        encoding=source.encoding or "utf-8", encoding_errors="strict")
    table.columns = [str(c).strip().lstrip("\ufeff") for c in table.columns]
    if source.decimal and source.decimal != ".":  # a decimal comma: numbers read as written, made plain
        numeric = table.apply(lambda c: c.str.fullmatch(r"[+-]?\d+(" + "\\" + source.decimal + r"\d+)?").all())
        for column in numeric[numeric].index:
            table[column] = table[column].str.replace(source.decimal, ".", regex=False)
    return _stamp(table, path.name, 2)


def _read_xlsx(path: Path, source: Source) -> pd.DataFrame:
    table = pd.read_excel(path, sheet_name=source.sheet or 0, dtype=str, keep_default_na=False, engine="openpyxl")
    table = table.fillna("").astype(str)
    return _stamp(table, f"{path.name}[{source.sheet}]" if source.sheet else path.name, 2)


def _read_sas(path: Path, source: Source) -> pd.DataFrame:
    import pyreadstat

    reader = pyreadstat.read_sas7bdat if source.format == "sas7bdat" else pyreadstat.read_xport
    encoding = source.encoding if source.encoding and source.encoding.lower() not in ("utf-8", "utf8") else None
    frame, _ = reader(str(path), encoding=encoding) if encoding else reader(str(path))
    table = pd.DataFrame({c: _sas_text(frame[c]) for c in frame.columns})
    return _stamp(table, path.name, 1)


def read_source(folder: Path, source: Source, cache: dict[str, RawRead] | None = None
                ) -> tuple[pd.DataFrame | None, list[Finding]]:
    """One declared raw source as a raw dataset, or None with the findings that say why. An EDC export is
    read once per `cache` (its file-level findings come with the first source that reads it)."""
    path = folder / source.file
    where = source.where.at("file")
    if source.format not in FORMATS:
        return None, [finding("SOURCE-FORMAT", where, [source.format], format=source.format, known=", ".join(FORMATS))]
    if not path.is_file():
        return None, [finding("SOURCE-MISSING", where, [source.file], dataset=source.name, file=str(path))]
    found: list[Finding] = []
    try:
        if source.format == "csv":
            table = _read_csv(path, source)
        elif source.format == "xlsx":
            table = _read_xlsx(path, source)
        elif source.format in ("sas7bdat", "xpt"):
            table = _read_sas(path, source)
        else:
            edc, found = _read_edc(path, source, {} if cache is None else cache)
            if edc is None:
                return None, found
            table = edc
    except (UnicodeDecodeError, LookupError) as error:
        return None, [finding("SOURCE-UNREADABLE", path.name, [path.name], file=path.name,
                              error=f"not {source.encoding} text ({error})")]
    except Exception as error:  # any parser's failure on a damaged file is a finding about that file
        return None, [finding("SOURCE-UNREADABLE", path.name, [path.name], file=path.name, error=str(error)[:300])]
    if source.rename:
        table = table.rename(columns=dict(source.rename))
    if source.subject and source.subject not in table.columns:
        return None, found + [finding("SOURCE-SUBJECT", source.where.at("subject"), [source.subject],
                                      dataset=source.name, column=source.subject, file=path.name,
                                      columns=", ".join(table.columns[:30]))]
    return table, found


def _read_edc(path: Path, source: Source, cache: dict[str, RawRead]) -> tuple[pd.DataFrame | None, list[Finding]]:
    """An ODM or REDCap export: the item group (or instrument) the spec names in `sheet` (a copy: sources
    of the same file share one read)."""
    try:
        if source.format == "odm":
            from trialbridge.converters.readers.odm import read_odm as reader  # type: ignore[attr-defined]
        else:
            from trialbridge.converters.readers.redcap import read_redcap as reader  # type: ignore[attr-defined]
    except ImportError:
        return None, [finding("SOURCE-FORMAT", source.where.at("format"), [source.format], format=source.format,
                              known=", ".join(f for f in FORMATS if f not in EDC_FORMATS))]
    key = str(path.resolve())
    first = key not in cache
    if first:
        cache[key] = reader(path)
    result = cache[key]
    found = list(result.findings) if first else []
    if source.sheet not in result.datasets:
        declared = _declared_empty(path, source)
        if declared is not None:  # declared by the export's metadata, no data in it: no records, said so
            return declared, found + [finding("SOURCE-EDC-EMPTY", source.where.at("sheet"), [source.sheet],
                                              dataset=source.name, sheet=source.sheet, file=path.name)]
        return None, found + [finding("SOURCE-SHEET", source.where.at("sheet"), [source.sheet],
                                      dataset=source.name, sheet=source.sheet, file=path.name,
                                      known=", ".join(result.datasets) or "no subject data at all")]
    return result.datasets[source.sheet].copy(), found


def _declared_empty(path: Path, source: Source) -> pd.DataFrame | None:
    """An empty table with the columns the export's metadata declares for `source.sheet` (None: not declared)."""
    from trialbridge.converters.readers.edc import source_metadata

    metadata, _ = source_metadata(path)
    meta = metadata.datasets.get(source.sheet) if metadata is not None else None
    if meta is None:
        return None
    columns = list(meta.key_columns) + [n for c in meta.columns for n in (c.name, c.decode) if n]
    return pd.DataFrame(columns=list(dict.fromkeys(columns + [SOURCE_FILE, SOURCE_LINE])), dtype=object)


def edc_handover(sources: list[Source], cache: dict[str, RawRead], folder: Path) -> list[Finding]:
    """Per EDC export: the values read, those handed to the spec's sources, and each raw dataset no source
    names (its values are not converted: a warning, never a silent loss)."""
    findings: list[Finding] = []
    for file in dict.fromkeys(s.file for s in sources if s.format in EDC_FORMATS):
        read = cache.get(str((folder / file).resolve()))
        if read is None:
            continue
        named = {s.sheet for s in sources if s.format in EDC_FORMATS and s.file == file}
        total = sum(read.values_read.values())
        handed = sum(n for name, n in read.values_read.items() if name in named)
        for name in (n for n in read.datasets if n not in named):
            findings.append(finding("SOURCE-EDC-UNUSED", f"{file}:{name}", [name], file=file, dataset=name,
                                    rows=len(read.datasets[name]), cells=read.values_read.get(name, 0)))
        findings.append(finding("SOURCE-EDC-COUNTS", file, [], file=file, read=total, handed=handed,
                                unused=total - handed, datasets=len(named & set(read.datasets)),
                                of=len(read.datasets)))
    return findings


def read_sources(folder: Path, sources: list[Source]) -> RawRead:
    """Every declared non-native source of the folder, with the count of non-empty values read."""
    datasets: dict[str, pd.DataFrame] = {}
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    cache: dict[str, RawRead] = {}
    for source in sources:
        table, found = read_source(folder, source, cache)
        findings += found
        if table is not None:
            datasets[source.name] = table
            counts[source.name] = values_in(table)
    return RawRead(datasets, findings + edc_handover(sources, cache, folder), counts)
