"""The generic engine: a study mapping specification + raw datasets (+ registry record) -> SDTM tables.

Domains are built in the order the spec first names them; within a domain the steps run in the order
written. A `record_set` step starts a set of records from a raw dataset (optionally merged with another
by keys, optionally restricted by a condition); the steps after it fill that set's variables; `stack`
puts a domain's record sets one under the other (a `_set` work column keeps their order). At the end of a
domain the sets are stacked, the SUPP-- rows are taken (`supp` step) and the table is finalised from
the SDTM metadata (column order, types, sort by subject and --SEQ).

Filling a variable: every step's result is masked by its condition (empty where it does not hold); a
variable that a previous step already filled only takes the new values where it is still empty (the
first non-empty value wins), so several rows for one variable read as "else" branches.

Column names in a step: a name of the record set's source table, else of the domain's table so far;
`DOMAIN.VAR` names a variable of this domain or, for another domain already built, that domain's value
for the same subject (USUBJID); `RAW.COLUMN` names the current raw dataset's column or, for another raw
dataset with a USUBJID column (e.g. an SDTM DM extract), or else with the `subject` column its sources row
declares and the current records carry (e.g. two forms of an EDC export), its value for the same subject. Work columns start with `_` and never reach the output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trialbridge.mappings.sdtm.algorithms import (
    Mapped, bind_rows, coalesce, finalize, lookup, no_rejects,
)
from trialbridge.mappings.spec.conditions import ConditionError, evaluate, parse_condition
from trialbridge.mappings.spec.model import Step, StudyMapping
from trialbridge.schemas.findings import Finding, finding


class SpecRunError(ValueError):
    """A step the engine cannot run as written (unknown column, bad argument): the spec must change."""

    def __init__(self, step: Step, message: str, column: str = "") -> None:
        super().__init__(message)
        self.step = step
        self.location = step.where.at(column)


@dataclass
class RecordSet:
    name: str
    source: pd.DataFrame
    target: pd.DataFrame


@dataclass
class DomainRun:
    """The state of one domain while its steps run."""

    domain: str
    mapping: StudyMapping
    raw: dict[str, pd.DataFrame]
    tables: dict[str, pd.DataFrame]
    registry: dict[str, Any]
    sets: list[RecordSet] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    rejected: list[pd.DataFrame] = field(default_factory=list)
    supp: pd.DataFrame | None = None
    done: pd.DataFrame | None = None  # a table a domain-level builder made whole (e.g. TS)
    flags: set[str] = field(default_factory=set)

    @property
    def current(self) -> RecordSet:
        if not self.sets:
            raise LookupError(f"{self.domain}: no record set started (a `record_set` step comes first)")
        return self.sets[-1]

    @property
    def source(self) -> pd.DataFrame:
        return self.current.source

    @property
    def target(self) -> pd.DataFrame:
        return self.current.target

    def frame(self, name: str) -> pd.DataFrame | None:
        """The table a `DOMAIN.` or raw-dataset prefix names: this domain's, another domain's, or raw."""
        if name == self.domain:
            return self.target
        if name in self.tables:
            return self.tables[name]
        return None

    def column(self, ref: str, step: Step) -> pd.Series:
        """The values of a column reference on the current records (see the module docstring)."""
        source, target = self.source, self.target
        if ref in source.columns:
            return source[ref]
        if ref in target.columns:
            return target[ref]
        prefix, _, name = ref.partition(".")
        if name:
            if prefix == self.domain and name in target.columns:
                return target[name]
            if prefix in self.tables and name in self.tables[prefix].columns:
                return lookup(target, self.tables[prefix], name)
            if prefix == self.current.name and name in source.columns:
                return source[name]
            raw = self.raw.get(prefix)
            if raw is not None and name in raw.columns and "USUBJID" in raw.columns and "USUBJID" in target.columns:
                return lookup(target, raw, name)  # another raw dataset's value for the subject (e.g. dm.RFXSTDTC)
            declared = self.mapping.source(prefix)
            key = declared.subject if declared is not None else ""
            if raw is not None and name in raw.columns and key and key in raw.columns and key in source.columns \
                    and len(source) == len(target):  # else by the subject column the sources table declares
                return pd.Series(lookup(source, raw, name, by=(key,)).to_numpy(), index=target.index)
        known = sorted(c for c in set(source.columns) | set(target.columns) if not c.startswith("_"))
        raise SpecRunError(step, f"{self.domain}: no column {ref!r} on the records of {self.current.name!r} "
                                 f"(source columns and {self.domain} variables so far: {', '.join(known[:40])})",
                           "source_variable")

    def exists(self, domain: str) -> pd.Series:
        other = self.tables.get(domain)
        if other is None or "USUBJID" not in self.target:
            return pd.Series(False, index=self.target.index)
        return self.target["USUBJID"].isin(set(other["USUBJID"]))

    def condition(self, step: Step) -> pd.Series | None:
        if not step.condition.strip():
            return None
        try:
            tree = parse_condition(step.condition)
        except ConditionError as error:
            raise SpecRunError(step, f"condition: {error}", "condition") from None
        return evaluate(tree, lambda ref: self.column(ref, step), self.exists, self.target.index)


def _empty_like(values: pd.Series) -> Any:
    return np.nan if pd.api.types.is_numeric_dtype(values) else ""


def fill(run: DomainRun, step: Step, variable: str, values: pd.Series, mask: pd.Series | None) -> None:
    """Put `values` into `variable` of the current records: masked by the condition, first value wins."""
    target = run.target
    if not isinstance(values, pd.Series):
        values = pd.Series(values, index=target.index)
    if mask is not None:
        values = values.where(mask.astype(bool), _empty_like(values))
    if variable in target.columns:
        values = coalesce(target[variable], values)
    target[variable] = values


def run_step(run: DomainRun, step: Step) -> None:
    """Run one step on the domain's current state."""
    from trialbridge.mappings.spec.steps import ALGORITHMS, DOMAIN_STEPS

    name = step.algorithm.lower()
    if name in DOMAIN_STEPS:
        DOMAIN_STEPS[name](run, step)
        return
    if name not in ALGORITHMS:
        raise SpecRunError(step, f"unknown algorithm {step.algorithm!r}", "algorithm")
    result = ALGORITHMS[name](run, step)
    if result is None:
        return
    outputs = result if isinstance(result, tuple) else (result,)
    variables = step.variables
    if len(variables) != len(outputs):
        raise SpecRunError(step, f"{step.algorithm} gives {len(outputs)} value(s) per record; the step names "
                                 f"{len(variables)} target variable(s)", "variable")
    mask = run.condition(step)
    case = step.argument("case").lower()
    if case not in ("", "upper", "lower"):
        raise SpecRunError(step, f"case={case!r}: expected case=upper or case=lower", "arguments")
    for variable, values in zip(variables, outputs):
        fill(run, step, variable, _cased(values, case), mask)


def _cased(values: Any, case: str) -> Any:
    """Text values in upper or lower case (`case=` argument: SDTM terms are often upper case, EDC text is not)."""
    if not case or not isinstance(values, pd.Series) or pd.api.types.is_numeric_dtype(values):
        return values
    text = values.astype(object).where(values.notna(), "").astype(str)
    return text.str.upper() if case == "upper" else text.str.lower()


def _stack(run: DomainRun) -> pd.DataFrame:
    if len(run.sets) == 1:
        return run.sets[0].target
    return bind_rows(*(s.target for s in run.sets))


def run_domain(mapping: StudyMapping, domain: str, raw: dict[str, pd.DataFrame],
               tables: dict[str, pd.DataFrame], registry: dict[str, Any]) -> Mapped:
    """Every step of one domain, then its SUPP-- rows and the finalised table."""
    run = DomainRun(domain, mapping, raw, tables, registry)
    for step in mapping.steps_of(domain):
        try:
            run_step(run, step)
        except SpecRunError:
            raise
        except (KeyError, LookupError, ValueError, TypeError) as error:
            raise SpecRunError(step, f"{domain} {step.variable or step.algorithm}: {error}") from error
    if run.done is not None:
        return Mapped(table=run.done, supp=run.supp, findings=run.findings,
                      rejected=pd.concat(run.rejected, ignore_index=True) if run.rejected else no_rejects())
    if not run.sets:
        raise LookupError(f"{domain}: the spec has no record_set step for it")
    table = _stack(run)
    dataset = mapping.sdtm.dataset(domain)
    missing = [v for v in dataset.names if v not in table.columns]
    if missing:
        first = mapping.steps_of(domain)[0]
        raise SpecRunError(first, f"{domain}: no step fills {', '.join(missing)} (the spec's variables list "
                                  f"declares them for {domain})", "variable")
    rejected = pd.concat(run.rejected, ignore_index=True) if run.rejected else no_rejects()
    supp = run.supp if run.supp is not None and len(run.supp) else None
    return Mapped(table=finalize(table, dataset), supp=supp, findings=run.findings, rejected=rejected)


@dataclass(frozen=True)
class EngineResult:
    tables: dict[str, pd.DataFrame]
    findings: list[Finding]
    rejected: pd.DataFrame


def run_mapping(mapping: StudyMapping, raw: dict[str, pd.DataFrame], registry: dict[str, Any]) -> EngineResult:
    """Every domain of the spec in order; SUPP-- rows gathered as SUPP<domain>."""
    tables: dict[str, pd.DataFrame] = {}
    findings: list[Finding] = []
    rejected: list[pd.DataFrame] = []
    for domain in mapping.domains:
        mapped = run_domain(mapping, domain, raw, tables, registry)
        tables[domain] = mapped.table
        if mapped.supp is not None and len(mapped.supp):
            tables[f"SUPP{domain}"] = mapped.supp
        findings += mapped.findings
        rejected.append(mapped.rejected)
    return EngineResult(tables, findings, pd.concat(rejected, ignore_index=True) if rejected else no_rejects())


def spec_error_finding(error: SpecRunError) -> Finding:
    return finding("SPEC-STEP", error.location, [error.step.variable or error.step.algorithm], detail=str(error))
