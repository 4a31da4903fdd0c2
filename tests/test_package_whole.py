"""The SDTM package is whole or nothing, and what is reported as written is what is on disk.

A value the XPT writer cannot write (no ASCII form, over 200 bytes) stops the whole package: exit 2,
no output folder, the error naming dataset, variable, record and the native file and line. Greek
letters are spelled out; with `--ascii-placeholder` the rest becomes `[U+XXXX]`, reported. The names
written and the reconciliation come from the files read back.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from trialbridge.converters import pipeline
from trialbridge.converters.native_reader import read_native
from trialbridge.converters.sdtm_package import map_sdtm, read_back, write_sdtm_package
from trialbridge.converters.xpt.files import read_xpt
from trialbridge.schemas.xpt_ascii import transliterate

CREATED = datetime(2015, 7, 23)


def _convert(folder, out: Path, **options) -> pipeline.RunResult:
    return pipeline.convert(folder.path, out, fhir_releases=(), **options)


def _rules(result: pipeline.RunResult) -> dict[str, list]:
    rules: dict[str, list] = {}
    for f in result.findings:
        rules.setdefault(f.rule, []).append(f)
    return rules


def test_an_emoji_in_one_verbatim_term_stops_the_whole_package_and_names_the_record(native_folder, tmp_path):
    native_folder.set_cell("adverse_events", 3, "AETERM", "Fièvre 🤒 発熱")  # line 3: the second AE
    out = tmp_path / "out"
    result = _convert(native_folder, out)
    assert result.exit_code == 2
    assert not out.exists() and not list(tmp_path.glob(".out.*"))  # nothing published, nothing left
    unmapped = _rules(result)["XPT-ASCII-UNMAPPED"]
    assert [f.location for f in unmapped] == ["ae:AETERM:2"]
    assert "adverse_events.csv:3" in unmapped[0].message and "U+1F912" in unmapped[0].message
    assert _rules(result)["PACKAGE-STOPPED"][0].values == ("AE",)


def test_a_nul_and_an_escape_sequence_stop_the_package_too(native_folder, tmp_path):
    for value, code in (("Neutro\x00pénie", "U+0000"), ("Neutro\x1b[31mpénie", "U+001B")):
        native_folder.set_cell("adverse_events", 2, "AETERM", value)
        result = _convert(native_folder, tmp_path / "out")
        assert result.exit_code == 2, value
        assert code in _rules(result)["XPT-ASCII-UNMAPPED"][0].message
        assert not (tmp_path / "out").exists()


def test_greek_letters_are_spelled_out_and_reported(native_folder, tmp_path):
    native_folder.set_cell("adverse_events", 2, "AETERM", "Élévation β2-microglobuline")
    result = _convert(native_folder, tmp_path / "out")
    assert result.exit_code in (0, 1)
    ae, _ = read_xpt(tmp_path / "out" / "sdtm" / "ae.xpt")
    assert ae["AETERM"].iloc[0] == "Elevation beta2-microglobuline"
    assert any(f.rule == "XPT-ASCII-REPLACED" and f.location == "ae:AETERM:1" for f in result.findings)


def test_with_the_placeholder_opt_in_the_value_is_written_with_code_points_and_reported(native_folder, tmp_path):
    native_folder.set_cell("adverse_events", 3, "AETERM", "Fièvre 🤒 発熱")
    result = _convert(native_folder, tmp_path / "out", ascii_placeholder=True)
    assert result.exit_code in (0, 1)
    ae, _ = read_xpt(tmp_path / "out" / "sdtm" / "ae.xpt")
    assert ae["AETERM"].iloc[1] == "Fievre [U+1F912] [U+767A][U+71B1]"
    placeholder = _rules(result)["XPT-ASCII-PLACEHOLDER"]
    assert [f.location for f in placeholder] == ["ae:AETERM:2"] and placeholder[0].severity == "warning"
    report = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert report["counts"]["by_rule"]["XPT-ASCII-PLACEHOLDER"] == 1


def test_the_policy_spells_every_greek_letter_and_refuses_what_has_no_ascii_form():
    assert transliterate("αβγΔω").replacement == "alphabetagammaDELTAomega"
    assert transliterate("ά").replacement == "alpha"                  # accented Greek: the mark goes first
    assert transliterate("µg/L").replacement == transliterate("μg/L").replacement == "ug/L"  # micro prefix
    for text in ("🤒", "発熱", "a\x00b", "\x1b[2J", "\x7f"):
        result = transliterate(text)
        assert result.unmapped and not result.placeholders
        assert transliterate(text, placeholder=True).replacement.isascii()


def test_a_negated_symbol_never_becomes_its_opposite():
    assert transliterate("ANC ≠ 0").replacement == "ANC != 0"       # decomposition alone would give "ANC = 0"
    for text in ("≮ 5", "x ∉ range", "≢"):                          # a stroke through a symbol: refused, not dropped
        result = transliterate(text)
        assert result.unmapped and not {"<", "="} & set(result.unmapped.split("'")[1])
    assert transliterate("é ≢ e").unmapped == "U+2262 '≢'"           # the accent still goes, the negation is named


def test_a_value_over_200_bytes_stops_the_package(native_folder, tmp_path):
    native_folder.set_cell("laboratory", 2, "LBRES", "1" * 199 + ".5")  # 201 characters: LBORRES cannot hold it
    result = _convert(native_folder, tmp_path / "out")
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()
    rules = _rules(result)
    assert [f.location for f in rules["XPT-TEXT-LENGTH"]] == ["lb:LBORRES:3"]
    assert "laboratory.csv:2" in rules["XPT-TEXT-LENGTH"][0].message
    assert rules["PACKAGE-STOPPED"][0].values == ("LB",)


def test_the_names_written_and_the_reconciliation_come_from_the_files_read_back(native_folder, tmp_path):
    trial, _ = read_native(native_folder.path)
    package = write_sdtm_package(trial, tmp_path / "sdtm", CREATED)
    assert package.complete and "AE" in package.written
    assert package.reconciliation["adverse_events.csv"]["rows_carried_by_dataset"]["AE"] == 2
    (tmp_path / "sdtm" / "ae.xpt").unlink()                           # a file gone after the write
    found, problems = read_back(tmp_path / "sdtm", {"AE": 2, "DM": 3})
    assert found == ["DM"]
    assert [(f.rule, f.location) for f in problems] == [("PACKAGE-NOT-WRITTEN", "ae.xpt")]
    found, problems = read_back(tmp_path / "sdtm", {"DM": 4})         # fewer records than prepared
    assert not found and "3 record(s) read back" in problems[0].message


def test_every_dataset_mapped_is_on_disk_after_a_conversion(native_folder, tmp_path):
    result = _convert(native_folder, tmp_path / "out")
    trial, _ = read_native(native_folder.path)
    mapped = map_sdtm(trial).tables
    on_disk = {p.stem.upper(): len(read_xpt(p)[0]) for p in (tmp_path / "out" / "sdtm").glob("*.xpt")}
    assert on_disk == {name: len(table) for name, table in mapped.items()}
    assert result.exit_code in (0, 1)
    assert isinstance(mapped["AE"], pd.DataFrame)
