"""Batch and API: several generated studies with --jobs 2, one corrupted: the others converted, one clear
failure, exit 2; a folder of studies; `import trialbridge` with convert / validate / convert_many."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import trialbridge
from trialbridge.converters import pipeline
from trialbridge.converters.cli import main

STUDIES = ("alpha", "bravo", "charlie")


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generated studies in one folder; charlie's dosing.csv is cut in the middle of a row."""
    root = tmp_path_factory.mktemp("batch") / "studies"
    for seed, name in enumerate(STUDIES, start=1):
        pipeline.synthesise(root / name, 3, seed)
    dosing = root / "charlie" / "dosing.csv"
    dosing.write_bytes(dosing.read_bytes()[: len(dosing.read_bytes()) // 2] + b'"unterminated')
    return root


def test_one_corrupted_study_does_not_stop_the_others(studies, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["convert", *(str(studies / s) for s in STUDIES), "--out", str(out), "--jobs", "2", "--fhir", "none"])
    err = capsys.readouterr().err
    assert code == 2
    for name in ("alpha", "bravo"):
        assert (out / name / "sdtm" / "dm.xpt").is_file() and (out / name / "report.json").is_file()
    assert not (out / "charlie").exists()  # bad input: nothing written for it
    table = err[err.index("study "):]
    assert "charlie" in table and "failed: bad input" in table and "dosing.csv" in table
    assert "2 of 3 studies converted; exit code 2" in table
    assert max(len(line) for line in table.splitlines()) <= 80


def test_a_folder_of_studies_and_the_json_summary(studies, tmp_path, capsys):
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("alpha", "charlie"):
        (folder / name).symlink_to(studies / name, target_is_directory=True)
    code = main(["convert", str(folder), "--out", str(tmp_path / "out"), "--fhir", "none", "--format", "json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == summary["exit_code"] == 2
    assert [(s["study"], s["exit_code"]) for s in summary["studies"]] == [("alpha", 0), ("charlie", 2)]


def test_the_python_api(studies, tmp_path):
    result = trialbridge.convert(studies / "alpha", tmp_path / "alpha", fhir=())
    assert isinstance(result, trialbridge.RunResult) and result.exit_code == 0
    names = {p.relative_to(tmp_path / "alpha").as_posix() for p in result.outputs}
    assert {"report.json", "report.html", "report.xlsx", "findings.json", "sdtm/dm.xpt", "sdtm/define.xml"} <= names
    assert all(p.is_file() for p in result.outputs)
    checked = trialbridge.validate(tmp_path / "alpha" / "sdtm", report=tmp_path / "check")
    assert checked.exit_code in (0, 1) and {p.name for p in checked.outputs} >= {"report.json", "report.xlsx"}
    batch = trialbridge.convert_many([studies / "charlie", studies / "charlie"], tmp_path / "many", fhir=())
    assert [(r.name, r.exit_code) for r in batch.runs] == [("charlie", 2), ("charlie-2", 2)] and batch.exit_code == 2
    assert "dosing.csv" in batch.runs[0].reason
    with pytest.raises(ValueError, match="w.csv:2"):
        (tmp_path / "w.csv").write_text("rule,dataset,variable,pattern,justification,author,date\nNOPE,,,,x,y,2024-01-01\n")
        trialbridge.validate(tmp_path / "alpha" / "sdtm", waivers=tmp_path / "w.csv")
