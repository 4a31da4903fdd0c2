"""The study's SDTM specification: SDTMIG 3.4 metadata + CDISC CT + `sdtm/study-spec.json` -> `StudySpec`.

The SDTMIG variable table (`standards/sdtmig-3.4/Variables.csv`) says what every variable is (label,
type, order, core, role, codelists). The study specification (`sdtm/study-spec.json`) only names which
variables each dataset carries and how the study fills them (origin, source, method, comment, a codelist
choice where SDTMIG lists several). The LB value-level metadata comes from the lab test catalogue
`sdtm/lab-tests.json`; the SUPP-- value-level metadata from the qualifiers listed in the study
specification. Nothing about a variable is written twice: the XPT writer, the checks and define.xml all
read this one `StudySpec`.

The CDISC SDTM controlled terminology (`standards/ct/SDTM_Terminology_2025-03-28.txt`) is read once into
a `Terminology`.

`sdtm_standards` reads the packaged standards (re-exported here), `sdtm_spec_tables` builds the `StudySpec`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from trialbridge.schemas.sdtm_standards import (
    CT_VERSION, SDTMIG_VERSION, Terminology, sdtmig_datasets, sdtmig_variables, terminology,
)

__all__ = [
    "CONTINUED_VARIABLES", "CT_VERSION", "ORIGINS", "SDTMIG_VERSION", "SPONSOR_CODELIST", "SUPP_MODEL", "Dataset",
    "StudySpec", "Terminology", "ValueLevel", "Variable", "continuation_names", "sdtmig_datasets",
    "sdtmig_variables", "terminology", "with_continuations",
]

ORIGINS: frozenset[str] = frozenset({"Collected", "Derived", "Assigned", "Protocol", "Predecessor"})
SPONSOR_CODELIST = "SPONSOR"  # a study-spec codelist value: the study's own terms (no CDISC codelist exists)
SUPP_MODEL = "SUPPQUAL"  # the SDTMIG rows every SUPP-- dataset takes its variables from


@dataclass(frozen=True)
class Variable:
    """One variable of one dataset as the study uses it."""

    dataset: str
    name: str
    label: str
    type: str  # "Char" | "Num"
    order: float  # SDTMIG's order; a variable the SDTM model adds sits between two (schemas/sdtm_model.py)
    core: str  # "Req" | "Exp" | "Perm"
    role: str
    codelist: str  # NCI C-code of the CDISC codelist the study uses, "" if none
    origin: str  # "Collected" | "Derived" | "Assigned" | "Protocol" | "Predecessor"
    source: str  # Collected: "<form file> <column>"; Predecessor: "<DATASET>.<VARIABLE>" copied; else ""
    method: str  # MethodDef id for Derived, else ""
    comment: str  # CommentDef text, else ""
    pages: str = ""  # Collected: annotated CRF pages (acrf.pdf) holding the field, space-separated, "" if none
    sponsor_terms: bool = False  # the study's own terms (no CDISC codelist): define.xml lists the values used


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    cls: str
    structure: str
    keys: tuple[str, ...]
    variables: tuple[Variable, ...]

    @property
    def names(self) -> list[str]:
        """The variable names in SDTMIG order: the column order of the dataset."""
        return [v.name for v in self.variables]

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(f"{self.name} does not carry {name}")


@dataclass(frozen=True)
class ValueLevel:
    """One value-level entry: `variable` when `where_variable` = `where_value` (e.g. LBORRES for PLAT).

    `type` is the Define-XML data type of the value ("text", "integer", "float", "date", ...), `unit`
    the unit the value is expressed in ("" if none). `codelist`, `source` and `comment` (optional,
    default "") play the same part as on `Variable`.
    """

    dataset: str
    variable: str
    where_variable: str
    where_value: str
    type: str
    label: str
    unit: str
    origin: str
    method: str
    codelist: str = ""
    source: str = ""
    comment: str = ""
    pages: str = ""


@dataclass(frozen=True)
class StudySpec:
    datasets: dict[str, Dataset]  # every dataset the study writes, in output order (DM first)
    value_level: tuple[ValueLevel, ...]
    methods: dict[str, str]  # MethodDef id -> description
    parents: dict[str, str] = field(default_factory=dict)  # SUPP-- dataset -> parent domain

    def dataset(self, name: str) -> Dataset:
        try:
            return self.datasets[name.upper()]
        except KeyError:
            raise KeyError(f"the study writes no dataset {name!r}") from None

    def values_of(self, dataset: str, variable: str | None = None) -> tuple[ValueLevel, ...]:
        """The value-level entries of one dataset (optionally of one variable), in declared order."""
        return tuple(
            v for v in self.value_level
            if v.dataset == dataset and (variable is None or v.variable == variable)
        )

    def qualifiers(self, supp: str) -> tuple[ValueLevel, ...]:
        """The QVAL value-level entries of a SUPP-- dataset, one per QNAM."""
        return self.values_of(supp, "QVAL")

    def supp_qvals(self, supp: str) -> list[tuple[str, str, str, str]]:
        """`to_supp` arguments for a SUPP-- dataset: (QNAM, QLABEL, column, QORIG) with column = QNAM."""
        return [(q.where_value, q.label, q.where_value, q.origin) for q in self.qualifiers(supp)]


# Text continuation columns: SDTMIG 3.4 TS assumption 8 continues a TSVAL over 200 characters in TSVAL1,
# TSVAL2, ... placed right after TSVAL. SDTMIG's metadata lists no such variables, so the study adds the
# ones the data needs, each copying TSVAL's facts (type, role, origin) with a numbered label.
CONTINUED_VARIABLES: dict[tuple[str, str], str] = {("TS", "TSVAL"): "Parameter Value {n}"}


def continuation_names(variable: str, columns: Sequence[str]) -> list[str]:
    """The continuation columns of `variable` present in `columns`, in order: TSVAL1, TSVAL2, ..."""
    found = []
    while f"{variable}{len(found) + 1}" in columns:
        found.append(f"{variable}{len(found) + 1}")
    return found


def with_continuations(spec: StudySpec, dataset: str, columns: Sequence[str]) -> StudySpec:
    """`spec` with the continuation variables (TSVAL1 ...) that `columns` hold declared after their base."""
    ds = spec.datasets.get(dataset)
    if ds is None:
        return spec
    variables: list[Variable] = []
    for variable in ds.variables:
        variables.append(variable)
        template = CONTINUED_VARIABLES.get((dataset, variable.name))
        if template is None:
            continue
        for n, name in enumerate(continuation_names(variable.name, columns), start=1):
            variables.append(replace(variable, name=name, label=template.format(n=n), core="Perm",
                                     comment=f"Continuation of {variable.name} (characters beyond 200), "
                                             "SDTMIG 3.4 TS assumption 8."))
    if len(variables) == len(ds.variables):
        return spec
    return replace(spec, datasets={**spec.datasets, dataset: replace(ds, variables=tuple(variables))})
