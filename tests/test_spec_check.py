"""`spec check`: each fault planted in a copy of a working spec (examples/sdtm-oak-vs in the tool's format,
examples/sdtm-oak-cm in sdtm.oak's) gives its finding at the right file:row:column, and all of them are
reported at once; the shipped specs check clean."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trialbridge.converters.cli import main
from trialbridge.converters.spec_tools.check import check_spec

ROOT = Path(__file__).resolve().parents[1]
VS, CM = ROOT / "examples" / "sdtm-oak-vs", ROOT / "examples" / "sdtm-oak-cm"

# (file, text replaced, replacement) -> (rule, location); rows counted with the header as row 1
FAULTS = {
    "unknown algorithm": (("spec/mappings.csv", "VS,VSCAT,hardcode_no_ct", "VS,VSCAT,hardcode_txt"),
                          [("SPEC-CHECK-ALGORITHM", "spec/mappings.csv:45:algorithm")]),
    "variable not in SDTMIG VS": (("spec/mappings.csv", "VS,VSPOS,assign_ct,,SUBPOS,C71148,,,,position",
                                   "VS,VSPOSX,assign_ct,,SUBPOS,C71148,,,,position"),
                                  [("SPEC-CHECK-VARIABLE", "spec/mappings.csv:11:variable")]),
    "codelist not in CT": (("spec/mappings.csv", "VS,VSLAT,assign_ct,,LAT,C99073", "VS,VSLAT,assign_ct,,LAT,C99999"),
                           [("SPEC-CHECK-CODELIST", "spec/mappings.csv:39:codelist")]),
    "raw column missing": (("spec/mappings.csv", "VS,VSORRES,assign_no_ct,,PULSE,", "VS,VSORRES,assign_no_ct,,PULSEX,"),
                           [("SPEC-CHECK-RAW-COLUMN", "spec/mappings.csv:21:source_variable")]),
    "collected value outside a non-extensible codelist": (
        ("spec/mappings.csv", "VS,VSLAT,assign_ct,,LAT,C99073", "VS,VSLAT,assign_ct,,LAT,C66742"),
        [("SPEC-CHECK-CT-UNMAPPED", "spec/mappings.csv:39:source_variable")] * 2),
    "collected value would extend a codelist": (("vitals_raw_data.csv", "40.48,SKIN,", "40.48,NOWHERE,"),
                                                [("SPEC-CHECK-CT-EXTENDED", "spec/mappings.csv:33:source_variable")]),
    "condition syntax": (("spec/mappings.csv", "SYS_BP is present", "SYS_BP is presnt"),
                         [("SPEC-CHECK-CONDITION", "spec/mappings.csv:6:condition")]),
    "declared variable filled by no step": (("spec/variables.csv", "VS,VSLAT,Collected", "VS,VSSCAT,Collected"),
                                            [("SPEC-CHECK-UNFILLED", "spec/variables.csv:17:variable")]),
    "record set from an unknown raw dataset": (("spec/mappings.csv", "VS,,record_set,vitals,,,,ASMNTDN",
                                                "VS,,record_set,vitalz,,,,ASMNTDN"),
                                               [("SPEC-CHECK-SOURCE", "spec/mappings.csv:2:source")]),
    "date layout unknown": (("spec/mappings.csv", "format=dd-MMM-yy;H:nn", "format=dd-MMM-yq;H:nn"),
                            [("SPEC-CHECK-LAYOUT", "spec/mappings.csv:49:arguments")]),
    "hard-coded value outside a non-extensible codelist": (("spec/mappings.csv", "C66789,NOT DONE", "C66789,NOTDONE"),
                                                           [("SPEC-CHECK-HARDCODE", "spec/mappings.csv:5:value")]),
}


def _planted(tmp_path: Path, *faults: tuple[str, str, str]) -> Path:
    folder = tmp_path / "vs"
    shutil.copytree(VS, folder)
    for file, old, new in faults:
        path = folder / file
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, (file, old)
        path.write_text(text.replace(old, new), encoding="utf-8")
    return folder


def _problems(spec: Path, raw: Path | None = None) -> list[tuple[str, str]]:
    return sorted((f.rule, f.location.split("/", 1)[-1] if f.location.startswith("vs/") else f.location)
                  for f in check_spec(spec, raw).findings if f.severity != "info")


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_planted_fault_is_found_at_its_place(tmp_path: Path, fault: str) -> None:
    edit, expected = FAULTS[fault]
    folder = _planted(tmp_path, edit)
    assert _problems(folder / "spec") == sorted(expected)


def test_every_fault_is_reported_at_once_and_the_command_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    together = {name: fault for name, fault in FAULTS.items()  # one edit per row: VSLAT's codelist is C99999 here
                if name != "collected value outside a non-extensible codelist"}
    folder = _planted(tmp_path, *(edit for edit, _ in together.values()))
    expected = sorted(pair for _, pairs in together.values() for pair in pairs)
    # the unknown record-set source hides nothing else: its own columns are not checked
    assert _problems(folder / "spec") == expected
    assert main(["spec", "check", str(folder / "spec"), "--max-shown", "50"]) == 2
    err = capsys.readouterr().err
    assert "spec/mappings.csv:45:algorithm" in err and "spec/variables.csv:17:variable" in err


@pytest.mark.parametrize("spec", [ROOT / "examples" / "revallo" / "spec", VS / "spec", CM / "spec"])
def test_the_shipped_specs_check_without_errors(spec: Path) -> None:
    result = check_spec(spec)
    assert result.exit_code == 0, [(f.rule, f.location) for f in result.findings if f.severity == "error"]
    assert "raw datasets of" in result.summary


def test_without_raw_data_only_the_spec_is_checked(tmp_path: Path) -> None:
    folder = _planted(tmp_path, FAULTS["raw column missing"][0], FAULTS["codelist not in CT"][0])
    shutil.copytree(folder / "spec", tmp_path / "alone")
    result = check_spec(tmp_path / "alone")
    assert [(f.rule, f.location.split("/", 1)[1]) for f in result.findings] == [("SPEC-CHECK-CODELIST", "mappings.csv:39:codelist")]
    assert "not checked" in result.summary


def test_sdtm_oak_spec_faults_are_located_in_the_sdtm_oak_file(tmp_path: Path) -> None:
    folder = tmp_path / "cm"
    shutil.copytree(CM, folder)
    spec = folder / "spec" / "cm_sdtm_oak_spec.csv"
    text = spec.read_text(encoding="utf-8-sig")
    text = text.replace("DOSU,Dose unit", "DOSUX,Dose unit").replace("MDONG,,,Checked", "MDONG,,,Ticked", 1)
    spec.write_text(text, encoding="utf-8")
    found = [(f.rule, f.location) for f in check_spec(folder / "spec").findings if f.severity == "error"]
    assert sorted(found) == [("SPEC-CHECK-RAW-COLUMN", "spec/cm_sdtm_oak_spec.csv:23:raw_variable"),
                             ("SPEC-OAK-OPERATOR", "spec/cm_sdtm_oak_spec.csv:18:condition_operator")]


def test_a_workbook_spec_is_located_by_sheet(tmp_path: Path) -> None:
    """The same spec as one .xlsx workbook (a sheet per table): a fault is reported at sheet, row and column."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("openpyxl")  # the optional workbook reader
    folder = _planted(tmp_path, FAULTS["unknown algorithm"][0])
    with pd.ExcelWriter(folder / "spec.xlsx", engine="openpyxl") as book:
        for table in sorted((folder / "spec").glob("*.csv")):
            pd.read_csv(table, dtype=str, keep_default_na=False).to_excel(book, sheet_name=table.stem, index=False)
    shutil.rmtree(folder / "spec")
    found = [(f.rule, f.location) for f in check_spec(folder / "spec.xlsx").findings if f.severity == "error"]
    assert found == [("SPEC-CHECK-ALGORITHM", "spec.xlsx[mappings]:45:algorithm")]
