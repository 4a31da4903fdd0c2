"""SDTM conformance checks: SDTM tables + the study specification -> findings and one result per rule.

`check_sdtm(tables, spec)` runs every rule of `RULES` over the tables as they will be written (SDTM
columns; the provenance columns `_file`/`_line` are not written and only name the source row in the
messages). What each rule demands, its severity, message and citation (SDTMIG 3.4 section, CDISC CORE id,
FDA validator id) live in the one catalogue `catalogue.json` under ids `SD-*`; `RULES` below only binds
each id to the small function that checks it (in `sdtm_checks_structure`, `sdtm_checks_values`,
`ts_checks`, `meddra_checks`; what they share in `sdtm_checks_base`) and says what the rule applies to.

Every rule ends with a `RuleResult`: "passed", "issues" (it produced findings), "skipped" (it could not
apply, and the detail says why) or "error" (it raised; the run goes on with the next rule). Checks are
vectorised: they test whole columns (distinct values once, see `sdtm_checks_masks`) and build the
findings in bulk from the boolean mask, one finding per offending record at `dataset:variable:record`
(record = 1-based row number in the dataset), every one kept.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass

import pandas as pd

from trialbridge.schemas.findings import Finding
from trialbridge.schemas.meddra_checks import check_meddra_hierarchy
from trialbridge.schemas.sdtm_checks_base import Check, NotApplicable, Package, RuleResult
from trialbridge.schemas.sdtm_checks_structure import (
    check_dataset_declared, check_dm_one_record, check_domain_value, check_expected_present, check_keys_unique,
    check_qlabel, check_qnam, check_required_populated, check_required_present, check_seq_unique,
    check_subjects_in_dm, check_supp_parent, check_variable_declared, check_xpt_ascii, check_xpt_labels,
    check_xpt_names, check_xpt_value_length,
)
from trialbridge.schemas.sdtm_checks_values import (
    check_dtc_calendar, check_dtc_format, check_epoch, check_extensible_codelists, check_nonextensible_codelists,
    check_stresn_precision, check_stresn_stresc, check_study_days, check_test, check_testcd,
)
from trialbridge.schemas.sdtm_spec import StudySpec
from trialbridge.schemas.ts_checks import check_ts_expected, check_ts_required


@dataclass(frozen=True)
class RuleCheck:
    """A catalogue rule id bound to its check, and what it applies to (said when it is skipped)."""

    rule_id: str
    check: Check
    applies_to: str


RULES: tuple[RuleCheck, ...] = (
    RuleCheck("SD-DATASET-DECLARED", check_dataset_declared, "datasets"),
    RuleCheck("SD-VAR-DECLARED", check_variable_declared, "declared datasets"),
    RuleCheck("SD-REQ-PRESENT", check_required_present, "datasets with Required variables"),
    RuleCheck("SD-REQ-NULL", check_required_populated, "Required variables present"),
    RuleCheck("SD-EXP-PRESENT", check_expected_present, "datasets with Expected variables"),
    RuleCheck("SD-CT-NONEXT", check_nonextensible_codelists, "variables bound to a non-extensible codelist"),
    RuleCheck("SD-CT-EXT", check_extensible_codelists, "variables bound to an extensible codelist"),
    RuleCheck("SD-EPOCH-CT", check_epoch, "datasets with EPOCH"),
    RuleCheck("SD-DTC-FORMAT", check_dtc_format, "--DTC variables"),
    RuleCheck("SD-DTC-DATE", check_dtc_calendar, "--DTC variables"),
    RuleCheck("SD-DY", check_study_days, "--DY/--STDY/--ENDY variables with their --DTC"),
    RuleCheck("SD-SEQ-UNIQUE", check_seq_unique, "datasets with --SEQ"),
    RuleCheck("SD-KEY-UNIQUE", check_keys_unique, "datasets with natural keys"),
    RuleCheck("SD-USUBJID-DM", check_subjects_in_dm, "datasets with USUBJID besides DM"),
    RuleCheck("SD-DM-ONE", check_dm_one_record, "DM"),
    RuleCheck("SD-DOMAIN", check_domain_value, "datasets with DOMAIN (RDOMAIN for SUPP--)"),
    RuleCheck("SD-STRESN", check_stresn_stresc, "datasets with a --STRESC/--STRESN pair"),
    RuleCheck("SD-STRESN-PRECISION", check_stresn_precision, "datasets with a --STRESC/--STRESN pair"),
    RuleCheck("SD-TESTCD", check_testcd, "--TESTCD/--PARMCD variables"),
    RuleCheck("SD-TEST", check_test, "--TEST/--PARM variables"),
    RuleCheck("SD-SUPP-QNAM", check_qnam, "SUPP-- datasets"),
    RuleCheck("SD-SUPP-QLABEL", check_qlabel, "SUPP-- datasets"),
    RuleCheck("SD-SUPP-PARENT", check_supp_parent, "SUPP-- datasets with RDOMAIN, USUBJID, IDVAR, IDVARVAL"),
    RuleCheck("SD-XPT-NAME", check_xpt_names, "datasets"),
    RuleCheck("SD-XPT-LABEL", check_xpt_labels, "declared datasets"),
    RuleCheck("SD-XPT-LENGTH", check_xpt_value_length, "character variables"),
    RuleCheck("SD-XPT-ASCII", check_xpt_ascii, "character variables"),
    RuleCheck("SD-TS-REQUIRED", check_ts_required, "TS"),
    RuleCheck("SD-TS-EXPECTED", check_ts_expected, "TS"),
    RuleCheck("SD-MEDDRA-HIERARCHY", check_meddra_hierarchy, "MedDRA-coded events domains"),
)


def _detail(found: list[Finding], checked: list[str]) -> str:
    scope = "checked " + ", ".join(dict.fromkeys(checked))
    if not found:
        return scope
    per_dataset: dict[str, int] = {}
    for f in found:
        dataset = f.location.split(":", 1)[0].upper()
        per_dataset[dataset] = per_dataset.get(dataset, 0) + 1
    counts = ", ".join(f"{d} {n}" for d, n in per_dataset.items())
    return f"{len(found)} finding(s): {counts}; {scope}"


def run_rule(rule: RuleCheck, package: Package) -> tuple[list[Finding], RuleResult]:
    """One rule on one package; an exception inside it becomes an "error" result."""
    try:
        found, checked = rule.check(package)
    except NotApplicable as why:
        return [], RuleResult(rule.rule_id, "skipped", str(why))
    except Exception as exc:  # noqa: BLE001 - STYLE habit 7: one failing rule must not stop the others
        where = traceback.extract_tb(exc.__traceback__)[-1]
        place = f"{where.filename.rsplit('/', 1)[-1]} line {where.lineno}"
        return [], RuleResult(rule.rule_id, "error", f"{type(exc).__name__}: {exc} ({place})")
    if not found and not checked:
        return [], RuleResult(rule.rule_id, "skipped", f"the package has no {rule.applies_to}")
    return found, RuleResult(rule.rule_id, "issues" if found else "passed", _detail(found, checked))


def check_sdtm(tables: dict[str, pd.DataFrame], spec: StudySpec) -> tuple[list[Finding], list[RuleResult]]:
    """Run every SDTM conformance rule over `tables` (dataset name -> table) against `spec`.

    Returns all findings (rule by rule, in dataset, variable and record order) and one result per rule.
    """
    package = Package(tables={name.upper(): table for name, table in tables.items()}, spec=spec)
    findings: list[Finding] = []
    results: list[RuleResult] = []
    for rule in RULES:
        found, result = run_rule(rule, package)
        findings += found
        results.append(result)
    return findings, results
