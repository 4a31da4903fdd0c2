"""`trialbridge registry` end to end on real records: one folder per study with TS/TA/TE/TI + define.xml,
FHIR study bundles and PRS XML; a bad file does not stop the others; the worst exit code; nothing
written when nothing converts; byte-identical re-runs; the independent FHIR judge when ../shared has it."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from trialbridge.converters.cli import main
from trialbridge.converters.xpt.files import read_xpt

FIXTURES = Path(__file__).parent / "fixtures"
FHIR_JUDGE = Path(__file__).resolve().parents[2] / "shared" / "judges" / "fhir" / "validate.sh"


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("registry") / "out"
    bad = tmp_path_factory.mktemp("bad") / "broken.json"
    bad.write_text("{", encoding="utf-8")
    code = main(["registry", str(FIXTURES / "registry"), str(FIXTURES / "ctgov"), str(bad), "--out", str(out), "--prs"])
    return code, out


def test_each_study_has_its_folder_and_the_bad_file_is_a_row(converted):
    code, out = converted
    assert code == 2  # the worst row: the unreadable file
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = {r["name"]: r for r in summary["records"]}
    studies = {p.name[:11] for folder in ("registry", "ctgov") for p in (FIXTURES / folder).glob("NCT*")}
    assert set(rows) == {"broken.json"} | studies and len(studies) >= 7
    assert rows["broken.json"]["exit_code"] == 2 and rows["broken.json"]["outputs"] == []
    # NCT00465816 (AACT kept two modules) has no start date: SSTDTC is TSVALNF UNK, a warning (REGISTRY-NO-START)
    for name in sorted(studies):
        assert rows[name]["exit_code"] == 0 and rows[name]["errors"] == 0
        expected = ["ta.xpt", "te.xpt", "ts.xpt"] if name == "NCT00465816" else ["ta.xpt", "te.xpt", "ti.xpt", "ts.xpt"]
        assert sorted(p.name for p in (out / name / "sdtm").glob("*.xpt")) == expected
        assert (out / name / "sdtm" / "define.xml").is_file()
        assert (out / name / "prs" / f"{name}.xml").is_file()
        assert (out / name / "fhir" / "R4" / "bundles.ndjson").is_file() and (out / name / "fhir" / "R5" / "bundles.ndjson").is_file()


def test_a_record_without_criteria_says_why_it_has_no_ti(converted):
    _, out = converted  # NCT00465816: AACT kept only the identification and references modules
    findings = json.loads((out / "NCT00465816" / "findings.json").read_text(encoding="utf-8"))["findings"]
    assert [(f["rule"], f["severity"]) for f in findings if f["rule"] == "TI-NO-CRITERIA"] == [("TI-NO-CRITERIA", "warning")]


def test_the_datasets_hold_the_registry_design(converted):
    _, out = converted
    ta, _ = read_xpt(out / "NCT03840122" / "sdtm" / "ta.xpt")
    ti, _ = read_xpt(out / "NCT03840122" / "sdtm" / "ti.xpt")
    ts, _ = read_xpt(out / "NCT03840122" / "sdtm" / "ts.xpt")
    assert set(ta["STUDYID"]) == set(ti["STUDYID"]) == set(ts["STUDYID"]) == {"18.1246"}
    assert len(ta) == 6 and sorted(set(ta["EPOCH"])) == ["FOLLOW-UP", "SCREENING", "TREATMENT"]
    assert sorted(ti["IETESTCD"]) == ["EXCL01", "EXCL02", "EXCL03", "EXCL04", "INCL01", "INCL02", "INCL03", "INCL04"]
    assert "NCT03840122" in set(ts.loc[ts["TSPARMCD"] == "REGID", "TSVAL"])


def test_the_study_bundle_holds_the_research_study(converted):
    _, out = converted
    bundle = json.loads((out / "NCT04207047" / "fhir" / "R5" / "bundles.ndjson").read_text(encoding="utf-8").splitlines()[0])
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types[0] == "ResearchStudy" and "Patient" not in types
    assert {"Organization", "Location", "Group"} <= set(types)


def test_rerun_is_byte_identical(converted, tmp_path):
    _, out = converted
    again = tmp_path / "again"
    assert main(["registry", str(FIXTURES / "registry" / "NCT03840122.xml"), "--out", str(again), "--prs"]) == 0
    for path in (again / "NCT03840122").rglob("*"):
        if path.is_file() and path.name != "findings.json":
            assert path.read_bytes() == (out / "NCT03840122" / path.relative_to(again / "NCT03840122")).read_bytes(), path


def test_an_earlier_output_is_replaced_only_with_force(tmp_path):
    record = str(FIXTURES / "registry" / "NCT03840122.xml")
    out = tmp_path / "out"
    assert main(["registry", record, "--out", str(out), "--fhir", "none"]) == 0
    assert main(["registry", record, "--out", str(out), "--fhir", "none"]) == 2  # refused, untouched
    assert main(["registry", record, "--out", str(out), "--fhir", "none", "--force"]) == 0
    assert main(["registry", record, "--out", str(FIXTURES / "registry"), "--fhir", "none"]) == 2  # never an input


def test_nothing_is_written_when_no_study_converts(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<not_a_registry_record/>", encoding="utf-8")
    assert main(["registry", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_search_page_studies_each_get_a_folder(tmp_path):
    studies = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((FIXTURES / "ctgov").glob("NCT*.json"))]
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"studies": studies}), encoding="utf-8")
    assert main(["registry", str(page), "--out", str(tmp_path / "out"), "--fhir", "none"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "NCT04207047", "NCT06171568", "summary.json", "trialbridge-manifest.sha256"]


@pytest.mark.skipif(not FHIR_JUDGE.exists() or shutil.which("node") is None,
                    reason="the FHIR judge (../shared/judges/fhir) or node is not available")
@pytest.mark.parametrize("release", ["R4", "R5"])
def test_fhir_judge_accepts_the_study_bundles(converted, release):
    _, out = converted
    for name in ("NCT00208312", "NCT03840122", "NCT06171568"):
        done = subprocess.run(["bash", str(FHIR_JUDGE), release, str(out / name / "fhir" / release / "bundles.ndjson")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
