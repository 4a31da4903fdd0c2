"""Property-based tests (hypothesis) for the readers, the ISO 8601 date algorithms and the XPT writer.

- XPT writer: any Unicode text is either written as ASCII per the policy and read back exactly as
  prepared, or refused with an error finding naming the record; never a dataset silently missing.
- ISO 8601: the CRF date forms become ISO 8601 keeping only known parts; study days are never 0 and
  agree with calendar arithmetic; `before` (clinical checks) never says both a < b and b < a.
- Readers: any text in a CSV cell or any bytes in a form file give findings or a trial, never an exception.
"""
from __future__ import annotations

from datetime import date, datetime

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialbridge.converters.native_reader import read_native
from trialbridge.converters.xpt.files import prepare_for_xpt, read_xpt, write_prepared
from trialbridge.schemas.xpt_ascii import transliterate
from trialbridge.mappings.sdtm.algorithms import assign_datetime, derive_study_day
from trialbridge.schemas.clinical_checks import before
from trialbridge.schemas.findings import has_errors
from trialbridge.schemas.sdtm_spec import Dataset, Variable

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CREATED = datetime(2015, 7, 23)


def _variable(name: str, label: str) -> Variable:
    return Variable(dataset="XX", name=name, label=label, type="Char", order=0, core="Req", role="",
                    codelist="", origin="Collected", source="", method="", comment="")


def _dataset() -> Dataset:
    return Dataset(name="XX", label="Property test", cls="", structure="", keys=(),
                   variables=(_variable("USUBJID", "Unique Subject Identifier"), _variable("XXTERM", "Reported Term")))


@SETTINGS
@given(st.text(max_size=60))
def test_any_text_is_transliterated_to_printable_ascii_or_reported(text):
    result = transliterate(text)
    if result.unmapped:
        placeholder = transliterate(text, placeholder=True).replacement
        assert all(" " <= ch <= "~" for ch in placeholder)
    else:
        assert all(" " <= ch <= "~" for ch in result.replacement)


@SETTINGS
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_the_xpt_writer_writes_what_it_prepared_or_refuses_with_the_record(tmp_path_factory, terms):
    table = pd.DataFrame({"USUBJID": [f"S-{i}" for i in range(len(terms))], "XXTERM": terms})
    prepared, findings = prepare_for_xpt(table, _dataset())
    path = tmp_path_factory.mktemp("xpt") / "xx.xpt"
    if has_errors(findings):
        bad = [f for f in findings if f.severity == "error"]
        assert all(f.location.startswith("xx:XXTERM:") for f in bad), [(f.rule, f.location) for f in bad]
        return
    write_prepared(prepared, _dataset(), path, CREATED)
    back, meta = read_xpt(path)
    assert meta.rows == len(terms)
    assert back["XXTERM"].tolist() == prepared["XXTERM"].tolist()
    assert all(v.isascii() for v in back["XXTERM"])


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@SETTINGS
@given(dates, st.sampled_from(["full", "month", "year", "unk-month", "unk-year"]))
def test_crf_dates_become_iso_8601_with_only_the_known_parts(day, form):
    text = {"full": day.isoformat(), "month": day.isoformat()[:7], "year": str(day.year),
            "unk-month": f"UNK-{day.month:02d}-{day.year}", "unk-year": f"UNK-UNK-{day.year}"}[form]
    iso = assign_datetime(pd.DataFrame({"D": [text]}), "D").iloc[0]
    expected = {"full": day.isoformat(), "month": day.isoformat()[:7], "year": str(day.year),
                "unk-month": day.isoformat()[:7], "unk-year": str(day.year)}[form]
    assert iso == expected


@SETTINGS
@given(dates, dates)
def test_study_days_follow_the_calendar_and_are_never_zero(day, reference):
    dy = derive_study_day(pd.Series([day.isoformat()]), pd.Series([reference.isoformat()])).iloc[0]
    delta = (day - reference).days
    assert dy != 0
    assert dy == (delta + 1 if delta >= 0 else delta)


partial = st.builds(lambda d, n: d.isoformat()[:n], dates, st.sampled_from([4, 7, 10]))


@SETTINGS
@given(partial, partial)
def test_before_is_never_true_both_ways_and_agrees_with_full_dates(a, b):
    forward = before(pd.Series([a]), pd.Series([b]))[0]
    backward = before(pd.Series([b]), pd.Series([a]))[0]
    assert not (forward and backward)
    if len(a) == len(b) == 10:
        assert forward == (a < b)


cell_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cell_text, st.sampled_from([("adverse_events", 2, "AETERM"), ("dosing", 2, "DOSE"),
                                   ("enrolment", 2, "BRTHDAT"), ("laboratory", 2, "LBRES")]))
def test_any_text_in_a_cell_gives_findings_or_a_trial_never_an_exception(native_folder, text, where):
    form, line, column = where
    native_folder.set_cell(form, line, column, text)
    trial, findings = read_native(native_folder.path)
    assert trial is not None or has_errors(findings)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_any_bytes_as_a_form_file_give_findings_never_an_exception(native_folder, data):
    header = ",".join(["SITEID", "SUBJID", "EXLINE", "EXSTDAT", "EXENDAT", "DOSE", "DOSEU", "CHGREAS"])
    native_folder.write_bytes("dosing", header.encode() + b"\n" + data)
    trial, findings = read_native(native_folder.path)
    assert trial is not None or has_errors(findings)
