"""The synthetic generator obeys the REVALLO protocol (NCT01421927) and the native record contract.

Each test states one rule and checks it on folders generated for several sizes and seeds, read back as
an importer would (every cell a string, empty = absent).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from trialbridge.converters.synth import generator as synth
from trialbridge.converters.synth.generator import sites_for, write_synthetic
from trialbridge.converters.synth.registry import REVALLO_SITE, build_registry, registry_json_text
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file, form_schema

EXAMPLE = (13, 20110823)
CASES = [EXAMPLE, (300, 1), (300, 7), (3000, 7)]
ROUTINE = {"HB", "LEUCO", "PNN", "LYMPH", "PLAQ", "CREAT", "ASAT", "ALAT", "BILI"}
QUARTERLY_VISITS = {"INCLUSION", "M03", "M06", "M09", "M12", "EOT"}
IMMUNO_VISITS = {"INCLUSION", "M03", "M06", "EOT"}


@dataclass
class Study:
    n: int
    seed: int
    folder: Path
    forms: dict[str, pd.DataFrame]

    def __getitem__(self, form: str) -> pd.DataFrame:
        return self.forms[form]


def read_study(folder: Path, n: int, seed: int) -> Study:
    forms = {form: pd.read_csv(folder / form_file(form), dtype=str, keep_default_na=False) for form in FORM_NAMES}
    return Study(n, seed, folder, forms)


@pytest.fixture(scope="module", params=CASES, ids=lambda case: f"{case[0]}subjects-seed{case[1]}")
def study(request, tmp_path_factory) -> Study:
    n, seed = request.param
    folder = tmp_path_factory.mktemp(f"synth-{n}-{seed}")
    write_synthetic(folder, n, seed)
    return read_study(folder, n, seed)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Study:
    folder = tmp_path_factory.mktemp("synth-example")
    write_synthetic(folder, *EXAMPLE)
    return read_study(folder, *EXAMPLE)


def day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%Y-%m-%d")


def by_subject(table: pd.DataFrame, column: str) -> pd.Series:
    return table.set_index("SUBJID")[column]


def ctcae_grade(values: pd.Series, limits: tuple[int, int, int]) -> pd.Series:
    """CTCAE v3.0 grade 2-4 of a decreasing count (0 above the grade-2 limit)."""
    grade = sum((values < limit).astype(int) for limit in limits)
    return grade.where(grade == 0, grade + 1)


# --- the contract of the native format ---------------------------------------------------------------


def test_csv_files_are_utf8_without_bom_with_the_schema_columns_and_unix_line_ends(study):
    for form in FORM_NAMES:
        raw = (study.folder / form_file(form)).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), form
        assert b"\r" not in raw, form
        assert raw.decode("utf-8").split("\n", 1)[0] == ",".join(form_columns(form)), form
        assert list(study[form].columns) == form_columns(form)


def test_registry_is_the_revallo_record_for_the_sites_used(study):
    text = (study.folder / "registry.json").read_text(encoding="utf-8")
    assert text == registry_json_text(build_registry(study.n, sites_for(study.n)))
    locations = json.loads(text)["protocolSection"]["contactsLocationsModule"]["locations"]
    assert len(locations) == study["enrolment"]["SITEID"].nunique()


def test_a_sample_of_rows_conforms_to_the_form_schemas(study):
    for form in FORM_NAMES:
        validator = Draft202012Validator(form_schema(form))
        table = study[form]
        sample = table.sample(n=min(len(table), 250), random_state=0)
        for record in sample.to_dict("records"):
            instance = {key: value for key, value in record.items() if value != ""}
            errors = [error.message for error in validator.iter_errors(instance)]
            assert not errors, (form, instance, errors)


def test_the_key_columns_of_each_form_identify_its_rows(study):
    for form in FORM_NAMES:
        assert not study[form].duplicated(form_schema(form)["x-key"]).any(), form


def test_every_subject_of_every_form_is_enrolled_and_has_one_end_of_study(study):
    enrolled = set(study["enrolment"]["SUBJID"])
    assert len(enrolled) == study.n == len(study["enrolment"])
    for form in FORM_NAMES:
        assert set(study[form]["SUBJID"]) <= enrolled, form
    assert sorted(study["end_of_study"]["SUBJID"]) == sorted(enrolled)


# --- eligibility and enrolment ----------------------------------------------------------------------


def test_enrolled_subjects_meet_the_eligibility_criteria(study):
    dm = study["enrolment"]
    assert dm["AGE"].astype(int).between(18, 65).all()
    assert set(dm["DISSTAT"]) <= {"CR", "PR"} and set(dm["RESPLINE"]) <= {"2", "3"}
    assert set(dm["DONOR"]) <= {"RELATED", "UNRELATED"} and set(dm["HLAMATCH"]) <= {"10/10", "9/10"}
    assert (dm["LENREFR"] == "N").all()
    prior = dm["PRLEN"] == "Y"
    assert dm.loc[prior, "PRLENMO"].astype(int).between(1, 9).all()  # at most 9 months of lenalidomide
    assert (dm.loc[~prior, "PRLENMO"] == "").all()


def test_age_is_the_completed_years_at_consent_whatever_the_unknown_birth_day(study):
    dm = study["enrolment"]
    assert dm["BRTHDAT"].str.fullmatch(r"UNK-\d{2}-\d{4}").all()
    month = dm["BRTHDAT"].str[4:6].astype(int)
    year = dm["BRTHDAT"].str[7:].astype(int)
    consent = day(dm["CONSDAT"])
    for birth_day in (1, 28):
        had_birthday = (consent.dt.month > month) | ((consent.dt.month == month) & (consent.dt.day >= birth_day))
        age = consent.dt.year - year - (~had_birthday).astype(int)
        assert (age == dm["AGE"].astype(int)).all()


def test_consent_follows_the_transplant_precedes_the_first_dose_and_enrolment_opens_in_august_2011(study):
    dm = study["enrolment"].set_index("SUBJID")
    first = study["dosing"].query("EXLINE == '1'").set_index("SUBJID")["EXSTDAT"]
    consent, transplant = day(dm["CONSDAT"]), day(dm["TXDAT"])
    assert (consent >= pd.Timestamp("2011-08-01")).all()
    assert (transplant < consent).all() and (consent < day(first[dm.index])).all()
    assert (day(study["end_of_study"]["EOSDAT"]) <= pd.Timestamp("2014-10-31")).all()


# --- lenalidomide dosing ----------------------------------------------------------------------------


def test_lenalidomide_starts_at_5_mg_between_day_100_and_120_after_transplant(study):
    first = study["dosing"].query("EXLINE == '1'").set_index("SUBJID")
    assert (first["CHGREAS"] == "START").all() and (first["DOSE"] == "5").all() and (first["DOSEU"] == "mg/j").all()
    days = (day(first["EXSTDAT"]) - day(by_subject(study["enrolment"], "TXDAT")[first.index])).dt.days
    assert days.between(100, 120).all()


def test_dose_periods_are_contiguous_complete_and_end_with_the_last_dose(study):
    ex = study["dosing"].assign(line=lambda t: t["EXLINE"].astype(int)).sort_values(["SUBJID", "line"])
    assert ex["EXENDAT"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    start, end = day(ex["EXSTDAT"]), day(ex["EXENDAT"])
    assert (start <= end).all()
    same = ex["SUBJID"].eq(ex["SUBJID"].shift(-1))
    assert (start.shift(-1)[same] == end[same] + pd.Timedelta(days=1)).all()
    assert (ex.groupby("SUBJID")["line"].agg(lambda s: list(s) == list(range(1, len(s) + 1)))).all()
    last = ex.groupby("SUBJID").tail(1).set_index("SUBJID")["EXENDAT"]
    assert (last == by_subject(study["end_of_study"], "EOTDAT")[last.index]).all()


def test_the_dose_moves_one_level_at_a_time_never_above_15_and_escalates_at_most_every_3_months(study):
    ex = study["dosing"].assign(line=lambda t: t["EXLINE"].astype(int), dose=lambda t: t["DOSE"].astype(int))
    ex = ex.sort_values(["SUBJID", "line"])
    assert set(ex["dose"]) <= {5, 10, 15}
    step = ex.groupby("SUBJID")["dose"].diff()
    assert (step[ex["CHGREAS"] == "ESCALATION"] == 5).all()
    assert (step[ex["CHGREAS"] == "REDUCTION"] == -5).all()
    since_previous = day(ex["EXSTDAT"]).groupby(ex["SUBJID"]).diff().dt.days
    assert (since_previous[ex["CHGREAS"] == "ESCALATION"] >= 90).all()


def test_the_dose_goes_up_only_if_every_count_of_the_preceding_3_months_allows_it(study):
    ups = study["dosing"].query("CHGREAS == 'ESCALATION'")[["SUBJID", "EXSTDAT"]].rename(columns={"EXSTDAT": "up"})
    counts = study["laboratory"].query("LBCODE in ['PLAQ', 'PNN'] and LBSTAT == ''")
    joined = ups.merge(counts, on="SUBJID")
    before = (day(joined["LBDAT"]) < day(joined["up"])) & (day(joined["LBDAT"]) >= day(joined["up"]) - pd.Timedelta(days=92))
    window = joined[before]
    assert window.groupby(["SUBJID", "up"]).ngroups == len(ups)  # every step up had counts to look at
    value = window["LBRES"].astype(float)
    assert (value[window["LBCODE"] == "PLAQ"] >= 75_000).all()
    assert (value[window["LBCODE"] == "PNN"] >= 1_000).all()


def test_reductions_follow_a_grade_3_or_4_event_on_the_day_before(study):
    downs = study["dosing"].query("CHGREAS == 'REDUCTION'")
    ae = study["adverse_events"].query("AEACN == 'DOSE REDUCED'")
    assert ae["AEGRADE"].isin(["3", "4"]).all()
    events = set(zip(ae["SUBJID"], day(ae["AESTDAT"]) + pd.Timedelta(days=1)))
    assert all((s, d) in events for s, d in zip(downs["SUBJID"], day(downs["EXSTDAT"])))


def test_the_last_dose_is_at_most_one_year_after_the_transplant(study):
    eos = study["end_of_study"].set_index("SUBJID")
    transplant = day(by_subject(study["enrolment"], "TXDAT")[eos.index])
    assert (day(eos["EOTDAT"]) <= transplant + pd.Timedelta(days=365)).all()


# --- why treatment and study ended -----------------------------------------------------------------------


def test_progression_ends_treatment_on_the_day_of_the_pd_assessment(study):
    eot = by_subject(study["end_of_study"], "EOTDAT")
    reason = by_subject(study["end_of_study"], "EOTREAS")
    pd_rows = study["response"].query("RESP == 'PD'")
    assert (reason[pd_rows["SUBJID"]] == "PROGRESSION").all()
    assert (pd_rows["RSDAT"].to_numpy() == eot[pd_rows["SUBJID"]].to_numpy()).all()
    assert set(reason[reason == "PROGRESSION"].index) == set(pd_rows["SUBJID"])


def test_a_sustained_scr_is_two_scr_assessments_at_least_3_months_apart(study):
    eos = study["end_of_study"].query("EOTREAS == 'SCR_SUSTAINED'")
    rs = study["response"]
    for subject, last in zip(eos["SUBJID"], eos["EOTDAT"]):
        mine = rs[rs["SUBJID"] == subject].assign(date=lambda t: day(t["RSDAT"]))
        scr = mine[mine["RESP"] == "sCR"]
        assert last in set(scr["RSDAT"])
        assert (scr["date"] <= day(pd.Series([last]))[0] - pd.Timedelta(days=90)).any()


def test_refractory_gvhd_ends_treatment_for_gvhd(study):
    ae = study["adverse_events"]
    for subject, eot in study["end_of_study"].query("EOTREAS == 'GVHD'")[["SUBJID", "EOTDAT"]].itertuples(index=False):
        gvhd = ae[(ae["SUBJID"] == subject) & (ae["GVHDSR"] == "Y") & (ae["AEACN"] == "DRUG WITHDRAWN")]
        assert len(gvhd) and (gvhd["AESTDAT"] <= eot).all()


def test_toxicity_ends_treatment_when_grade_3_or_4_happens_at_5_mg(study):
    ae = study["adverse_events"]
    last_dose = study["dosing"].groupby("SUBJID").tail(1).set_index("SUBJID")["DOSE"]
    for subject, eot in study["end_of_study"].query("EOTREAS == 'TOXICITY'")[["SUBJID", "EOTDAT"]].itertuples(index=False):
        cause = ae[(ae["SUBJID"] == subject) & (ae["AEACN"] == "DRUG WITHDRAWN") & (ae["AESTDAT"] == eot)]
        assert cause["AEGRADE"].isin(["3", "4"]).any() and last_dose[subject] == "5"


def test_every_death_has_a_fatal_serious_grade_5_event_ending_on_the_day_of_death(study):
    eos = study["end_of_study"]
    dead = eos[eos["DTHDAT"] != ""]
    assert (dead["EOSREAS"] == "DEATH").all() and (dead["EOSDAT"] == dead["DTHDAT"]).all()
    assert (dead["DTHCAUSE"] != "").all() and dead["DTHTRM"].isin(["Y", "N"]).all()
    assert (eos.loc[eos["EOTREAS"] == "DEATH", "DTHDAT"] != "").all()
    fatal = study["adverse_events"].query("AEGRADE == '5'")
    assert (fatal["AEOUT"] == "FATAL").all() and (fatal["AESER"] == "Y").all() and (fatal["AESDTH"] == "Y").all()
    assert set(fatal["SUBJID"]) == set(dead["SUBJID"])
    assert (fatal["AEENDAT"].to_numpy() == by_subject(dead, "DTHDAT")[fatal["SUBJID"]].to_numpy()).all()


def test_nothing_is_dated_after_death(study):
    death = by_subject(study["end_of_study"].query("DTHDAT != ''"), "DTHDAT")
    dated = {"dosing": ["EXSTDAT", "EXENDAT"], "laboratory": ["LBDAT"], "response": ["RSDAT"],
             "adverse_events": ["AESTDAT", "AEENDAT"], "end_of_study": ["EOTDAT", "EOSDAT"]}
    for form, columns in dated.items():
        rows = study[form][study[form]["SUBJID"].isin(death.index)]
        limit = death[rows["SUBJID"]].to_numpy()
        for column in columns:
            value = rows[column].to_numpy()
            # ISO dates compare as text; a partial 'YYYY-MM' compares with the month of death
            assert all(v == "" or v <= d[: len(v)] for v, d in zip(value, limit)), (form, column)


# --- visits, laboratory, response -------------------------------------------------------------------


def test_visits_inclusion_then_monthly_on_treatment_then_end_of_treatment(study):
    lb = study["laboratory"].drop_duplicates(["SUBJID", "VISIT"])[["SUBJID", "VISIT", "LBDAT"]]
    first = day(study["dosing"].query("EXLINE == '1'").set_index("SUBJID")["EXSTDAT"])
    eos = study["end_of_study"].set_index("SUBJID")
    lb = lb.assign(date=day(lb["LBDAT"]), d1=first[lb["SUBJID"]].to_numpy(),
                   eot=day(eos["EOTDAT"])[lb["SUBJID"]].to_numpy(), eos=day(eos["EOSDAT"])[lb["SUBJID"]].to_numpy())
    inclusion = lb[lb["VISIT"] == "INCLUSION"]
    assert len(inclusion) == study.n
    assert ((inclusion["d1"] - inclusion["date"]).dt.days.between(1, 14)).all()
    monthly = lb[lb["VISIT"].str.fullmatch(r"M\d{2}")].sort_values(["SUBJID", "VISIT"])
    assert ((monthly["date"] > monthly["d1"]) & (monthly["date"] <= monthly["eot"])).all()
    previous = monthly.groupby("SUBJID")["date"].shift().fillna(monthly["d1"])
    assert (monthly["date"] - previous).dt.days.between(24, 38).all()  # about every 30 days
    number = monthly["VISIT"].str[1:].astype(int)
    assert (number.groupby(monthly["SUBJID"]).agg(lambda s: list(s) == list(range(1, len(s) + 1)))).all()
    eot = lb[lb["VISIT"] == "EOT"]
    assert ((eot["date"] > eot["eot"]) & (eot["date"] <= eot["eos"])).all()


def test_each_visit_draws_its_panels_in_the_units_of_the_schema(study):
    lb = study["laboratory"]
    units = form_schema("laboratory")["x-units-by-code"]
    done = lb[lb["LBSTAT"] == ""]
    assert (done["LBUNIT"] == done["LBCODE"].map(lambda code: units[code][0])).all()
    assert (lb.loc[lb["LBCODE"] == "HB", "LBNAME"] == "Hémoglobine").all()
    panels = lb.groupby(["SUBJID", "VISIT"])["LBCODE"].agg(set)
    assert all(ROUTINE <= codes for codes in panels)
    assert set(lb.loc[lb["LBCODE"].isin(["PICM", "KAPPA", "LAMBDA"]), "VISIT"]) <= QUARTERLY_VISITS
    assert set(lb.loc[lb["LBCODE"].isin(["CD19", "CD3", "CD4", "CD8", "NK", "DC", "CHIM"]), "VISIT"]) <= IMMUNO_VISITS
    integer_counts = done[done["LBCODE"].isin(["PLAQ", "PNN", "LEUCO", "LYMPH"])]
    assert integer_counts["LBRES"].str.fullmatch(r"\d+").all()
    not_done = lb[lb["LBSTAT"] == "NOT DONE"]
    assert (not_done["LBRES"] == "").all() and (not_done["LBREASND"] != "").all()


def test_responses_are_assessed_at_inclusion_every_third_month_and_at_the_end_of_treatment(study):
    rs = study["response"]
    assert set(rs["VISIT"]) <= QUARTERLY_VISITS
    inclusion = rs[rs["VISIT"] == "INCLUSION"].set_index("SUBJID")["RESP"]
    assert (inclusion == by_subject(study["enrolment"], "DISSTAT")[inclusion.index]).all()
    eot_rows = set(rs.loc[rs["VISIT"] == "EOT", "SUBJID"])
    reason = by_subject(study["end_of_study"], "EOTREAS")
    assert {s for s in eot_rows if reason[s] in ("PROGRESSION", "SCR_SUSTAINED")} == set()


def test_complete_responses_have_no_detectable_m_protein(study):
    picm = study["laboratory"].query("LBCODE == 'PICM' and LBSTAT == ''")[["SUBJID", "LBDAT", "LBRES"]]
    joined = study["response"].merge(picm, left_on=["SUBJID", "RSDAT"], right_on=["SUBJID", "LBDAT"])
    assert len(joined) == len(study["response"])
    complete = joined["RESP"].isin(["CR", "sCR"])
    assert (joined.loc[complete, "LBRES"] == "<1").all()
    assert (joined.loc[~complete, "LBRES"] != "<1").all()


def test_cytopenia_events_have_the_ctcae_grade_of_the_count_that_triggered_them(study):
    ae = study["adverse_events"]
    lb = study["laboratory"].query("LBSTAT == ''")
    for term, code, limits in (("Thrombocytopenia", "PLAQ", (75_000, 50_000, 25_000)),
                               ("Neutropenia", "PNN", (1_500, 1_000, 500))):
        events = ae[ae["AEDECOD"] == term]
        counts = lb[lb["LBCODE"] == code][["SUBJID", "LBDAT", "LBRES"]]
        joined = events.merge(counts, left_on=["SUBJID", "AESTDAT"], right_on=["SUBJID", "LBDAT"])
        assert len(joined) == len(events)
        grade = ctcae_grade(joined["LBRES"].astype(float), limits)
        assert (grade == joined["AEGRADE"].astype(int)).all()


# --- adverse events -----------------------------------------------------------------------------------


def test_adverse_event_records_are_internally_coherent(study):
    ae = study["adverse_events"]
    assert ((ae["AEONGO"] == "N") == (ae["AEENDAT"] != "")).all()
    assert ((ae["AEGRADE"] == "5") == (ae["AEOUT"] == "FATAL")).all()
    ended = ae[ae["AEENDAT"] != ""]
    assert all(end >= start[: len(end)] for start, end in zip(ended["AESTDAT"], ended["AEENDAT"]))
    acute, chronic = ae[ae["GVHDTYPE"] == "ACUTE"], ae[ae["GVHDTYPE"] == "CHRONIC"]
    assert acute["GVHDGRADE"].isin(["I", "II", "III", "IV"]).all()
    assert chronic["GVHDGRADE"].isin(["MILD", "MODERATE", "SEVERE"]).all()
    for column in ("AELLTCD", "AEPTCD", "AESOCCD"):
        assert ae[column].str.fullmatch(r"\d{8}").all(), column
    assert ((ae["AELLT"] != ae["AEDECOD"]) | (ae["AELLTCD"] == ae["AEPTCD"])).all()
    line = ae["AESPID"].astype(int)
    assert (line.groupby(ae["SUBJID"]).agg(lambda s: list(s) == list(range(1, len(s) + 1)))).all()
    partial = ae["AESTDAT"].str.fullmatch(r"\d{4}-\d{2}")
    assert (ae.loc[partial, "AESER"] == "N").all()


# --- determinism and scale ----------------------------------------------------------------------------


def _bytes(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_data(tmp_path):
    for name, (n, seed) in {"a": (300, 5), "b": (300, 5), "c": (300, 6), "d": EXAMPLE, "e": EXAMPLE}.items():
        (tmp_path / name).mkdir()
        write_synthetic(tmp_path / name, n, seed)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert _bytes(tmp_path / "d") == _bytes(tmp_path / "e")
    other = _bytes(tmp_path / "c")
    assert all(other[name] != data for name, data in _bytes(tmp_path / "a").items() if name != "registry.json" and not name.startswith("spec/"))


def test_blocks_number_subjects_in_sequence_and_each_block_is_independent(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "BLOCK_SIZE", 40)
    write_synthetic(tmp_path, 100, 3)
    dm = pd.read_csv(tmp_path / "enrolment.csv", dtype=str, keep_default_na=False)
    assert list(dm["SUBJID"]) == [f"{i:03d}" for i in range(1, 101)]
    assert (dm["CONSDAT"].sort_values().to_numpy() == dm["CONSDAT"].to_numpy()).all()  # accrual in order
    block0 = synth.simulate_course(synth.block_rng(3, 0), np.arange(0, 40), 100)
    again = synth.simulate_course(synth.block_rng(3, 0), np.arange(0, 40), 100)
    assert (block0.eot == again.eot).all() and (block0.consent == again.consent).all()


def test_large_studies_spread_subjects_over_several_french_sites(study):
    dm = study["enrolment"]
    sites = sites_for(study.n)
    assert sorted(set(dm["SITEID"])) == [site.siteid for site in sites]
    assert (dm["SITECTRY"] == "FRA").all()
    assert len(sites) == (1 if study.n <= 500 else -(-study.n // 500))


def test_bad_arguments_are_refused(tmp_path):
    for n, seed in ((0, 1), (1_000_000, 1), (10, -1), (True, 1)):
        with pytest.raises(ValueError):
            write_synthetic(tmp_path, n, seed)


# --- the committed example: the protocol visibly at work -------------------------------------------------


def test_the_example_shows_a_death_a_partial_date_a_15_mg_subject_and_one_held_back_by_counts(example):
    assert (example["enrolment"]["SITENAME"] == REVALLO_SITE.facility).all()
    assert (example["end_of_study"]["DTHDAT"] != "").any()
    assert example["adverse_events"]["AESTDAT"].str.fullmatch(r"\d{4}-\d{2}").any()
    top = example["dosing"].assign(dose=lambda t: t["DOSE"].astype(int)).groupby("SUBJID")["dose"].max()
    assert (top == 15).any()
    assert any(_held_back_by_counts(example, subject) for subject in top[top < 15].index)


def _held_back_by_counts(study: Study, subject: str) -> bool:
    """On 5 mg/j at month 3 with a low platelet or neutrophil count in the months before."""
    lb = study["laboratory"]
    mine = lb[(lb["SUBJID"] == subject) & lb["LBCODE"].isin(["PLAQ", "PNN"]) & (lb["LBSTAT"] == "")]
    month3 = mine.loc[mine["VISIT"] == "M03", "LBDAT"]
    if month3.empty:
        return False
    before = mine[mine["LBDAT"] <= month3.iloc[0]]
    low = ((before["LBCODE"] == "PLAQ") & (before["LBRES"].astype(float) < 75_000)) | (
        (before["LBCODE"] == "PNN") & (before["LBRES"].astype(float) < 1_000))
    doses = study["dosing"][study["dosing"]["SUBJID"] == subject]
    on_5_after = (doses["EXENDAT"] > month3.iloc[0]) & (doses["DOSE"] == "5") & (doses["EXSTDAT"] <= month3.iloc[0])
    return bool(low.any() and on_5_after.any())
