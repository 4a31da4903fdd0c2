"""Checks across the raw datasets of a study: tables + how each names its subjects -> findings.

The spec's sources table says which dataset enrols subjects (`enrols`, one row per subject: the subject
register), each dataset's subject column (`subject`) and site column (`site`). Then every row of every
other dataset names an enrolled subject, at the site the subject was enrolled at, and its dates declared
`x-not-before: DATASET.COLUMN` in its row schema do not precede the subject's date in the register
(complete dates only; warnings). Nothing is checked when no dataset enrols subjects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import FormSchema
from trialbridge.schemas.native_cells import Columns, Factorised, cell_findings, complete_dates
from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE


@dataclass(frozen=True)
class SubjectColumns:
    """How one raw dataset names its subjects (the spec's sources row) and, when it has one, its row schema."""

    name: str  # the raw dataset
    file: str  # its file, as findings name it
    subject: str  # the subject column ("" = the dataset names no subject)
    site: str = ""  # the site column ("" = none)
    enrols: bool = False  # the subject register: one row per enrolled subject
    form: FormSchema | None = None


@dataclass(frozen=True)
class _Register:
    """The enrolling dataset, indexed by subject (a subject enrolled twice: its first row)."""

    dataset: SubjectColumns
    rows: pd.DataFrame

    @property
    def site(self) -> str:
        return self.dataset.site if self.dataset.site in self.rows.columns else ""


def check_cross_forms(tables: Mapping[str, pd.DataFrame | None], datasets: Sequence[SubjectColumns]) -> list[Finding]:
    """Every row's subject is enrolled, at the site it was enrolled at; dates follow enrolment.

    Skipped when the enrolling dataset could not be read (that is an error of its own). A subject
    enrolled twice (a key error of the register) is compared with its first enrolment row.
    """
    declared = next((d for d in datasets if d.enrols), None)
    table = tables.get(declared.name) if declared is not None else None
    if declared is None or table is None or declared.subject not in table.columns:
        return []
    subject_column = declared.subject
    rows = table.loc[table[subject_column] != ""].drop_duplicates(subject_column).set_index(subject_column)
    register = _Register(declared, rows)
    out: list[Finding] = []
    for dataset in datasets:
        table = tables.get(dataset.name)
        if dataset is declared or table is None or not dataset.subject or dataset.subject not in table.columns:
            continue
        cols = Columns(table)
        subject = cols[dataset.subject]
        known = subject.uniques.isin(rows.index).to_numpy()
        out += cell_findings("NATIVE-NOT-ENROLLED", table, dataset.subject, subject, ~known & subject.filled(),
                             register=declared.file, key=subject_column)
        if dataset.site and dataset.site in table.columns and register.site:
            out += _site_mismatch(dataset, table, cols, subject, register)
        if dataset.form is not None:
            out += _subject_date_order(dataset, table, cols, subject.rows(known), register)
    return out


def _site_mismatch(dataset: SubjectColumns, table: pd.DataFrame, cols: Columns, subject: Factorised,
                   register: _Register) -> list[Finding]:
    site, enrolled, enrolled_site = dataset.site, register.rows, register.site
    expected = subject.uniques.map(enrolled[enrolled_site]).to_numpy(dtype=object)[subject.codes]  # NaN: not enrolled
    mask = pd.notna(expected) & cols.present(site)
    mask[mask] = table[site].to_numpy(dtype=object)[mask] != expected[mask]
    rows = table.loc[mask, [dataset.subject, site, SOURCE_FILE, SOURCE_LINE]]
    return [
        finding("NATIVE-SITE-MISMATCH", f"{file}:{line}:{site}", (value,), column=site, value=value, subject=who,
                expected=enrolled.at[who, enrolled_site], register=register.dataset.file,
                register_line=enrolled.at[who, SOURCE_LINE])
        for who, value, file, line in zip(rows[dataset.subject], rows[site], rows[SOURCE_FILE], rows[SOURCE_LINE])
    ]


def _subject_date_order(dataset: SubjectColumns, table: pd.DataFrame, cols: Columns, known: np.ndarray,
                        register: _Register) -> list[Finding]:
    assert dataset.form is not None
    enrolled, file = register.rows, register.dataset.file
    out = []
    for reference, later in dataset.form.not_before(qualified=True):
        source, _, earlier = reference.partition(".")
        if source != register.dataset.name or later not in table.columns or earlier not in enrolled.columns:
            continue  # a reference to another dataset is refused when the spec is read
        usable = enrolled[earlier].where(complete_dates(Factorised.of(enrolled[earlier])))
        dates = table[dataset.subject].map(usable).to_numpy(dtype=object)
        mask = known & complete_dates(cols[later]) & pd.notna(dates)
        mask[mask] = table[later].to_numpy(dtype=object)[mask] < dates[mask]
        rows = table.loc[mask, [dataset.subject, later, SOURCE_FILE, SOURCE_LINE]]
        out += [finding("NATIVE-DATE-ORDER", f"{f}:{line}:{later}", (v, enrolled.at[s, earlier]), later=later,
                        later_value=v, earlier=earlier, earlier_value=enrolled.at[s, earlier],
                        where=f"of subject {s} ({file} line {enrolled.at[s, SOURCE_LINE]})")
                for s, v, f, line in zip(rows[dataset.subject], rows[later], rows[SOURCE_FILE], rows[SOURCE_LINE])]
    return out
