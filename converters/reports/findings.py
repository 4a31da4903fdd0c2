"""Findings to people and machines: a terminal summary table and the JSON report."""
from __future__ import annotations

import json
import shutil
import textwrap
from collections import Counter
from typing import Iterable, TextIO

from trialbridge.schemas.findings import Finding, Record, sort_findings


def findings_document(findings: Iterable[Finding], **extra: object) -> dict[str, object]:
    """The machine-readable report: counts by severity and rule, then every finding."""
    ordered = sort_findings(findings)
    return {
        **extra,
        "counts": {
            "by_severity": dict(sorted(Counter(f.severity for f in ordered).items())),
            "by_rule": dict(sorted(Counter(f.rule for f in ordered).items())),
        },
        "findings": [f.as_dict() for f in ordered],
    }


def findings_json_text(findings: Iterable[Finding], **extra: object) -> str:
    return json.dumps(findings_document(findings, **extra), indent=2, ensure_ascii=False) + "\n"


def records_line(f: Finding, shown: int = 8) -> str:
    """`42 records: 3 (S1), 7 (S2), ...; knock-on: 40 SD-DY LB.LBDY` for a grouped finding."""
    def name(r: Record) -> str:
        place = str(r.row) if r.row is not None else (f"{r.file}:{r.line}" if r.line is not None else r.location)
        return f"{place} ({r.usubjid})" if r.usubjid else place

    text = ""
    if f.count > 1:
        listed = ", ".join(name(r) for r in f.records[:shown]) + (", ..." if len(f.records) > shown else "")
        text = f"{f.count} records: {listed}"
    if f.knock_on:
        caused = ", ".join(f"{k.count} {k.rule} {k.dataset}.{k.variable}" for k in f.knock_on)
        text += ("; " if text else "") + f"knock-on (not reported again): {caused}"
    return text


def _terminal_width(stream: TextIO) -> int | None:
    """The width of the terminal `stream` writes to; None when it is not a terminal (a file, a pipe: one
    line per finding, as scripts and grep expect)."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return None
    return max(60, shutil.get_terminal_size((80, 24)).columns)


def _finding_lines(f: Finding, value: str, width: int | None) -> list[str]:
    """One finding as lines: one line each for the finding, its records, its explanation and its hint; on a
    terminal the rule heads the block and the text is wrapped to the terminal's width under an indent."""
    notes = [records_line(f) if f.count > 1 or f.knock_on else "",
             f"explained: {f.explanation.justification} ({f.explanation.author}, {f.explanation.date})"
             if f.explanation is not None else "",
             f"hint: {f.hint}" if f.hint else ""]
    if width is None:
        return [f"{f.severity.upper():7} {f.rule:24} {f.location}: {f.message}{value}"] + \
               [f"{'':33}{note}" for note in notes if note]
    indent = " " * 8
    lines = [f"{f.severity.upper():7} {f.rule}  {f.location}"]
    for text in (f"{f.message}{value}", *notes):
        if text:
            lines += textwrap.wrap(text, width - 1, initial_indent=indent, subsequent_indent=indent + "  ",
                                   break_on_hyphens=False) or [indent]
    return lines


def print_findings(findings: Iterable[Finding], stream: TextIO, max_per_rule: int = 20, show_info: bool = True) -> None:
    """Print findings grouped by rule, at most `max_per_rule` each, then a count line; wrapped to the width of
    a terminal, one line per finding elsewhere.

    The cap and `show_info` only filter what is shown: the omitted ones are counted on screen and are
    all in the JSON report.
    """
    ordered = sort_findings(findings)
    width = _terminal_width(stream)
    shown: Counter[str] = Counter()
    for f in ordered:
        if f.severity == "info" and not show_info:
            continue
        shown[f.rule] += 1
        if shown[f.rule] > max_per_rule:
            continue
        shown_values = ", ".join(repr(v) for v in f.values[:5]) + (", ..." if len(f.values) > 5 else "")
        value = f" [value: {shown_values}]" if f.values else ""
        for line in _finding_lines(f, value, width):
            print(line, file=stream)
    for rule, count in sorted(shown.items()):
        if count > max_per_rule:
            print(f"{'':8}{rule}: {count - max_per_rule} more not shown (all are in the JSON report)", file=stream)
    severities = Counter(f.severity for f in ordered)
    hidden = "" if show_info or not severities["info"] else " (notes not shown: --verbose)"
    print(
        f"{severities['error']} error(s), {severities['warning']} warning(s), {severities['info']} note(s){hidden}",
        file=stream,
    )
