"""Findings: the one record every check, reader and writer reports problems with.

A finding is a small frozen record (rule id, severity, location, message, hint, values). Titles,
message templates, severities and citations come from one catalogue (`catalogue.json` beside this
module), never from scattered strings.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Rule:
    """One catalogue entry: what must hold, how bad it is when it does not, and where that is written."""

    id: str
    severity: Severity
    title: str
    message: str  # str.format template over the keyword arguments given to `finding`
    hint: str = ""
    citation: str = ""


@dataclass(frozen=True)
class Finding:
    """One problem (or one reported change) at one place."""

    rule: str
    severity: Severity
    location: str
    message: str
    hint: str = ""
    values: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "location": self.location,
            "message": self.message,
            "hint": self.hint,
            "values": list(self.values),
        }


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Rule]:
    """All rules, keyed by id, from `catalogue.json`."""
    text = resources.files("trialbridge.schemas").joinpath("catalogue.json").read_text(encoding="utf-8")
    return {entry["id"]: Rule(**entry) for entry in json.loads(text)["rules"]}


def finding(rule_id: str, location: str, values: Iterable[object] = (), **fields: object) -> Finding:
    """Build a finding from its catalogue entry; `fields` fill the message and hint templates."""
    rule = catalogue()[rule_id]
    return Finding(
        rule=rule.id,
        severity=rule.severity,
        location=location,
        message=rule.message.format(**fields),
        hint=rule.hint.format(**fields) if rule.hint else "",
        values=tuple(str(v) for v in values),
    )


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Stable, deterministic order: severity, then rule, then location."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.rule, f.location, f.message))
