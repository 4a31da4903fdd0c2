"""SDTM value rules: the package -> findings on controlled terminology (and EPOCH), ISO 8601 dates and
study days, and findings results and tests (--STRESN against --STRESC, --TESTCD and --TEST).
"""
from __future__ import annotations

import re
from typing import Iterator

import numpy as np
import pandas as pd

from trialbridge.schemas.sdtm_checks_masks import (
    NUMERIC_TEXT, day_number, differs, is_char, longer_than, not_in, not_iso8601, not_matching,
    FLOAT_DIGITS, beyond_float_precision, not_real_datetime, number_in_text, per_value, study_day,
)
from trialbridge.schemas.sdtm_standards import CT_VERSION, terminology
from trialbridge.schemas.sdtm_checks_base import (
    EPOCH_CODELIST, Outcome, Package, _columns, column_findings, _dm, parent_domain, record_findings,
    value_findings,
)


# -------------------------------------------------------------------------------------- terminology
def _bindings(package: Package) -> Iterator[tuple[str, str, str, np.ndarray | None]]:
    """(dataset, variable, codelist, records it governs or None for all) from the variable- and
    value-level metadata. A value-level entry's codelist replaces the variable's on the records it
    describes (e.g. DSDECOD is C114118 where DSCAT is PROTOCOL MILESTONE). EPOCH is left to its own rule."""
    for name, declared in package.declared_datasets():
        table = package.tables[name]
        levels: dict[str, list[tuple[str, np.ndarray]]] = {}
        for level in package.spec.value_level:
            codelist = getattr(level, "codelist", "")
            if (level.dataset == name and codelist and level.variable in table.columns
                    and level.where_variable in table.columns):
                where = (table[level.where_variable] == level.where_value).to_numpy(dtype=bool)
                levels.setdefault(level.variable, []).append((codelist, where))
        for v in declared.variables:
            if v.codelist and v.name in table.columns and v.name != "EPOCH":
                covered = [where for _, where in levels.get(v.name, [])]
                rest = ~np.logical_or.reduce(covered) if covered else None
                yield name, v.name, v.codelist, rest
        for variable, entries in levels.items():
            for codelist, where in entries:
                yield name, variable, codelist, where


SDTMIG_EXTRA_TERMS: dict[str, frozenset[str]] = {"RACE": frozenset({"MULTIPLE"})}


RESULT_VARIABLE = re.compile(r"[A-Z]{2}(?:ORRES|STRESC)")


QUANTITATIVE_RESULT = r"(?:[<>]=?)?\s*" + NUMERIC_TEXT


def _terminology_check(package: Package, extensible: bool, rule_id: str) -> Outcome:
    ct = terminology()
    found, checked, unknown = [], [], []
    for name, variable, codelist, where in _bindings(package):
        try:
            if ct.is_extensible(codelist) != extensible:
                continue
            allowed = ct.submission_values(codelist)
            codelist_name = ct.codelist_name(codelist)
        except KeyError:
            unknown.append(f"{name}.{variable} ({codelist})")
            continue
        checked.append(f"{name}.{variable}")
        column = package.distinct(name, variable)
        mask = not_in(column, allowed | SDTMIG_EXTRA_TERMS.get(variable, frozenset()))
        if where is not None:
            mask &= where
        if RESULT_VARIABLE.fullmatch(variable):
            mask &= ~per_value(column, lambda values: values.str.fullmatch(QUANTITATIVE_RESULT))
        report = value_findings if extensible else record_findings
        found += report(rule_id, package, name, variable, mask, codelist=codelist,
                        codelist_name=codelist_name, ct=CT_VERSION)
    if unknown:
        checked.append("not checked, codelist absent from CT " + CT_VERSION + ": " + ", ".join(unknown))
    return found, checked


def check_nonextensible_codelists(package: Package) -> Outcome:
    """Values of a variable bound to a non-extensible codelist are submission values of that codelist."""
    return _terminology_check(package, False, "SD-CT-NONEXT")


def check_extensible_codelists(package: Package) -> Outcome:
    """Values outside an extensible codelist are sponsor terms, reported for review."""
    return _terminology_check(package, True, "SD-CT-EXT")


def check_epoch(package: Package) -> Outcome:
    """EPOCH values are terms of the CDISC Epoch codelist (C99079), whatever the spec binds."""
    allowed = terminology().submission_values(EPOCH_CODELIST)
    return column_findings("SD-EPOCH-CT", package, list(_columns(package, "EPOCH")),
                           lambda values: not_in(values, allowed))


# ---------------------------------------------------------------------------------------- dates, days
def _dtc_columns(package: Package) -> list[tuple[str, str]]:
    return [(n, v) for n, v in _columns(package, r".*DTC") if is_char(package.tables[n][v])]


def check_dtc_format(package: Package) -> Outcome:
    """--DTC values are ISO 8601 dates/times; partial dates leave the unknown parts off."""
    return column_findings("SD-DTC-FORMAT", package, _dtc_columns(package), not_iso8601)


def check_dtc_calendar(package: Package) -> Outcome:
    """--DTC values name dates and times that exist (2011-02-30, month 13 or 25:00 do not)."""
    return column_findings("SD-DTC-DATE", package, _dtc_columns(package), not_real_datetime)


def _per_subject(usubjid: pd.Series, by_subject: pd.Series) -> np.ndarray:
    """`by_subject` (a float Series indexed by USUBJID) spread over the records of a table."""
    codes, subjects = pd.factorize(usubjid, use_na_sentinel=True)
    values = pd.Series(subjects).map(by_subject).to_numpy(dtype=float)
    if values.size == 0:
        return np.full(len(usubjid), np.nan)
    return np.where(codes >= 0, values[np.maximum(codes, 0)], np.nan)


def check_study_days(package: Package) -> Outcome:
    """--DY, --STDY, --ENDY equal the SDTMIG study day of their date from DM.RFSTDTC: no day 0, and
    empty when either date is incomplete."""
    dm = _dm(package, "USUBJID", "RFSTDTC")
    subjects = dm.drop_duplicates("USUBJID")
    reference = pd.Series(day_number(subjects["RFSTDTC"]), index=subjects["USUBJID"].to_numpy())
    rfstdtc = dict(zip(subjects["USUBJID"], subjects["RFSTDTC"]))
    found, checked = [], []
    for name, variable in _columns(package, r"[A-Z]{2}(?:ST|EN)?DY"):
        table = package.tables[name]
        dtc = variable[:-2] + "DTC"
        if variable[:2] != parent_domain(name) or dtc not in table.columns or "USUBJID" not in table.columns:
            continue
        checked.append(f"{name}.{variable}")
        expected = study_day(day_number(package.distinct(name, dtc)), _per_subject(table["USUBJID"], reference))
        actual = pd.to_numeric(table[variable], errors="coerce").to_numpy(dtype=float)
        mask = differs(actual, expected) & table["USUBJID"].isin(list(rfstdtc)).to_numpy(bool)
        if mask.any():  # subjects absent from DM are SD-USUBJID-DM's findings, not this rule's
            shown = (variable, dtc, table["USUBJID"].map(rfstdtc).astype(object))
            found += record_findings("SD-DY", package, name, variable, mask, shown=shown, dtc=dtc)
    return found, checked


# ---------------------------------------------------------------------------------- results, tests
def check_stresn_stresc(package: Package) -> Outcome:
    """A numeric --STRESC is repeated in --STRESN; --STRESN is filled only when --STRESC is a number."""
    found, checked = [], []
    for name, stresn in _columns(package, r"[A-Z]{2}STRESN"):
        table = package.tables[name]
        stresc = stresn[:-1] + "C"
        if stresc not in table.columns:
            continue
        checked.append(f"{name}.{stresn}")
        spelled = number_in_text(package.distinct(name, stresc))
        number = pd.to_numeric(table[stresn], errors="coerce").to_numpy(dtype=float)
        found += record_findings("SD-STRESN", package, name, stresn, differs(number, spelled),
                                 shown=(stresc, stresn), stresc=stresc)
    return found, checked


def check_stresn_precision(package: Package) -> Outcome:
    """A numeric --STRESC with more significant digits than --STRESN (an 8-byte number) can hold exactly."""
    found, checked = [], []
    for name, stresn in _columns(package, r"[A-Z]{2}STRESN"):
        stresc = stresn[:-1] + "C"
        if stresc not in package.tables[name].columns:
            continue
        checked.append(f"{name}.{stresn}")
        found += record_findings("SD-STRESN-PRECISION", package, name, stresn,
                                 beyond_float_precision(package.distinct(name, stresc)), shown=(stresc, stresn),
                                 stresc=stresc, digits=FLOAT_DIGITS)
    return found, checked


TESTCD_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,7}"


def check_testcd(package: Package) -> Outcome:
    """--TESTCD (and TSPARMCD) values: at most 8 letters, digits or underscores, not starting with a digit."""
    return column_findings("SD-TESTCD", package, list(_columns(package, r"[A-Z]{2}(?:TESTCD|PARMCD)")),
                           lambda values: not_matching(values, TESTCD_PATTERN))


def check_test(package: Package) -> Outcome:
    """--TEST (and TSPARM) values are at most 40 characters; IETEST in IE and TI at most 200."""
    pairs = list(_columns(package, r"[A-Z]{2}(?:TEST|PARM)"))
    found, checked = [], []
    for limit, chosen in ((40, [p for p in pairs if p[1] != "IETEST"]), (200, [p for p in pairs if p[1] == "IETEST"])):
        more, scope = column_findings("SD-TEST", package, chosen,
                                      lambda values, limit=limit: longer_than(values, limit), limit=limit)
        found, checked = found + more, checked + scope
    return found, checked
