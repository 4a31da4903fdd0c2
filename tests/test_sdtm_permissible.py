"""Permissible variables no record fills are not submitted (schemas/sdtm_permissible.py): the spec and the
tables lose them together, Required/Expected/key variables stay even when empty, and a finding names them."""
from __future__ import annotations

import pandas as pd

from trialbridge.schemas.sdtm_permissible import without_empty_permissible
from revallo_domains import study_spec


def se_table(**overrides: list) -> pd.DataFrame:
    base = {"STUDYID": ["S", "S"], "DOMAIN": ["SE", "SE"], "USUBJID": ["S-1", "S-1"], "SESEQ": [1.0, 2.0],
            "ETCD": ["SCRN", "FU"], "ELEMENT": ["Screening", "Follow-up"], "TAETORD": [1.0, 2.0],
            "EPOCH": ["SCREENING", "FOLLOW-UP"], "SESTDTC": ["2012-01-01", "2012-02-01"],
            "SEENDTC": ["2012-02-01", ""], "SESTDY": [-30.0, 1.0], "SEENDY": [1.0, float("nan")],
            "SEUPDES": ["", ""]}
    return pd.DataFrame({**base, **overrides})


def test_an_empty_permissible_variable_leaves_the_spec_and_the_table_with_a_finding():
    spec = study_spec()
    assert spec.dataset("SE").variable("SEUPDES").core == "Perm"
    narrowed, tables, findings = without_empty_permissible(spec, {"SE": se_table()})
    assert "SEUPDES" not in narrowed.dataset("SE").names and "SEUPDES" not in tables["SE"].columns
    assert [(f.rule, f.location, f.values) for f in findings] == [("SDTM-PERM-EMPTY", "se:SEUPDES", ("SEUPDES",))]
    assert narrowed.dataset("DM") == spec.dataset("DM")  # a dataset not in the tables is left as declared


def test_a_permissible_variable_one_record_fills_stays():
    spec = study_spec()
    narrowed, tables, findings = without_empty_permissible(spec, {"SE": se_table(SEUPDES=["", "Unplanned"])})
    assert "SEUPDES" in narrowed.dataset("SE").names and findings == []


def test_required_expected_and_key_variables_stay_when_empty():
    spec = study_spec()
    se = spec.dataset("SE")
    empty = se_table(SEENDTC=["", ""])  # Expected in SDTMIG 3.4 SE: kept (define.xml says HasNoData)
    narrowed, _, _ = without_empty_permissible(spec, {"SE": empty})
    kept = narrowed.dataset("SE").names
    assert se.variable("SEENDTC").core == "Exp" and "SEENDTC" in kept
    assert [v.name for v in se.variables if v.core == "Req"] == [n for n in kept if se.variable(n).core == "Req"]
    assert set(se.keys) <= set(kept)


def test_a_dataset_without_records_keeps_its_variables():
    spec = study_spec()
    narrowed, _, findings = without_empty_permissible(spec, {"SE": se_table().iloc[0:0]})
    assert narrowed.dataset("SE") == spec.dataset("SE") and findings == []
