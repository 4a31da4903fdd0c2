"""Domain-level steps of a spec: start, stack and de-duplicate record sets, match a test catalogue,
split long text, take SUPP-- rows, and build a whole dataset from the registry record (TS).

Each takes the domain run and the step and changes the run; none returns values.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

import pandas as pd

from trialbridge.mappings.sdtm import algorithms as alg
from trialbridge.mappings.spec.engine import DomainRun, RecordSet, SpecRunError
from trialbridge.mappings.spec.model import Step
from trialbridge.mappings.spec.relate_step import relate_step

SOURCE_FILE, SOURCE_LINE = alg.PROVENANCE
UNIT_LEVEL = ("unit", "factor")  # catalogue columns that depend on the collected unit, with *ORRESU/*STRESU


def _keys(text: str) -> list[str]:
    return [k.strip() for k in text.replace(";", ",").split(",") if k.strip()]


def _restrict(run: DomainRun, mask: pd.Series) -> None:
    current = run.current
    keep = mask.astype(bool)
    current.source = current.source.loc[keep]
    current.target = current.target.loc[keep].copy()


def record_set(run: DomainRun, step: Step) -> None:
    """Start a set of records from a raw dataset (or an SDTM domain built before), one record per row;
    `merge`/`by` add the columns of another raw dataset (at most one row per key); the condition keeps
    only the rows where it holds (the other rows may reach the domain through another record set)."""
    name = step.source
    table = run.raw.get(name) if name in run.raw else run.tables.get(name)
    if table is None:
        raise SpecRunError(step, f"no raw dataset or domain {name!r} (raw datasets: {', '.join(run.raw)})", "source")
    merge = step.argument("merge")
    if merge:
        if merge not in run.raw:
            raise SpecRunError(step, f"merge names no raw dataset {merge!r}", "arguments")
        by = _keys(step.argument("by", "SUBJID"))
        try:
            table = alg.merge_source(table, run.raw[merge], by=tuple(by))
        except Exception as error:  # pandas MergeError: more than one row per key on the right
            raise SpecRunError(step, f"merge of {merge!r} on {by}: {error}", "arguments") from None
    run.sets.append(RecordSet(name, table, alg.start_table(table)))
    mask = run.condition(step)
    if mask is not None:
        _restrict(run, mask)


def stack(run: DomainRun, step: Step) -> None:
    """Put the domain's record sets one under the other (work column `_set`: which set a record is from);
    the steps after it still read the columns of each record's raw row ("" where its dataset lacks one)."""
    if len(run.sets) < 2:
        return
    stacked = alg.bind_rows(*(s.target for s in run.sets))
    sources = pd.concat([s.source for s in run.sets], ignore_index=True)
    text = [c for c in sources.columns if sources[c].dtype == object]
    sources[text] = sources[text].where(sources[text].notna(), "")
    run.sets = [RecordSet(run.domain, sources.set_axis(stacked.index), stacked)]


def remove_dup(run: DomainRun, step: Step) -> None:
    """Keep the first record of each combination of `keys`; the others are rejected with the reason."""
    keys = _keys(step.argument("keys"))
    frame = pd.DataFrame({k: run.column(k, step) for k in keys}, index=run.target.index)
    duplicate = frame.duplicated(keep="first")
    if duplicate.any():
        run.rejected.append(alg.reject(run.target, duplicate, f"duplicate of an earlier record on {', '.join(keys)}"))
        _restrict(run, ~duplicate)


def _tests_of_domain(tests: pd.DataFrame, domain: str, codes: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """The catalogue rows of `domain` and a mask of the records whose code is another domain's test. The
    catalogue's `domain` column names each test's domain (blank: the catalogue's own, the prefix of its
    --TESTCD column); its prefixed columns are offered under the domain's prefix (LBTESTCD as CPTESTCD)."""
    own = next((c[:-6] for c in tests.columns if c.endswith("TESTCD") and len(c) == 8), domain)
    home = tests["domain"].where(tests["domain"] != "", own) if "domain" in tests.columns else pd.Series(own, index=tests.index)
    mine = tests.loc[home == domain].reset_index(drop=True)
    elsewhere = codes.isin(set(tests.loc[home != domain, "code"]) - set(mine["code"]))
    if own != domain:
        renamed = {c: domain + c[len(own):] for c in mine.columns if c.startswith(own) and c.isupper()}
        mine = mine.rename(columns={c: n for c, n in renamed.items() if n not in mine.columns})
    return mine, elsewhere


def match_tests(run: DomainRun, step: Step) -> None:
    """Match each record's collected test code (and unit) to the spec's test catalogue: the catalogue's
    columns become source columns `TEST.<column>` (unit-dependent ones matched on code and unit); a
    record whose code the catalogue lacks is rejected and reported, an unknown unit is reported."""
    refs = step.source_variables
    if not 1 <= len(refs) <= 2:
        raise SpecRunError(step, "match_tests reads the test code column and optionally the unit column", "source_variable")
    tests = run.mapping.tests.reset_index(drop=True)
    if tests.empty:
        raise SpecRunError(step, "match_tests needs the spec's tests table", "algorithm")
    frame = pd.DataFrame({ref: run.column(ref, step) for ref in refs}, index=run.target.index)
    frame[SOURCE_FILE], frame[SOURCE_LINE] = run.target[SOURCE_FILE], run.target[SOURCE_LINE]
    code = refs[0]
    tests, elsewhere = _tests_of_domain(tests, run.domain, frame[code])
    if elsewhere.any():  # another domain's tests: that domain's records, left out here (not rejected)
        _restrict(run, ~elsewhere)
        frame = frame.loc[~elsewhere]
    tests = tests.assign(order=pd.Series(range(len(tests)), dtype="float64"))
    known = frame[code].isin(set(tests["code"]))
    run.findings += alg.report_values(frame, code, ~known, step.argument("unknown_rule", "LB-TEST-UNKNOWN"))
    if (~known).any():
        run.rejected.append(alg.reject(frame, ~known, f"{code} not in the study's test catalogue (spec tests table)"))
        _restrict(run, known)
        frame = frame.loc[known]
    by_code = tests.drop_duplicates("code")
    unit_level = [c for c in tests.columns if c in UNIT_LEVEL or c.endswith(("ORRESU", "STRESU"))]
    source = run.current.source.copy()
    keyed = frame.rename(columns={code: "code"})
    for column in tests.columns:
        if column in ("code", "unit"):
            continue
        if column in unit_level and len(refs) == 2:
            values = alg.lookup(keyed.rename(columns={refs[1]: "unit"}), tests, column, by=("code", "unit"))
        else:
            values = alg.lookup(keyed, by_code, column, by=("code",))
        source[f"TEST.{column}"] = values
    run.current.source = source
    if len(refs) == 2:
        unknown_unit = (frame[refs[1]] != "") & source["TEST.factor"].isna()
        run.findings += alg.report_values(frame, refs[1], unknown_unit, step.argument("unit_rule", "LB-UNIT-UNKNOWN"))


def split_text(run: DomainRun, step: Step) -> None:
    """SDTMIG 4.5.3.2: a text variable over 200 characters keeps its first part and continues in SUPP--
    qualifiers VAR1, VAR2 ... (`into=supp`, the default; each must be declared; `prefix=CMMODIF` names them
    CMMODIF1 ... where VAR has 8 characters) or in columns (`into=columns`)."""
    stack(run, step)
    variable = step.variable.strip()
    if step.argument("into", "supp") == "columns":
        parts, found = alg.split_to_columns(run.target, variable)
    else:
        parts, found = alg.split_long_text(run.target, variable, step.argument("prefix", variable))
        qvals = run.mapping.sdtm.supp_qvals(f"SUPP{run.domain}") if f"SUPP{run.domain}" in run.mapping.sdtm.datasets else []
        undeclared = [c for c in parts.columns if c != variable and c not in {q for q, *_ in qvals}]
        if undeclared:
            raise SpecRunError(step, f"the data needs SUPP{run.domain} qualifiers {undeclared} for the split of "
                                     f"{variable}: declare them in the spec's supp table", "variable")
    run.findings += found
    run.target[list(parts.columns)] = parts


def supp(run: DomainRun, step: Step) -> None:
    """SUPP-- rows for the qualifiers the spec declares for SUPP<domain> (column = QNAM), IDVAR `idvar`."""
    stack(run, step)
    name = f"SUPP{run.domain}"
    qvals = run.mapping.sdtm.supp_qvals(name) if name in run.mapping.sdtm.datasets else []
    run.supp = alg.to_supp(run.target, run.domain, qvals, idvar=step.argument("idvar"))


def registry_ts(run: DomainRun, step: Step) -> None:
    """TS built whole from the registry record (and DM's countries): `mappings.sdtm.ts`."""
    from trialbridge.mappings.sdtm.ts import map_ts

    mapped = map_ts(SimpleNamespace(registry=run.registry, mapping=run.mapping), run.tables, run.mapping.study)
    run.findings += mapped.findings
    run.rejected.append(mapped.rejected)
    run.done = mapped.table


def registry_ti(run: DomainRun, step: Step) -> None:
    """TI built whole from the registry record's eligibility criteria (`mappings.sdtm.ti`), one record per
    inclusion or exclusion criterion, STUDYID the study's; a record with no criteria gives no TI."""
    from trialbridge.mappings.sdtm.ti import map_ti
    from trialbridge.schemas.native import REGISTRY_FILE

    mapped, _ = map_ti(run.registry, run.mapping.sdtm.dataset("TI"), REGISTRY_FILE)
    table = mapped.table.copy()
    table["STUDYID"] = run.mapping.study.studyid
    run.findings += mapped.findings
    run.rejected.append(mapped.rejected)
    run.done = table


DOMAIN_STEPS: dict[str, Callable[[DomainRun, Step], None]] = {
    "record_set": record_set, "stack": stack, "remove_dup": remove_dup, "match_tests": match_tests,
    "split_text": split_text, "supp": supp, "registry_ts": registry_ts, "relate": relate_step,
    "registry_ti": registry_ti,
}
