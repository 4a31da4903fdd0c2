"""SDTMIG 3.4 metadata for any SDTM package: tables (dataset name -> DataFrame) -> a `StudySpec`.

`check_sdtm` needs a study specification. For a package this project did not make (the CDISC sample
submission, another sponsor's files) there is none, so `spec_from_sdtmig` builds one from SDTMIG 3.4
alone: each dataset declares the variables its table carries, with label, type, core, role and first
codelist from SDTMIG. A variable SDTMIG 3.4 does not list for the domain is taken from the same
variable of another domain of the same class (SDTM lets a domain use any variable of its class: QSEVLINT
from RSEVLINT) as Permissible; a variable found nowhere (e.g. SPDEVID of SDTMIG-MD) is left undeclared,
so SD-VAR-DECLARED reports it. Natural keys are not in SDTMIG: pass them (e.g. from the package's
define.xml KeySequence; a split dataset takes its domain's) or the datasets get none.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping, Sequence

import pandas as pd

from trialbridge.schemas.sdtm_checks_base import PROVENANCE, parent_domain, sdtmig_model
from trialbridge.schemas.sdtm_spec import Dataset, StudySpec, ValueLevel, Variable
from trialbridge.schemas.sdtm_standards import sdtmig_datasets, sdtmig_variables


@lru_cache(maxsize=1)
def _by_model() -> dict[str, pd.DataFrame]:
    ig = sdtmig_variables()
    return {model: rows.set_index("Variable Name", drop=False) for model, rows in ig.groupby("Dataset Name")}


# SDTMIG 3.4 DS.DSDECOD (CDISC Notes): "the choice [of codelist] depends on the value of DSCAT".
CODELIST_BY_CATEGORY: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("DS", "DSDECOD"): ("DSCAT", {"DISPOSITION EVENT": "C66727", "PROTOCOL MILESTONE": "C114118",
                                  "OTHER EVENT": "C150811"}),
}
SHARED_ROLES = ("Identifier", "Timing")  # SDTM model: identifiers and timing variables serve every class


@lru_cache(maxsize=1)
def _by_generic_name() -> dict[tuple[str, str], pd.Series]:
    """(class, variable name without its 2-letter domain prefix) -> the first SDTMIG row of that shape;
    identifier and timing variables also under class "*" (any class may use them)."""
    ig = sdtmig_variables()
    prefixed = ig[ig["Variable Name"].str[:2] == ig["Dataset Name"].str[:2]]
    stems = prefixed.assign(stem=prefixed["Variable Name"].str[2:])
    shared = stems[stems["Role"].isin(SHARED_ROLES)].assign(Class="*")
    first = pd.concat([stems, shared]).drop_duplicates(["Class", "stem"])
    return {(row["Class"], row["stem"]): row for _, row in first.iterrows()}  # metadata rows, not data


@lru_cache(maxsize=1)
def _by_name() -> dict[str, pd.Series]:
    ig = sdtmig_variables().drop_duplicates("Variable Name")
    return {row["Variable Name"]: row for _, row in ig.iterrows()}  # metadata rows, not data


def _sdtmig_row(name: str, model: str, cls: str, column: str) -> tuple[pd.Series | None, str]:
    """The SDTMIG row describing `column` of dataset `name`, and how it was found: "own" (the domain's
    row), "same" (the same variable in another domain) or "class" (the same --variable of another domain
    of the class, whose codelist, being domain-specific, does not carry over)."""
    own = _by_model()[model]
    if column in own.index:
        return own.loc[column], "own"
    domain = parent_domain(name)
    for scope in (cls, "*"):
        if column.startswith(domain) and (scope, column[len(domain):]) in _by_generic_name():
            return _by_generic_name()[(scope, column[len(domain):])], "class"
    if column in _by_name():
        return _by_name()[column], "same"
    return None, ""


def _variable(dataset: str, column: str, order: int, row: pd.Series, found: str) -> Variable:
    codelists = [c.strip() for c in row["CDISC CT Codelist Code(s)"].split(";") if c.strip()]
    if (parent_domain(dataset), column) in CODELIST_BY_CATEGORY or found == "class":
        codelists = []  # per category in the value-level metadata; or another domain's codelist
    return Variable(
        dataset=dataset, name=column, label=row["Variable Label"], type=row["Type"], order=order,
        core=row["Core"] if found == "own" else "Perm", role=row["Role"],
        codelist=codelists[0] if codelists else "", origin="", source="", method="",
        comment="" if found == "own" else f"SDTMIG 3.4 {row['Dataset Name']}.{row['Variable Name']} metadata",
    )


def _dataset(name: str, table: pd.DataFrame, keys: Sequence[str]) -> Dataset | None:
    model = sdtmig_model(name)
    if model not in _by_model():
        return None
    meta = sdtmig_datasets().set_index("Dataset Name").loc[model]
    variables = []
    for order, column in enumerate((c for c in table.columns if c not in PROVENANCE), start=1):
        row, found = _sdtmig_row(name, model, meta["Class"], str(column))
        if row is not None:
            variables.append(_variable(name, str(column), order, row, found))
    label = f"Supplemental Qualifiers for {name[4:]}" if model == "SUPPQUAL" else meta["Dataset Label"]
    return Dataset(name=name, label=label, cls=meta["Class"], structure=meta["Structure"],
                   keys=tuple(k for k in keys if k in table.columns), variables=tuple(variables))


def spec_from_sdtmig(tables: Mapping[str, pd.DataFrame],
                     keys: Mapping[str, Sequence[str]] | None = None) -> StudySpec:
    """A study specification for the datasets of `tables`, from SDTMIG 3.4 metadata only.

    Datasets SDTMIG 3.4 does not define (nor their split parent, nor SUPPQUAL) are left out, so the
    checks report them as undeclared.
    """
    keys = keys or {}
    datasets = {}
    for name, table in tables.items():
        name = name.upper()  # a split dataset (LBCH) takes its domain's keys unless given its own
        declared = _dataset(name, table, keys.get(name, keys.get(parent_domain(name), ())))
        if declared is not None:
            datasets[name] = declared
    return StudySpec(datasets=datasets, value_level=_category_codelists(datasets), methods={})


def _category_codelists(datasets: Mapping[str, Dataset]) -> tuple[ValueLevel, ...]:
    """Value-level codelists for the variables whose codelist SDTMIG makes depend on a category."""
    levels = []
    for name, dataset in datasets.items():
        for v in dataset.variables:
            category, by_value = CODELIST_BY_CATEGORY.get((parent_domain(name), v.name), ("", {}))
            levels += [ValueLevel(dataset=name, variable=v.name, where_variable=category, where_value=value,
                                  type="text", label=v.label, unit="", origin="", method="", codelist=codelist)
                       for value, codelist in by_value.items()]
    return tuple(levels)
