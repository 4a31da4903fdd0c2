"""What every SDTM conformance rule works with: the package (tables + study spec) -> findings in bulk.

`Package` gives a rule the tables and the study specification (and each column factorised once); a rule
returns an `Outcome` (its findings and what it checked) or raises `NotApplicable`; `record_findings`,
`value_findings` and `column_findings` turn a boolean mask into findings located at
`dataset:variable:record`; the metadata helpers say which SDTMIG model a dataset follows and which of its
variables are Required, Expected or Permissible. The rules themselves: `sdtm_checks_structure`,
`sdtm_checks_values`, `ts_checks`, `meddra_checks`; their table and runner: `sdtm_checks`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Literal, Sequence

import numpy as np
import pandas as pd

from trialbridge.schemas.findings import Finding, Record, finding
from trialbridge.schemas.sdtm_checks_masks import Distinct, as_text
from trialbridge.schemas.sdtm_spec import Dataset, StudySpec
from trialbridge.schemas.sdtm_standards import sdtmig_variables

Status = Literal["passed", "issues", "skipped", "error"]


PROVENANCE = ("_file", "_line")  # carried for messages, never written to the XPT files


EPOCH_CODELIST = "C99079"


@dataclass(frozen=True)
class RuleResult:
    """How one rule ended on one package."""

    rule_id: str
    status: Status
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule_id, "status": self.status, "detail": self.detail}


class NotApplicable(Exception):
    """Raised by a check that cannot apply to this package; the message says why."""


@dataclass(frozen=True)
class Package:
    """What every check reads: the tables by upper-case dataset name, and the study specification."""

    tables: dict[str, pd.DataFrame]
    spec: StudySpec
    _distinct: dict[tuple[str, str], Distinct] = field(default_factory=dict, repr=False, compare=False)

    def declared(self, name: str) -> Dataset | None:
        return self.spec.datasets.get(name)

    def declared_datasets(self) -> Iterator[tuple[str, Dataset]]:
        """(name, its study-spec dataset) for each table of the package the spec declares, in table order."""
        for name in self.tables:
            declared = self.declared(name)
            if declared is not None:
                yield name, declared

    def distinct(self, name: str, variable: str) -> Distinct:
        """A column factorised once for all the rules that test its values."""
        key = (name, variable)
        if key not in self._distinct:
            self._distinct[key] = Distinct.of(self.tables[name][variable])
        return self._distinct[key]

    def written(self, name: str) -> list[str]:
        """The columns of a table that the XPT writer writes."""
        return [c for c in self.tables[name].columns if c not in PROVENANCE]


Outcome = tuple[list[Finding], list[str]]  # the findings, and what was checked ("LB.LBDY", "DM")


Check = Callable[[Package], Outcome]


# ------------------------------------------------------------------------------------ finding builders
def _record_keys(table: pd.DataFrame, dataset: str, rows: np.ndarray) -> dict[str, list]:
    """Subject, --SEQ, source file and line of the records `rows` (empty where the table lacks them)."""
    def column(name: str) -> list:
        return as_text(table[name].iloc[rows]).tolist() if name in table.columns else [""] * rows.size

    lines = [int(float(n)) if n not in ("", None) else None for n in column("_line")]
    return {"usubjid": column("USUBJID"), "seq": column(parent_domain(dataset) + "SEQ"),
            "file": column("_file"), "line": lines}


def record_findings(rule_id: str, package: Package, dataset: str, variable: str, mask: np.ndarray,
                    shown: Sequence[str | pd.Series] = (), **fields: object) -> list[Finding]:
    """One finding per record where `mask` holds, at `dataset:variable:record`.

    `shown` gives the values each finding carries: column names of the table, or Series aligned with it
    (default: `variable`'s value). Each finding names its record as fields too: row, USUBJID, --SEQ and,
    when the table carries provenance, the source file and line (`schemas/triage.py` groups them).
    """
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return []
    table = package.tables[dataset]
    template = finding(rule_id, "", (), dataset=dataset, variable=variable, **fields)
    columns = [table[c] if isinstance(c, str) else c for c in (shown or (variable,))]
    values = list(zip(*(as_text(column.iloc[rows]).tolist() for column in columns)))
    keys = _record_keys(table, dataset, rows)
    prefix = f"{dataset.lower()}:{variable}:"
    return [
        Finding(rule=template.rule, severity=template.severity, location=prefix + str(row + 1),
                message=template.message, hint=template.hint, values=value, dataset=dataset,
                variable=variable, row=row + 1, usubjid=usubjid, seq=seq, file=file, line=line)
        for row, value, usubjid, seq, file, line in zip(rows.tolist(), values, keys["usubjid"], keys["seq"],
                                                       keys["file"], keys["line"])
    ]


def value_findings(rule_id: str, package: Package, dataset: str, variable: str, mask: np.ndarray,
                   **fields: object) -> list[Finding]:
    """One finding per distinct offending value (not per record), at its first record, with the count
    and every record: for reviewed-but-allowed values such as sponsor terms, where one line per record
    would bury the rest of the report."""
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return []
    table = package.tables[dataset]
    template = finding(rule_id, "", (), dataset=dataset, variable=variable, **fields)
    values = as_text(table[variable].iloc[rows])
    keys = pd.DataFrame(_record_keys(table, dataset, rows), index=rows)
    found = []
    for value, positions in pd.Series(rows).groupby(values.to_numpy(), sort=True):
        records = (positions.to_numpy() + 1).tolist()
        listed = ", ".join(map(str, records[:5])) + (", ..." if len(records) > 5 else "")
        chosen = keys.loc[positions.to_numpy()]
        found.append(Finding(rule=template.rule, severity=template.severity,
                             location=f"{dataset.lower()}:{variable}:{records[0]}",
                             message=f"{template.message} {len(records)} record(s): {listed}.",
                             hint=template.hint, values=(str(value),), dataset=dataset, variable=variable,
                             row=records[0], count=len(records),
                             records=tuple(Record(row=r, usubjid=u, seq=q, file=f, line=n, values=(str(value),))
                                           for r, u, q, f, n in zip(records, chosen["usubjid"], chosen["seq"],
                                                                    chosen["file"], chosen["line"]))))
    return found


def column_findings(rule_id: str, package: Package, pairs: Sequence[tuple[str, str]],
                    test: Callable[[Distinct], np.ndarray], **fields: object) -> Outcome:
    """A value rule over columns: `test` on each (dataset, variable) column, one finding per hit."""
    found = [f for name, variable in pairs
             for f in record_findings(rule_id, package, name, variable, test(package.distinct(name, variable)),
                                      **fields)]
    return found, _checked(pairs)


def _location(dataset: str, variable: str = "") -> str:
    return f"{dataset.lower()}:{variable}" if variable else dataset.lower()


# ---------------------------------------------------------------------------------------- metadata
def parent_domain(name: str) -> str:
    """The domain code a dataset belongs to: AE for AE, LB for the split LBCH, AE for SUPPAE."""
    return name[4:6] if name.startswith("SUPP") else name[:2]


@lru_cache(maxsize=None)
def _sdtmig_core(model: str) -> tuple[tuple[str, str, str], ...]:
    """(variable, label, core) of an SDTMIG 3.4 dataset, in SDTMIG order; () if SDTMIG has no such dataset."""
    ig = sdtmig_variables()
    rows = ig[ig["Dataset Name"] == model]
    return tuple(zip(rows["Variable Name"], rows["Variable Label"], rows["Core"]))


def sdtmig_model(name: str) -> str:
    """The SDTMIG dataset whose variables a dataset takes: SUPPQUAL for SUPP--, LB for the split LBCH."""
    if name.startswith("SUPP"):
        return "SUPPQUAL"
    if _sdtmig_core(name) or not _sdtmig_core(name[:2]):
        return name
    return name[:2]


def _core_variables(package: Package, name: str, core: str) -> list[tuple[str, str, str]]:
    """(variable, label, model) of the variables with this core: the study spec's and SDTMIG's."""
    model = sdtmig_model(name)
    found = {v: (v, label, model) for v, label, c in _sdtmig_core(model) if c == core}
    declared = package.declared(name)
    for v in declared.variables if declared else ():
        if v.core == core:
            found.setdefault(v.name, (v.name, v.label, model))
    return list(found.values())


def _columns(package: Package, pattern: str) -> Iterator[tuple[str, str]]:
    """(dataset, variable) for every written column whose name matches `pattern`."""
    regex = re.compile(pattern)
    for name in package.tables:
        for column in package.written(name):
            if regex.fullmatch(column):
                yield name, column


def _checked(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{d}.{v}" for d, v in pairs]


def _dm(package: Package, *variables: str) -> pd.DataFrame:
    dm = package.tables.get("DM")
    if dm is None:
        raise NotApplicable("the package has no DM dataset")
    missing = [v for v in variables if v not in dm.columns]
    if missing:
        raise NotApplicable(f"DM has no {', '.join(missing)}")
    return dm
