"""A second native-format study, not REVALLO (tests/fixtures/kiwi): its checks and its conversion come from
its spec and row schemas alone, with no line of code about it.

KIWI-01 has two forms (`patients.csv`, the subject register, `shots.csv`) with their own column names,
codes, keys, conditional requirements and date order, declared in `spec/forms/*.schema.json` and the
spec's sources table (`subject`, `site`, `enrols`).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trialbridge.converters.pipeline import convert, read_study
from trialbridge.converters.xpt.files import read_xpt

KIWI = Path(__file__).parent / "fixtures" / "kiwi"


@pytest.fixture
def kiwi(tmp_path: Path) -> Path:
    folder = tmp_path / "kiwi"
    shutil.copytree(KIWI, folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path.name, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def located(findings) -> set[tuple[str, str, str]]:
    return {(f.severity, f.rule, f.location) for f in findings}


def test_the_second_study_converts_from_its_spec_and_schemas(kiwi: Path, tmp_path: Path) -> None:
    result = convert(kiwi, tmp_path / "out", fhir_releases=())
    assert result.exit_code in (0, 1) and not [f for f in result.findings if f.severity == "error"]
    dm, _ = read_xpt(tmp_path / "out" / "sdtm" / "dm.xpt")
    ex, _ = read_xpt(tmp_path / "out" / "sdtm" / "ex.xpt")
    assert list(dm["USUBJID"]) == ["KIWI-01-P-101", "KIWI-01-P-102", "KIWI-01-P-201"]
    assert list(dm["SEX"]) == ["F", "M", "M"] and list(dm["SITEID"]) == ["A1", "A1", "B2"]
    assert list(dm["RFICDTC"]) == ["2024-03-04", "2024-03-06", "2024-03-11"]
    assert list(dm["RFSTDTC"]) == ["2024-03-05", "2024-03-07", "2024-03-12"]
    assert list(ex["EXSTDTC"]) == ["2024-03-05", "2024-04-02", "2024-03-07", "2024-03-12"]
    assert list(ex["EXSEQ"]) == [1, 2, 1, 1] and set(ex["EXDOSE"]) == {0.5}


def test_bad_records_of_the_second_study_are_found_precisely(kiwi: Path, tmp_path: Path) -> None:
    edit(kiwi / "patients.csv", "A1,P-101,2024-03-04,FEMALE,1980,", "A1,P-101,2024-03-04,FEMALE,1850,")  # x-maximum
    edit(kiwi / "patients.csv", "B2,P-201,2024-03-11,MALE,1990,,", "B2,P-201,2024-03-11,MALE,1990,70,")  # no unit
    edit(kiwi / "shots.csv", "A1,P-101,1,2024-03-05,", "A1,P-101,1,2024-03-01,")  # before consent (x-not-before)
    edit(kiwi / "shots.csv", "A1,P-102,1,", "B2,P-102,1,")  # enrolled at A1
    edit(kiwi / "shots.csv", "B2,P-201,1,2024-03-12,0.5,YES,", "B2,P-201,1,2024-03-12,0.5,NO,")  # no REASON
    with (kiwi / "shots.csv").open("a", encoding="utf-8") as out:
        out.write("C3,P-999,1,2024-03-09,0.5,YES,\n")  # not enrolled
        out.write("A1,P-101,2,2024-04-03,3,MAYBE,\n")  # key again, volume over x-maximum, code outside enum
    result = convert(kiwi, tmp_path / "out", fhir_releases=())
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    trial, findings = read_study(kiwi)  # every finding (the report folds those with the same message)
    assert trial is None and located(findings) == {
        ("error", "NATIVE-RANGE", "patients.csv:2:BIRTHYR"),
        ("error", "NATIVE-CONDITIONAL", "patients.csv:4:WTUNIT"),
        ("warning", "NATIVE-DATE-ORDER", "shots.csv:2:SHOTDATE"),
        ("error", "NATIVE-SITE-MISMATCH", "shots.csv:4:CENTRE"),
        ("error", "NATIVE-CONDITIONAL", "shots.csv:5:REASON"),
        ("error", "NATIVE-NOT-ENROLLED", "shots.csv:6:PATNO"),
        ("error", "NATIVE-KEY-DUPLICATE", "shots.csv:3"),
        ("error", "NATIVE-KEY-DUPLICATE", "shots.csv:7"),
        ("error", "NATIVE-RANGE", "shots.csv:7:VOLUME"),
        ("error", "NATIVE-CODE", "shots.csv:7:GIVEN"),
    }
    messages = {f.location: f.message for f in findings}
    assert messages["shots.csv:2:SHOTDATE"] == ("SHOTDATE 2024-03-01 is before ICDATE 2024-03-04 of subject P-101 "
                                                "(patients.csv line 2); expected ICDATE on or before SHOTDATE")
    assert "P-999 is not enrolled; expected a PATNO of patients.csv" in messages["shots.csv:6:PATNO"]
    assert "enrolled at site 'A1' (patients.csv line 3)" in messages["shots.csv:4:CENTRE"]
    assert "REASON is required when GIVEN is 'NO'" in messages["shots.csv:5:REASON"]


def test_a_csv_source_with_a_schema_gets_the_same_checks(kiwi: Path) -> None:
    edit(kiwi / "spec" / "sources.csv", "shots,shots.csv,native,", "shots,shots.csv,csv,")
    edit(kiwi / "shots.csv", "A1,P-102,1,2024-03-07,0.5,", "B2,P-102,1,2024-03-07,1.5,")
    trial, findings = read_study(kiwi)
    assert trial is None
    assert located(findings) == {("error", "NATIVE-RANGE", "shots.csv:4:VOLUME"),
                                 ("error", "NATIVE-SITE-MISMATCH", "shots.csv:4:CENTRE")}


def test_a_source_without_a_schema_is_read_as_plain_tabular_data(kiwi: Path) -> None:
    edit(kiwi / "spec" / "sources.csv", "shots,shots.csv,native,\",\",.,utf-8,,PATNO,forms/shots.schema.json,",
         "shots,shots.csv,csv,\",\",.,utf-8,,PATNO,,")
    edit(kiwi / "shots.csv", "A1,P-102,1,2024-03-07,0.5,", "A1,P-102,1,2024-03-07,15,")  # no schema: no range
    trial, findings = read_study(kiwi)
    assert trial is not None and not [f for f in findings if f.severity == "error"]
    assert list(trial.forms["shots"]["VOLUME"]) == ["0.5", "0.5", "15", "0.5"]


def _schema(folder: Path, name: str) -> tuple[Path, dict]:
    path = folder / "spec" / "forms" / f"{name}.schema.json"
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_a_schema_the_checks_do_not_understand_is_a_spec_finding(kiwi: Path, tmp_path: Path) -> None:
    path, schema = _schema(kiwi, "shots")
    schema["properties"]["GIVEN"]["oneOf"] = [{"const": "YES"}]
    path.write_text(json.dumps(schema), encoding="utf-8")
    result = convert(kiwi, tmp_path / "out", fhir_releases=())
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    [found] = [f for f in result.findings if f.severity == "error"]
    assert (found.rule, found.location) == ("SPEC-SCHEMA", "spec/sources.csv:3:schema")
    assert "properties.GIVEN" in found.message and "oneOf" in found.message
    path.write_text("{not json", encoding="utf-8")
    _, findings = read_study(kiwi)
    assert [(f.rule, f.location) for f in findings] == [("SPEC-SCHEMA", "spec/sources.csv:3:schema")]
    path.unlink()
    _, findings = read_study(kiwi)
    assert [f.rule for f in findings] == ["SPEC-SCHEMA"] and "no such file" in findings[0].message


def test_dates_may_only_follow_the_dataset_that_enrols_subjects(kiwi: Path) -> None:
    path, schema = _schema(kiwi, "shots")
    schema["properties"]["SHOTDATE"]["x-not-before"] = ["vitals.VSDATE"]
    path.write_text(json.dumps(schema), encoding="utf-8")
    _, findings = read_study(kiwi)
    assert [(f.rule, f.location) for f in findings] == [("SPEC-ENROLMENT", "spec/sources.csv:3:schema")]
    assert "vitals does not enrol subjects; expected patients.<column>" in findings[0].message
    edit(kiwi / "spec" / "sources.csv", "forms/shots.schema.json,CENTRE,", "forms/shots.schema.json,CENTRE,yes")
    _, findings = read_study(kiwi)
    assert ("SPEC-ENROLMENT", "spec/sources.csv:3:enrols") in [(f.rule, f.location) for f in findings]


def test_no_revallo_form_or_crf_column_is_named_in_converter_or_mapping_code() -> None:
    """REVALLO's forms and CRF columns live in its spec (examples/revallo/spec/): no `mappings/` or
    `converters/` module names them, except the generator of REVALLO-like data (`converters/synth/`)."""
    import re

    root = Path(__file__).resolve().parents[1]
    spec = root / "examples" / "revallo" / "spec"
    sources = (spec / "sources.csv").read_text(encoding="utf-8").splitlines()[1:]
    forms = [line.split(",")[0] for line in sources if line]
    columns = set().union(*(json.loads(p.read_text(encoding="utf-8"))["properties"]
                            for p in (spec / "forms").glob("*.schema.json")))
    sdtm = {line.split(",")[1] for line in (spec / "variables.csv").read_text(encoding="utf-8").splitlines()}
    cdisc = sdtm | {"DOSE"}  # SUBJID, SITEID, AETERM, ... are SDTM variables; DOSE a TS parameter code
    crf_only = sorted(columns - cdisc)
    assert len(forms) == 6 and len(crf_only) > 30
    word = re.compile(r"\b(" + "|".join(crf_only) + r")\b")
    quoted = [f for f in forms if f not in ("response", "laboratory")]  # also FHIR words ("laboratory" category)
    form = re.compile(r"[\"'](" + "|".join(quoted) + r")[\"']|\b(" + "|".join(forms) + r")\.csv\b")
    code = [p for folder in ("converters", "mappings") for p in (root / folder).rglob("*.py")
            if "synth" not in p.relative_to(root).parts]
    found = [(p.relative_to(root).as_posix(), m.group(0)) for p in code
             for m in [*word.finditer(p.read_text(encoding="utf-8")), *form.finditer(p.read_text(encoding="utf-8"))]]
    assert found == []


def test_the_example_spec_is_the_generator_spec_byte_for_byte(tmp_path: Path) -> None:
    """examples/revallo/spec/ and the package data the generator writes (revallo_spec/, forms/ included)."""
    from trialbridge.converters.synth.generator import write_spec

    written = write_spec(tmp_path / "spec")
    example = Path(__file__).resolve().parents[1] / "examples" / "revallo" / "spec"
    assert sum(1 for name in written if name.startswith("spec/forms/")) == 6
    for name in written:
        assert (tmp_path / name).read_bytes() == (example / name.removeprefix("spec/")).read_bytes(), name
