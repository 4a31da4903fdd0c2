"""The spec's `relate` step: a mapping row of RELREC -> RELREC records (`mappings.sdtm.relate`).

    domain  algorithm  source  source_variable  condition              arguments
    RELREC  relate     AE;EX   AESEQ;EXSEQ      AEACN = 'DOSE REDUCED' where=EXADJ = 'DOSE REDUCED FOR TOXICITY' |
                                                                       dates=AESTDTC;EXSTDTC | days=0;30 |
                                                                       pick=nearest | relid=AEEX

reads: relate each AE whose action was a dose reduction to the nearest EX record of a reduced dose that
starts 0 to 30 days after the AE's onset. The condition selects the first domain's records, `where=` the
second's (both name their domain's variables, or `DOMAIN.VAR` of another domain for the same subject);
`reltype=ONE;MANY` relates the two datasets instead (SDTMIG 3.4 section 8.3). Several `relate` rows
add up in one RELREC; a record of the first domain the rule relates to nothing is a note (RELREC-UNLINKED).
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.sdtm import algorithms as alg
from trialbridge.mappings.sdtm.frames import _records, _shown
from trialbridge.mappings.sdtm.relate import PICKS, RELTYPES, Relation, empty_relrec, key_text, parse_days, relate
from trialbridge.mappings.spec.conditions import ConditionError, evaluate, parse_condition
from trialbridge.mappings.spec.engine import DomainRun, SpecRunError
from trialbridge.mappings.spec.model import Step
from trialbridge.schemas.findings import finding


def _records_where(run: DomainRun, step: Step, domain: str, condition: str, column: str) -> pd.DataFrame:
    """The records of `domain` (built before) where `condition` holds."""
    table = run.tables[domain]
    if not condition.strip():
        return table

    def value(ref: str) -> pd.Series:
        prefix, _, name = ref.partition(".")
        if ref in table.columns:
            return table[ref]
        if name and prefix == domain and name in table.columns:
            return table[name]
        if name and prefix in run.tables and name in run.tables[prefix].columns:
            return alg.lookup(table, run.tables[prefix], name)
        raise SpecRunError(step, f"relate: no variable {ref!r} in {domain}", column)

    def exists(other: str) -> pd.Series:
        if other not in run.tables:
            return pd.Series(False, index=table.index)
        return table["USUBJID"].isin(set(run.tables[other]["USUBJID"]))

    try:
        tree = parse_condition(condition)
    except ConditionError as error:
        raise SpecRunError(step, f"{column}: {error}", column) from None
    return table.loc[evaluate(tree, value, exists, table.index).astype(bool)]


def _rule(run: DomainRun, step: Step) -> Relation:
    """The step's relationship rule, every argument checked (SpecRunError at the cell at fault)."""
    domains = [d.strip().upper() for d in step.source.split(";") if d.strip()]
    keys = step.source_variables
    if len(domains) != 2 or domains[0] == domains[1]:
        raise SpecRunError(step, "relate names two different domains built before it, e.g. AE;EX", "source")
    if len(keys) != 2:
        raise SpecRunError(step, "relate names the identifying variable of each domain, e.g. AESEQ;EXSEQ",
                           "source_variable")
    for domain, key in zip(domains, keys):
        if domain not in run.tables:
            raise SpecRunError(step, f"relate: {domain} is not built before {run.domain} (built: "
                                     f"{', '.join(run.tables) or 'none'})", "source")
        if key not in run.tables[domain].columns:
            raise SpecRunError(step, f"relate: {domain} has no variable {key!r}", "source_variable")
    dates = [d.strip() for d in step.argument("dates").split(";") if d.strip()]
    reltype = tuple(t.strip().upper() for t in step.argument("reltype").split(";") if t.strip())
    pick = step.argument("pick", "all").lower()
    problem = ""
    if dates and (len(dates) != 2 or any(d not in run.tables[s].columns for d, s in zip(dates, domains))):
        problem = f"dates={step.argument('dates')!r}: a date variable of each domain, e.g. dates=AESTDTC;EXSTDTC"
    elif reltype and (len(reltype) != 2 or not set(reltype) <= set(RELTYPES)):
        problem = f"reltype={step.argument('reltype')!r}: ONE or MANY for each domain, e.g. reltype=ONE;MANY"
    elif pick not in PICKS:
        problem = f"pick={pick!r}: expected pick={' or pick='.join(PICKS)}"
    elif pick == "nearest" and not dates:
        problem = "pick=nearest needs dates=<first date>;<second date>"
    elif step.argument("days") and not dates:
        problem = "days= needs dates=<first date>;<second date>"
    try:
        low, high = parse_days(step.argument("days")) if step.argument("days") else (None, None)
    except ValueError as error:
        problem = problem or str(error)
    if problem:
        raise SpecRunError(step, f"relate: {problem}", "arguments")
    first, second = dates or ("", "")
    return Relation(domains[0], domains[1], keys[0], keys[1], step.argument("relid") or domains[0] + domains[1],
                    first, second, low, high, pick, reltype)


def relate_step(run: DomainRun, step: Step) -> None:
    """RELREC records of the rule (see the module docstring), added to those of the earlier `relate` rows."""
    rule = _rule(run, step)
    earlier = run.done if run.done is not None else empty_relrec()
    if rule.relid in set(earlier["RELID"].str.rstrip("0123456789")):
        raise SpecRunError(step, f"relate: relid={rule.relid} is used by an earlier relate row", "arguments")
    left = _records_where(run, step, rule.left, step.condition, "condition")
    right = _records_where(run, step, rule.right, step.argument("where"), "arguments")
    rows, unlinked = relate(left, right, rule, run.mapping.study.studyid)
    both = pd.concat([earlier, rows], ignore_index=True) if len(earlier) else rows
    run.done = both.sort_values("USUBJID", kind="mergesort").reset_index(drop=True)  # a subject's pairs together
    if unlinked.any():
        records = _records(left, unlinked)
        run.findings.append(finding(
            "RELREC-UNLINKED", f"{rule.left.lower()}:{rule.left_key}", key_text(left.loc[unlinked, rule.left_key]).tolist(),
            count=int(unlinked.sum()), domain=rule.left, other=rule.right, relid=rule.relid, records=_shown(records)))
