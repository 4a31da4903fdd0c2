"""Waivers: explanations a reviewer accepts -> findings marked explained (they stay in every report).

A waiver names a rule (or `*`), and optionally a dataset, a variable and a value pattern (shell-style:
`UNK*`, `2011-??-??`); it carries the justification, its author and date. `explain` marks each
record-level finding that a waiver matches (the first waiver in file order wins), so that a group of
findings can be partly explained: grouping (`schemas/triage.py`) keeps explained and open records apart.
An explained finding keeps its severity but no longer sets the exit code (`has_errors`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Iterable, Sequence

from trialbridge.schemas.findings import Explanation, Finding, finding

WAIVER_FIELDS = ("rule", "dataset", "variable", "pattern", "justification", "author", "date")


@dataclass(frozen=True)
class Waiver:
    """One accepted explanation, as read from a waiver file (`source` = file:line)."""

    rule: str
    dataset: str
    variable: str
    pattern: str
    justification: str
    author: str
    date: str
    source: str

    def matches(self, f: Finding) -> bool:
        where = f.where()
        if self.rule not in ("*", f.rule):
            return False
        if self.dataset and self.dataset.upper() != str(where["dataset"] or "").upper():
            return False
        if self.variable and self.variable.upper() != str(where["variable"] or "").upper():
            return False
        return not self.pattern or fnmatchcase(f.values[0] if f.values else "", self.pattern)

    def explanation(self) -> Explanation:
        return Explanation(justification=self.justification, author=self.author, date=self.date, source=self.source)


def explain(findings: Iterable[Finding], waivers: Sequence[Waiver]) -> tuple[list[Finding], list[Finding]]:
    """The findings with `explanation` set where a waiver matches, and a WAIVER-UNUSED note per waiver
    that matched nothing (a stale explanation is worth knowing about)."""
    found = list(findings)
    if not waivers:
        return found, []
    used: set[int] = set()
    result = []
    for f in found:
        hit = next((i for i, w in enumerate(waivers) if w.matches(f)), None) if f.explanation is None else None
        if hit is not None:
            used.add(hit)
            f = replace(f, explanation=waivers[hit].explanation())
        result.append(f)
    unused = [finding("WAIVER-UNUSED", w.source, (w.rule, w.dataset, w.variable, w.pattern), rule=w.rule,
                      dataset=w.dataset or "any dataset", variable=w.variable or "any variable",
                      pattern=w.pattern or "any value")
              for i, w in enumerate(waivers) if i not in used]
    return result, unused
