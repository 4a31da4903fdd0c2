"""PR + SUPPPR and DD + SUPPDD from REVALLO's spec: the transplant and its conditioning are procedures
(SDTMIG 3.4 PR), the cause of death a Death Details finding (SDTMIG 3.4 DD, DDTESTCD PRCDTH); SUPP-- keeps
only what has no standard variable (donor, HLA match; a cause longer than 200 characters)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialbridge.schemas.xpt_ascii import transliterate
from trialbridge.mappings.trial import Trial
from trialbridge.converters.synth.forms import FORM_NAMES
from revallo_domains import map_dd, map_dm, map_ex, map_pr, study_spec
from test_sdtm_dm import DOSING, END_OF_STUDY, ENROLMENT, REGISTRY, form, subject


def trial(enrolment: pd.DataFrame = ENROLMENT, end_of_study: pd.DataFrame = END_OF_STUDY) -> Trial:
    forms = {"enrolment": enrolment, "dosing": DOSING, "end_of_study": end_of_study}
    return Trial(Path("native"), REGISTRY, {name: forms.get(name, form(name)) for name in FORM_NAMES})


def tables(study: Trial) -> dict[str, pd.DataFrame]:
    ex = map_ex(study, {}).table
    return {"EX": ex, "DM": map_dm(study, {"EX": ex}).table}


def test_each_subject_has_a_conditioning_then_a_transplant_procedure():
    study = trial()
    pr = map_pr(study, tables(study)).table
    assert pr.columns.tolist()[:-2] == study_spec().dataset("PR").names
    one = pr[pr["USUBJID"] == "REVALLO-01-001"]
    assert one["PRSEQ"].tolist() == [1, 2]
    conditioning, transplant = one.iloc[0], one.iloc[1]
    # the regimen as collected, undated on the CRF: ended BEFORE the transplant (SDTMIG 4.4.7 --ENRTPT)
    assert (conditioning["PRTRT"], conditioning["PRDECOD"], conditioning["PRSTDTC"]) == ("Fludarabine + busulfan", "", "")
    assert (conditioning["PRENRTPT"], conditioning["PRENTPT"]) == ("BEFORE", "ALLOGENEIC STEM CELL TRANSPLANT")
    assert conditioning["PRSCAT"] == "REDUCED-INTENSITY CONDITIONING"
    # the transplant: Day 0 of the protocol, coded to the CDISC Procedure codelist (C101858)
    assert (transplant["PRTRT"], transplant["PRDECOD"]) == ("ALLOGENEIC STEM CELL TRANSPLANT",) * 2
    assert (transplant["PRSTDTC"], transplant["PRSTDY"]) == ("2011-08-20", -112)  # before RFSTDTC 2011-12-10
    assert (transplant["PRPRESP"], transplant["PROCCUR"]) == ("Y", "Y")
    assert len(pr) == 6 and set(pr["_file"]) == {"enrolment.csv"}


def test_supppr_holds_donor_and_hla_match_on_the_transplant_record():
    study = trial()
    supp = map_pr(study, tables(study)).supp
    one = supp[supp["USUBJID"] == "REVALLO-01-001"]
    assert one[["IDVAR", "IDVARVAL", "QNAM", "QVAL"]].values.tolist() == [
        ["PRSEQ", "2", "DONOR", "RELATED"], ["PRSEQ", "2", "HLAMATCH", "10/10"]]
    assert set(supp["RDOMAIN"]) == {"PR"} and set(supp["QORIG"]) == {"Collected"}


def test_a_subject_without_conditioning_has_only_the_transplant():
    enrolment = form("enrolment", subject("001", CONSDAT="2011-10-01", BRTHDAT="1960", CONDIT=""))
    study = trial(enrolment)
    pr = map_pr(study, tables(study)).table
    assert pr["PRTRT"].tolist() == ["ALLOGENEIC STEM CELL TRANSPLANT"] and pr["PRSEQ"].tolist() == [1]


def test_the_cause_of_death_is_a_dd_primary_cause_of_death_record():
    study = trial()
    dd = map_dd(study, tables(study)).table
    assert dd.columns.tolist()[:-2] == study_spec().dataset("DD").names
    assert len(dd) == 1  # only the subject who died
    death = dd.iloc[0]
    assert (death["USUBJID"], death["DDTESTCD"], death["DDTEST"]) == (
        "REVALLO-01-001", "PRCDTH", "Primary Cause of Death")
    assert death["DDORRES"] == death["DDSTRESC"] == "GVH chronique réfractaire"
    # the CRF's transplant-related question (Y) through the study map DTHTRM_RESCAT
    assert (death["DDRESCAT"], death["DDEVAL"], death["DDDTC"]) == ("TRANSPLANT-RELATED", "INVESTIGATOR", "2012-06")
    assert death["DDDY"] != death["DDDY"] or death["DDDY"] == ""  # a partial date has no study day


def test_a_cause_over_200_characters_continues_in_suppdd():
    cause = " ".join(["Défaillance multiviscérale au décours d'une GVH aiguë digestive cortico-résistante"] * 6)
    end = END_OF_STUDY.copy()
    end.loc[0, "DTHCAUSE"] = cause
    study = trial(end_of_study=end)
    result = map_dd(study, tables(study))
    first = result.table.iloc[0]["DDORRES"]
    assert len(first) <= 200 and cause.startswith(first) and result.table.iloc[0]["DDSTRESC"] == first
    supp = result.supp.set_index("QNAM")["QVAL"]
    assert list(supp.index) == ["DDORRES1", "DDORRES2", "DDSTRES1", "DDSTRES2"]
    rest = supp[["DDORRES1", "DDORRES2"]]
    assert " ".join([first, *rest]).split() == cause.split()
    assert supp[["DDSTRES1", "DDSTRES2"]].tolist() == rest.tolist()  # DDSTRESC = DDORRES, continued alike
    assert set(result.supp["IDVAR"]) == {"DDSEQ"} and set(result.supp["IDVARVAL"]) == {"1"}


def test_a_cause_whose_ascii_form_is_longer_is_cut_to_fit_the_xpt_limit():
    """`œ` becomes `oe` and `°` `deg` in the XPT file: a cut at 200 characters would give 203 bytes, which
    XPT v5 refuses; the cut counts the bytes the file will hold, so every part fits once transliterated."""
    cause = ("Œdème pulmonaire aigu et cœur pulmonaire sur sepsis ° évolution défavorable malgré traitement; "
             "progression du myélome avec plasmocytome œsophagien, insuffisance rénale aiguë nécessitant "
             "hémodialyse, détresse respiratoire terminale; soins palliatifs décidés avec la famille")
    end = END_OF_STUDY.copy()
    end.loc[0, "DTHCAUSE"] = cause
    study = trial(end_of_study=end)
    result = map_dd(study, tables(study))
    first = result.table.iloc[0]["DDORRES"]
    parts = [first, *result.supp.loc[result.supp["QNAM"].str.startswith("DDORRES"), "QVAL"]]
    assert [len(transliterate(p).replacement) <= 200 for p in parts] == [True] * len(parts)
    assert len(transliterate(first).replacement) > 180  # cut as late as the limit allows, at a word boundary
    assert " ".join(parts).split() == cause.split()  # nothing lost


def test_dm_and_supp_no_longer_carry_what_pr_and_dd_hold():
    supp_dm = {q[0] for q in study_spec().supp_qvals("SUPPDM")}
    assert not {"TXDTC", "DONOR", "HLAMATCH", "CONDIT", "DTHTRM"} & supp_dm
