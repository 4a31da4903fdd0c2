"""DM + SUPPDM: one record per subject, reference dates from EX, death, partial birth dates, CT values."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trialbridge.mappings.trial import Trial
from revallo_domains import map_dm
from revallo_domains import map_ex
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file
from trialbridge.schemas.sdtm_standards import terminology
from revallo_domains import study_spec

REGISTRY = {"protocolSection": {"identificationModule": {"acronym": "REVALLO"},
                                "armsInterventionsModule": {"armGroups": [{"label": "lenalidomide"}]}}}


def form(name: str, *rows: dict[str, str]) -> pd.DataFrame:
    """A native form table as the reader gives it: schema columns, strings, provenance from line 2."""
    columns = form_columns(name)
    table = pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows], columns=columns, dtype=object)
    return table.assign(_file=form_file(name), _line=list(range(2, len(rows) + 2)))


def subject(subjid: str, **cells: str) -> dict[str, str]:
    return {"SITEID": "01", "SITENAME": "CHU Bordeaux - Hôpital Haut-Lévêque", "SITECTRY": "FRA",
            "SUBJID": subjid, "SEX": "M", "TXDAT": "2011-08-20", "DONOR": "RELATED", "HLAMATCH": "10/10",
            "CONDIT": "Fludarabine + busulfan", "DISSTAT": "CR", "RESPLINE": "2", "PRLEN": "N",
            "LENREFR": "N", **cells}


ENROLMENT = form(
    "enrolment",
    subject("001", CONSDAT="2011-10-01", BRTHDAT="UNK-03-1960", AGE="51"),  # partial birth date, age given
    subject("002", CONSDAT="2011-11-02", BRTHDAT="1955-06", SEX="F", PRLEN="Y", PRLENMO="6"),  # no AGE
    subject("003", CONSDAT="2011-11-05", BRTHDAT="1958", AGE=""),  # never dosed; age cannot be told
)
DOSING = form(
    "dosing",
    {"SITEID": "01", "SUBJID": "001", "EXLINE": "1", "EXSTDAT": "2011-12-10", "EXENDAT": "2012-03-09",
     "DOSE": "5", "DOSEU": "mg/j", "CHGREAS": "START"},
    {"SITEID": "01", "SUBJID": "001", "EXLINE": "2", "EXSTDAT": "2012-03-10", "EXENDAT": "2012-05-01",
     "DOSE": "10", "DOSEU": "mg/j", "CHGREAS": "ESCALATION"},
    {"SITEID": "01", "SUBJID": "002", "EXLINE": "1", "EXSTDAT": "2012-01-10", "EXENDAT": "",
     "DOSE": "5", "DOSEU": "mg/j", "CHGREAS": "START"},
)
END_OF_STUDY = form(
    "end_of_study",
    {"SITEID": "01", "SUBJID": "001", "EOTDAT": "2012-05-01", "EOTREAS": "GVHD", "EOSDAT": "2012-06-03",
     "EOSSTAT": "DISCONTINUED", "EOSREAS": "DEATH", "DTHDAT": "UNK-06-2012",
     "DTHCAUSE": "GVH chronique réfractaire", "DTHTRM": "Y"},
)
RESPONSE = form("response", {"SITEID": "01", "SUBJID": "002", "VISIT": "M03", "RSDAT": "2012-04-11", "RESP": "CR"})


def mapped(enrolment: pd.DataFrame = ENROLMENT):
    forms = {"enrolment": enrolment, "dosing": DOSING, "end_of_study": END_OF_STUDY, "response": RESPONSE}
    trial = Trial(Path("native"), REGISTRY, {name: forms.get(name, form(name)) for name in FORM_NAMES})
    ex = map_ex(trial, {}).table
    return map_dm(trial, {"EX": ex})


def by_subject(dm: pd.DataFrame) -> pd.DataFrame:
    return dm.set_index("SUBJID")


def test_one_record_per_subject_in_spec_order():
    dm = mapped().table
    assert dm.columns.tolist() == study_spec().dataset("DM").names + ["_file", "_line"]
    assert dm["USUBJID"].tolist() == ["REVALLO-01-001", "REVALLO-01-002", "REVALLO-01-003"]
    assert dm["_line"].tolist() == [2, 3, 4] and set(dm["_file"]) == {"enrolment.csv"}


def test_reference_dates_come_from_exposure():
    dm = by_subject(mapped().table)
    assert dm.loc["001", ["RFSTDTC", "RFXSTDTC", "RFENDTC", "RFXENDTC"]].tolist() == [
        "2011-12-10", "2011-12-10", "2012-05-01", "2012-05-01"]
    # 002's only period is ongoing: the latest exposure date is its start (SDTMIG RFXENDTC note)
    assert dm.loc["002", ["RFXSTDTC", "RFXENDTC"]].tolist() == ["2012-01-10", "2012-01-10"]
    assert dm.loc["003", ["RFSTDTC", "RFXSTDTC", "RFENDTC", "RFXENDTC"]].tolist() == ["", "", "", ""]


def test_consent_and_end_of_participation():
    dm = by_subject(mapped().table)
    assert dm["RFICDTC"].tolist() == ["2011-10-01", "2011-11-02", "2011-11-05"]
    # 001 left the study on EOSDAT; 002 and 003 have no end-of-study record: their last known contact
    assert dm["RFPENDTC"].tolist() == ["2012-06-03", "2012-04-11", "2011-11-05"]


def test_death_partial_death_date_and_flag():
    dm = by_subject(mapped().table)
    assert dm.loc["001", ["DTHDTC", "DTHFL"]].tolist() == ["2012-06", "Y"]  # UNK-06-2012 kept as YYYY-MM
    assert dm.loc[["002", "003"], "DTHFL"].tolist() == ["", ""] and dm.loc[["002", "003"], "DTHDTC"].tolist() == ["", ""]


def test_partial_birth_date_is_kept_as_collected_and_age_is_at_consent():
    dm = by_subject(mapped().table)
    assert dm["BRTHDTC"].tolist() == ["1960-03", "1955-06", "1958"]
    assert dm.loc["001", "AGE"] == 51.0  # as collected
    assert dm.loc["002", "AGE"] == 56.0  # not collected: born in June 1955, consent 2011-11-02, 56 whatever the day
    assert pd.isna(dm.loc["003", "AGE"])  # born in 1958, consent 2011-11-05: 52 or 53, not derivable
    assert dm["AGEU"].tolist() == ["YEARS", "YEARS", ""]


def test_race_and_ethnicity_not_collected_in_france_use_the_ct_term_not_reported():
    dm = mapped().table
    ct = terminology()
    assert set(dm["RACE"]) == {"NOT REPORTED"} and "NOT REPORTED" in ct.submission_values("C74457")
    assert set(dm["ETHNIC"]) == {"NOT REPORTED"} and "NOT REPORTED" in ct.submission_values("C66790")
    assert "not collected" in study_spec().dataset("DM").variable("RACE").comment


def test_sex_country_and_site_values():
    dm = mapped().table
    assert dm["SEX"].tolist() == ["M", "F", "M"]
    assert set(dm["SEX"]) <= terminology().submission_values("C66731")
    assert set(dm["COUNTRY"]) == {"FRA"} and set(dm["SITEID"]) == {"01"}


def test_arm_from_the_registry_single_arm_and_actual_arm_only_for_dosed_subjects():
    dm = by_subject(mapped().table)
    assert set(dm["ARMCD"]) == {"LENALIDOMIDE"} and set(dm["ARM"]) == {"lenalidomide"}
    assert dm["ACTARMCD"].tolist() == ["LENALIDOMIDE", "LENALIDOMIDE", ""]
    assert dm["ACTARM"].tolist() == ["lenalidomide", "lenalidomide", ""]
    assert dm["ARMNRS"].tolist() == ["", "", "ASSIGNED, NOT TREATED"]
    assert "ASSIGNED, NOT TREATED" in terminology().submission_values("C142179")


def test_numbers_are_float_and_text_is_str():
    dm = mapped().table
    assert dm["AGE"].dtype == "float64"
    assert all(isinstance(v, str) for v in dm["DTHFL"]) and dm["DTHFL"].dtype == object


def test_suppdm_holds_only_the_disease_facts_with_no_standard_home_with_short_qnams():
    supp = mapped().supp
    one = supp[supp["USUBJID"] == "REVALLO-01-001"].set_index("QNAM")["QVAL"].to_dict()
    # the transplant, donor, HLA match and conditioning are in PR/SUPPPR, the death's cause in DD
    assert one == {"DISSTAT": "CR", "RESPLINE": "2", "PRLEN": "N", "LENREFR": "N"}
    two = supp[supp["USUBJID"] == "REVALLO-01-002"].set_index("QNAM")["QVAL"]
    assert two["PRLENMO"] == "6" and "PRLENMO" not in one  # no empty QVAL rows
    assert set(supp["RDOMAIN"]) == {"DM"} and set(supp["IDVAR"]) == {""} and set(supp["IDVARVAL"]) == {""}
    assert supp["QNAM"].str.len().max() <= 8 and supp["QLABEL"].str.len().max() <= 40
    assert set(supp["QORIG"]) == {"Collected"}


def test_a_sex_outside_the_codelist_is_reported_and_kept():
    enrolment = ENROLMENT.copy()
    enrolment.loc[1, "SEX"] = "X"
    result = mapped(enrolment)
    assert result.table["SEX"].tolist()[1] == "X"
    assert [(f.rule, f.location) for f in result.findings] == [("SDTM-CT-NOT-IN-CODELIST", "enrolment.csv:3:SEX")]


def test_a_sex_naming_a_cdisc_term_becomes_that_term_with_a_note():
    enrolment = ENROLMENT.copy()
    enrolment.loc[1, "SEX"] = "f"            # the submission value F in another case
    enrolment.loc[0, "SEX"] = "Male"         # the NCI preferred term of M
    result = mapped(enrolment)
    assert result.table["SEX"].tolist()[:2] == ["M", "F"]
    notes = sorted((f.rule, f.severity, f.location, f.values) for f in result.findings)
    assert notes == [("SDTM-CT-MATCHED", "info", "enrolment.csv:2:SEX", ("Male",)),
                     ("SDTM-CT-MATCHED", "info", "enrolment.csv:3:SEX", ("f",))]


@pytest.mark.parametrize("groups", [[], [{"label": "A"}, {"label": "B"}]])
def test_a_registry_without_exactly_one_arm_is_reported(groups):
    registry = {"protocolSection": {"identificationModule": {"acronym": "X"},
                                    "armsInterventionsModule": {"armGroups": groups}}}
    forms = {"enrolment": ENROLMENT, "dosing": DOSING, "end_of_study": END_OF_STUDY}
    trial = Trial(Path("native"), registry, {name: forms.get(name, form(name)) for name in FORM_NAMES})
    result = map_dm(trial, {"EX": map_ex(trial, {}).table})
    assert [f.rule for f in result.findings] == ["SDTM-DM-ARM-NOT-SINGLE"]
