"""DS + SUPPDS: informed consent, end of treatment, end of study and death, with DSDECOD in CDISC CT."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trialbridge.mappings.trial import Trial
from revallo_domains import map_dm
from revallo_domains import EOS_REASON_DSDECOD, EOT_DSDECOD, map_ds
from revallo_domains import map_ex
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file, form_schema
from trialbridge.schemas.sdtm_standards import terminology
from revallo_domains import study_spec

REGISTRY = {"protocolSection": {"identificationModule": {"acronym": "REVALLO"},
                                "armsInterventionsModule": {"armGroups": [{"label": "lenalidomide"}]}}}


def form(name: str, *rows: dict[str, str]) -> pd.DataFrame:
    """A native form table as the reader gives it: schema columns, strings, provenance from line 2."""
    columns = form_columns(name)
    table = pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows], columns=columns, dtype=object)
    return table.assign(_file=form_file(name), _line=list(range(2, len(rows) + 2)))


def enrolled(subjid: str, consent: str) -> dict[str, str]:
    return {"SITEID": "01", "SUBJID": subjid, "CONSDAT": consent, "AGE": "55", "SEX": "F", "TXDAT": "2011-08-20",
            "DONOR": "UNRELATED", "HLAMATCH": "9/10", "DISSTAT": "PR", "PRLEN": "N", "LENREFR": "N"}


def dosed(subjid: str, start: str, end: str) -> dict[str, str]:
    return {"SITEID": "01", "SUBJID": subjid, "EXLINE": "1", "EXSTDAT": start, "EXENDAT": end, "DOSE": "5",
            "DOSEU": "mg/j", "CHGREAS": "START"}


CAUSE = ("Décès par choc septique à point de départ pulmonaire au décours d'une GVH chronique extensive "
         "corticorésistante, chez un patient en réponse complète persistante, après plusieurs lignes de "
         "traitement immunosuppresseur et une hospitalisation prolongée en réanimation médicale.")  # 274 characters

ENROLMENT = form("enrolment", enrolled("001", "2011-10-01"), enrolled("002", "2011-11-02"),
                 enrolled("003", "2011-11-20"))
DOSING = form("dosing", dosed("001", "2011-12-10", "2012-05-01"), dosed("002", "2012-01-10", "2012-12-01"),
              dosed("003", "2012-02-01", ""))
END_OF_STUDY = form(
    "end_of_study",
    {"SITEID": "01", "SUBJID": "001", "EOTDAT": "2012-05-01", "EOTREAS": "GVHD", "EOSDAT": "2012-06-03",
     "EOSSTAT": "DISCONTINUED", "EOSREAS": "DEATH", "DTHDAT": "2012-06-03", "DTHCAUSE": CAUSE, "DTHTRM": "Y"},
    {"SITEID": "01", "SUBJID": "002", "EOTDAT": "2012-12-01", "EOTREAS": "ONE_YEAR", "EOSDAT": "2013-03-01",
     "EOSSTAT": "COMPLETED"},
)


def mapped(end_of_study: pd.DataFrame = END_OF_STUDY):
    forms = {"enrolment": ENROLMENT, "dosing": DOSING, "end_of_study": end_of_study}
    trial = Trial(Path("native"), REGISTRY, {name: forms.get(name, form(name)) for name in FORM_NAMES})
    ex = map_ex(trial, {}).table
    dm = map_dm(trial, {"EX": ex}).table
    return map_ds(trial, {"EX": ex, "DM": dm})


def records(ds: pd.DataFrame, subjid: str) -> list[tuple]:
    rows = ds[ds["USUBJID"] == f"REVALLO-01-{subjid}"]
    return list(zip(rows["DSSEQ"], rows["DSCAT"], rows["DSSCAT"], rows["DSDECOD"], rows["DSSTDTC"], rows["EPOCH"]))


def test_columns_in_spec_order_and_every_source_row_accounted_for():
    result = mapped()
    assert result.table.columns.tolist() == study_spec().dataset("DS").names + ["_file", "_line"]
    lines = sorted(zip(result.table["_file"], result.table["_line"]))
    # each enrolment row gives one consent record; each end-of-study row an EOT and an EOS record
    assert lines == [("end_of_study.csv", 2)] * 2 + [("end_of_study.csv", 3)] * 2 + [
        ("enrolment.csv", 2), ("enrolment.csv", 3), ("enrolment.csv", 4)]
    assert result.rejected.empty


def test_a_death_ends_treatment_and_study_in_order_with_study_days_and_epochs():
    ds = mapped().table
    assert records(ds, "001") == [
        (1.0, "PROTOCOL MILESTONE", "", "INFORMED CONSENT OBTAINED", "2011-10-01", "SCREENING"),
        (2.0, "DISPOSITION EVENT", "STUDY TREATMENT", "ADVERSE EVENT", "2012-05-01", "TREATMENT"),  # GVHD
        (3.0, "DISPOSITION EVENT", "STUDY PARTICIPATION", "DEATH", "2012-06-03", "FOLLOW-UP"),
    ]
    one = ds[ds["USUBJID"] == "REVALLO-01-001"]
    assert one["DSSTDY"].tolist() == [-70.0, 144.0, 177.0]  # consent before day 1: negative, no day 0


def test_every_death_record_is_dated_on_the_death_date_even_when_treatment_ended_by_death():
    # DS records with DSDECOD DEATH carry DSSTDTC = DM.DTHDTC (CDISC CORE-000034): the end-of-treatment
    # record of a subject whose treatment ended by death is dated on the death, not on the last dose
    eos = END_OF_STUDY.copy()
    eos.loc[0, ["EOTREAS", "EOSDAT", "DTHDAT"]] = ["DEATH", "2012-05-09", "2012-05-09"]
    ds = mapped(eos).table
    dm_death = "2012-05-09"
    deaths = ds[(ds["USUBJID"] == "REVALLO-01-001") & (ds["DSDECOD"] == "DEATH")]
    assert deaths["DSSCAT"].tolist() == ["STUDY TREATMENT", "STUDY PARTICIPATION"]
    assert deaths["DSSTDTC"].tolist() == [dm_death, dm_death]
    other = ds[(ds["USUBJID"] == "REVALLO-01-002") & (ds["DSSCAT"] == "STUDY TREATMENT")]
    assert other["DSSTDTC"].tolist() == ["2012-12-01"]  # no death: the last dose


def test_death_keeps_the_verbatim_cause_split_into_suppds_beyond_200_characters():
    result = mapped()
    death = result.table[(result.table["DSDECOD"] == "DEATH")].iloc[0]
    assert len(death["DSTERM"]) <= 200 and CAUSE.startswith(death["DSTERM"])
    supp = result.supp
    assert supp[["USUBJID", "IDVAR", "IDVARVAL", "QNAM"]].values.tolist() == [
        ["REVALLO-01-001", "DSSEQ", "3", "DSTERM1"]]
    assert " ".join([death["DSTERM"], supp["QVAL"].iloc[0]]) == CAUSE  # nothing lost
    assert [f.rule for f in result.findings] == ["SDTM-TEXT-SPLIT"]


def test_no_suppds_when_no_text_needs_splitting():
    eos = END_OF_STUDY.copy()
    eos.loc[0, "DTHCAUSE"] = "Choc septique"
    result = mapped(eos)
    assert result.supp is None and "Choc septique" in result.table["DSTERM"].tolist()


def test_completion_and_ongoing_subjects():
    ds = mapped().table
    assert records(ds, "002")[1:] == [
        (2.0, "DISPOSITION EVENT", "STUDY TREATMENT", "COMPLETED", "2012-12-01", "TREATMENT"),  # one year
        (3.0, "DISPOSITION EVENT", "STUDY PARTICIPATION", "COMPLETED", "2013-03-01", "FOLLOW-UP"),
    ]
    assert records(ds, "003") == [(1.0, "PROTOCOL MILESTONE", "", "INFORMED CONSENT OBTAINED", "2011-11-20",
                                   "SCREENING")]  # still on treatment: consent only
    terms = ds[ds["USUBJID"] == "REVALLO-01-002"]["DSTERM"].tolist()
    assert terms == ["INFORMED CONSENT OBTAINED", "ONE YEAR AFTER TRANSPLANT", "COMPLETED"]


def test_every_native_reason_maps_to_a_ct_term_of_the_right_codelist():
    ct = terminology()
    eot_codes = form_schema("end_of_study")["properties"]["EOTREAS"]["enum"]
    eos_codes = form_schema("end_of_study")["properties"]["EOSREAS"]["enum"]
    assert set(EOT_DSDECOD) == set(eot_codes) and set(EOS_REASON_DSDECOD) == set(eos_codes)
    ncomplt = ct.submission_values("C66727")
    outside = {code: term for code, term in EOT_DSDECOD.items() if term not in ncomplt}
    assert outside == {"OTHER": "OTHER"}  # the one sponsor extension, reported when used
    assert set(EOS_REASON_DSDECOD.values()) <= ncomplt
    assert "INFORMED CONSENT OBTAINED" in ct.submission_values("C114118")
    assert {"PROTOCOL MILESTONE", "DISPOSITION EVENT"} <= ct.submission_values("C74558")
    assert {"STUDY TREATMENT", "STUDY PARTICIPATION"} <= ct.submission_values("C170443")


@pytest.mark.parametrize("code, decod", sorted(EOT_DSDECOD.items()))
def test_end_of_treatment_reason_codes(code, decod):
    eos = END_OF_STUDY.copy()
    eos.loc[1, "EOTREAS"] = code
    result = mapped(eos)
    eot = result.table[(result.table["USUBJID"] == "REVALLO-01-002") & (result.table["DSSCAT"] == "STUDY TREATMENT")]
    assert eot["DSDECOD"].tolist() == [decod]
    extended = [f for f in result.findings if f.rule == "SDTM-CT-EXTENDED"]
    assert [f.location for f in extended] == (["end_of_study.csv:3:EOTREAS"] if code == "OTHER" else [])


def test_a_death_outside_the_end_of_study_reason_is_reported():
    eos = END_OF_STUDY.copy()
    eos.loc[1, ["DTHDAT", "DTHCAUSE"]] = ["2013-05", "Rechute"]  # died after completing the study
    result = mapped(eos)
    assert [(f.rule, f.location) for f in result.findings if f.rule.startswith("SDTM-DS")] == [
        ("SDTM-DS-DEATH-NOT-DISPOSITION", "end_of_study.csv:3:EOSREAS")]


# --------------------------------------------------------------- whole studies through EX, DM, DS
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "revallo"


def _study(kind: str, tmp_path: Path) -> Path:
    if kind == "example":
        if not (EXAMPLE / "registry.json").is_file():
            pytest.skip("examples/revallo is not there yet")
        return EXAMPLE
    from trialbridge.converters.synth.generator import write_synthetic

    write_synthetic(tmp_path, 60, 11)
    return tmp_path


@pytest.mark.parametrize("kind", ["example", "synthetic"])
def test_whole_study_maps_every_row_with_no_error(kind, tmp_path):
    from trialbridge.converters.pipeline import read_study as read_native
    from trialbridge.schemas.findings import has_errors

    trial, read_findings = read_native(_study(kind, tmp_path))
    assert trial is not None and not has_errors(read_findings)
    ex = map_ex(trial, {})
    dm = map_dm(trial, {"EX": ex.table})
    ds = map_ds(trial, {"EX": ex.table, "DM": dm.table})
    forms = trial.forms
    assert len(ex.table) == len(forms["dosing"]) and ex.rejected.empty  # every dosing row is in EX
    assert len(dm.table) == len(forms["enrolment"]) and dm.table["USUBJID"].is_unique
    assert len(ds.table) == len(forms["enrolment"]) + 2 * len(forms["end_of_study"])
    assert not has_errors(ex.findings + dm.findings + ds.findings)
    for table, seq in ((ex.table, "EXSEQ"), (ds.table, "DSSEQ")):
        assert not table.duplicated(["USUBJID", seq]).any()
        assert set(table["USUBJID"]) <= set(dm.table["USUBJID"])
    treated = dm.table[dm.table["RFSTDTC"] != ""]
    assert (treated["RFSTDTC"] == treated["RFXSTDTC"]).all()
    assert (ex.table.groupby("USUBJID")["EXSTDY"].min() == 1).all()  # the first dose is day 1
    assert (ds.table["DSSTDY"] != 0).all() and (ex.table["EXSTDY"] != 0).all()
    ct = terminology()
    for variable, codelist in (("SEX", "C66731"), ("RACE", "C74457"), ("ETHNIC", "C66790"), ("AGEU", "C66781")):
        assert set(dm.table[variable]) - {""} <= ct.submission_values(codelist)
    assert set(ds.table["DSDECOD"]) <= ct.submission_values("C66727") | ct.submission_values("C114118") | {"OTHER"}
    assert set(ds.table["EPOCH"]) - {""} <= ct.submission_values("C99079")
