"""Trial design from the study specification: the `elements`, `arms` and `visits` tables -> TE, TA, TV and
each subject's SE (per arm), checked on small inline tables; the spec reader's design checks; a spec without
design tables gets no design datasets."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from trialbridge.converters.readers.spec_files import read_spec
from trialbridge.mappings.sdtm.design import design_of, map_subject_design
from trialbridge.mappings.sdtm.trial_arms import arm_elements, map_ta, map_te
from revallo_domains import study_spec

SPEC = study_spec()
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "revallo"
ELEMENTS = pd.DataFrame({"ETCD": ["SCRN", "A", "B", "FU"], "ELEMENT": ["Screening", "Drug A", "Drug B", "Follow-up"],
                         "TESTRL": ["Consent", "First dose of A", "First dose of B", "Last dose"],
                         "TEENRL": ["First dose", "Last dose", "Last dose", "End of study"],
                         "TEDUR": ["P14D", "", "", "P28D"]})
ARMS = pd.DataFrame({"ARMCD": ["ARMB", "ARMB", "ARMB", "ARMA", "ARMA", "ARMA"],
                     "ARM": ["Drug B", "Drug B", "Drug B", "Drug A", "Drug A", "Drug A"],
                     "TAETORD": ["1", "2", "3", "3", "2", "1"],  # arm A written backwards: TA orders by TAETORD
                     "ETCD": ["SCRN", "B", "FU", "FU", "A", "SCRN"],
                     "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP", "FOLLOW-UP", "TREATMENT", "SCREENING"],
                     "TABRANCH": ["Randomized to B", "", "", "", "", "Randomized to A"], "TATRANS": ""})


def test_te_is_the_elements_table_and_ta_each_arm_in_element_order():
    te = map_te(ELEMENTS, "S", _dataset("TE")).table
    assert te["ETCD"].tolist() == ["SCRN", "A", "B", "FU"] and te["TEDUR"].tolist() == ["P14D", "", "", "P28D"]
    ta = map_ta(ARMS, ELEMENTS, "S", _dataset("TA")).table
    assert list(zip(ta["ARMCD"], ta["TAETORD"], ta["ETCD"], ta["ELEMENT"])) == [
        ("ARMB", 1.0, "SCRN", "Screening"), ("ARMB", 2.0, "B", "Drug B"), ("ARMB", 3.0, "FU", "Follow-up"),
        ("ARMA", 1.0, "SCRN", "Screening"), ("ARMA", 2.0, "A", "Drug A"), ("ARMA", 3.0, "FU", "Follow-up")]
    assert ta["TABRANCH"].tolist()[3] == "Randomized to A" and set(ta["DOMAIN"]) == {"TA"}


def test_each_subject_follows_the_elements_of_their_actual_arm():
    plans = arm_elements(ARMS, ELEMENTS)
    assert plans["ARMA"]["ETCD"].tolist() == ["SCRN", "A", "FU"] and "EXDOSE" not in plans["ARMA"]
    dm = pd.DataFrame({"STUDYID": "S", "USUBJID": ["S-1", "S-2"], "ARMCD": ["ARMA", "ARMB"],
                       "ACTARMCD": ["ARMB", "ARMB"],  # S-1 was planned A and treated with B
                       "RFICDTC": ["2020-01-01", "2020-01-02"], "RFSTDTC": ["2020-01-10", "2020-01-11"],
                       "RFXSTDTC": ["2020-01-10", "2020-01-11"], "RFXENDTC": ["2020-02-10", "2020-02-11"],
                       "RFPENDTC": ["2020-03-10", "2020-03-11"], "_file": "dm", "_line": [2, 3]})
    ex = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "EXDOSE": [1.0, 1.0], "EXSTDTC": ["2020-01-10", "2020-01-11"],
                       "EXENDTC": ["2020-02-10", "2020-02-11"], "_file": "ex", "_line": [2, 3]})
    tables = {"DM": dm, "EX": ex}
    spec = _spec_with("TE", "TA", "SE")
    out = map_subject_design(tables, design_of(pd.DataFrame(), ELEMENTS, ARMS), spec)
    se = out["SE"].table
    assert list(zip(se["USUBJID"], se["ETCD"], se["SESEQ"])) == [
        ("S-1", "SCRN", 1.0), ("S-1", "B", 2.0), ("S-1", "FU", 3.0), ("S-2", "SCRN", 1.0), ("S-2", "B", 2.0),
        ("S-2", "FU", 3.0)]
    assert set(out) == {"TE", "TA", "SE"}  # no visits table: no TV, no SV


def test_visits_marked_not_planned_are_left_out_of_the_design():
    visits = pd.DataFrame({"visit": ["V1", "V2", "V9"], "VISITNUM": ["1", "2", "9"], "VISIT": ["V1", "V2", "V9"],
                           "planned": ["Y", "", "N"]})
    assert design_of(visits, pd.DataFrame(), pd.DataFrame()).visits["VISIT"].tolist() == ["V1", "V2"]


def test_the_revallo_spec_states_its_design_and_a_spec_without_design_tables_gets_none(tmp_path):
    from trialbridge.converters.native_reader import read_native
    from trialbridge.converters.sdtm_package import map_sdtm

    mapping, _ = read_spec(EXAMPLE / "spec")
    assert mapping.elements["ETCD"].tolist()[0] == "SCRN" and set(mapping.arms["EPOCH"]) >= {"SCREENING", "TREATMENT"}
    folder = tmp_path / "study"
    shutil.copytree(EXAMPLE, folder)
    for table in ("elements", "arms"):
        (folder / "spec" / f"{table}.csv").unlink()
    visits = folder / "spec" / "visits.csv"
    frame = pd.read_csv(visits, dtype=str, keep_default_na=False)
    frame.assign(planned="N").to_csv(visits, index=False)
    trial, _ = read_native(folder)
    tables = map_sdtm(trial).tables
    assert not {"TA", "TE", "TV", "SV", "SE"} & set(tables) and {"DM", "EX", "LB"} <= set(tables)


def test_an_arm_naming_an_undeclared_element_is_a_spec_error_at_its_row(tmp_path):
    spec = tmp_path / "spec"
    shutil.copytree(EXAMPLE / "spec", spec)
    arms = spec / "arms.csv"
    lines = arms.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",LEN5,", ",T99,")  # row 3: an element the elements table lacks
    lines.append(lines[1])  # the last row: TAETORD 1 a second time in the arm
    arms.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping, findings = read_spec(spec)
    assert mapping is None
    assert [(f.rule, f.location) for f in findings] == [
        ("SPEC-DESIGN", "spec/arms.csv:3:ETCD"), ("SPEC-DESIGN", f"spec/arms.csv:{len(lines)}:TAETORD")]


def _spec_with(*names: str):
    from dataclasses import replace

    return replace(SPEC, datasets={**SPEC.datasets, **{n: _dataset(n) for n in names}})


DESIGN_VARIABLES = {
    "TE": "STUDYID DOMAIN ETCD ELEMENT TESTRL TEENRL TEDUR",
    "TA": "STUDYID DOMAIN ARMCD ARM TAETORD ETCD ELEMENT TABRANCH TATRANS EPOCH",
    "SE": "STUDYID DOMAIN USUBJID SESEQ ETCD ELEMENT TAETORD EPOCH SESTDTC SEENDTC SESTDY SEENDY SEUPDES",
}


def _dataset(name: str):
    """A design dataset with its SDTMIG variables, as a spec declaring it would describe it."""
    from trialbridge.schemas.sdtm_spec_tables import spec_from_tables

    names = DESIGN_VARIABLES[name].split()
    tables = {"datasets": pd.DataFrame({"dataset": [name], "parent": [""], "keys": ["STUDYID"], "label": [""]}),
              "variables": pd.DataFrame({"dataset": name, "variable": names, "origin": "Derived"})}
    return spec_from_tables(tables, {}).dataset(name)


def test_epoch_is_the_element_on_the_record_date_treatment_days_first():
    from trialbridge.mappings.sdtm.epoch import epoch_of

    se = pd.DataFrame({"USUBJID": "S-1", "EPOCH": ["SCREENING", "TREATMENT", "TREATMENT", "FOLLOW-UP"],
                       "SESTDTC": ["2020-01-01", "2020-01-10", "2020-04-10", "2020-06-30"],
                       "SEENDTC": ["2020-01-10", "2020-04-10", "2020-06-30", "2020-09-30"]})
    dates = {"2019-12-31": "",  # before consent: no element
             "2020-01-01": "SCREENING", "2020-01-10": "TREATMENT",  # the first dose day is a treatment day
             "2020-04-10": "TREATMENT", "2020-06-30": "TREATMENT",  # ... and so is the last dose day
             "2020-07-01": "FOLLOW-UP", "2020-09-30": "FOLLOW-UP", "2020-10-01": "",  # after the end of participation
             "2020-04": "TREATMENT",  # a month spanning two dose-level elements of one epoch
             "2020-01": "",  # a month spanning screening and treatment: not placed
             "": ""}
    dtc = pd.Series(list(dates))
    assert epoch_of(pd.Series("S-1", index=dtc.index), dtc, se).tolist() == list(dates.values())
    assert epoch_of(pd.Series("S-2", index=dtc.index), dtc, se).tolist() == [""] * len(dates)  # no SE records


def test_every_dated_record_left_without_epoch_is_accounted_for_by_reason():
    from trialbridge.mappings.sdtm.epoch import OUTSIDE, SPANNING, with_epochs

    se = pd.DataFrame({"USUBJID": "S-1", "EPOCH": ["SCREENING", "TREATMENT"],
                       "SESTDTC": ["2020-01-01", "2020-01-10"], "SEENDTC": ["2020-01-10", "2020-04-10"]})
    ae = pd.DataFrame({"USUBJID": ["S-1"] * 5 + ["S-2"], "EPOCH": "",
                       "AESTDTC": ["2020-02-01",  # placed: TREATMENT
                                   "2020-01",  # a month over screening and treatment
                                   "2019-12-31", "2020-05-01",  # before consent, after the last element
                                   "",  # undated: nothing to place
                                   "2020-02-01"],  # a subject without SE records (never enrolled)
                       "_file": "ae.csv", "_line": [2, 3, 4, 5, 6, 7]})
    tables, findings = with_epochs({"AE": ae}, se, {"AE": "AESTDTC"})
    assert tables["AE"]["EPOCH"].tolist() == ["TREATMENT", "", "", "", "", ""]
    assert [(f.rule, f.location, f.message.split(" keep ")[0]) for f in findings] == [
        ("EPOCH-NOT-PLACED", "ae.csv:3:AESTDTC", f"AE: 1 record(s) {SPANNING}"),
        ("EPOCH-NOT-PLACED", "ae.csv:4:AESTDTC", f"AE: 2 record(s) {OUTSIDE}"),
    ]
