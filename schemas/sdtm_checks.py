"""SDTM conformance checks: SDTM tables + the study specification -> findings and one result per rule.

`check_sdtm(tables, spec)` runs every rule of `RULES` over the tables as they will be written (SDTM
columns; the provenance columns `_file`/`_line` are not written and only name the source row in the
messages). What each rule demands, its severity, message and citation (SDTMIG 3.4 section, CDISC CORE id,
FDA validator id) live in the one catalogue `catalogue.json` under ids `SD-*`; `RULES` below only binds
each id to the small function that checks it and says what the rule applies to.

Every rule ends with a `RuleResult`: "passed", "issues" (it produced findings), "skipped" (it could not
apply, and the detail says why) or "error" (it raised; the run goes on with the next rule). Checks are
vectorised: they test whole columns (distinct values once, see `sdtm_checks_masks`) and build the
findings in bulk from the boolean mask, one finding per offending record at `dataset:variable:record`
(record = 1-based row number in the dataset), every one kept.
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Literal, Sequence

import numpy as np
import pandas as pd

from trialbridge.schemas.findings import Finding, Record, finding
from trialbridge.schemas.sdtm_checks_masks import (
    NUMERIC_TEXT,
    Distinct,
    as_text,
    bytes_longer_than,
    day_number,
    differs,
    duplicated,
    is_char,
    is_null,
    longer_than,
    not_ascii,
    not_in,
    not_iso8601,
    not_matching,
    not_real_datetime,
    number_in_text,
    per_value,
    study_day,
)
from trialbridge.schemas.meddra_checks import check_meddra_hierarchy
from trialbridge.schemas.ts_checks import check_ts_expected, check_ts_required
from trialbridge.schemas.sdtm_spec import (
    CT_VERSION,
    SDTMIG_VERSION,
    Dataset,
    StudySpec,
    sdtmig_variables,
    terminology,
)

Status = Literal["passed", "issues", "skipped", "error"]
PROVENANCE = ("_file", "_line")  # carried for messages, never written to the XPT files
EPOCH_CODELIST = "C99079"


@dataclass(frozen=True)
class RuleResult:
    """How one rule ended on one package."""

    rule_id: str
    status: Status
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule_id, "status": self.status, "detail": self.detail}


class NotApplicable(Exception):
    """Raised by a check that cannot apply to this package; the message says why."""


@dataclass(frozen=True)
class Package:
    """What every check reads: the tables by upper-case dataset name, and the study specification."""

    tables: dict[str, pd.DataFrame]
    spec: StudySpec
    _distinct: dict[tuple[str, str], Distinct] = field(default_factory=dict, repr=False, compare=False)

    def declared(self, name: str) -> Dataset | None:
        return self.spec.datasets.get(name)

    def distinct(self, name: str, variable: str) -> Distinct:
        """A column factorised once for all the rules that test its values."""
        key = (name, variable)
        if key not in self._distinct:
            self._distinct[key] = Distinct.of(self.tables[name][variable])
        return self._distinct[key]

    def written(self, name: str) -> list[str]:
        """The columns of a table that the XPT writer writes."""
        return [c for c in self.tables[name].columns if c not in PROVENANCE]


Outcome = tuple[list[Finding], list[str]]  # the findings, and what was checked ("LB.LBDY", "DM")
Check = Callable[[Package], Outcome]


# ------------------------------------------------------------------------------------ finding builders
def _record_keys(table: pd.DataFrame, dataset: str, rows: np.ndarray) -> dict[str, list]:
    """Subject, --SEQ, source file and line of the records `rows` (empty where the table lacks them)."""
    def column(name: str) -> list:
        return as_text(table[name].iloc[rows]).tolist() if name in table.columns else [""] * rows.size

    lines = [int(float(n)) if n not in ("", None) else None for n in column("_line")]
    return {"usubjid": column("USUBJID"), "seq": column(parent_domain(dataset) + "SEQ"),
            "file": column("_file"), "line": lines}


def record_findings(rule_id: str, package: Package, dataset: str, variable: str, mask: np.ndarray,
                    shown: Sequence[str | pd.Series] = (), **fields: object) -> list[Finding]:
    """One finding per record where `mask` holds, at `dataset:variable:record`.

    `shown` gives the values each finding carries: column names of the table, or Series aligned with it
    (default: `variable`'s value). Each finding names its record as fields too: row, USUBJID, --SEQ and,
    when the table carries provenance, the source file and line (`schemas/triage.py` groups them).
    """
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return []
    table = package.tables[dataset]
    template = finding(rule_id, "", (), dataset=dataset, variable=variable, **fields)
    columns = [table[c] if isinstance(c, str) else c for c in (shown or (variable,))]
    values = list(zip(*(as_text(column.iloc[rows]).tolist() for column in columns)))
    keys = _record_keys(table, dataset, rows)
    prefix = f"{dataset.lower()}:{variable}:"
    return [
        Finding(rule=template.rule, severity=template.severity, location=prefix + str(row + 1),
                message=template.message, hint=template.hint, values=value, dataset=dataset,
                variable=variable, row=row + 1, usubjid=usubjid, seq=seq, file=file, line=line)
        for row, value, usubjid, seq, file, line in zip(rows.tolist(), values, keys["usubjid"], keys["seq"],
                                                       keys["file"], keys["line"])
    ]


def value_findings(rule_id: str, package: Package, dataset: str, variable: str, mask: np.ndarray,
                   **fields: object) -> list[Finding]:
    """One finding per distinct offending value (not per record), at its first record, with the count
    and every record: for reviewed-but-allowed values such as sponsor terms, where one line per record
    would bury the rest of the report."""
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return []
    table = package.tables[dataset]
    template = finding(rule_id, "", (), dataset=dataset, variable=variable, **fields)
    values = as_text(table[variable].iloc[rows])
    keys = pd.DataFrame(_record_keys(table, dataset, rows), index=rows)
    found = []
    for value, positions in pd.Series(rows).groupby(values.to_numpy(), sort=True):
        records = (positions.to_numpy() + 1).tolist()
        listed = ", ".join(map(str, records[:5])) + (", ..." if len(records) > 5 else "")
        chosen = keys.loc[positions.to_numpy()]
        found.append(Finding(rule=template.rule, severity=template.severity,
                             location=f"{dataset.lower()}:{variable}:{records[0]}",
                             message=f"{template.message} {len(records)} record(s): {listed}.",
                             hint=template.hint, values=(str(value),), dataset=dataset, variable=variable,
                             row=records[0], count=len(records),
                             records=tuple(Record(row=r, usubjid=u, seq=q, file=f, line=n, values=(str(value),))
                                           for r, u, q, f, n in zip(records, chosen["usubjid"], chosen["seq"],
                                                                    chosen["file"], chosen["line"]))))
    return found


def column_findings(rule_id: str, package: Package, pairs: Sequence[tuple[str, str]],
                    test: Callable[[Distinct], np.ndarray], **fields: object) -> Outcome:
    """A value rule over columns: `test` on each (dataset, variable) column, one finding per hit."""
    found = [f for name, variable in pairs
             for f in record_findings(rule_id, package, name, variable, test(package.distinct(name, variable)),
                                      **fields)]
    return found, _checked(pairs)


def _location(dataset: str, variable: str = "") -> str:
    return f"{dataset.lower()}:{variable}" if variable else dataset.lower()


# ---------------------------------------------------------------------------------------- metadata
def parent_domain(name: str) -> str:
    """The domain code a dataset belongs to: AE for AE, LB for the split LBCH, AE for SUPPAE."""
    return name[4:6] if name.startswith("SUPP") else name[:2]


@lru_cache(maxsize=None)
def _sdtmig_core(model: str) -> tuple[tuple[str, str, str], ...]:
    """(variable, label, core) of an SDTMIG 3.4 dataset, in SDTMIG order; () if SDTMIG has no such dataset."""
    ig = sdtmig_variables()
    rows = ig[ig["Dataset Name"] == model]
    return tuple(zip(rows["Variable Name"], rows["Variable Label"], rows["Core"]))


def sdtmig_model(name: str) -> str:
    """The SDTMIG dataset whose variables a dataset takes: SUPPQUAL for SUPP--, LB for the split LBCH."""
    if name.startswith("SUPP"):
        return "SUPPQUAL"
    if _sdtmig_core(name) or not _sdtmig_core(name[:2]):
        return name
    return name[:2]


def _core_variables(package: Package, name: str, core: str) -> list[tuple[str, str, str]]:
    """(variable, label, model) of the variables with this core: the study spec's and SDTMIG's."""
    model = sdtmig_model(name)
    found = {v: (v, label, model) for v, label, c in _sdtmig_core(model) if c == core}
    declared = package.declared(name)
    for v in declared.variables if declared else ():
        if v.core == core:
            found.setdefault(v.name, (v.name, v.label, model))
    return list(found.values())


def _columns(package: Package, pattern: str) -> Iterator[tuple[str, str]]:
    """(dataset, variable) for every written column whose name matches `pattern`."""
    regex = re.compile(pattern)
    for name in package.tables:
        for column in package.written(name):
            if regex.fullmatch(column):
                yield name, column


def _checked(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{d}.{v}" for d, v in pairs]


# --------------------------------------------------------------------------------- declared / present
def check_dataset_declared(package: Package) -> Outcome:
    """Every dataset written is declared in the study specification."""
    found = [finding("SD-DATASET-DECLARED", _location(name), (name,), dataset=name)
             for name in package.tables if package.declared(name) is None]
    return found, list(package.tables)


def check_variable_declared(package: Package) -> Outcome:
    """Every column written is a variable the study specification declares for its dataset."""
    found, checked = [], []
    for name in package.tables:
        declared = package.declared(name)
        if declared is None:
            continue
        checked.append(name)
        known = {v.name for v in declared.variables}
        found += [finding("SD-VAR-DECLARED", _location(name, c), (c,), dataset=name, variable=c)
                  for c in package.written(name) if c not in known]
    if not checked:
        raise NotApplicable("no dataset of the package is declared in the study specification")
    return found, checked


def _presence(package: Package, core: str, rule_id: str) -> Outcome:
    found, checked = [], []
    for name, table in package.tables.items():
        wanted = _core_variables(package, name, core)
        checked += [name] if wanted else []
        found += [
            finding(rule_id, _location(name, variable), (), dataset=name, variable=variable, label=label,
                    model=model, ig=SDTMIG_VERSION)
            for variable, label, model in wanted if variable not in table.columns
        ]
    return found, checked


def check_required_present(package: Package) -> Outcome:
    """Every Required variable (SDTMIG 3.4, or the study spec) is in its dataset."""
    return _presence(package, "Req", "SD-REQ-PRESENT")


def check_expected_present(package: Package) -> Outcome:
    """Every Expected variable (SDTMIG 3.4, or the study spec) is in its dataset."""
    return _presence(package, "Exp", "SD-EXP-PRESENT")


def check_required_populated(package: Package) -> Outcome:
    """A Required variable has a value in every record."""
    found, checked = [], []
    for name, table in package.tables.items():
        for variable, label, _ in _core_variables(package, name, "Req"):
            if variable in table.columns:
                checked.append(f"{name}.{variable}")
                mask = is_null(package.distinct(name, variable))
                found += record_findings("SD-REQ-NULL", package, name, variable, mask, label=label)
    return found, checked


# -------------------------------------------------------------------------------------- terminology
def _bindings(package: Package) -> Iterator[tuple[str, str, str, np.ndarray | None]]:
    """(dataset, variable, codelist, records it governs or None for all) from the variable- and
    value-level metadata. A value-level entry's codelist replaces the variable's on the records it
    describes (e.g. DSDECOD is C114118 where DSCAT is PROTOCOL MILESTONE). EPOCH is left to its own rule."""
    for name, table in package.tables.items():
        declared = package.declared(name)
        if declared is None:
            continue
        levels: dict[str, list[tuple[str, np.ndarray]]] = {}
        for level in package.spec.value_level:
            codelist = getattr(level, "codelist", "")
            if (level.dataset == name and codelist and level.variable in table.columns
                    and level.where_variable in table.columns):
                where = (table[level.where_variable] == level.where_value).to_numpy(dtype=bool)
                levels.setdefault(level.variable, []).append((codelist, where))
        for v in declared.variables:
            if v.codelist and v.name in table.columns and v.name != "EPOCH":
                covered = [where for _, where in levels.get(v.name, [])]
                rest = ~np.logical_or.reduce(covered) if covered else None
                yield name, v.name, v.codelist, rest
        for variable, entries in levels.items():
            for codelist, where in entries:
                yield name, variable, codelist, where


# Values SDTMIG itself prescribes outside the codelist: SDTMIG 3.4 section 5.2 DM assumption (RACE is
# "MULTIPLE" when several races are collected; CDISC CORE-000337, CG0140).
SDTMIG_EXTRA_TERMS: dict[str, frozenset[str]] = {"RACE": frozenset({"MULTIPLE"})}
# On a result variable a codelist governs the qualitative results ("NEGATIVE"), not numbers ("5.2") nor
# numbers with a comparator ("<0.5"), which SDTMIG 3.4 section 4.5.1.1 keeps as text in --STRESC.
RESULT_VARIABLE = re.compile(r"[A-Z]{2}(?:ORRES|STRESC)")
QUANTITATIVE_RESULT = r"(?:[<>]=?)?\s*" + NUMERIC_TEXT


def _terminology_check(package: Package, extensible: bool, rule_id: str) -> Outcome:
    ct = terminology()
    found, checked, unknown = [], [], []
    for name, variable, codelist, where in _bindings(package):
        try:
            if ct.is_extensible(codelist) != extensible:
                continue
            allowed = ct.submission_values(codelist)
            codelist_name = ct.codelist_name(codelist)
        except KeyError:
            unknown.append(f"{name}.{variable} ({codelist})")
            continue
        checked.append(f"{name}.{variable}")
        column = package.distinct(name, variable)
        mask = not_in(column, allowed | SDTMIG_EXTRA_TERMS.get(variable, frozenset()))
        if where is not None:
            mask &= where
        if RESULT_VARIABLE.fullmatch(variable):
            mask &= ~per_value(column, lambda values: values.str.fullmatch(QUANTITATIVE_RESULT))
        report = value_findings if extensible else record_findings
        found += report(rule_id, package, name, variable, mask, codelist=codelist,
                        codelist_name=codelist_name, ct=CT_VERSION)
    if unknown:
        checked.append("not checked, codelist absent from CT " + CT_VERSION + ": " + ", ".join(unknown))
    return found, checked


def check_nonextensible_codelists(package: Package) -> Outcome:
    """Values of a variable bound to a non-extensible codelist are submission values of that codelist."""
    return _terminology_check(package, False, "SD-CT-NONEXT")


def check_extensible_codelists(package: Package) -> Outcome:
    """Values outside an extensible codelist are sponsor terms, reported for review."""
    return _terminology_check(package, True, "SD-CT-EXT")


def check_epoch(package: Package) -> Outcome:
    """EPOCH values are terms of the CDISC Epoch codelist (C99079), whatever the spec binds."""
    allowed = terminology().submission_values(EPOCH_CODELIST)
    return column_findings("SD-EPOCH-CT", package, list(_columns(package, "EPOCH")),
                           lambda values: not_in(values, allowed))


# ---------------------------------------------------------------------------------------- dates, days
def _dtc_columns(package: Package) -> list[tuple[str, str]]:
    return [(n, v) for n, v in _columns(package, r".*DTC") if is_char(package.tables[n][v])]


def check_dtc_format(package: Package) -> Outcome:
    """--DTC values are ISO 8601 dates/times; partial dates leave the unknown parts off."""
    return column_findings("SD-DTC-FORMAT", package, _dtc_columns(package), not_iso8601)


def check_dtc_calendar(package: Package) -> Outcome:
    """--DTC values name dates and times that exist (2011-02-30, month 13 or 25:00 do not)."""
    return column_findings("SD-DTC-DATE", package, _dtc_columns(package), not_real_datetime)


def _dm(package: Package, *variables: str) -> pd.DataFrame:
    dm = package.tables.get("DM")
    if dm is None:
        raise NotApplicable("the package has no DM dataset")
    missing = [v for v in variables if v not in dm.columns]
    if missing:
        raise NotApplicable(f"DM has no {', '.join(missing)}")
    return dm


def _per_subject(usubjid: pd.Series, by_subject: pd.Series) -> np.ndarray:
    """`by_subject` (a float Series indexed by USUBJID) spread over the records of a table."""
    codes, subjects = pd.factorize(usubjid, use_na_sentinel=True)
    values = pd.Series(subjects).map(by_subject).to_numpy(dtype=float)
    if values.size == 0:
        return np.full(len(usubjid), np.nan)
    return np.where(codes >= 0, values[np.maximum(codes, 0)], np.nan)


def check_study_days(package: Package) -> Outcome:
    """--DY, --STDY, --ENDY equal the SDTMIG study day of their date from DM.RFSTDTC: no day 0, and
    empty when either date is incomplete."""
    dm = _dm(package, "USUBJID", "RFSTDTC")
    subjects = dm.drop_duplicates("USUBJID")
    reference = pd.Series(day_number(subjects["RFSTDTC"]), index=subjects["USUBJID"].to_numpy())
    rfstdtc = dict(zip(subjects["USUBJID"], subjects["RFSTDTC"]))
    found, checked = [], []
    for name, variable in _columns(package, r"[A-Z]{2}(?:ST|EN)?DY"):
        table = package.tables[name]
        dtc = variable[:-2] + "DTC"
        if variable[:2] != parent_domain(name) or dtc not in table.columns or "USUBJID" not in table.columns:
            continue
        checked.append(f"{name}.{variable}")
        expected = study_day(day_number(package.distinct(name, dtc)), _per_subject(table["USUBJID"], reference))
        actual = pd.to_numeric(table[variable], errors="coerce").to_numpy(dtype=float)
        mask = differs(actual, expected) & table["USUBJID"].isin(list(rfstdtc)).to_numpy(bool)
        if mask.any():  # subjects absent from DM are SD-USUBJID-DM's findings, not this rule's
            shown = (variable, dtc, table["USUBJID"].map(rfstdtc).astype(object))
            found += record_findings("SD-DY", package, name, variable, mask, shown=shown, dtc=dtc)
    return found, checked


# ---------------------------------------------------------------------------------- identity, keys
def check_seq_unique(package: Package) -> Outcome:
    """--SEQ is unique per USUBJID within a dataset (TSSEQ within TSPARMCD)."""
    found, checked = [], []
    for name, table in package.tables.items():
        seq = parent_domain(name) + "SEQ"
        group = "TSPARMCD" if name == "TS" else "USUBJID" if "USUBJID" in table.columns else "POOLID"
        if seq not in table.columns or group not in table.columns:
            continue
        checked.append(f"{name}.{seq}")
        mask = duplicated(table, [group, seq]) & ~is_null(table[seq])
        found += record_findings("SD-SEQ-UNIQUE", package, name, seq, mask, shown=(group, seq), group=group)
    return found, checked


def check_keys_unique(package: Package) -> Outcome:
    """No two records of a dataset share its natural key (the study spec's keys, define.xml KeySequence)."""
    found, checked = [], []
    for name, table in package.tables.items():
        declared = package.declared(name)
        keys = list(declared.keys) if declared else []
        if not keys or any(k not in table.columns for k in keys):
            continue
        checked.append(name)
        found += record_findings("SD-KEY-UNIQUE", package, name, keys[-1], duplicated(table, keys),
                                 shown=keys, keys=", ".join(keys))
    if not checked:
        raise NotApplicable("no dataset has natural keys in the study specification")
    return found, checked


def check_subjects_in_dm(package: Package) -> Outcome:
    """Every USUBJID of every dataset is a subject of DM."""
    subjects = set(_dm(package, "USUBJID")["USUBJID"])
    found, checked = [], []
    for name, table in package.tables.items():
        if name == "DM" or "USUBJID" not in table.columns:
            continue
        checked.append(name)
        mask = not_in(package.distinct(name, "USUBJID"), subjects)
        found += record_findings("SD-USUBJID-DM", package, name, "USUBJID", mask)
    return found, checked


def check_dm_one_record(package: Package) -> Outcome:
    """DM holds one record per subject."""
    dm = _dm(package, "USUBJID")
    mask = duplicated(dm, ["USUBJID"]) & ~is_null(dm["USUBJID"])
    return record_findings("SD-DM-ONE", package, "DM", "USUBJID", mask), ["DM"]


def check_domain_value(package: Package) -> Outcome:
    """DOMAIN is the dataset's domain code (its first two letters for a split dataset); a SUPP-- dataset's
    RDOMAIN is the domain after "SUPP"."""
    found, checked = [], []
    for name, table in package.tables.items():
        variable = "RDOMAIN" if name.startswith("SUPP") else "DOMAIN"
        if variable not in table.columns:
            continue
        checked.append(f"{name}.{variable}")
        # a 2-letter code (4 letters for an associated-persons AP-- domain), a split dataset's domain's
        expected = {parent_domain(name)} if not name.startswith("AP") else {name}
        mask = not_in(package.distinct(name, variable), expected)  # an empty one is SD-REQ-NULL's
        found += record_findings("SD-DOMAIN", package, name, variable, mask, expected=parent_domain(name))
    return found, checked


# ---------------------------------------------------------------------------------- results, tests
def check_stresn_stresc(package: Package) -> Outcome:
    """A numeric --STRESC is repeated in --STRESN; --STRESN is filled only when --STRESC is a number."""
    found, checked = [], []
    for name, stresn in _columns(package, r"[A-Z]{2}STRESN"):
        table = package.tables[name]
        stresc = stresn[:-1] + "C"
        if stresc not in table.columns:
            continue
        checked.append(f"{name}.{stresn}")
        spelled = number_in_text(package.distinct(name, stresc))
        number = pd.to_numeric(table[stresn], errors="coerce").to_numpy(dtype=float)
        found += record_findings("SD-STRESN", package, name, stresn, differs(number, spelled),
                                 shown=(stresc, stresn), stresc=stresc)
    return found, checked


TESTCD_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,7}"


def check_testcd(package: Package) -> Outcome:
    """--TESTCD (and TSPARMCD) values: at most 8 letters, digits or underscores, not starting with a digit."""
    return column_findings("SD-TESTCD", package, list(_columns(package, r"[A-Z]{2}(?:TESTCD|PARMCD)")),
                           lambda values: not_matching(values, TESTCD_PATTERN))


def check_test(package: Package) -> Outcome:
    """--TEST (and TSPARM) values are at most 40 characters; IETEST in IE and TI at most 200."""
    pairs = list(_columns(package, r"[A-Z]{2}(?:TEST|PARM)"))
    found, checked = [], []
    for limit, chosen in ((40, [p for p in pairs if p[1] != "IETEST"]), (200, [p for p in pairs if p[1] == "IETEST"])):
        more, scope = column_findings("SD-TEST", package, chosen,
                                      lambda values, limit=limit: longer_than(values, limit), limit=limit)
        found, checked = found + more, checked + scope
    return found, checked


# ------------------------------------------------------------------------------------------- SUPP--
def _supp(package: Package) -> list[str]:
    return [name for name in package.tables if name.startswith("SUPP")]


QNAM_PATTERN = r"[A-Z_][A-Z0-9_]{0,7}"


def check_qnam(package: Package) -> Outcome:
    """QNAM: at most 8 upper-case letters, digits or underscores, not starting with a digit."""
    pairs = [(n, "QNAM") for n in _supp(package) if "QNAM" in package.tables[n].columns]
    return column_findings("SD-SUPP-QNAM", package, pairs, lambda values: not_matching(values, QNAM_PATTERN))


def check_qlabel(package: Package) -> Outcome:
    """QLABEL: at most 40 characters."""
    pairs = [(n, "QLABEL") for n in _supp(package) if "QLABEL" in package.tables[n].columns]
    return column_findings("SD-SUPP-QLABEL", package, pairs, lambda values: longer_than(values, 40))


def _parent_table(package: Package, supp: str, rdomain: str) -> pd.DataFrame | None:
    """The dataset a SUPP-- record qualifies: RDOMAIN (LBCH for SUPPLBCH of RDOMAIN LB), else the split
    parts of RDOMAIN together."""
    for candidate in (supp[4:] if parent_domain(supp) == rdomain else "", rdomain):
        if candidate in package.tables and not candidate.startswith("SUPP"):
            return package.tables[candidate]
    parts = [t for n, t in package.tables.items() if not n.startswith("SUPP") and len(n) > 2 and n[:2] == rdomain]
    return pd.concat(parts, ignore_index=True) if parts else None


def _join_key(usubjid: pd.Series, value: pd.Series) -> pd.Series:
    return usubjid.astype(str).str.cat(value.astype(str).str.strip(), sep="\x1f")


def check_supp_parent(package: Package) -> Outcome:
    """Each SUPP-- record points at an existing parent record: RDOMAIN is a dataset of the package,
    IDVAR one of its variables, and (USUBJID, IDVARVAL) one of its records; with IDVAR empty, the
    subject (USUBJID) is one of its subjects."""
    needed = ("RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL")
    names = [n for n in _supp(package) if all(v in package.tables[n].columns for v in needed)]
    found = []
    for name in names:
        supp = package.tables[name]
        masks = {v: np.zeros(len(supp), dtype=bool) for v in ("RDOMAIN", "IDVAR", "USUBJID", "IDVARVAL")}
        for (rdomain, idvar), rows in supp.groupby(["RDOMAIN", "IDVAR"], sort=False).indices.items():
            parent = _parent_table(package, name, rdomain)
            chosen = supp.iloc[rows]
            if parent is None or "USUBJID" not in parent.columns:
                masks["RDOMAIN"][rows] = True
            elif idvar and idvar not in parent.columns:
                masks["IDVAR"][rows] = True
            elif not idvar:
                masks["USUBJID"][rows] = ~chosen["USUBJID"].isin(set(parent["USUBJID"])).to_numpy(bool)
            else:
                known = set(_join_key(parent["USUBJID"], as_text(parent[idvar])))
                asked = _join_key(chosen["USUBJID"], as_text(chosen["IDVARVAL"]))
                masks["IDVARVAL"][rows] = ~asked.isin(known).to_numpy(bool)
        for variable, reason in (("RDOMAIN", "RDOMAIN is not a dataset of the package with USUBJID"),
                                 ("IDVAR", "the parent dataset has no variable named by IDVAR"),
                                 ("USUBJID", "the parent dataset has no record of this subject"),
                                 ("IDVARVAL", "no parent record of this subject has this IDVAR value")):
            found += record_findings("SD-SUPP-PARENT", package, name, variable, masks[variable],
                                     shown=("RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL"), reason=reason)
    return found, names


# ------------------------------------------------------------------------------------ XPT v5 limits
XPT_NAME = re.compile(r"[A-Z][A-Z0-9]{0,7}")


def check_xpt_names(package: Package) -> Outcome:
    """Dataset and variable names: at most 8 characters, upper-case letters and digits, a letter first."""
    found = []
    for name in package.tables:
        if not XPT_NAME.fullmatch(name):
            found.append(finding("SD-XPT-NAME", _location(name), (name,), dataset=name, what="Dataset", name=name))
        found += [finding("SD-XPT-NAME", _location(name, c), (c,), dataset=name, what="Variable", name=c)
                  for c in package.written(name) if not XPT_NAME.fullmatch(str(c))]
    return found, list(package.tables)


def _label_problem(label: str) -> str:
    """What keeps a label out of a SAS v5 transport file ("" when nothing does)."""
    too_long = f"has {len(label)} characters" if len(label) > 40 else ""
    not_ascii = "has characters outside ASCII" if not label.isascii() else ""
    return " and ".join(p for p in (too_long, not_ascii) if p)


def check_xpt_labels(package: Package) -> Outcome:
    """Dataset and variable labels (from the study spec, as the writer will write them): at most 40
    ASCII characters."""
    found, checked = [], []
    for name in package.tables:
        declared = package.declared(name)
        if declared is None:
            continue
        checked.append(name)
        if _label_problem(declared.label):
            found.append(finding("SD-XPT-LABEL", _location(name), (declared.label,), what="Dataset", name=name,
                                 problem=_label_problem(declared.label)))
        columns = set(package.written(name))
        found += [finding("SD-XPT-LABEL", _location(name, v.name), (v.label,), what="Variable", name=v.name,
                          problem=_label_problem(v.label))
                  for v in declared.variables if v.name in columns and _label_problem(v.label)]
    if not checked:
        raise NotApplicable("no dataset of the package is declared in the study specification, where labels come from")
    return found, checked


def _char_columns(package: Package) -> list[tuple[str, str]]:
    return [(n, c) for n in package.tables for c in package.written(n) if is_char(package.tables[n][c])]


def check_xpt_value_length(package: Package) -> Outcome:
    """Character values fit in 200 bytes."""
    return column_findings("SD-XPT-LENGTH", package, _char_columns(package),
                           lambda values: bytes_longer_than(values, 200))


def check_xpt_ascii(package: Package) -> Outcome:
    """Character values are ASCII."""
    return column_findings("SD-XPT-ASCII", package, _char_columns(package), not_ascii)


# ------------------------------------------------------------------------------------------ the rules
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
