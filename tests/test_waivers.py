"""Waivers: explained findings stay in every report with their justification and no longer set the exit
code; a waiver file with a mistake is refused whole (exit 2, naming the line); an unused waiver is said."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from damaged_package import BAD_DATES, write_damaged_package
from trialbridge.converters.cli import main
from trialbridge.converters.readers.waivers import read_waivers
from trialbridge.converters.validate import validate

HEADER = "rule,dataset,variable,pattern,justification,author,date\n"
ALL_ERRORS = (
    "SD-SUPP-PARENT,SUPPAE,,,AE was not submitted (agreed with the agency on 2024-05-02),J. Doe,2024-05-03\n"
    "SD-DTC-FORMAT,LB,LBDTC,??/02/2012,Legacy lab vendor dates; see the reviewer's guide 4.2,J. Doe,2024-05-03\n"
    "SD-TEST,LB,,,Sponsor test name kept as collected,A. Roe,2024-05-04\n"
    "SD-TESTCD,LB,LBTESTCD,=1+2,Test code from the lab vendor,A. Roe,2024-05-04\n"
    "SD-XPT-ASCII,TS,TSVAL,Etude*,Title kept in French,A. Roe,2024-05-04\n"
    "*,TS,,,Trial summary is completed in the next delivery,A. Roe,2024-05-04\n"
)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_damaged_package(tmp_path_factory.mktemp("waivers") / "package")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_explained_errors_stay_reported_but_no_longer_set_the_exit_code(package, tmp_path):
    waivers = write(tmp_path / "waivers.csv", HEADER + ALL_ERRORS)
    assert main(["validate", str(package)]) == 1
    assert main(["validate", str(package), "--waivers", str(waivers), "--report", str(tmp_path / "r")]) == 0
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert len(errors) >= 5 and {f["status"] for f in errors} == {"explained"}
    supp = next(f for f in errors if f["rule"] == "SD-SUPP-PARENT")
    assert supp["explanation"] == {"justification": "AE was not submitted (agreed with the agency on 2024-05-02)",
                                   "author": "J. Doe", "date": "2024-05-03", "source": "waivers.csv:2"}
    assert doc["summary"]["open_errors"] is False and doc["summary"]["by_status"]["explained"] > 500
    page = (tmp_path / "r" / "report.html").read_text()
    assert "AE was not submitted" in page and 'data-status="explained"' in page


def test_a_pattern_explains_only_the_records_it_matches(package, tmp_path):
    # 01/02 .. 09/02 match 0?/02/2012; the other day-first dates stay open
    waivers = write(tmp_path / "w.csv", HEADER + "SD-DTC-FORMAT,LB,LBDTC,0?/02/2012,Known,J. Doe,2024-05-03\n")
    found, problems = read_waivers(waivers)
    assert problems == []
    dates = [f for f in validate(package, waivers=found).findings if f.rule == "SD-DTC-FORMAT"]
    counts = sorted((f.status, f.count) for f in dates)
    explained = sum(1 for i in range(BAD_DATES) if (i % 28) + 1 < 10)
    assert counts == [("explained", explained), ("open", BAD_DATES - explained)]


def test_yaml_and_csv_waivers_are_the_same(tmp_path):
    csv_file = write(tmp_path / "w.csv", HEADER + ALL_ERRORS)
    yaml_file = write(tmp_path / "w.yaml", "waivers:\n" + "".join(
        f"  - {{rule: '{r}', dataset: '{d}', variable: '{v}', pattern: '{p}', justification: \"{j}\", "
        f"author: '{a}', date: {day}}}\n"
        for r, d, v, p, j, a, day in (line.split(",") for line in ALL_ERRORS.strip().splitlines())))
    (from_csv, p1), (from_yaml, p2) = read_waivers(csv_file), read_waivers(yaml_file)
    assert p1 == p2 == []
    strip = lambda ws: [(w.rule, w.dataset, w.variable, w.pattern, w.justification, w.author, w.date) for w in ws]
    assert strip(from_csv) == strip(from_yaml)


@pytest.mark.parametrize("line, said", [
    ("SD-NOPE,LB,,,x,J. Doe,2024-05-03\n", "rule 'SD-NOPE' is not a rule"),   # unknown rule
    ("SD-TEST,LB,,,x,J. Doe,03/05/2024\n", "is not YYYY-MM-DD"),             # bad date
    ("SD-TEST,LB,,,,J. Doe,2024-05-03\n", "justification is empty"),         # no justification
])
def test_a_waiver_file_with_a_mistake_is_refused_naming_the_line(package, tmp_path, capsys, line, said):
    waivers = write(tmp_path / "w.csv", HEADER + "SD-TEST,LB,,,fine,J. Doe,2024-05-03\n" + line)
    assert main(["validate", str(package), "--waivers", str(waivers), "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "WAIVER-FILE" in err and "w.csv:3" in err and said in err
    assert not (tmp_path / "r").exists()


def test_a_waiver_that_matches_nothing_is_reported(package, tmp_path):
    waivers = write(tmp_path / "w.csv", HEADER + "SD-DY,AE,AEDY,,stale,J. Doe,2024-05-03\n")
    found, _ = read_waivers(waivers)
    unused = [f for f in validate(package, waivers=found).findings if f.rule == "WAIVER-UNUSED"]
    assert [(f.location, f.severity) for f in unused] == [("w.csv:2", "info")]
