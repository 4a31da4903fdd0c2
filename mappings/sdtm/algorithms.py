"""The SDTM mapping algorithms: named, vectorised steps from native form tables to SDTM columns.

The vocabulary is sdtm.oak's: `hardcode_no_ct`, `hardcode_ct`, `assign_no_ct`, `assign_ct`,
`assign_numeric`, `assign_datetime`, `derive_*`, `split_long_text`, `to_supp`, all importable from here.
This module holds the identifiers and the assign/hardcode steps; the rest live by subject in
`frames` (table plumbing), `timing` (dates, study days), `per_subject` (lookups by key, --SEQ, baseline),
`results` (findings results) and `supp` (long text, SUPP--). One argument order everywhere: the source
table, the source column(s), then the target-specific arguments (codelist, value, keys). Every algorithm
returns a Series aligned on the source table's index (character values as `str` with "" for null, numbers
as float64 with NaN for null); those that can reject or change a value also return the findings that say
so. Nothing is ever changed silently: a value outside a codelist stays as collected and is reported,
never upper-cased or dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from trialbridge.mappings.sdtm.frames import (
    PROVENANCE, RECORDS_SHOWN, REJECTED_COLUMNS, Mapped, _by_value, _char, _shown, _text, bind_rows, finalize,
    merge_source, no_rejects, reject, report_values, start_table,
)
from trialbridge.mappings.sdtm.per_subject import (
    derive_blfl, derive_exists, derive_first_dtc, derive_last_dtc, derive_seq, lookup,
)
from trialbridge.mappings.sdtm.results import (
    assign_numeric, derive_nrind, derive_std_result, derive_toxgr,
)
from trialbridge.mappings.sdtm.supp import (
    MAX_TEXT, SUPP_COLUMNS, require_declared, split_long_text, split_to_columns, to_supp,
)
from trialbridge.mappings.sdtm.timing import (
    assign_datetime, coalesce, derive_age, derive_epoch, derive_latest, derive_study_day,
)
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_standards import terminology

__all__ = [  # the mapping vocabulary: defined here or in the modules named in the docstring
    "Arm", "MAX_TEXT", "Mapped", "PROVENANCE", "RECORDS_SHOWN", "REJECTED_COLUMNS", "SUPP_COLUMNS", "assign_ct",
    "assign_datetime", "assign_no_ct", "assign_numeric", "assign_visitnum", "bind_rows", "coalesce",
    "derive_age", "derive_blfl", "derive_epoch", "derive_exists", "derive_first_dtc", "derive_last_dtc",
    "derive_latest", "derive_nrind", "derive_seq", "derive_std_result", "derive_study_day", "derive_toxgr",
    "derive_usubjid", "finalize", "hardcode_ct", "hardcode_no_ct", "is_in", "is_present", "lookup",
    "merge_source", "no_rejects", "registry_arm", "reject", "report_values", "require_declared",
    "split_long_text", "split_to_columns", "start_table", "study_identifier", "to_supp",
]


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
