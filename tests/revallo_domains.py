"""The REVALLO domains as the generic engine maps them from examples/revallo/spec: one function per domain
with the signature the domain tests use, `map_xx(trial, tables_so_far) -> Mapped`."""
from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from pathlib import Path
from typing import Callable

import pandas as pd

from trialbridge.converters.readers.spec_files import read_spec
from trialbridge.mappings.sdtm.algorithms import Mapped, study_identifier
from trialbridge.mappings.study import StudyInfo
from trialbridge.mappings.spec.engine import run_domain
from trialbridge.mappings.spec.model import StudyMapping
from trialbridge.mappings.trial import Trial

REVALLO_SPEC = Path(__file__).resolve().parents[1] / "examples" / "revallo" / "spec"


@lru_cache(maxsize=1)
def revallo_mapping() -> StudyMapping:
    mapping, findings = read_spec(REVALLO_SPEC)
    assert mapping is not None, findings
    return mapping


def study_spec():
    """REVALLO's SDTM metadata (what `schemas.sdtm_spec.study_spec()` was before the spec engine)."""
    return revallo_mapping().sdtm


def lab_tests() -> pd.DataFrame:
    return _lab_tests_named_as_before()


def _mapper(domain: str) -> Callable[[Trial, dict[str, pd.DataFrame]], Mapped]:
    def map_domain(trial: Trial, tables: dict[str, pd.DataFrame]) -> Mapped:
        return run_domain(revallo_mapping(), domain, trial.forms, tables, trial.registry)
    map_domain.__name__ = f"map_{domain.lower()}"
    return map_domain


map_ex, map_dm, map_ds, map_ae, map_rs, map_lb = (_mapper(d) for d in ("EX", "DM", "DS", "AE", "RS", "LB"))
map_pr, map_dd, map_cp = (_mapper(d) for d in ("PR", "DD", "CP"))


def study_info_of(trial: Trial) -> StudyInfo:
    """The study's constants TS reads: REVALLO's spec when the record is REVALLO's, else the bare identifier."""
    ident = trial.registry.get("protocolSection", {}).get("identificationModule", {})
    if ident.get("nctId") == "NCT01421927":
        return revallo_mapping().study
    return StudyInfo(studyid=study_identifier(trial.registry) or str(ident.get("nctId", "STUDY")))


def map_ts(trial: Trial, tables: dict[str, pd.DataFrame], study: StudyInfo | None = None) -> Mapped:
    """TS of any registry record with REVALLO's TS metadata (the spec's datasets and variables)."""
    from trialbridge.mappings.sdtm import ts

    holder = SimpleNamespace(registry=trial.registry, mapping=revallo_mapping())
    return ts.map_ts(holder, tables, study if study is not None else study_info_of(trial))


def _lab_tests_named_as_before() -> pd.DataFrame:
    """The spec's tests table with the catalogue's earlier column names (LBCODE, local_unit)."""
    return revallo_mapping().tests.rename(columns={"code": "LBCODE", "unit": "local_unit"})


def lab_catalogue() -> pd.DataFrame:
    return revallo_mapping().tests


EOT_DSDECOD = revallo_mapping().value_map("EOT_DSDECOD")
EOS_REASON_DSDECOD = revallo_mapping().value_map("EOS_REASON_DSDECOD")
