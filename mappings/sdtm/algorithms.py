"""The SDTM mapping algorithms: named, vectorised steps from native form tables to SDTM columns.

A domain module (`mappings/sdtm/<domain>.py`) is a list of calls to these algorithms, one per target
variable, in the vocabulary of sdtm.oak: `hardcode_no_ct`, `hardcode_ct`, `assign_no_ct`, `assign_ct`,
`assign_numeric`, `assign_datetime`, `derive_*`, `split_long_text`, `to_supp`. One argument order
everywhere: the source table, the source column(s), then the target-specific arguments (codelist,
value, keys). Every algorithm returns a Series aligned on the source table's index (character values
as `str` with "" for null, numbers as float64 with NaN for null); those that can reject or change a
value also return the findings that say so. Nothing is ever changed silently: a value outside a
codelist stays as collected and is reported, never upper-cased or dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import wraps
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_spec import Dataset, terminology

PROVENANCE: tuple[str, str] = (SOURCE_FILE, SOURCE_LINE)
REJECTED_COLUMNS: tuple[str, str, str] = (SOURCE_FILE, SOURCE_LINE, "reason")
SUPP_COLUMNS: tuple[str, ...] = (
    "STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG", "QEVAL",
)
MAX_TEXT = 200  # SDTMIG 4.5.3.2: characters a text variable holds before the rest goes to SUPP--
RECORDS_SHOWN = 5  # locations quoted in one finding's message

_DATE = r"\d{4}-\d{2}-\d{2}"
_COMPLETE_DATE = rf"^{_DATE}(T.*)?$"


@dataclass(frozen=True)
class Mapped:
    """What one domain mapping produces."""

    table: pd.DataFrame  # the domain, SDTM columns in spec order + _file/_line
    supp: pd.DataFrame | None  # SUPP-- rows (SUPP_COLUMNS + _file/_line) or None
    findings: list[Finding]
    rejected: pd.DataFrame  # source rows NOT carried into the domain: _file, _line, reason


# ---------------------------------------------------------------------------------------- helpers
def _text(values: pd.Series) -> pd.Series:
    """Character values as Python str (object dtype), "" for null."""
    out = values.astype(object)
    missing = out.isna()
    if missing.any():
        out = out.where(~missing, "")
    if pd.api.types.infer_dtype(out, skipna=False) not in ("string", "empty"):
        out = out.astype(str).astype(object)
    return out


def _char(index: pd.Index, value: str = "") -> pd.Series:
    return pd.Series(value, index=index, dtype=object)


def _records(source: pd.DataFrame, mask: pd.Series) -> list[str]:
    """`file:line` of the rows in `mask`, in table order."""
    rows = source.loc[mask]
    if SOURCE_FILE not in rows.columns:
        return [str(i) for i in rows.index]
    return [f"{f}:{line}" for f, line in zip(rows[SOURCE_FILE], rows[SOURCE_LINE])]


def _shown(records: list[str]) -> str:
    more = len(records) - RECORDS_SHOWN
    return ", ".join(records[:RECORDS_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _by_value(source: pd.DataFrame, values: pd.Series, bad: pd.Series) -> Iterable[tuple[str, list[str]]]:
    """Group the rows of `bad` by value: (value, [file:line, ...]), values in sorted order."""
    for value in sorted(set(values[bad])):
        yield value, _records(source, bad & (values == value))


def no_rejects() -> pd.DataFrame:
    """An empty rejected-rows frame."""
    return pd.DataFrame({SOURCE_FILE: pd.Series(dtype=object), SOURCE_LINE: pd.Series(dtype="int64"),
                         "reason": pd.Series(dtype=object)})


def reject(source: pd.DataFrame, mask: pd.Series, reason: str) -> pd.DataFrame:
    """The rows of `source` selected by `mask` as rejected rows with their reason."""
    rows = source.loc[mask, list(PROVENANCE)].reset_index(drop=True)
    rows["reason"] = reason
    return rows.astype({SOURCE_FILE: object, "reason": object})


# ----------------------------------------------------------------------------- source preparation
def start_table(source: pd.DataFrame) -> pd.DataFrame:
    """An empty target table on the source's rows, carrying their provenance (`_file`, `_line`)."""
    table = pd.DataFrame(index=source.index)
    table[SOURCE_FILE] = _text(source[SOURCE_FILE]) if SOURCE_FILE in source else _char(source.index)
    table[SOURCE_LINE] = source[SOURCE_LINE].astype("int64") if SOURCE_LINE in source else 0
    return table


def merge_source(left: pd.DataFrame, right: pd.DataFrame, by: Sequence[str] = ("SUBJID",)) -> pd.DataFrame:
    """`left` with the columns of `right` (at most one row per key) added; left's rows and provenance.

    Columns `right` shares with `left` (other than the keys) are taken from `left`. Rows of `left`
    without a match get "" in the added columns.
    """
    extra = [c for c in right.columns if c not in left.columns]
    merged = left.reset_index().merge(right[list(by) + extra], on=list(by), how="left", validate="many_to_one")
    merged = merged.set_index("index" if "index" in merged.columns else merged.columns[0])
    merged.index.name = left.index.name
    merged[extra] = merged[extra].astype(object).where(merged[extra].notna(), "")
    return merged


def bind_rows(*tables: pd.DataFrame) -> pd.DataFrame:
    """Stack the record sets of one domain (e.g. DS consent, end of treatment, end of study rows).

    A work column `_set` (0, 1, ...: which record set a row comes from) breaks ties in --SEQ order.
    """
    stacked = pd.concat([t.assign(_set=i) for i, t in enumerate(tables)], ignore_index=True)
    chars = [c for c in stacked.columns if stacked[c].dtype == object or pd.api.types.is_string_dtype(stacked[c])]
    stacked[chars] = stacked[chars].astype(object).where(stacked[chars].notna(), "")
    return stacked


def finalize(table: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """The domain's columns in spec order (+ `_file`, `_line`), typed, rows sorted by subject and --SEQ.

    Char variables become `str` with "" for null, Num variables float64. Work columns that are not
    variables of the dataset are left out. Every variable of the dataset must be in `table`.
    """
    missing = [name for name in dataset.names if name not in table.columns]
    if missing:
        raise ValueError(f"{dataset.name} mapping did not produce {missing}")
    out = pd.DataFrame(index=table.index)
    for variable in dataset.variables:
        column = table[variable.name]
        out[variable.name] = (pd.to_numeric(column, errors="raise").astype("float64")
                              if variable.type == "Num" else _text(column))
    out[SOURCE_FILE] = _text(table[SOURCE_FILE])
    out[SOURCE_LINE] = table[SOURCE_LINE].astype("int64")
    seq = [n for n in dataset.names if n.endswith("SEQ") and n != "TSSEQ"] or list(dataset.keys)
    order = [c for c in ("USUBJID", *seq) if c in out.columns]
    out = out.sort_values(order, kind="mergesort") if order else out
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------------- identifiers
def study_identifier(registry: dict) -> str:
    """STUDYID: the registry acronym, else the sponsor's study id, else the NCT number; never empty
    (the rule and its sanitising: `mappings/studyid.py`)."""
    from trialbridge.mappings.studyid import registry_study_identifier

    return registry_study_identifier(registry)


@dataclass(frozen=True)
class Arm:
    code: str  # ARMCD: the label's letters and digits, upper case, at most 20 characters
    label: str  # ARM: the registry arm group label as registered
    count: int  # how many arm groups the registry has


def registry_arm(registry: dict) -> Arm:
    """The planned arm of a single-arm study: the registry's (first) arm group."""
    groups = registry.get("protocolSection", {}).get("armsInterventionsModule", {}).get("armGroups", [])
    label = str(groups[0].get("label", "")) if groups else ""
    return Arm(code=re.sub(r"[^A-Z0-9]", "", label.upper())[:20], label=label, count=len(groups))


def derive_usubjid(source: pd.DataFrame, site_column: str, subject_column: str, studyid: str) -> pd.Series:
    """USUBJID = STUDYID-SITEID-SUBJID (SDTMIG DM: unique across all studies of the product)."""
    return _char(source.index, studyid + "-") + _text(source[site_column]) + "-" + _text(source[subject_column])


# --------------------------------------------------------------------------------- assign / hardcode
def hardcode_no_ct(source: pd.DataFrame, value: str, where: pd.Series | None = None) -> pd.Series:
    """The same value on every row (or on the rows of `where`, "" elsewhere)."""
    out = _char(source.index, value)
    return out if where is None else out.where(where.astype(bool), "")


def hardcode_ct(source: pd.DataFrame, value: str, codelist: str, where: pd.Series | None = None) -> pd.Series:
    """A fixed controlled term; a value outside a non-extensible codelist is a specification error."""
    ct = terminology()
    if value not in ct.submission_values(codelist) and not ct.is_extensible(codelist):
        raise ValueError(f"{value!r} is not in the non-extensible codelist {codelist} ({ct.codelist_name(codelist)})")
    return hardcode_no_ct(source, value, where)


def assign_no_ct(source: pd.DataFrame, source_column: str, mapping: dict[str, str] | None = None,
                 where: pd.Series | None = None) -> pd.Series:
    """The collected value ("" when absent), through the study's `mapping` where it names the value
    (e.g. a CRF code to the text the CRF prints), on the rows of `where` only if given."""
    raw = _text(source[source_column])
    values = _text(raw.map(mapping).where(raw.isin(list(mapping)), raw)) if mapping else raw
    return values if where is None else values.where(where.astype(bool), "")


def is_present(source: pd.DataFrame, source_column: str) -> pd.Series:
    """Row condition: the column holds a value (not "" and not NaN)."""
    column = source[source_column]
    return column.notna() & (column.astype(object) != "")


def is_in(source: pd.DataFrame, source_column: str, values: Iterable[str]) -> pd.Series:
    """Row condition: the column holds one of `values`."""
    return _text(source[source_column]).isin(list(values))


def assign_ct(source: pd.DataFrame, source_column: str, codelist: str, mapping: dict[str, str] | None = None,
              variable: str = "", match_package: bool = False) -> tuple[pd.Series, list[Finding]]:
    """The collected value as a CDISC submission value of `codelist`, via the study's `mapping` if given.

    Values the mapping does not name pass through unchanged. With `match_package`, a value still outside the
    codelist that names exactly one of its terms (the submission value in another case, a CDISC synonym, the
    NCI preferred term) becomes that term, each such match reported as a note. A value outside a
    non-extensible codelist is otherwise kept as collected and reported as an error (never upper-cased or
    guessed); outside an extensible codelist it is a sponsor extension, reported as a warning.
    """
    raw = _text(source[source_column])
    values = raw.map(mapping).where(raw.isin(list(mapping)), raw) if mapping else raw
    values = _text(values)
    ct = terminology()
    outside = (values != "") & ~values.isin(ct.submission_values(codelist))
    if not outside.any():
        return values, []
    matched: list[Finding] = []
    if match_package:
        values, outside, matched = _match_in_package(source, source_column, values, outside, codelist, variable)
    if not outside.any():
        return values, matched
    extensible = ct.is_extensible(codelist)
    rule = "SDTM-CT-EXTENDED" if extensible else "SDTM-CT-NOT-IN-CODELIST"
    allowed = sorted(ct.submission_values(codelist))
    findings = []
    for value, records in _by_value(source, values, outside):
        near = [term for term in allowed if term.casefold() == value.casefold()]
        findings.append(finding(
            rule, f"{records[0]}:{source_column}", [value],
            variable=variable or source_column, value=value, codelist=codelist,
            name=ct.codelist_name(codelist), count=len(records), records=_shown(records),
            suggestion=f"The codelist has '{near[0]}' (different case). " if near else "",
        ))
    return values, matched + findings


def _match_in_package(source: pd.DataFrame, source_column: str, values: pd.Series, outside: pd.Series,
                      codelist: str, variable: str) -> tuple[pd.Series, pd.Series, list[Finding]]:
    """Values the study CT did not map, taken as the CDISC term they unambiguously name (its submission value
    in another case, a CDISC synonym or the NCI preferred term: `Female` -> F, `Mild Adverse Event` -> MILD),
    each such match reported as a note; the rest stay outside."""
    ct = terminology()
    distinct = pd.unique(values[outside])
    found = {text: ct.match(codelist, text) for text in distinct}
    taken = {text: hit for text, hit in found.items() if hit[0]}
    if not taken:
        return values, outside, []
    hit = outside & values.isin(list(taken))
    notes = [
        finding("SDTM-CT-MATCHED", f"{records[0]}:{source_column}", [text], variable=variable or source_column,
                value=text, term=taken[text][0], how=taken[text][1], codelist=codelist,
                name=ct.codelist_name(codelist), count=len(records), records=_shown(records))
        for text, records in _by_value(source, values, hit)
    ]
    values = values.where(~hit, values.map({text: term for text, (term, _) in taken.items()}))
    return values, outside & ~hit, notes


def assign_numeric(source: pd.DataFrame, source_column: str, variable: str = "") -> tuple[pd.Series, list[Finding]]:
    """The collected number as float64 (NaN when absent); a value that is not a number is reported."""
    raw = _text(source[source_column]).str.strip()
    numbers = pd.to_numeric(raw.where(raw != "", np.nan), errors="coerce").astype("float64")
    bad = (raw != "") & numbers.isna()
    findings = [
        finding("SDTM-NOT-NUMERIC", f"{records[0]}:{source_column}", [value], variable=variable or source_column,
                value=value, column=source_column, count=len(records), records=_shown(records))
        for value, records in _by_value(source, raw, bad)
    ]
    return numbers, findings


def assign_datetime(source: pd.DataFrame, source_column: str) -> pd.Series:
    """A CRF date as ISO 8601: complete `YYYY-MM-DD` as is; partial dates keep their known parts only.

    `YYYY-MM` and `YYYY` stay; the CRF forms `UNK-MM-YYYY` -> `YYYY-MM` and `UNK-UNK-YYYY` -> `YYYY`
    (SDTMIG 4.4.4: unknown components are omitted, never imputed).
    """
    iso = _text(source[source_column])
    unknown = iso.str.startswith("UNK-")
    if unknown.any():  # only the few partial CRF dates go through the regular expressions
        part = iso[unknown].str.replace(r"^UNK-UNK-(\d{4})$", r"\1", regex=True)
        iso = iso.where(~unknown, part.str.replace(r"^UNK-(\d{2})-(\d{4})$", r"\2-\1", regex=True))
    return _text(iso)


def coalesce(first: pd.Series, *others: pd.Series) -> pd.Series:
    """The first non-null of several aligned Series ("" and NaN are null)."""
    out = first
    for other in others:
        empty = out.isna() | (out.astype(object) == "")
        out = out.where(~empty, other)
    return out


# ------------------------------------------------------------------------------- dates and days
def _per_distinct(parse: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """Run a date parser once per distinct value and spread the result back onto the rows.

    A date column repeats a few thousand values over up to millions of rows (and a subject-level date
    looked up onto each record, e.g. RFSTDTC, far more): parsing the distinct values only gives the same
    result per row for a fraction of the work.
    """
    @wraps(parse)
    def spread(dtc: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(_text(dtc).to_numpy(dtype=object), use_na_sentinel=False)
        parsed = parse(pd.Series(uniques, dtype=object))
        return pd.Series(parsed.to_numpy()[codes], index=dtc.index, name=dtc.name)
    return spread


@_per_distinct
def _complete_dates(dtc: pd.Series) -> pd.Series:
    """The date part of complete ISO 8601 values as datetime64; NaT for partial, empty or invalid."""
    text = _text(dtc)
    complete = text.str.match(_COMPLETE_DATE)
    return pd.to_datetime(text.str[:10].where(complete), format="%Y-%m-%d", errors="coerce")


@_per_distinct
def _earliest(dtc: pd.Series) -> pd.Series:
    """The first calendar day a (possibly partial) ISO 8601 date can be."""
    text = _text(dtc).str[:10]
    padded = text.where(text.str.len() != 4, text + "-01-01")
    padded = padded.where(padded.str.len() != 7, padded + "-01")
    return pd.to_datetime(padded.where(padded.str.match(rf"^{_DATE}$")), format="%Y-%m-%d", errors="coerce")


@_per_distinct
def _latest(dtc: pd.Series) -> pd.Series:
    """The last calendar day a (possibly partial) ISO 8601 date can be."""
    text = _text(dtc).str[:10]
    year = text.str.len() == 4
    month = text.str.len() == 7
    start = _earliest(dtc)
    end = start.where(~year, start + pd.offsets.YearEnd(0))
    return end.where(~month, start + pd.offsets.MonthEnd(0))


def derive_study_day(dtc: pd.Series, rfstdtc: pd.Series) -> pd.Series:
    """--DY: date - RFSTDTC + 1 on or after RFSTDTC, date - RFSTDTC before it (no day 0).

    Only complete dates have a study day: a partial date or a missing reference gives null (SDTMIG 4.4.4).
    """
    days = (_complete_dates(dtc) - _complete_dates(rfstdtc)).dt.days.astype("float64")
    return (days + (days >= 0)).astype("float64")


def derive_epoch(dtc: pd.Series, rfxstdtc: pd.Series, rfxendtc: pd.Series) -> pd.Series:
    """EPOCH of a record's date: SCREENING before the first dose, TREATMENT from first to last dose,
    FOLLOW-UP after the last dose.

    A subject still on treatment (no RFXENDTC) is in TREATMENT from the first dose on. A date that is
    missing, or too partial to fall on one side of a boundary, gets no epoch; so does a subject never dosed.
    """
    low, high = _earliest(dtc), _latest(dtc)
    start = _complete_dates(rfxstdtc)
    end_low, end_high = _earliest(rfxendtc), _latest(rfxendtc)
    ongoing = _text(rfxendtc) == ""
    screening = high < start
    treatment = (low >= start) & (ongoing | (high <= end_low))
    follow_up = low > end_high
    epoch = np.select([screening, treatment, follow_up], ["SCREENING", "TREATMENT", "FOLLOW-UP"], "")
    return pd.Series(epoch, index=dtc.index, dtype=object)


def derive_age(brthdtc: pd.Series, refdtc: pd.Series) -> pd.Series:
    """Age in completed years at the reference date; null unless every birth date the (partial) BRTHDTC
    allows gives the same age (e.g. born 1960-03, consent 2011-08-15: 51 whatever the day)."""
    reference = _complete_dates(refdtc)

    def years(birth: pd.Series) -> pd.Series:
        before_birthday = (reference.dt.month * 100 + reference.dt.day) < (birth.dt.month * 100 + birth.dt.day)
        return (reference.dt.year - birth.dt.year - before_birthday.astype("float64")).astype("float64")

    oldest, youngest = years(_earliest(brthdtc)), years(_latest(brthdtc))
    return oldest.where(oldest == youngest).astype("float64")


# ------------------------------------------------------------------------ per-subject derivations
def lookup(table: pd.DataFrame, other: pd.DataFrame, column: str, by: Sequence[str] = ("USUBJID",)) -> pd.Series:
    """The value of `other[column]` on the row of `other` with the same keys ("" / NaN when none).

    `other` holds at most one row per key (a subject-level table such as DM).
    """
    keys = other[list(by) + [column]].drop_duplicates(list(by))
    position = _key_index(keys, by).get_indexer(_key_index(table, by))  # -1 where `other` has no such keys
    found = keys[column].reset_index(drop=True).reindex(position)  # a left join, without building one
    values = pd.Series(found.to_numpy(), index=table.index)
    return values.astype("float64") if pd.api.types.is_numeric_dtype(other[column]) else _text(values)


def _key_index(frame: pd.DataFrame, by: Sequence[str]) -> pd.Index:
    """The key columns `by` of `frame` as an index (one row per row of `frame`), to look rows up by key."""
    return pd.Index(frame[by[0]]) if len(by) == 1 else pd.MultiIndex.from_frame(frame[list(by)])


def _per_key(table: pd.DataFrame, other: pd.DataFrame, values: pd.Series, by: Sequence[str], how: str) -> pd.Series:
    frame = other[list(by)].assign(_value=_text(values))
    frame = frame[frame["_value"] != ""]
    ranked = frame.sort_values(list(by) + ["_value"], kind="mergesort")  # ISO 8601 sorts as text
    summary = ranked.drop_duplicates(list(by), keep="first" if how == "min" else "last")
    return lookup(table, summary, "_value", by)


def derive_first_dtc(table: pd.DataFrame, other: pd.DataFrame, dtc_column: str,
                     by: Sequence[str] = ("USUBJID",)) -> pd.Series:
    """The earliest `dtc_column` of `other` per subject (ISO 8601 order), e.g. RFXSTDTC = first EXSTDTC."""
    return _per_key(table, other, other[dtc_column], by, "min")


def derive_last_dtc(table: pd.DataFrame, other: pd.DataFrame, dtc_columns: Sequence[str],
                    by: Sequence[str] = ("USUBJID",)) -> pd.Series:
    """The latest date of `other` per subject, each row's date being the first non-empty of `dtc_columns`
    (e.g. RFXENDTC = latest EXENDTC, or EXSTDTC where EXENDTC is missing)."""
    dates = coalesce(*(_text(other[c]) for c in dtc_columns))
    return _per_key(table, other, dates, by, "max")


def derive_latest(*dates: pd.Series) -> pd.Series:
    """Row by row, the latest of several aligned ISO 8601 dates ("" when all are empty)."""
    frame = pd.concat([_text(d) for d in dates], axis=1)
    return _text(frame.max(axis=1))


def derive_exists(table: pd.DataFrame, other: pd.DataFrame, by: Sequence[str] = ("USUBJID",)) -> pd.Series:
    """True where `other` has at least one row with the same keys (e.g. the subject has EX records)."""
    present = other[list(by)].drop_duplicates().assign(_present=True)
    merged = table[list(by)].merge(present, on=list(by), how="left")
    return pd.Series(merged["_present"].fillna(False).astype(bool).to_numpy(), index=table.index)


def derive_seq(table: pd.DataFrame, by: Sequence[str] = ("USUBJID",), order: Sequence[str] = ()) -> pd.Series:
    """--SEQ: 1, 2, ... within each subject, following `order` (stable: ties keep the table order)."""
    ranked = table.sort_values(list(by) + list(order), kind="mergesort")
    seq = ranked.groupby(list(by), sort=False).cumcount() + 1
    return seq.reindex(table.index).astype("float64")


def derive_blfl(table: pd.DataFrame, result_column: str, dtc_column: str, rfstdtc: pd.Series,
                by: Sequence[str] = ("USUBJID",), order: Sequence[str] = ()) -> pd.Series:
    """Baseline flag "Y" on the last record with a non-missing result on or before RFSTDTC, per `by`
    (e.g. subject and test); "" elsewhere. A date that may fall after RFSTDTC (partial) does not qualify;
    ties on the same date go to the last in `order` (then table order)."""
    eligible = (_text(table[result_column]) != "") & (_latest(table[dtc_column]) <= _complete_dates(rfstdtc))
    candidates = table.loc[eligible].assign(_dtc=_text(table.loc[eligible, dtc_column]).str[:10])
    ranked = candidates.sort_values(list(by) + ["_dtc"] + list(order), kind="mergesort")
    last = ranked.groupby(list(by), sort=False).tail(1).index
    flag = _char(table.index)
    flag.loc[last] = "Y"
    return flag


# --------------------------------------------------------------------------------------- SUPP--
def split_long_text(table: pd.DataFrame, variable: str, supp_qnam_prefix: str,
                    length: int = MAX_TEXT) -> tuple[pd.DataFrame, list[Finding]]:
    """SDTMIG 4.5.3.2: text over `length` characters keeps its first part in `variable` and the rest in
    SUPP-- qualifiers `<prefix>1`, `<prefix>2`, ..., each cut at a word boundary (at `length` characters
    only when a single word is longer). Returns the parts as columns [variable, prefix1, ...] aligned on
    the table, and an info finding per split value."""
    rest = _text(table[variable])
    parts: dict[str, pd.Series] = {}
    pattern = rf"^(.{{0,{length - 1}}}\S)(?:\s+|$)(.*)$"
    index = 0
    while True:
        long = rest.str.len() > length
        if not long.any():
            parts[variable if index == 0 else f"{supp_qnam_prefix}{index}"] = rest
            break
        cut = rest[long].str.extract(pattern, flags=re.DOTALL)
        head = cut[0].where(cut[0].notna(), rest[long].str[:length])
        tail = cut[1].where(cut[0].notna(), rest[long].str[length:])
        parts[variable if index == 0 else f"{supp_qnam_prefix}{index}"] = rest.where(~long, head)
        rest = _char(rest.index).where(~long, tail).where(long, "")
        index += 1
    frame = pd.DataFrame({name: _text(values) for name, values in parts.items()}, index=table.index)
    return frame, _split_report(table, frame, variable, length, "SDTM-TEXT-SPLIT", "qnams")


def _split_report(table: pd.DataFrame, parts: pd.DataFrame, variable: str, length: int, rule_id: str,
                  names_field: str) -> list[Finding]:
    """The one finding of a text split: how many records, which continuation names (`names_field` is the
    message template's name for them: `qnams` for SUPP-- qualifiers, `columns` for TSVAL1 ...)."""
    extra = [c for c in parts.columns if c != variable]
    split = (parts[extra] != "").any(axis=1) if extra else pd.Series(False, index=table.index)
    if not split.any():
        return []
    records = _records(table, split)
    return [finding(rule_id, f"{records[0]}:{variable}", [], variable=variable, count=len(records),
                    length=length, records=_shown(records), **{names_field: ", ".join(extra)})]


def to_supp(table: pd.DataFrame, domain: str, qvals: Sequence[tuple[str, str, str, str]],
            idvar: str = "") -> pd.DataFrame:
    """SUPP-- rows (SDTMIG 8.4): one per non-empty value of each qualifier (QNAM, QLABEL, column, QORIG).

    IDVAR/IDVARVAL name the parent record (e.g. AESEQ and its value); both are null for DM. Qualifier
    columns missing from `table` (e.g. a DSTERM2 no value needed) give no rows. Rows are ordered by
    subject, parent record, then the qualifiers' declared order; `_file`/`_line` come from the parent row.
    """
    frames = []
    numeric_parent = bool(idvar) and pd.api.types.is_numeric_dtype(table[idvar])
    for rank, (qnam, qlabel, column, qorig) in enumerate(qvals):
        if column not in table.columns:
            continue
        values = _text(table[column])
        rows = table.loc[values != ""]
        if rows.empty:
            continue
        parent = rows[idvar] if idvar else pd.Series(0, index=rows.index)
        idvarval = _text(parent.astype("int64").astype(str)) if numeric_parent else _text(parent)
        frames.append(pd.DataFrame({
            "STUDYID": _text(rows["STUDYID"]), "RDOMAIN": domain, "USUBJID": _text(rows["USUBJID"]),
            "IDVAR": idvar, "IDVARVAL": idvarval if idvar else "", "QNAM": qnam, "QLABEL": qlabel,
            "QVAL": values[values != ""], "QORIG": qorig, "QEVAL": "",
            SOURCE_FILE: _text(rows[SOURCE_FILE]), SOURCE_LINE: rows[SOURCE_LINE].astype("int64"),
            "_parent": parent if numeric_parent else 0, "_rank": rank,
        }))
    if not frames:
        empty = {c: pd.Series(dtype=object) for c in SUPP_COLUMNS}
        return pd.DataFrame({**empty, SOURCE_FILE: pd.Series(dtype=object), SOURCE_LINE: pd.Series(dtype="int64")})
    supp = pd.concat(frames, ignore_index=True)
    supp = supp.sort_values(["USUBJID", "_parent", "IDVARVAL", "_rank"], kind="mergesort")
    supp = supp.drop(columns=["_rank", "_parent"]).reset_index(drop=True)
    for column in SUPP_COLUMNS + (SOURCE_FILE,):
        supp[column] = _text(supp[column])
    return supp


# ============================================================================================
# Appended by the findings-domains helper (AE, RS, LB, TS): visits, standard results, reference
# range indicator, toxicity grade, and the TS value split.
# ============================================================================================

def assign_visitnum(source: pd.DataFrame, source_column: str,
                    schedule: dict[str, float]) -> tuple[pd.Series, list[Finding]]:
    """VISITNUM of the collected visit code from the study's visit schedule (the spec's `visits` table:
    visit as collected -> number). A code the schedule does not know gives null and a finding."""
    raw = _text(source[source_column])
    numbers = raw.map(schedule).astype("float64")
    unknown = (raw != "") & numbers.isna()
    findings = [
        finding("SDTM-VISIT-UNKNOWN", f"{records[0]}:{source_column}", [value], value=value,
                column=source_column, visits=", ".join(schedule), count=len(records), records=_shown(records))
        for value, records in _by_value(source, raw, unknown)
    ]
    return numbers, findings


_RESULT = r"^(?P<op>[<>]=?)?\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))$"


def _parse_results(values: pd.Series) -> pd.DataFrame:
    """Split results into comparator (`<`, `>`, `<=`, `>=` or ""), number (float) and decimals shown.

    The text is parsed once per distinct value (lab results repeat a lot), then spread back by code.
    """
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
    distinct = _text(pd.Series(uniques, dtype=object)).str.strip()
    parts = distinct.str.extract(_RESULT)
    number = pd.to_numeric(parts["num"], errors="coerce").astype("float64")
    decimals = parts["num"].str.extract(r"\.(\d*)$")[0].str.len().fillna(0).astype("int64")
    parsed = pd.DataFrame({"op": _text(parts["op"]), "number": number, "decimals": decimals})
    spread = parsed.iloc[codes].set_axis(values.index) if len(values) else parsed.iloc[0:0].set_axis(values.index)
    return spread


def _format_numbers(numbers: pd.Series, decimals: pd.Series) -> pd.Series:
    """Numbers as text with at most `decimals` places, trailing zeros dropped ("" for NaN).

    Each distinct (number, places) pair is formatted once."""
    number_codes, number_values = pd.factorize(numbers.astype("float64").to_numpy(), use_na_sentinel=False)
    places = decimals.astype("int64").to_numpy()
    codes, _ = pd.factorize(number_codes * (int(places.max(initial=0)) + 1) + places)
    first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()  # a row of each distinct pair
    distinct = pd.DataFrame({"number": number_values[number_codes[first]], "places": places[first]})
    text = pd.Series("", index=distinct.index, dtype=object)
    for places in sorted(set(distinct.loc[distinct["number"].notna(), "places"])):
        rows = distinct["number"].notna() & (distinct["places"] == places)
        formatted = pd.Series(np.char.mod(f"%.{places}f", distinct.loc[rows, "number"].to_numpy()),
                              index=distinct.index[rows], dtype=object)
        if places > 0:
            formatted = formatted.str.rstrip("0").str.rstrip(".")
        text.loc[rows] = formatted.replace("-0", "0")
    return pd.Series(text.to_numpy()[codes] if len(codes) else [], index=numbers.index, dtype=object)


def _round_by(numbers: pd.Series, places: pd.Series) -> pd.Series:
    """Each number rounded to its own number of decimal places (NaN stays NaN)."""
    out = numbers.astype("float64").copy()
    for count in sorted(set(places[numbers.notna()])):
        rows = numbers.notna() & (places == count)
        out.loc[rows] = numbers[rows].round(int(min(count, 15)))
    return out


def _distinct_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Each distinct row of `frame` once, and for every row of `frame` the position of its distinct row.

    A row-wise derivation run on the distinct rows and spread back by these positions gives every row
    the same value for a fraction of the work where rows repeat (a lab result and its unit do, a lot).
    """
    codes = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
    _, first = np.unique(codes, return_index=True)  # the first row of each group, in group number order
    return frame.iloc[first], codes


def derive_std_result(source: pd.DataFrame, source_column: str, factor: pd.Series) -> tuple[pd.Series, pd.Series]:
    """--STRESC and --STRESN of a collected result converted to the standard unit (standard = result x factor).

    A number is converted and rounded to the places the collected value shows, shifted by the factor's
    power of ten (182000 /mm3 x 0.001 -> 182 10^9/L; 11.8 g/dL x 10 -> 118 g/L), so no precision is
    invented. A result outside the measurable range (`<3.3`, `>95`) keeps its comparator in --STRESC with
    the converted bound and has no --STRESN (SDTMIG 3.4 LB assumption: --STRESN only for numeric results).
    Text that is not a number is copied to --STRESC; without a factor (unit unknown) both stay null.
    Computed once per distinct (result, factor) pair.
    """
    factor = pd.to_numeric(factor, errors="coerce").astype("float64")
    rows, codes = _distinct_rows(pd.DataFrame({source_column: source[source_column], "_factor": factor}))
    stresc, stresn = _std_result(rows, source_column, rows["_factor"])
    return (pd.Series(stresc.to_numpy()[codes], index=source.index, dtype=object),
            pd.Series(stresn.to_numpy()[codes], index=source.index, dtype="float64"))


def _std_result(source: pd.DataFrame, source_column: str, factor: pd.Series) -> tuple[pd.Series, pd.Series]:
    parsed = _parse_results(source[source_column])
    factor = pd.to_numeric(factor, errors="coerce").astype("float64")
    shift = np.ceil(-np.log10(factor.where(factor > 0))).fillna(0).astype("int64")
    places = (parsed["decimals"] + shift).clip(lower=0)
    converted = _round_by(parsed["number"] * factor, places)
    text = _format_numbers(converted, places)
    stresc = (parsed["op"] + text).where(text != "", "")
    raw = _text(source[source_column]).str.strip()
    not_number = (raw != "") & parsed["number"].isna() & factor.notna()
    stresc = _text(stresc.where(~not_number, raw))
    stresn = converted.where(parsed["op"] == "").astype("float64")
    return stresc, stresn


def derive_nrind(source: pd.DataFrame, source_column: str, low_column: str, high_column: str) -> pd.Series:
    """--NRIND from the collected result and the collected reference range (same unit): LOW below the
    lower limit, HIGH above the upper limit, NORMAL within the limits given; null without a range.

    A result outside the measurable range is placed only when its bound decides it (`<3.3` with a lower
    limit of 3.3 is LOW; `>95` with no upper limit, or `<5` with a lower limit of 3, is left null).
    Computed once per distinct (result, low, high) triple."""
    rows, codes = _distinct_rows(source[list(dict.fromkeys([source_column, low_column, high_column]))])
    return pd.Series(_nrind(rows, source_column, low_column, high_column).to_numpy()[codes], index=source.index,
                     dtype=object)


def _nrind(source: pd.DataFrame, source_column: str, low_column: str, high_column: str) -> pd.Series:
    parsed = _parse_results(source[source_column])
    low = pd.to_numeric(_text(source[low_column]).replace("", np.nan), errors="coerce").astype("float64")
    high = pd.to_numeric(_text(source[high_column]).replace("", np.nan), errors="coerce").astype("float64")
    x, op = parsed["number"], parsed["op"]
    exact = op == ""
    below = (exact & (x < low)) | (op.isin(["<", "<="]) & (x <= low))
    above = (exact & (x > high)) | (op.isin([">", ">="]) & (x >= high))
    has_range = low.notna() | high.notna()
    within = exact & x.notna() & has_range & ~(x < low) & ~(x > high)
    nrind = np.select([below, above, within], ["LOW", "HIGH", "NORMAL"], "")
    return pd.Series(nrind, index=source.index, dtype=object)


def derive_toxgr(table: pd.DataFrame, stresn_column: str, low_column: str, high_column: str,
                 grading: pd.DataFrame, by: str) -> pd.Series:
    """--TOXGR: the NCI CTCAE grade of a numeric standard result, from the grading table of its test.

    `grading` has one row per value of `by` (e.g. LBTESTCD) with `direction` ("low": grade 1 below the
    lower limit of normal, grade n below cut-off n; "high": grade 1 above the upper limit, grade n above
    cut-off n), `scale` ("absolute": cut-offs in the standard unit; "ULN": multiples of the upper limit)
    and the cut-offs `grade2`, `grade3`, `grade4`. The grade is the highest whose condition holds, "0"
    when none does; null for tests not graded, results without a number (e.g. `<0.5`), and results whose
    grade depends on a missing limit of normal.
    """
    rules = table[[by]].merge(grading, on=by, how="left")
    rules.index = table.index
    x = pd.to_numeric(table[stresn_column], errors="coerce").astype("float64")
    lln = pd.to_numeric(table[low_column], errors="coerce").astype("float64")
    uln = pd.to_numeric(table[high_column], errors="coerce").astype("float64")
    relative = rules["scale"] == "ULN"
    cuts = {g: pd.to_numeric(rules[f"grade{g}"], errors="coerce").astype("float64").where(~relative,
            pd.to_numeric(rules[f"grade{g}"], errors="coerce") * uln) for g in (2, 3, 4)}
    low = rules["direction"] == "low"
    high = rules["direction"] == "high"
    hits = {g: (low & (x < cuts[g])) | (high & (x > cuts[g])) for g in (2, 3, 4)}
    limit = lln.where(low, uln)
    hits[1] = (low & (x < limit)) | (high & (x > limit))
    graded = (low | high) & x.notna()
    known = graded & (hits[2] | hits[3] | hits[4] | limit.notna())
    grade = np.select([hits[4], hits[3], hits[2], hits[1]], ["4", "3", "2", "1"], "0")
    return pd.Series(grade, index=table.index, dtype=object).where(known, "")


def split_to_columns(table: pd.DataFrame, variable: str, length: int = MAX_TEXT) -> tuple[pd.DataFrame, list[Finding]]:
    """SDTMIG 3.4 TS assumption (TSVAL): text over `length` characters keeps its first part in `variable`
    and continues in the additional columns `<variable>1`, `<variable>2`, ... of the same dataset, each cut
    at a word boundary: `split_long_text` with the parts kept as columns instead of SUPP-- qualifiers."""
    parts, _ = split_long_text(table, variable, variable, length)
    return parts, _split_report(table, parts, variable, length, "SDTM-TEXT-SPLIT-COLUMNS", "columns")


def report_values(source: pd.DataFrame, source_column: str, mask: pd.Series, rule_id: str,
                  **fields: object) -> list[Finding]:
    """One finding of `rule_id` per distinct value of `source_column` on the rows of `mask`, located at
    its first record and naming the count and records (the message template gets `value`, `count`,
    `records` and `fields`)."""
    values = _text(source[source_column])
    return [
        finding(rule_id, f"{records[0]}:{source_column}", [value], value=value, count=len(records),
                records=_shown(records), **fields)
        for value, records in _by_value(source, values, mask.astype(bool))
    ]


def require_declared(parts: pd.DataFrame, variable: str, qvals: Sequence[tuple[str, str, str, str]]) -> None:
    """Stop when a long-text split produced a SUPP-- qualifier the study specification does not declare
    (it would otherwise be lost): the spec must list every QNAM the data can need."""
    declared = {qnam for qnam, *_ in qvals}
    undeclared = [c for c in parts.columns if c != variable and c not in declared]
    if undeclared:
        raise ValueError(f"study-spec.json declares no SUPP-- qualifier {undeclared} for the split of {variable}")
