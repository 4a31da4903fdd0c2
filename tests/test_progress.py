"""Progress: a display per stage on a terminal (80 columns), one JSON object per line with
--log-format json, nothing when not a terminal or with --quiet."""
from __future__ import annotations

import io
import json
import re

from conftest import write_native_folder
from trialbridge.converters import pipeline
from trialbridge.converters.cli import main
from trialbridge.converters.progress import JsonLog, Progress, Terminal, fit, make_progress

STAGES = ["read and check the study's records", "map SDTM", "FHIR R4", "SDTM package: XPT, define.xml, checks",
          "reports: json, html, xlsx"]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_log_is_one_object_per_line_stage_by_stage(tmp_path, capsys):
    native = write_native_folder(tmp_path / "native")
    code = main(["convert", str(native.path), "--out", str(tmp_path / "out"), "--fhir", "R4", "--log-format", "json"])
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]  # every line is JSON, nothing else is printed
    assert [e["stage"] for e in events if e["event"] == "stage"] == STAGES
    assert [e["stage"] for e in events if e["event"] == "stage-done"] == STAGES
    assert all(e["seconds"] >= 0 for e in events if e["event"] == "stage-done")
    assert events[-2]["event"] == "done" and events[-1]["event"] == "result"
    assert events[-1]["exit_code"] == code and events[-1]["outputs"] > 10


def test_a_terminal_sees_each_stage_within_80_columns():
    stream = Tty()
    progress = make_progress(stream=stream)
    assert isinstance(progress, Terminal)
    progress.stage("read and check", path="/a/very/long/path/" + "x" * 200)
    progress.stage("map SDTM")
    progress.done()
    progress.event("result", exit_code=0, errors=0, warnings=3)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    lines = [line for chunk in text.split("\r") for line in chunk.split("\n") if line.strip()]
    assert any(line.strip().startswith("map SDTM") for line in lines)
    assert "result: exit code 0, errors 0, warnings 3" in text
    assert max(len(line) for line in lines) <= 80


def test_silent_when_not_a_terminal_or_quiet():
    assert type(make_progress(stream=io.StringIO())) is Progress
    assert type(make_progress(quiet=True, stream=Tty())) is Progress
    assert isinstance(make_progress(log_format="json", stream=io.StringIO()), JsonLog)


def test_the_api_runs_silently_by_default(tmp_path, capsys):
    native = write_native_folder(tmp_path / "native")
    pipeline.convert(native.path, tmp_path / "out", fhir_releases=())
    assert capsys.readouterr().err == ""


def test_fit_keeps_both_ends():
    assert fit("a" * 50 + "b" * 50) == "a" * 38 + "..." + "b" * 39 and len(fit("x" * 200)) == 80


def test_findings_and_the_summary_fit_an_80_column_terminal_and_stay_one_line_each_in_a_file(tmp_path, monkeypatch):
    from trialbridge.converters.reports.findings import print_findings
    from trialbridge.schemas.findings import finding

    monkeypatch.setenv("COLUMNS", "80")
    native = write_native_folder(tmp_path / "native")
    result = pipeline.convert(native.path, tmp_path / "out", fhir_releases=())
    assert result.findings  # the example has warnings and notes with long messages, values and hints
    assert all(len(line) <= 80 or " " not in line.strip() for line in result.summary.splitlines())  # a path is never cut
    terminal, log = Tty(), io.StringIO()
    print_findings(result.findings, terminal)
    print_findings(result.findings, log)
    assert max(len(line) for line in terminal.getvalue().splitlines()) <= 80
    assert max(len(line) for line in log.getvalue().splitlines()) > 80  # a file keeps one line per finding
    long = finding("SD-CT-EXT", "lb:LBTEST:13", ["Donor Chimerism " * 8], dataset="LB", variable="LBTEST",
                   codelist="C67154", codelist_name="Laboratory Test Name", ct="2025-03-28")
    heading = Tty()
    print_findings([long], heading)
    first, *rest = heading.getvalue().splitlines()
    assert first.split() == ["WARNING", "SD-CT-EXT", "lb:LBTEST:13"]  # the rule and place head the block
    assert " ".join(" ".join(line.split()) for line in rest[:-1]).startswith(" ".join(long.message.split()))
