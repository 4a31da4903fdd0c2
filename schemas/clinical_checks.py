"""SDTM tables (+ the study's constants) -> clinical consistency warnings: legal data that is unlikely true.

Each rule states what must hold; a record that breaks it is a warning at `dataset:variable:record`
with the subject, the values compared and the native file and line it came from. Rule texts and
citations are in `catalogue.json` (ids CLIN-*). Dates are compared at the precision both carry
(`2012-03` against `2012-02-15` compares months): a record is flagged only when it is certainly
earlier or later, never on a partial date that may agree.

    CLIN-BEFORE-CONSENT    AESTDTC, EXSTDTC, LBDTC not before the subject's informed consent (RFICDTC)
    CLIN-AFTER-DEATH       AESTDTC, EXSTDTC, EXENDTC, LBDTC and DM RFXENDTC not after the death date (DTHDTC)
    CLIN-FATAL-ALIVE       a fatal AE (AEOUT FATAL or AESDTH Y) only for a subject who died (DTHFL Y)
    CLIN-DOSE-LEVEL        EXDOSE one of the protocol's dose levels (StudyInfo.treatments[].dose_levels)
    CLIN-LAB-UNGRADED      a result of a test the grading table grades (LBTOX given) has a grade (LBTOXGR)
    CLIN-END-BEFORE-START  AEENDTC not before AESTDTC, EXENDTC not before EXSTDTC
    CLIN-BORN-AFTER        DM BRTHDTC not after the subject's informed consent (RFICDTC)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_checks_base import RuleResult

if TYPE_CHECKING:  # imports run converters -> mappings -> schemas: the type only, for the annotations
    from trialbridge.mappings.study import StudyInfo

DATE_PRECISIONS = (4, 7, 10)  # year, month, day


def _text(table: pd.DataFrame, column: str) -> pd.Series:
    if column not in table.columns:
        return pd.Series("", index=table.index, dtype=object)
    return table[column].fillna("").astype(str).str.strip()


def before(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Rows where date `a` is certainly earlier than date `b` (ISO 8601, compared at the shorter precision;
    False where either is empty)."""
    a10, b10 = a.str.slice(0, 10), b.str.slice(0, 10)
    shorter = np.minimum(a10.str.len().to_numpy(), b10.str.len().to_numpy())
    result = np.zeros(len(a), dtype=bool)
    for n in DATE_PRECISIONS:
        rows = shorter == n
        if rows.any():
            result[rows] = (a10[rows].str.slice(0, n) < b10[rows].str.slice(0, n)).to_numpy()
    return result


def _per_subject(table: pd.DataFrame, dm: pd.DataFrame, column: str) -> pd.Series:
    """DM `column` for each record of `table`, by USUBJID ("" where DM has no such subject)."""
    lookup = pd.Series(_text(dm, column).to_numpy(), index=_text(dm, "USUBJID").to_numpy())
    lookup = lookup[~lookup.index.duplicated()]
    return _text(table, "USUBJID").map(lookup).astype(object).fillna("")


def _source(table: pd.DataFrame, row: int) -> str:
    if "_file" in table.columns and str(table["_file"].iloc[row]):
        return f" (from {table['_file'].iloc[row]}:{table['_line'].iloc[row]})"
    return ""


def _found(rule: str, table: pd.DataFrame, dataset: str, variable: str, mask: np.ndarray,
           values: Callable[[int], tuple[str, ...]], **fields: Callable[[int], object]) -> list[Finding]:
    """One finding per flagged record (only the flagged rows are visited)."""
    subject = _text(table, "USUBJID")
    return [finding(rule, f"{dataset.lower()}:{variable}:{row + 1}", values(row), dataset=dataset,
                    variable=variable, record=row + 1, subject=subject.iloc[row], source=_source(table, row),
                    **{k: f(row) for k, f in fields.items()})
            for row in np.flatnonzero(mask)]


EVENT_DATES = (("AE", "AESTDTC"), ("EX", "EXSTDTC"), ("EX", "EXENDTC"), ("LB", "LBDTC"))


def _against_subject_date(tables: dict[str, pd.DataFrame], dated: tuple[tuple[str, str], ...], rule: str,
                          reference: str, name: str, reference_first: bool) -> list[Finding]:
    """Each record date of `dated` against the subject's DM `reference` date: flagged where the record comes
    before it (`reference_first`: consent precedes everything) or after it (nothing follows death)."""
    dm = tables["DM"]
    found: list[Finding] = []
    for dataset, variable in dated:
        if dataset not in tables or variable not in tables[dataset].columns:
            continue
        table = tables[dataset]
        date, subject_date = _text(table, variable), _per_subject(table, dm, reference)
        flagged = before(date, subject_date) if reference_first else before(subject_date, date)
        found += _found(rule, table, dataset, variable, flagged, lambda r: (date.iloc[r], subject_date.iloc[r]),
                        date=lambda r: date.iloc[r], **{name: lambda r: subject_date.iloc[r]})
    return found


def before_consent(tables: dict[str, pd.DataFrame], study: StudyInfo | None) -> list[Finding]:
    dated = tuple(pair for pair in EVENT_DATES if pair[1] != "EXENDTC")
    return _against_subject_date(tables, dated, "CLIN-BEFORE-CONSENT", "RFICDTC", "consent", reference_first=True)


def after_death(tables: dict[str, pd.DataFrame], study: StudyInfo | None) -> list[Finding]:
    dated = (*EVENT_DATES, ("DM", "RFXENDTC"))
    return _against_subject_date(tables, dated, "CLIN-AFTER-DEATH", "DTHDTC", "death", reference_first=False)


def fatal_alive(tables: dict[str, pd.DataFrame], study: StudyInfo | None) -> list[Finding]:
    if "AE" not in tables:
        raise LookupError("no AE dataset")
    ae, dm = tables["AE"], tables["DM"]
    fatal = (_text(ae, "AEOUT") == "FATAL") | (_text(ae, "AESDTH") == "Y")
    died = _per_subject(ae, dm, "DTHFL") == "Y"
    outcome = _text(ae, "AEOUT")
    return _found("CLIN-FATAL-ALIVE", ae, "AE", "AEOUT", (fatal & ~died).to_numpy(),
                  lambda r: (outcome.iloc[r],), outcome=lambda r: outcome.iloc[r] or "(empty)")


def dose_levels(tables: dict[str, pd.DataFrame], study: StudyInfo | None) -> list[Finding]:
    if study is None:
        raise LookupError("no study specification was given (its treatments carry the protocol's dose levels)")
    if "EX" not in tables:
        raise LookupError("no EX dataset")
    levels = {t.name.upper(): t.dose_levels for t in study.treatments if t.dose_levels}
    if not levels:
        raise LookupError("the study specification declares no dose levels")
    ex = tables["EX"]
    treatment = _text(ex, "EXTRT").str.upper()
    dose = pd.to_numeric(ex["EXDOSE"], errors="coerce") if "EXDOSE" in ex.columns else pd.Series(np.nan, index=ex.index)
    off = np.zeros(len(ex), dtype=bool)
    for name, planned in levels.items():
        rows = (treatment == name).to_numpy() & dose.notna().to_numpy()
        off |= rows & ~np.isin(dose.to_numpy(), np.asarray(planned, dtype=float))
    shown = lambda r: np.format_float_positional(float(dose.iloc[r]), trim="-")  # noqa: E731
    return _found("CLIN-DOSE-LEVEL", ex, "EX", "EXDOSE", off, lambda r: (shown(r),), dose=shown,
                  treatment=lambda r: treatment.iloc[r],
                  levels=lambda r: ", ".join(np.format_float_positional(v, trim="-") for v in levels[treatment.iloc[r]]))


def lab_ungraded(tables: dict[str, pd.DataFrame], study: StudyInfo | None) -> list[Finding]:
    if "LB" not in tables or "LBTOX" not in tables["LB"].columns:
        raise LookupError("no LB dataset with LBTOX")
    lb = tables["LB"]
    result = _text(lb, "LBORRES")
    mask = ((_text(lb, "LBTOX") != "") & (result != "") & (_text(lb, "LBSTAT") == "")
            & (_text(lb, "LBTOXGR") == "")).to_numpy()
    test = _text(lb, "LBTESTCD")
    return _found("CLIN-LAB-UNGRADED", lb, "LB", "LBTOXGR", mask, lambda r: (result.iloc[r],),
                  result=lambda r: result.iloc[r], test=lambda r: test.iloc[r])


def end_before_start(tables: dict[str, pd.DataFrame], study: StudyInfo | None) -> list[Finding]:
    found: list[Finding] = []
    for dataset, prefix in (("AE", "AE"), ("EX", "EX")):
        if dataset not in tables:
            continue
        table = tables[dataset]
        start, end = _text(table, f"{prefix}STDTC"), _text(table, f"{prefix}ENDTC")
        found += _found("CLIN-END-BEFORE-START", table, dataset, f"{prefix}ENDTC", before(end, start),
                        lambda r: (end.iloc[r], start.iloc[r]), end=lambda r: end.iloc[r],
                        start=lambda r: start.iloc[r])
    return found


def born_after(tables: dict[str, pd.DataFrame], study: StudyInfo | None) -> list[Finding]:
    if "BRTHDTC" not in tables["DM"].columns:
        raise LookupError("no BRTHDTC in DM")
    return _against_subject_date(tables, (("DM", "BRTHDTC"),), "CLIN-BORN-AFTER", "RFICDTC", "consent",
                                 reference_first=False)


Rule = Callable[[dict[str, pd.DataFrame], "StudyInfo | None"], list[Finding]]
RULES: tuple[tuple[str, Rule], ...] = (
    ("CLIN-BEFORE-CONSENT", before_consent), ("CLIN-AFTER-DEATH", after_death), ("CLIN-FATAL-ALIVE", fatal_alive),
    ("CLIN-DOSE-LEVEL", dose_levels), ("CLIN-LAB-UNGRADED", lab_ungraded), ("CLIN-END-BEFORE-START", end_before_start),
    ("CLIN-BORN-AFTER", born_after),
)


def check_clinical(tables: dict[str, pd.DataFrame], study: StudyInfo | None) -> tuple[list[Finding], list[RuleResult]]:
    """Every rule above over the SDTM tables (provenance columns, if present, name the native rows).

    A rule that cannot apply is skipped with its reason; an exception in one is an error result and the
    others still run.
    """
    tables = {name.upper(): table for name, table in tables.items()}
    findings: list[Finding] = []
    results: list[RuleResult] = []
    for rule_id, rule in RULES:
        if "DM" not in tables:
            results.append(RuleResult(rule_id, "skipped", "no DM dataset (subject dates)"))
            continue
        try:
            found = rule(tables, study)
        except LookupError as reason:
            results.append(RuleResult(rule_id, "skipped", str(reason).strip("'\"")))
            continue
        except Exception as error:  # a defect in one rule must not stop the others
            results.append(RuleResult(rule_id, "error", f"{type(error).__name__}: {error}"))
            continue
        findings += found
        results.append(RuleResult(rule_id, "issues" if found else "passed", f"{len(found)} record(s)"))
    return findings, results
