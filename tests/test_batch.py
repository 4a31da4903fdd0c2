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


def test_the_fhir_options_reach_every_study_of_a_batch(studies, tmp_path):
    """--bundle-entries and --bundle-type apply to each study of a batch as to a single convert."""
    out = tmp_path / "out"
    code = main(["convert", str(studies / "alpha"), str(studies / "bravo"), "--out", str(out), "--fhir", "R4",
                 "--bundle-entries", "7", "--bundle-type", "batch", "--fhir-workers", "1"])
    assert code in (0, 1)
    for name in ("alpha", "bravo"):
        bundles = [json.loads(line) for line in (out / name / "fhir" / "R4" / "bundles.ndjson").read_text().splitlines()]
        assert len(bundles) > 1
        assert {b["type"] for b in bundles} == {"batch"}
        assert max(len(b["entry"]) for b in bundles) == 7


def test_the_number_of_fhir_workers_changes_no_byte(tmp_path, monkeypatch):
    """`--fhir-workers`: blocks of 2 subjects built in the command's process or in two forked workers,
    the same FHIR files."""
    from trialbridge.converters.fhir import stage as fhir_stage

    monkeypatch.setattr(fhir_stage, "BLOCK_SUBJECTS", 2)
    pipeline.synthesise(tmp_path / "study", 7, 5)
    seen: list[int] = []
    prepared = fhir_stage.prepared_blocks
    monkeypatch.setattr(fhir_stage, "prepared_blocks",
                        lambda inp, releases, size, workers, aside=None: seen.append(workers)
                        or prepared(inp, releases, size, workers, aside))
    for workers in ("1", "2"):
        assert main(["convert", str(tmp_path / "study"), "--out", str(tmp_path / workers), "--fhir", "R4,R5",
                     "--fhir-workers", workers, "--quiet"]) in (0, 1)
    assert seen == [1, 2]
    for release in ("R4", "R5"):
        files = sorted(p.relative_to(tmp_path / "1") for p in (tmp_path / "1" / "fhir" / release).rglob("*")
                       if p.is_file())
        assert files and all((tmp_path / "1" / f).read_bytes() == (tmp_path / "2" / f).read_bytes() for f in files)


def test_fhir_workers_must_be_a_positive_number(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["convert", str(tmp_path), "--out", str(tmp_path / "out"), "--fhir-workers", "0"])
    assert stop.value.code == 2 and "--fhir-workers" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_summary_table_keeps_its_columns_and_the_whole_reason_of_a_failure():
    from trialbridge.converters.batch import StudyRun, summary_table

    reason = ("NATIVE-JSON registry.json:50:30: registry.json is not valid JSON: Expecting ',' delimiter "
              "(expected: a ClinicalTrials.gov API v2 study record)")
    table = summary_table([StudyRun("alpha", Path("a"), Path("o/a"), 0, warnings=10, seconds=13.3),
                           StudyRun("a-much-longer-study-name", Path("b"), Path("o/b"), 2, errors=1, seconds=0.7,
                                    reason=reason)]).splitlines()
    header, first, second = table[:3]
    for row in (first, second):  # the numbers stand under their headings
        assert row.index(" 0 " if row is first else " 2 ") + 1 == header.index("exit") + 3
        assert row[header.index("result"):].startswith("converted" if row is first else "failed: bad input")
    assert " ".join(line.strip() for line in table[3:5]) == reason  # said whole, wrapped, not cut in the middle
    assert all(len(line) <= 80 for line in table)
