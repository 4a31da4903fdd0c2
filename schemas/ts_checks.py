"""Trial Summary completeness: the TS table -> a finding per required or expected parameter it lacks.

What a reviewer expects of TS is data (`sdtm/ts-parameters.json`: parameter, whether a value is required,
which studies it applies to, why). A required parameter (SSTDTC: FDA technical rejection criterion) must
carry a value; an expected one must have a record, a TSVALNF null flavor counting as present (SDTMIG 3.4
TS assumption 10: an unknown value is stated, not left out). Which parameters apply follows the TS
itself: STYPE INTERVENTIONAL adds the design and treatment parameters, RANDOM Y adds RANDQT.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_checks_base import NotApplicable, Outcome, Package
from trialbridge.schemas.sdtm_standards import terminology


@lru_cache(maxsize=1)
def expected_parameters() -> tuple[dict[str, Any], ...]:
    text = resources.files("trialbridge.schemas").joinpath("sdtm", "ts-parameters.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["parameters"])


def _parm_name(parmcd: str) -> str:
    terms = terminology()
    code = terms.term_code("C66738", parmcd)
    names = {terms.term_code("C67152", n): n for n in terms.submission_values("C67152")}
    return names.get(code, parmcd)


def applicable(ts: pd.DataFrame) -> set[str]:
    """The study kinds this TS declares: always "all"; "interventional", "randomised" when TS says so."""
    values = {(p, v) for p, v in zip(ts["TSPARMCD"].astype(str), ts["TSVAL"].astype(str))}
    kinds = {"all"}
    if ("STYPE", "INTERVENTIONAL") in values:
        kinds.add("interventional")
    if ("RANDOM", "Y") in values:
        kinds.add("randomised")
    return kinds


def missing_parameters(ts: pd.DataFrame) -> list[Finding]:
    """One finding per applicable parameter TS lacks (required: without a value; expected: without a record)."""
    present = set(ts["TSPARMCD"].astype(str))
    valued = set(ts.loc[ts["TSVAL"].astype(str).str.strip() != "", "TSPARMCD"].astype(str))
    kinds = applicable(ts)
    findings: list[Finding] = []
    for parameter in expected_parameters():
        parmcd, required = parameter["parmcd"], bool(parameter.get("required"))
        if parameter.get("applies", "all") not in kinds or parmcd in (valued if required else present):
            continue
        rule = "SD-TS-REQUIRED" if required else "SD-TS-EXPECTED"
        findings.append(finding(rule, f"ts:TSPARMCD={parmcd}", [parmcd], parmcd=parmcd, parm=_parm_name(parmcd),
                                why=parameter.get("why", "")))
    return findings


def check_ts_required(package: Package) -> Outcome:
    """SD-TS-REQUIRED: the required TS parameters carry a value."""
    return _check(package, required=True)


def check_ts_expected(package: Package) -> Outcome:
    """SD-TS-EXPECTED: every expected TS parameter has a record."""
    return _check(package, required=False)


def _check(package: Package, required: bool) -> Outcome:
    ts = package.tables.get("TS")
    if ts is None or not {"TSPARMCD", "TSVAL"} <= set(ts.columns):
        raise NotApplicable("the package has no TS dataset with TSPARMCD and TSVAL")
    rule = "SD-TS-REQUIRED" if required else "SD-TS-EXPECTED"
    return [f for f in missing_parameters(ts) if f.rule == rule], ["TS"]
