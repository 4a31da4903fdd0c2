"""The study mapping specification and its generic engine: REVALLO as data gives the package it gave as code.

`fixtures/revallo-before-spec-engine.sha256` holds the checksums of the XPT files `trialbridge convert
examples/revallo` wrote before the study-specific Python mappings were replaced by examples/revallo/spec
and the engine (the domains the spec builds; TS comes from the registry and is changed on purpose by later
work). The conversion must give the same bytes.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from trialbridge.converters.pipeline import convert, read_study
from trialbridge.converters.readers.spec_files import read_spec
from trialbridge.mappings.spec.conditions import ConditionError, evaluate, parse_condition
from trialbridge.mappings.spec.dates import parse_layout

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "revallo"
BEFORE = Path(__file__).parent / "fixtures" / "revallo-before-spec-engine.sha256"


def test_revallo_from_its_spec_gives_the_xpt_files_of_the_python_mappings_byte_for_byte(tmp_path):
    result = convert(EXAMPLE, tmp_path / "out", fhir_releases=())
    assert result.exit_code == 0, [f for f in result.findings if f.severity == "error"][:3]
    for line in BEFORE.read_text().splitlines():
        digest, name = line.split()
        data = (tmp_path / "out" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name


def test_the_spec_names_no_study_constant_in_the_code():
    """The drug, the forms and the CRF columns live in the spec, not in mappings/ or converters/ code."""
    spec_words = ("LENALIDOMIDE", "adverse_events", "end_of_study", "EOTREAS", "CHGREAS", "LBCODE", "GVHDTYPE")
    engine_code = [*(ROOT / "mappings" / "spec").rglob("*.py"), ROOT / "mappings" / "sdtm" / "algorithms.py",
                   ROOT / "mappings" / "study.py", ROOT / "mappings" / "trial.py",
                   ROOT / "converters" / "pipeline.py", ROOT / "converters" / "sdtm_package.py",
                   *(ROOT / "converters" / "readers").rglob("*.py")]
    for path in engine_code:
        text = path.read_text(encoding="utf-8")
        assert not [w for w in spec_words if w in text], path


def test_the_spec_is_found_in_the_input_folder_or_given(tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(EXAMPLE, folder)
    moved = tmp_path / "elsewhere"
    shutil.move(str(folder / "spec"), moved)
    trial, findings = read_study(folder)
    assert trial is None and [f.rule for f in findings] == ["SPEC-NOT-FOUND"]
    trial, findings = read_study(folder, moved)
    assert trial is not None and trial.mapping.study.studyid == "REVALLO"


def test_an_unknown_algorithm_stops_the_conversion_with_the_spec_row(tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(EXAMPLE, folder)
    mappings = folder / "spec" / "mappings.csv"
    lines = mappings.read_text(encoding="utf-8").splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("EX,EXDOSE,"))
    lines[row] = lines[row].replace("assign_numeric", "assign_numbr")
    mappings.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = convert(folder, tmp_path / "out")
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert [(f.rule, f.location) for f in result.findings if f.severity == "error"] == [
        ("SPEC-STEP", f"spec/mappings.csv:{row + 1}:algorithm")]


def test_the_revallo_spec_reads_as_csv_folder_and_xlsx_workbook_alike(tmp_path):
    pytest.importorskip("openpyxl")
    folder_mapping, _ = read_spec(EXAMPLE / "spec")
    workbook = tmp_path / "spec.xlsx"
    shutil.copytree(EXAMPLE / "spec" / "forms", tmp_path / "forms")  # row schemas sit beside the workbook
    with pd.ExcelWriter(workbook, engine="openpyxl") as writer:
        for table in sorted((EXAMPLE / "spec").glob("*.csv")):
            pd.read_csv(table, dtype=str, keep_default_na=False).to_excel(writer, sheet_name=table.stem, index=False)
    book_mapping, findings = read_spec(workbook)
    assert book_mapping is not None, findings
    assert [s[:9] for s in map(lambda s: (s.domain, s.variable, s.algorithm, s.source, s.source_variable,
                                          s.codelist, s.value, s.condition, s.arguments), book_mapping.steps)] == \
        [(s.domain, s.variable, s.algorithm, s.source, s.source_variable, s.codelist, s.value, s.condition,
          s.arguments) for s in folder_mapping.steps]
    assert book_mapping.sdtm == folder_mapping.sdtm


# ------------------------------------------------------------------------------ the condition language
ROWS = pd.DataFrame({"A": ["Y", "N", "", "Y"], "B": ["1", "x", "", "2.5"], "C": ["DEATH", "", "OTHER", "DEATH"]})


@pytest.mark.parametrize("text, expected", [
    ("A = 'Y'", [True, False, False, True]),
    ("A is present and not C = 'DEATH'", [False, True, False, False]),
    ("B is numeric", [True, False, False, True]),
    ("C in ('DEATH', 'OTHER') or A is empty", [True, False, True, True]),
    ("(A = 'Y' or A = 'N') and B > 1", [False, False, False, True]),
])
def test_conditions_are_whole_column_masks(text, expected):
    mask = evaluate(parse_condition(text), lambda name: ROWS[name], lambda domain: pd.Series(False, index=ROWS.index),
                    ROWS.index)
    assert mask.tolist() == expected


@pytest.mark.parametrize("text", ["A ==", "A = 'Y' and", "A is maybe", "(A = 'Y'", "A in 'Y'"])
def test_a_malformed_condition_says_what_was_expected(text):
    with pytest.raises(ConditionError, match="expected"):
        parse_condition(text)


# ---------------------------------------------------------------------------------- date layouts
@pytest.mark.parametrize("layout, raw, iso", [
    ("dd-MMM-yy", "15-Sep-20", "2020-09-15"),
    ("dd-MMM-yyyy", "4-oct-2020", "2020-10-04"),
    ("MM/dd/yyyy", "02/17/2021", "2021-02-17"),
    ("dd/MM/yyyy", "17/02/2021", "2021-02-17"),
    ("dd-MMM-yyyy", "UN-Feb-2021", "2021-02"),
    ("dd-MMM-yyyy", "UN-UNK-2021", "2021"),
    ("HH:nn", "8:00", "T08:00"),
    ("iso", "UNK-03-2012", "2012-03"),
    ("yyyy-MM-dd HH:nn", "2021-02-17 07:25", "2021-02-17T07:25"),
])
def test_collected_dates_become_iso_8601_partial_dates_kept_partial(layout, raw, iso):
    values, bad = parse_layout(pd.Series([raw]), layout)
    assert values.tolist() == [iso] and not bad.any()


def test_each_date_takes_the_first_alternative_layout_it_fits():
    # pharmaverse raw extracts write a date as MM/dd/yyyy, or MM/yyyy or yyyy when day or month is unknown
    raw = pd.Series(["01/15/2020", "03/2019", "2018", "", "02/30/2020", "2020-01-15"])
    values, bad = parse_layout(raw, "MM/dd/yyyy or MM/yyyy or yyyy")
    assert values.tolist() == ["2020-01-15", "2019-03", "2018", "", "", ""]
    assert bad.tolist() == [False, False, False, False, True, True]  # Feb 30 fits no layout as a real date


@pytest.mark.parametrize("layout, raw", [("dd-MMM-yyyy", "31-Feb-2021"), ("MM/dd/yyyy", "13/01/2021"),
                                         ("dd-MMM-yyyy", "15-Sep"), ("HH:nn", "25:00")])
def test_a_date_that_does_not_fit_its_layout_is_flagged_never_guessed(layout, raw):
    values, bad = parse_layout(pd.Series([raw]), layout)
    assert values.tolist() == [""] and bad.tolist() == [True]
