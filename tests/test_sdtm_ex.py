"""EX: one record per constant-dose period of lenalidomide, per SDTMIG 3.4 and the REVALLO protocol."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialbridge.mappings.trial import Trial
from revallo_domains import map_ex
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file
from revallo_domains import study_spec

REGISTRY = {"protocolSection": {"identificationModule": {"acronym": "REVALLO"},
                                "armsInterventionsModule": {"armGroups": [{"label": "lenalidomide"}]}}}


def form(name: str, *rows: dict[str, str]) -> pd.DataFrame:
    """A native form table as the reader gives it: schema columns, strings, provenance from line 2."""
    columns = form_columns(name)
    table = pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows], columns=columns, dtype=object)
    return table.assign(_file=form_file(name), _line=list(range(2, len(rows) + 2)))


def trial(**forms: pd.DataFrame) -> Trial:
    return Trial(Path("native"), REGISTRY, {name: forms.get(name, form(name)) for name in FORM_NAMES})


def dose(subjid: str, line: str, start: str, end: str, mg: str, reason: str, unit: str = "mg/j") -> dict[str, str]:
    return {"SITEID": "01", "SUBJID": subjid, "EXLINE": line, "EXSTDAT": start, "EXENDAT": end, "DOSE": mg,
            "DOSEU": unit, "CHGREAS": reason}


DOSING = form(
    "dosing",
    dose("001", "2", "2012-03-10", "2012-05-01", "10", "ESCALATION"),  # out of order on purpose
    dose("001", "1", "2011-12-10", "2012-03-09", "5", "START"),
    dose("001", "3", "2012-05-02", "UNK-06-2012", "5", "REDUCTION"),  # partial end date
    dose("002", "1", "2012-01-10", "", "5", "START"),  # still on treatment
)


def test_one_record_per_dose_period_in_spec_order_with_provenance():
    ex = map_ex(trial(dosing=DOSING), {}).table
    assert ex.columns.tolist() == study_spec().dataset("EX").names + ["_file", "_line"]
    assert len(ex) == 4 and sorted(ex["_line"]) == [2, 3, 4, 5] and set(ex["_file"]) == {"dosing.csv"}


def test_protocol_treatment_dose_form_frequency_and_route_in_cdisc_ct():
    ex = map_ex(trial(dosing=DOSING), {}).table
    assert set(zip(ex["EXTRT"], ex["EXDOSU"], ex["EXDOSFRM"], ex["EXDOSFRQ"], ex["EXROUTE"])) == {
        ("LENALIDOMIDE", "mg", "CAPSULE", "QD", "ORAL")}  # CRF "mg/j" = mg taken once a day
    assert ex["EXDOSE"].tolist() == [5.0, 10.0, 5.0, 5.0] and ex["EXDOSE"].dtype == "float64"


def test_seq_follows_start_dates_and_study_days_count_from_the_first_dose():
    ex = map_ex(trial(dosing=DOSING), {}).table
    s1 = ex[ex["USUBJID"] == "REVALLO-01-001"]
    assert s1["EXSEQ"].tolist() == [1.0, 2.0, 3.0] and s1["EXSPID"].tolist() == ["1", "2", "3"]
    assert s1["EXSTDY"].tolist() == [1.0, 92.0, 145.0]  # 2011-12-10 is day 1 (no day 0)
    assert s1["EXENDY"].tolist()[:2] == [91.0, 144.0] and pd.isna(s1["EXENDY"].iloc[2])  # partial end: no day
    assert s1["EXENDTC"].tolist() == ["2012-03-09", "2012-05-01", "2012-06"]  # UNK-06-2012 -> 2012-06


def test_dose_changes_keep_their_reason_and_every_period_is_in_the_treatment_epoch():
    ex = map_ex(trial(dosing=DOSING), {}).table
    s1 = ex[ex["USUBJID"] == "REVALLO-01-001"]
    assert s1["EXADJ"].tolist() == ["", "PROTOCOL DOSE ESCALATION", "DOSE REDUCED FOR TOXICITY"]
    assert set(ex["EPOCH"]) == {"TREATMENT"}
    ongoing = ex[ex["USUBJID"] == "REVALLO-01-002"]
    assert ongoing["EXENDTC"].tolist() == [""] and ongoing["EXSTDY"].tolist() == [1.0]


def test_a_crf_unit_outside_cdisc_units_is_reported_not_guessed():
    dosing = form("dosing", dose("001", "1", "2011-12-10", "", "5", "START", unit="mg/jour"))
    mapped = map_ex(trial(dosing=dosing), {})
    assert mapped.table["EXDOSU"].tolist() == ["mg/jour"]
    assert [(f.rule, f.location) for f in mapped.findings] == [("SDTM-CT-EXTENDED", "dosing.csv:2:DOSEU")]


def test_no_dosing_row_is_rejected():
    mapped = map_ex(trial(dosing=DOSING), {})
    assert mapped.rejected.empty and mapped.supp is None and mapped.findings == []
