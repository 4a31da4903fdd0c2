"""report.json / report.html / report.xlsx, from `validate --report` on a damaged package and from
`convert`: the JSON against its schema with true checksums, the page in headless Chromium (no console
message, the numbers of report.json, input text escaped), the workbook read back with openpyxl."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from html import escape
from importlib import resources
from pathlib import Path

import jsonschema
import openpyxl
import pytest
from lxml import html

from conftest import write_native_folder
from damaged_package import BAD_DATES, FORMULA, MARKUP, SUPP_RECORDS, write_damaged_package
from trialbridge.converters import pipeline
from trialbridge.converters.cli import main

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def schema() -> dict:
    return json.loads(resources.files("trialbridge.schemas").joinpath("report/report.schema.json").read_text())


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`validate --report` on the damaged package: the report folder."""
    folder = tmp_path_factory.mktemp("damaged")
    write_damaged_package(folder / "package")
    assert main(["validate", str(folder / "package"), "--report", str(folder / "report")]) == 1
    return folder / "report"


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pipeline.RunResult]:
    folder = tmp_path_factory.mktemp("converted")
    native = write_native_folder(folder / "native").path
    result = pipeline.convert(native, folder / "out", fhir_releases=("R4",))
    assert result.exit_code in (0, 1)
    return folder / "out", result


def document(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


def test_report_json_follows_its_schema(damaged, converted):
    for folder in (damaged, converted[0]):
        jsonschema.Draft202012Validator(schema()).validate(document(folder))


def test_the_damaged_package_gives_a_handful_of_triageable_findings(damaged):
    doc = document(damaged)
    by_rule = {f["rule"]: f for f in doc["findings"]}
    assert by_rule["SD-SUPP-PARENT"]["count"] == SUPP_RECORDS  # one finding for the missing AE, not 500
    assert len([f for f in doc["findings"] if f["rule"] == "SD-SUPP-PARENT"]) == 1
    dates = by_rule["SD-DTC-FORMAT"]
    assert (dates["dataset"], dates["variable"], dates["count"]) == ("LB", "LBDTC", BAD_DATES)
    assert [r["row"] for r in dates["records"]] == list(range(1, BAD_DATES + 1))  # numeric order
    assert [(k["rule"], k["count"]) for k in dates["knock_on"]] == [("SD-DY", BAD_DATES)]
    assert "SD-DY" not in by_rule
    assert doc["summary"]["findings_by_severity"]["error"] <= 8  # a handful (TS without SSTDTC is one more)
    assert {r["rule"]: r["status"] for r in doc["rules"]}["SD-SUPP-PARENT"] == "issues"
    assert doc["input"]["kind"] == "SDTM package"


def test_checksums_are_those_of_the_files(converted):
    out, result = converted
    doc = document(out)
    assert doc["outputs"] and all(
        hashlib.sha256((out / e["path"]).read_bytes()).hexdigest() == e["sha256"] for e in doc["outputs"])
    assert {e["path"] for e in doc["outputs"]} >= {"findings.json", "sdtm/dm.xpt", "sdtm/define.xml"}
    assert {p.name for p in result.outputs} >= {"report.json", "report.html", "report.xlsx", "dm.xpt"}
    assert doc["reconciliation"] == json.loads((out / "findings.json").read_text())["reconciliation"]
    assert doc["standards"]["SDTMIG"] == "3.4" and "seconds" not in doc["run"]  # re-runs give the same bytes


def _dom(page: Path, tmp_path: Path) -> tuple[html.HtmlElement, str]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (Debian package `chromium`); CI installs it")
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and "<html" in run.stdout, run.stderr[-2000:]
    return html.fromstring(run.stdout), run.stderr


@pytest.mark.parametrize("which", ["damaged", "converted"])
def test_the_page_loads_without_console_messages_and_shows_the_numbers_of_report_json(which, damaged, converted,
                                                                                   tmp_path):
    folder = damaged if which == "damaged" else converted[0]
    doc = document(folder)
    dom, log = _dom(folder / "report.html", tmp_path)
    assert [line for line in log.splitlines() if ":CONSOLE" in line] == []
    assert dom.xpath("//body/@data-ready") == ["1"]  # the filter script ran to its end
    shown = {c.get("data-count"): int(c.text_content()) for c in dom.xpath("//table[@id='summary']//td")}
    summary = doc["summary"]
    assert shown["findings"] == summary["findings"] and shown["records"] == summary["records"]
    assert shown["error records"] == summary["by_severity"]["error"]
    assert shown["explained records"] == summary["by_status"]["explained"]
    rows = dom.xpath("//tr[contains(@class, 'finding')]")
    assert sorted(r.get("id") for r in rows) == sorted(f["id"] for f in doc["findings"])
    assert sum(int(r.get("data-count")) for r in rows) == summary["records"]
    bars = {t.get("data-dataset"): int(t.text_content()) for t in dom.xpath("//*[@class='bar-total']")}
    assert bars == {d["dataset"]: d["errors"] + d["warnings"] + d["notes"] for d in doc["datasets"]
                    if d["errors"] + d["warnings"] + d["notes"]}
    assert len(dom.xpath("//script")) == 1  # input text never becomes markup
    assert not dom.xpath("//*[@src or @href[not(starts-with(., '#'))]]")  # nothing fetched


def test_input_text_is_escaped_in_the_page(damaged):
    text = (damaged / "report.html").read_text(encoding="utf-8")
    assert MARKUP not in text and escape(MARKUP) in text
    page = html.fromstring(text.encode())
    assert len(page.xpath("//script")) == 1 and MARKUP in page.text_content()


def test_the_workbook_has_the_four_sheets_with_every_record(damaged):
    doc = document(damaged)
    book = openpyxl.load_workbook(damaged / "report.xlsx", read_only=True)
    assert book.sheetnames == ["Dataset Summary", "Issue Summary", "Details", "Rules"]
    issues = list(book["Issue Summary"].iter_rows(min_row=2, values_only=True))
    assert len(issues) == len(doc["findings"]) and sum(r[6] for r in issues) == doc["summary"]["records"]
    details = list(book["Details"].iter_rows(min_row=2, values_only=True))
    knock = sum(k["count"] for f in doc["findings"] for k in f["knock_on"])
    assert len(details) == doc["summary"]["records"] + knock
    full = openpyxl.load_workbook(damaged / "report.xlsx")
    cells = [c for row in full["Details"].iter_rows() for c in row if c.value == FORMULA]
    assert all(full[name].freeze_panes == "A2" and full[name]["A1"].font.bold for name in full.sheetnames)
    assert cells and {c.data_type for c in cells} == {"s"}  # input text stays text, never a formula
    datasets = {r[0]: r for r in book["Dataset Summary"].iter_rows(min_row=2, values_only=True)}
    assert datasets["SUPPAE"][1] == SUPP_RECORDS and datasets["ADSL"][1] == 6
    rules = {r[0]: r for r in book["Rules"].iter_rows(min_row=2, values_only=True)}
    assert rules["SD-REQ-PRESENT"][9] == "SD0056" and rules["SD-SUPP-PARENT"][3] == "issues"


def test_a_report_folder_is_replaced_only_with_force(tmp_path):
    package = write_damaged_package(tmp_path / "package")
    report = tmp_path / "report"
    assert main(["validate", str(package), "--report", str(report)]) == 1
    first = (report / "report.json").read_bytes()
    assert main(["validate", str(package), "--report", str(report)]) == 2  # an earlier report: needs --force
    assert (report / "report.json").read_bytes() == first
    assert main(["validate", str(package), "--report", str(report), "--force"]) == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's file")
    assert main(["validate", str(package), "--report", str(tmp_path / "mine"), "--force"]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "a user's file"
