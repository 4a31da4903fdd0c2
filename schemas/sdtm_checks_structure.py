"""SDTM structure rules: the package -> findings on datasets and variables declared and present, identity
and keys, SUPP-- datasets and their parents, and the SAS XPT v5 limits (names, labels, lengths, ASCII).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trialbridge.schemas.findings import finding
from trialbridge.schemas.sdtm_checks_masks import (
    as_text, bytes_longer_than, duplicated, is_char, is_null, longer_than, not_ascii, not_in, not_matching,
)
from trialbridge.schemas.sdtm_standards import SDTMIG_VERSION
from trialbridge.schemas.sdtm_checks_base import (
    NotApplicable, Outcome, Package, _core_variables, _location, column_findings, _dm, parent_domain,
    record_findings,
)


# --------------------------------------------------------------------------------- declared / present
def check_dataset_declared(package: Package) -> Outcome:
    """Every dataset written is declared in the study specification."""
    found = [finding("SD-DATASET-DECLARED", _location(name), (name,), dataset=name)
             for name in package.tables if package.declared(name) is None]
    return found, list(package.tables)


def check_variable_declared(package: Package) -> Outcome:
    """Every column written is a variable the study specification declares for its dataset."""
    found, checked = [], []
    for name, declared in package.declared_datasets():
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
    for name, declared in package.declared_datasets():
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
