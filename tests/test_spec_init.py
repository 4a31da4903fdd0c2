"""`spec init`: raw extracts -> a starting spec (one mappings row per raw column, types, date layouts, SDTMIG
names matched, candidate CT rows) that `spec check` reads; written whole or not at all."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trialbridge.converters.cli import main
from trialbridge.converters.spec_tools.check import check_spec
from trialbridge.converters.spec_tools.init import init_spec

ROOT = Path(__file__).resolve().parents[1]

# an AE extract as a French EDC writes it: semicolons, windows-1252, day-first dates, lower-case severities
AE_EXTRACT = (
    "SUBJID;AETERM;AESEV;AESTDAT;AESTTIM;VISDAT;COMMENT\n"
    "001;Céphalée;mild;13/02/2021;08:30;01/02/2021;premier épisode\n"
    "001;Nausée;Moderate;25/12/2020;14:05;02/03/2021;\n"
    "002;Fièvre;mild;UN/11/2020;;03/04/2021;après la visite\n"
    "003;Toux;severe;01/01/2021;9:15;04/05/2021;note libre\n"
)


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "ae_extract.csv").write_bytes(AE_EXTRACT.encode("windows-1252"))
    return folder


def _table(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


def test_one_row_per_raw_column_with_types_layouts_and_sdtmig_names(raw: Path, tmp_path: Path) -> None:
    findings, _ = init_spec(raw, tmp_path / "spec")
    assert [f.rule for f in findings] == ["SPEC-INIT-WRITTEN"]
    spec = tmp_path / "spec"
    sources = _table(spec, "sources")
    assert sources[["dataset", "file", "delimiter", "encoding", "subject"]].values.tolist() == [
        ["ae_extract", "ae_extract.csv", ";", "windows-1252", "SUBJID"]]
    mappings = _table(spec, "mappings")
    columns = mappings[mappings["source_variable"] != ""].set_index("source_variable")
    assert sorted(columns.index) == sorted(["SUBJID", "AETERM", "AESEV", "AESTDAT", "AESTTIM", "VISDAT", "COMMENT"])
    assert (mappings["domain"] == "AE").all()  # the file name starts with the domain code
    assert columns.loc["AETERM", ["variable", "algorithm"]].tolist() == ["AETERM", "assign_no_ct"]
    assert columns.loc["AESEV", ["variable", "algorithm", "codelist"]].tolist() == ["AESEV", "assign_ct", "C66769"]
    assert columns.loc["AESTDAT", "arguments"] == "format=dd/MM/yyyy"  # 13/02, 25/12: day first
    assert columns.loc["AESTTIM", "arguments"] == "format=HH:nn"
    assert "ambiguous" in columns.loc["VISDAT", "comment"]  # 01/02 .. 04/05: either order fits
    assert columns.loc["COMMENT", "algorithm"] == "not_submitted" and "text, 3 of 4 values" in columns.loc["COMMENT", "comment"]
    ct = _table(spec, "ct")
    severities = ct[ct["codelist_code"] == "C66769"]
    assert sorted(zip(severities["collected_value"], severities["term_value"])) == [
        ("Moderate", "MODERATE"), ("mild", "MILD"), ("severe", "SEVERE")]
    assert set(ct["codelist_code"]) == {"C66769"}  # free text and the subject column give no candidates


def test_spec_check_reads_the_starting_spec(raw: Path, tmp_path: Path) -> None:
    init_spec(raw, tmp_path / "spec")
    result = check_spec(tmp_path / "spec", raw)
    assert "1 raw sources" in result.summary and "ae_extract (4 rows)" in result.summary
    assert all(f.location.startswith("spec/") for f in result.findings), [f.location for f in result.findings]


def test_the_examples_raw_folders_give_a_spec_that_checks(tmp_path: Path) -> None:
    example = ROOT / "examples" / "sdtm-oak-vs"
    assert main(["spec", "init", str(example), "--out", str(tmp_path / "vs")]) == 0
    mappings = _table(tmp_path / "vs", "mappings")
    dates = mappings[mappings["source_variable"].isin(["VTLD", "VTLTM"])]
    assert dates["arguments"].tolist() == ["format=dd-MMM-yy", "format=HH:nn"]
    assert check_spec(tmp_path / "vs", example).exit_code in (0, 2)  # read whole: findings, never a crash


def test_no_raw_dataset_is_exit_2_and_nothing_written(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["spec", "init", str(tmp_path / "empty"), "--out", str(tmp_path / "spec")]) == 2
    assert not (tmp_path / "spec").exists()


def test_an_existing_folder_is_replaced_only_when_it_is_an_earlier_output_and_forced(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "spec"
    assert main(["spec", "init", str(raw), "--out", str(out)]) == 0
    assert main(["spec", "init", str(raw), "--out", str(out)]) == 2  # an earlier output: only with --force
    assert main(["spec", "init", str(raw), "--out", str(out), "--force"]) == 0
    (out / "mappings.csv").write_text("edited by the data manager\n", encoding="utf-8")
    assert main(["spec", "init", str(raw), "--out", str(out), "--force"]) == 2  # never over a user's edits
    assert (out / "mappings.csv").read_text(encoding="utf-8") == "edited by the data manager\n"
