"""MedDRA coding completeness: a MedDRA-coded events table -> one warning per hierarchy level missing.

A term coded with MedDRA carries the whole primary path of the dictionary version it was coded with:
LLT, PT, HLT, HLGT and SOC, each as a name and a code (SDTMIG 3.4 AE: AELLT/AELLTCD, AEDECOD/AEPTCD,
AEHLT/AEHLTCD, AEHLGT/AEHLGTCD, AESOC/AESOCCD, plus AEBODSYS/AEBDSYCD, the primary SOC). For every coded
record (--DECOD populated) a level whose name or code is null, or whose variables the dataset lacks, is
missing; the check reports one finding per dataset and level, listing every record (vectorised masks).
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from trialbridge.schemas.findings import Finding, Record, finding
from trialbridge.schemas.sdtm_checks_base import NotApplicable, Outcome, Package

# level -> (name suffix, code suffix) of the --prefixed variables holding it
LEVELS: tuple[tuple[str, str, str], ...] = (
    ("LLT", "LLT", "LLTCD"), ("PT", "DECOD", "PTCD"), ("HLT", "HLT", "HLTCD"), ("HLGT", "HLGT", "HLGTCD"),
    ("SOC", "SOC", "SOCCD"), ("primary SOC", "BODSYS", "BDSYCD"),
)
MEDDRA_DOMAINS = ("AE", "MH", "CE")  # SDTMIG 3.4 domains whose --DECOD is MedDRA-coded
SHOWN = 5


def _blank(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table.columns:
        return np.ones(len(table), dtype=bool)
    values = table[column]
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy(dtype=bool)


def missing_levels(table: pd.DataFrame, domain: str) -> list[Finding]:
    """One finding per MedDRA level some coded record of `table` lacks (name or code)."""
    coded = ~_blank(table, f"{domain}DECOD")
    findings: list[Finding] = []
    for level, name_suffix, code_suffix in LEVELS:
        name, code = f"{domain}{name_suffix}", f"{domain}{code_suffix}"
        missing = coded & (_blank(table, name) | _blank(table, code))
        rows = np.flatnonzero(missing)
        if rows.size == 0:
            continue
        def column(c: str) -> list[str]:
            return table[c].iloc[rows].astype(str).tolist() if c in table.columns else [""] * rows.size
        records = tuple(Record(row=int(r) + 1, usubjid=u, seq=s, values=(t,))
                        for r, u, s, t in zip(rows.tolist(), column("USUBJID"), column(f"{domain}SEQ"),
                                              column(f"{domain}DECOD")))
        listed = ", ".join(str(r + 1) for r in rows[:SHOWN]) + (", ..." if rows.size > SHOWN else "")
        template = finding("SD-MEDDRA-HIERARCHY", "", (), dataset=domain, level=level, variables=f"{name}/{code}",
                           count=int(rows.size), coded=int(coded.sum()), records=listed)
        findings.append(Finding(rule=template.rule, severity=template.severity,
                                location=f"{domain.lower()}:{name}:{int(rows[0]) + 1}", message=template.message,
                                hint=template.hint, values=(level,), dataset=domain, variable=name,
                                row=int(rows[0]) + 1, count=int(rows.size), records=records))
    return findings


def check_meddra_hierarchy(package: Package) -> Outcome:
    """SD-MEDDRA-HIERARCHY: every MedDRA-coded record carries LLT, PT, HLT, HLGT and SOC with codes."""
    checked = [d for d in MEDDRA_DOMAINS if d in package.tables and f"{d}DECOD" in package.tables[d].columns]
    if not checked:
        raise NotApplicable("the package has no MedDRA-coded events domain (AE, MH, CE with --DECOD)")
    return [f for d in checked for f in missing_levels(package.tables[d], d)], checked
