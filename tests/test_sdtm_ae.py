"""AE + SUPPAE: one record per adverse event per subject, per SDTMIG 3.4 and the REVALLO CRF."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from trialbridge.mappings.trial import Trial
from revallo_domains import map_ae
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file
from revallo_domains import study_spec

REGISTRY = {"protocolSection": {"identificationModule": {"acronym": "REVALLO"}}}
EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"
# Subject 001: first dose 2011-10-03, last dose 2012-04-02.
DM = pd.DataFrame({"USUBJID": ["REVALLO-01-001"], "RFSTDTC": ["2011-10-03"], "RFXSTDTC": ["2011-10-03"],
                   "RFXENDTC": ["2012-04-02"]})
NEUTROPENIA_CODES = {"MEDDRAV": "17.0", "AELLT": "Neutropenia", "AELLTCD": "10029354", "AEDECOD": "Neutropenia",
                     "AEPTCD": "10029354", "AEHLT": "Neutropenias", "AEHLTCD": "10029366",
                     "AEHLGT": "White blood cell disorders", "AEHLGTCD": "10047954",
                     "AESOC": "Blood and lymphatic system disorders", "AESOCCD": "10005329"}


def form(name: str, *rows: dict[str, str]) -> pd.DataFrame:
    """A native form table as the reader gives it: schema columns, strings, provenance from line 2."""
    columns = form_columns(name)
    table = pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows], columns=columns, dtype=object)
    return table.assign(_file=form_file(name), _line=list(range(2, len(rows) + 2)))


def event(spid: str, term: str, start: str, end: str = "", **cells: str) -> dict[str, str]:
    ongoing = "N" if end else "Y"
    return {"SITEID": "01", "SUBJID": "001", "AESPID": spid, "AETERM": term, "AESTDAT": start, "AEENDAT": end,
            "AEONGO": ongoing, "AEGRADE": "2", "AESER": "N", "AEREL": "POSSIBLY RELATED",
            "AEACN": "DOSE NOT CHANGED", "AEOUT": "RECOVERED/RESOLVED" if end else "NOT RECOVERED/NOT RESOLVED",
            **cells}


def map_rows(*rows: dict[str, str]):
    forms = {name: form(name) for name in FORM_NAMES} | {"adverse_events": form("adverse_events", *rows)}
    return map_ae(Trial(Path("native"), REGISTRY, forms), {"DM": DM})


def mapped(*rows: dict[str, str]) -> pd.DataFrame:
    """The AE table in the order of the rows given (by source line)."""
    return map_rows(*rows).table.sort_values("_line").reset_index(drop=True)


def test_verbatim_term_kept_as_written_with_the_edc_meddra_coding():
    ae = mapped(event("1", "Neutropénie fébrile", "2011-11-14", "2011-11-28", **NEUTROPENIA_CODES))
    row = ae.loc[0]
    assert row["AETERM"] == "Neutropénie fébrile"  # accents kept: the XPT writer transliterates and reports
    assert (row["AELLT"], row["AEDECOD"], row["AEHLT"], row["AEHLGT"], row["AESOC"]) == (
        "Neutropenia", "Neutropenia", "Neutropenias", "White blood cell disorders", "Blood and lymphatic system disorders")
    assert (row["AELLTCD"], row["AEPTCD"], row["AEHLTCD"], row["AEHLGTCD"], row["AESOCCD"]) == (
        10029354.0, 10029354.0, 10029366.0, 10047954.0, 10005329.0)
    assert (row["AEBODSYS"], row["AEBDSYCD"]) == ("Blood and lymphatic system disorders", 10005329.0)  # primary SOC


def test_partial_dates_stay_partial_and_have_no_study_day():
    ae = mapped(event("1", "Asthénie", "UNK-12-2011", "UNK-UNK-2012"),
                event("2", "Toux", "2011-11", "2011-11-20"),
                event("3", "Diarrhée", "2011", "2011-12-02"))
    assert ae["AESTDTC"].tolist() == ["2011-12", "2011-11", "2011"]
    assert ae["AEENDTC"].tolist() == ["2012", "2011-11-20", "2011-12-02"]
    assert ae["AESTDY"].isna().all()  # study days only from complete dates
    assert math.isnan(ae.loc[0, "AEENDY"]) and ae.loc[1:, "AEENDY"].tolist() == [49.0, 61.0]
    # a partial onset is placed in an epoch only when every day it can be falls in one
    assert ae["EPOCH"].tolist() == ["TREATMENT", "TREATMENT", ""]


def test_study_days_around_the_first_dose_have_no_day_zero():
    ae = mapped(event("1", "Nausées", "2011-10-02", "2011-10-03"), event("2", "Céphalées", "2011-10-04", "2011-10-05"))
    assert ae["AESTDY"].tolist() == [-1.0, 2.0] and ae["AEENDY"].tolist() == [1.0, 3.0]
    assert ae["EPOCH"].tolist() == ["SCREENING", "TREATMENT"]


def test_serious_event_keeps_its_criteria_grade_action_and_outcome():
    ae = mapped(event("1", "GVH aiguë digestive", "2011-12-05", AESER="Y", AESHOSP="Y", AESLIFE="Y", AESDTH="N",
                      AEGRADE="4", AEACN="DRUG WITHDRAWN", AEOUT="FATAL"))
    row = ae.loc[0]
    assert (row["AESER"], row["AESHOSP"], row["AESLIFE"], row["AESDTH"], row["AESDISAB"]) == ("Y", "Y", "Y", "N", "")
    assert (row["AETOXGR"], row["AEACN"], row["AEOUT"], row["AEREL"]) == ("4", "DRUG WITHDRAWN", "FATAL", "POSSIBLY RELATED")


def test_ongoing_event_has_no_end_date_and_ends_relative_to_the_end_of_study():
    ae = mapped(event("1", "Asthénie", "2011-11-02"), event("2", "Toux", "2011-11-02", "2011-11-09"))
    assert ae["AEENDTC"].tolist() == ["", "2011-11-09"]
    assert ae["AEENRTPT"].tolist() == ["ONGOING", ""] and ae["AEENTPT"].tolist() == ["END OF STUDY", ""]


def test_gvhd_type_grade_and_steroid_refractory_flag_go_to_suppae_on_their_event():
    result = map_rows(event("1", "Toux", "2011-11-02", "2011-11-09"),
                      event("2", "GVH chronique cutanée", "2011-10-20", GVHDTYPE="CHRONIC", GVHDGRADE="MODERATE",
                            GVHDSR="N"))
    gvhd = result.table[result.table["AESPID"] == "2"].iloc[0]
    assert gvhd["AESEQ"] == 1.0  # earlier onset: first record
    supp = result.supp
    assert supp[["RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL", "QORIG"]].values.tolist() == [
        ["AE", "REVALLO-01-001", "AESEQ", "1", "GVHDTYPE", "CHRONIC", "Collected"],
        ["AE", "REVALLO-01-001", "AESEQ", "1", "GVHDGRD", "MODERATE", "Collected"],
        ["AE", "REVALLO-01-001", "AESEQ", "1", "GVHDSR", "N", "Collected"]]
    assert supp["QLABEL"].tolist() == ["GVHD Type", "GVHD Grade (Seattle or NIH)", "GVHD Steroid-Refractory"]
    assert supp["_line"].tolist() == [3, 3, 3]  # provenance: the AE line of the GVHD


def test_verbatim_over_200_characters_continues_in_suppae_at_a_word_boundary():
    term = "Éruption cutanée maculo-papuleuse " * 9  # 306 characters
    result = map_rows(event("1", term.strip(), "2011-11-02", "2011-11-09"))
    head = result.table.loc[0, "AETERM"]
    supp = result.supp.set_index("QNAM")
    assert len(head) <= 200 and not head.endswith(" ")
    assert head + " " + supp.loc["AETERM1", "QVAL"] == term.strip()
    assert supp.loc["AETERM1", "IDVAR"] == "AESEQ" and supp.loc["AETERM1", "QLABEL"] == "Reported Term for Adverse Event 1"
    assert [f.rule for f in result.findings] == ["SDTM-TEXT-SPLIT"]


def test_sequence_follows_onset_then_crf_line_number():
    ae = map_rows(event("10", "Toux", "2011-11-02", "2011-11-09"),
                  event("2", "Asthénie", "2011-11-02", "2011-11-05"),
                  event("1", "Nausées", "2011-10-20", "2011-10-21")).table
    assert ae[["AESEQ", "AESPID"]].values.tolist() == [[1.0, "1"], [2.0, "2"], [3.0, "10"]]  # 10 after 2


def test_action_outside_the_non_extensible_codelist_is_an_error_and_kept_as_collected():
    result = map_rows(event("1", "Toux", "2011-11-02", "2011-11-09", AEACN="Dose halved"))
    assert result.table.loc[0, "AEACN"] == "Dose halved"  # never guessed
    assert [(f.rule, f.severity, f.location) for f in result.findings] == [
        ("SDTM-CT-NOT-IN-CODELIST", "error", "adverse_events.csv:2:AEACN")]


def test_action_in_another_case_is_the_cdisc_term_and_never_changed_silently():
    result = map_rows(event("1", "Toux", "2011-11-02", "2011-11-09", AEACN="Dose reduced"))
    assert result.table.loc[0, "AEACN"] == "DOSE REDUCED"
    assert [(f.rule, f.severity, f.location) for f in result.findings] == [
        ("SDTM-CT-MATCHED", "info", "adverse_events.csv:2:AEACN")]


def test_columns_follow_the_study_spec_and_nothing_is_rejected():
    result = map_rows(event("1", "Toux", "2011-11-02", "2011-11-09"))
    assert result.table.columns.tolist() == study_spec().dataset("AE").names + ["_file", "_line"]
    assert result.table[["STUDYID", "DOMAIN", "USUBJID"]].values.tolist() == [["REVALLO", "AE", "REVALLO-01-001"]]
    assert result.rejected.empty and result.supp is None


@pytest.mark.skipif(not (EXAMPLE / "adverse_events.csv").exists(), reason="examples/revallo not generated yet")
def test_example_every_event_is_in_ae_and_every_gvhd_has_its_qualifiers():
    from trialbridge.converters.pipeline import read_study as read_native
    from revallo_domains import map_dm
    from revallo_domains import map_ex

    example, _ = read_native(EXAMPLE)
    sdtm: dict[str, pd.DataFrame] = {}
    sdtm["EX"] = map_ex(example, sdtm).table
    sdtm["DM"] = map_dm(example, sdtm).table
    result = map_ae(example, sdtm)
    native = example.forms["adverse_events"]
    assert len(result.table) == len(native) and result.rejected.empty
    assert not [f for f in result.findings if f.severity == "error"]
    gvhd_events = (native["GVHDTYPE"] != "").sum()
    assert (result.supp["QNAM"].value_counts().reindex(["GVHDTYPE", "GVHDGRD", "GVHDSR"]) == gvhd_events).all()
    assert not result.table.duplicated(["USUBJID", "AESEQ"]).any()
