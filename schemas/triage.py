"""Triage: findings one per record -> findings one per rule, place and value pattern, knock-ons attached.

A damaged package gives thousands of findings that say the same thing: one bad date format in 3,000
records, the study days those dates make impossible, every record of a SUPP-- dataset whose parent is
missing. A reviewer triages rules and patterns, not records, so:

1. `attach_knock_on` takes the findings that only follow from another one (a --DY that cannot be checked
   because its --DTC, or the subject's DM.RFSTDTC, is not a valid date) out of the list and hangs them on
   the finding that causes them, counted, with their records.
2. `group_findings` merges findings of one rule about one dataset (or file) and variable into one, per
   distinct value, per value shape, or all together, as the rule's catalogue entry `group` says; the
   merged finding keeps the first record's location, the `count` and every record (row, USUBJID, --SEQ,
   source file and line), sorted by number.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from typing import Callable, Iterable, Sequence

from trialbridge.schemas.findings import Finding, KnockOn, Record, catalogue, natural_key, sort_findings
from trialbridge.schemas.waivers import Waiver, explain

# --------------------------------------------------------------------------------------- knock-on
DATE_RULES = frozenset({"SD-DTC-FORMAT", "SD-DTC-DATE"})
CauseKey = tuple[str, str, object]  # (dataset, variable, row number or USUBJID)


def _date_cause_keys(found: Finding) -> list[CauseKey]:
    """The places whose bad date would explain a wrong study day finding."""
    if not found.variable.endswith("DY"):
        return []
    dtc = found.variable[:-2] + "DTC"
    return [(found.dataset, dtc, found.row), ("DM", "RFSTDTC", found.usubjid)]


def _date_keys(found: Finding) -> list[CauseKey]:
    """The keys a bad-date finding is known by: its record, and for DM.RFSTDTC its subject."""
    keys: list[CauseKey] = [(found.dataset, found.variable, found.row)]
    if found.dataset == "DM" and found.variable == "RFSTDTC" and found.usubjid:
        keys.append(("DM", "RFSTDTC", found.usubjid))
    return keys


# effect rule -> (the cause rules, how a cause is known, which causes an effect could have)
KNOCK_ON: dict[str, tuple[frozenset[str], Callable[[Finding], list[CauseKey]], Callable[[Finding], list[CauseKey]]]] = {
    "SD-DY": (DATE_RULES, _date_keys, _date_cause_keys),
}


def attach_knock_on(findings: Iterable[Finding]) -> list[Finding]:
    """Hang each knock-on finding on its cause (still one finding per record; group afterwards)."""
    found = list(findings)
    effects_of: dict[int, list[Finding]] = defaultdict(list)
    dropped: set[int] = set()
    for effect_rule, (cause_rules, cause_keys, effect_keys) in KNOCK_ON.items():
        index: dict[CauseKey, int] = {}
        for i, f in enumerate(found):
            if f.rule in cause_rules:
                for key in cause_keys(f):
                    index.setdefault(key, i)
        if not index:
            continue
        for i, f in enumerate(found):
            if f.rule != effect_rule:
                continue
            cause = next((index[k] for k in effect_keys(f) if k in index), None)
            if cause is not None:
                effects_of[cause].append(f)
                dropped.add(i)
    if not dropped:
        return found
    result = []
    for i, f in enumerate(found):
        if i in dropped:
            continue
        if i in effects_of:
            f = replace(f, knock_on=f.knock_on + _knock_ons(effects_of[i]))
        result.append(f)
    return result


def _as_record(f: Finding) -> Record:
    return Record(row=f.row, usubjid=f.usubjid, seq=f.seq, file=f.file, line=f.line,
                  location=f.location if f.row is None and f.line is None else "", values=f.values)


def _records(f: Finding) -> tuple[Record, ...]:
    return f.records if f.records else (_as_record(f),)


def _record_order(record: Record) -> tuple:
    return (record.file, record.row or 0, record.line or 0, natural_key(record.location))


def _knock_ons(effects: list[Finding]) -> tuple[KnockOn, ...]:
    """Effects grouped by rule, dataset and variable, with their records."""
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for e in effects:
        groups[(e.rule, e.dataset, e.variable)] += _records(e)
    return tuple(KnockOn(rule=rule, dataset=dataset, variable=variable, count=len(records),
                         records=tuple(sorted(records, key=_record_order)))
                 for (rule, dataset, variable), records in sorted(groups.items()))


def _merge_knock_ons(parts: Iterable[KnockOn]) -> tuple[KnockOn, ...]:
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for k in parts:
        groups[(k.rule, k.dataset, k.variable)] += k.records
    return tuple(KnockOn(rule=r, dataset=d, variable=v, count=len(recs), records=tuple(sorted(recs, key=_record_order)))
                 for (r, d, v), recs in sorted(groups.items()))


# ------------------------------------------------------------------------------------------ group
def value_shape(value: str) -> str:
    """The shape of a value: digits -> 9, letters -> A (a for lower case); 12/03/2011 -> 99/99/9999."""
    return re.sub(r"[a-z]", "a", re.sub(r"[A-Z]", "A", re.sub(r"[0-9]", "9", value)))


def _group_mode(rule_id: str) -> str:
    rule = catalogue().get(rule_id)
    return rule.group if rule is not None else "value"


def _group_key(f: Finding, mode: str) -> tuple:
    where = f.where()
    place = (f.rule, f.severity, where["dataset"], where["variable"], where["file"] if not where["dataset"] else "",
             f.explanation)
    if mode == "all":
        return place
    if mode == "pattern":
        return place + (tuple(value_shape(v) for v in f.values[:1]),)
    return place + (f.message, f.hint, f.values)


def group_findings(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per rule, place and value pattern, with the count and every record (see module doc).

    A finding that stands alone is returned unchanged; the result is in `sort_findings` order.
    """
    groups: dict[tuple, list[Finding]] = defaultdict(list)
    for f in findings:
        groups[_group_key(f, _group_mode(f.rule))].append(f)
    merged = []
    for members in groups.values():
        if len(members) == 1:
            merged.append(members[0])
            continue
        records = sorted((r for m in members for r in _records(m)), key=_record_order)
        first = min(members, key=lambda m: _record_order(_records(m)[0]))
        distinct = tuple(dict.fromkeys(v for m in members for v in m.values[:1]))
        values = first.values if len(distinct) <= 1 else distinct[:20]
        merged.append(replace(first, values=values, count=len(records), records=tuple(records),
                              knock_on=_merge_knock_ons(k for m in members for k in m.knock_on)))
    return sort_findings(merged)


def triage(findings: Iterable[Finding], waivers: Sequence[Waiver] = ()) -> list[Finding]:
    """Knock-ons attached to their causes, waivers applied record by record (`schemas/waivers.py`),
    then findings grouped by rule, place, value pattern and explanation."""
    explained, unused = explain(attach_knock_on(findings), waivers)
    return group_findings(explained + unused)
