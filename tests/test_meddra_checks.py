"""MedDRA hierarchy check: every coded event carries LLT, PT, HLT, HLGT and SOC with codes; one warning per
missing level, listing its records."""
from __future__ import annotations

import pandas as pd

from trialbridge.schemas.meddra_checks import missing_levels

FULL = {"USUBJID": "S-1", "AESEQ": "1", "AETERM": "Neutropenie", "AELLT": "Neutropenia", "AELLTCD": "10029354",
        "AEDECOD": "Neutropenia", "AEPTCD": "10029354", "AEHLT": "Neutropenias", "AEHLTCD": "10029366",
        "AEHLGT": "White blood cell disorders", "AEHLGTCD": "10047954",
        "AESOC": "Blood and lymphatic system disorders", "AESOCCD": "10005329",
        "AEBODSYS": "Blood and lymphatic system disorders", "AEBDSYCD": "10005329"}


def table(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{**FULL, "AESEQ": str(n), **row} for n, row in enumerate(rows, start=1)], dtype=object)


def test_a_fully_coded_table_passes():
    assert missing_levels(table({}, {}), "AE") == []


def test_each_missing_level_is_one_warning_with_its_records():
    ae = table({}, {"AEHLT": "", "AEHLTCD": ""},   # record 2: no HLT at all
               {"AEHLTCD": ""},                     # record 3: the HLT name without its code
               {"AEHLGT": ""},                      # record 4: no HLGT name
               {"AEDECOD": "", "AEHLT": ""})        # record 5: not coded (no PT): not checked
    found = missing_levels(ae, "AE")
    assert [(f.rule, f.severity, f.location, f.values, f.count) for f in found] == [
        ("SD-MEDDRA-HIERARCHY", "warning", "ae:AEHLT:2", ("HLT",), 2),
        ("SD-MEDDRA-HIERARCHY", "warning", "ae:AEHLGT:4", ("HLGT",), 1),
    ]
    assert [r.row for r in found[0].records] == [2, 3] and found[0].records[0].seq == "2"
    assert "2 of 4 MedDRA-coded AE record(s) lack the HLT (AEHLT/AEHLTCD): records 2, 3" in found[0].message


def test_variables_the_dataset_lacks_are_missing_levels_for_every_coded_record():
    ae = table({}, {}).drop(columns=["AEHLGT", "AEHLGTCD"])
    [found] = missing_levels(ae, "AE")
    assert (found.location, found.count) == ("ae:AEHLGT:1", 2)
