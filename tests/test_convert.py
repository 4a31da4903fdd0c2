"""`trialbridge convert` end to end on real files: the REVALLO example and generated studies.

What a reviewer relies on: the package is complete, every native row is accounted for, the XPT files
hold exactly what the mappings produced (read back with pyreadstat), the variables follow SDTMIG 3.4,
re-runs are byte-identical, and bad input leaves nothing behind.
"""
from __future__ import annotations

import json
import shutil
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from trialbridge.converters.pipeline import read_study as read_native
from trialbridge.converters.sdtm_package import map_sdtm
from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE
from trialbridge.converters.fhir.bundle import read_bundles
from trialbridge.converters.xpt.files import prepare_for_xpt, read_xpt
from trialbridge.schemas.sdtm_permissible import without_empty_permissible
from trialbridge.schemas.sdtm_standards import sdtmig_variables
from revallo_domains import study_spec

EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"
REQUIRED_FILES = {"dm.xpt", "ex.xpt", "ae.xpt", "rs.xpt", "lb.xpt", "ds.xpt", "ts.xpt", "define.xml", "define.html",
                  "define2-1.xsl"}


def convert(source: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trialbridge.converters.cli", "convert", str(source),
                           "--out", str(out), *extra], capture_output=True, text=True)


@pytest.fixture(scope="module")
def revallo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("revallo") / "out"
    result = convert(EXAMPLE, out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_the_example_converts_with_zero_error_findings(revallo):
    report = json.loads((revallo / "findings.json").read_text(encoding="utf-8"))
    assert report["counts"]["by_severity"].get("error", 0) == 0
    assert REQUIRED_FILES <= {p.name for p in (revallo / "sdtm").iterdir()}


def test_every_native_row_is_written_or_rejected_and_the_counts_are_in_findings_json(revallo):
    trial, _ = read_native(EXAMPLE)
    reconciliation = json.loads((revallo / "findings.json").read_text(encoding="utf-8"))["reconciliation"]
    for form, table in trial.forms.items():
        counts = reconciliation[table[SOURCE_FILE].iloc[0]]
        assert counts["read"] == len(table)
        assert counts["written"] + counts["rejected"] == counts["read"]
        assert counts["lost"] == 0
    assert reconciliation["dosing.csv"]["rows_carried_by_dataset"]["EX"] == len(trial.forms["dosing"])
    carried = reconciliation["laboratory.csv"]["rows_carried_by_dataset"]  # flow-cytometry counts in CP
    assert (carried["LB"], carried["CP"]) == (1044, 270) and 1044 + 270 == len(trial.forms["laboratory"])


def test_xpt_files_read_back_to_exactly_the_values_the_mappings_produced(revallo):
    trial, _ = read_native(EXAMPLE)
    spec, tables, _ = without_empty_permissible(study_spec(), map_sdtm(trial).tables)  # as the package does
    for name, table in tables.items():
        expected, _ = prepare_for_xpt(table, spec.dataset(name))
        frame, meta = read_xpt(revallo / "sdtm" / f"{name.lower()}.xpt")
        assert meta.dataset == name
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected.reset_index(drop=True),
                                      check_dtype=False, obj=name)


def test_variables_order_labels_and_types_follow_sdtmig_3_4(revallo):
    ig = sdtmig_variables()
    for name in ("DM", "EX", "AE", "DS", "RS", "LB", "TS"):
        _, meta = read_xpt(revallo / "sdtm" / f"{name.lower()}.xpt")
        rows = ig[ig["Dataset Name"] == name].set_index("Variable Name")
        names = [c.name for c in meta.columns]
        order = [int(rows.loc[n, "Variable Order"]) for n in names]
        assert order == sorted(order), f"{name} columns are not in SDTMIG order"
        for column in meta.columns:
            assert column.label == rows.loc[column.name, "Variable Label"], (name, column.name)
            assert column.type == rows.loc[column.name, "Type"], (name, column.name)


def test_the_site_name_is_written_in_ascii_and_the_change_is_reported(revallo):
    report = json.loads((revallo / "findings.json").read_text(encoding="utf-8"))
    changed = [f for f in report["findings"] if f["rule"].startswith("XPT-ASCII")]
    assert changed, "accented verbatim terms must be reported when transliterated"
    for xpt in (revallo / "sdtm").glob("*.xpt"):
        frame, _ = read_xpt(xpt)
        for column in frame.columns:
            if frame[column].dtype == object:
                assert frame[column].map(lambda v: v.isascii()).all(), (xpt.name, column)


def test_a_rerun_is_byte_identical(revallo, tmp_path):
    again = tmp_path / "again"
    assert convert(EXAMPLE, again).returncode == 0
    for first in sorted(revallo.rglob("*")):
        if first.is_file():
            second = again / first.relative_to(revallo)
            assert first.read_bytes() == second.read_bytes(), first.relative_to(revallo)


def test_a_generated_study_with_several_sites_converts_without_errors(tmp_path):
    from trialbridge.converters.synth.generator import write_synthetic

    native = tmp_path / "native"
    native.mkdir()
    write_synthetic(native, 600, 7)
    result = convert(native, tmp_path / "out", "--fhir", "none")  # the SDTM package only: FHIR has its own tests
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "out" / "fhir").exists()
    dm, _ = read_xpt(tmp_path / "out" / "sdtm" / "dm.xpt")
    assert len(dm) == 600 and dm["SITEID"].nunique() > 1


def test_bad_input_exits_2_names_the_place_and_creates_no_output_folder(tmp_path):
    native = tmp_path / "broken"
    native.mkdir()
    shutil.copytree(EXAMPLE, native, dirs_exist_ok=True)
    dosing = (native / "dosing.csv").read_text(encoding="utf-8").splitlines()
    cells = dosing[1].split(",")
    cells[3] = "2012-02-30"  # EXSTDAT: no 30th of February
    dosing[1] = ",".join(cells)
    (native / "dosing.csv").write_text("\n".join(dosing) + "\n", encoding="utf-8")
    result = convert(native, tmp_path / "out")
    assert result.returncode == 2
    assert "dosing.csv:2:EXSTDAT" in result.stderr and "2012-02-30" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["broken"]  # no temporary folder left either


def test_validate_checks_a_written_package_and_its_define(revallo):
    result = subprocess.run([sys.executable, "-m", "trialbridge.converters.cli", "validate", str(revallo)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "define.xml" in result.stderr


def _copy_example(to: Path) -> Path:
    shutil.copytree(EXAMPLE, to)
    return to


def _edit_cell(folder: Path, file: str, line: int, column: str, value: str) -> None:
    rows = (folder / file).read_text(encoding="utf-8").split("\n")
    header = rows[0].split(",")
    cells = rows[line - 1].split(",")
    cells[header.index(column)] = value
    rows[line - 1] = ",".join(cells)
    (folder / file).write_text("\n".join(rows), encoding="utf-8")


def _drop_column(folder: Path, file: str, column: str) -> None:
    rows = [r.split(",") for r in (folder / file).read_text(encoding="utf-8").rstrip("\n").split("\n")]
    at = rows[0].index(column)
    (folder / file).write_text("\n".join(",".join(r[:at] + r[at + 1:]) for r in rows) + "\n", encoding="utf-8")


BROKEN_INPUTS = {
    # what is broken: (how to break the copy of the example, what stderr must name)
    "missing required column": (lambda f: _drop_column(f, "dosing.csv", "DOSE"), ["dosing.csv", "DOSE"]),
    "impossible date": (lambda f: _edit_cell(f, "enrolment.csv", 3, "CONSDAT", "2012-02-30"),
                        ["enrolment.csv:3:CONSDAT", "2012-02-30"]),
    "unknown code": (lambda f: _edit_cell(f, "enrolment.csv", 2, "SEX", "X"), ["enrolment.csv:2:SEX", "'X'"]),
    "subject not enrolled": (lambda f: _edit_cell(f, "response.csv", 2, "SUBJID", "999"),
                             ["response.csv:2:SUBJID", "999"]),
    "empty file": (lambda f: (f / "response.csv").write_bytes(b""), ["response.csv"]),
    "non-UTF-8 bytes": (lambda f: (f / "adverse_events.csv").write_bytes(
        (f / "adverse_events.csv").read_bytes().replace("aiguë".encode(), "aiguë".encode("latin-1"), 1)),
        ["adverse_events.csv:2:AETERM"]),
    "registry.json that is not JSON": (lambda f: (f / "registry.json").write_text("{ not json", encoding="utf-8"),
                                       ["registry.json"]),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_INPUTS))
def test_each_kind_of_bad_input_exits_2_names_file_row_column_value_and_writes_nothing(broken, tmp_path):
    folder = _copy_example(tmp_path / "native")
    breaker, expected = BROKEN_INPUTS[broken]
    breaker(folder)
    result = convert(folder, tmp_path / "out")
    assert result.returncode == 2, result.stderr[-2000:]
    for text in expected:
        assert text in result.stderr, (broken, text, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["native"]


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_fhir_and_sdtm_agree_on_subjects_dates_and_doses(revallo, release):
    # SDTM is the hub: the FHIR bundles are built from the tables the XPT files hold
    dm, _ = read_xpt(revallo / "sdtm" / "dm.xpt")
    ex, _ = read_xpt(revallo / "sdtm" / "ex.xpt")
    ts, _ = read_xpt(revallo / "sdtm" / "ts.xpt")
    bundles = list(read_bundles(revallo / "fhir" / release))
    assert {b["type"] for b in bundles} == {"transaction"}
    resources = [e["resource"] for b in bundles for e in b["entry"]]
    by_type: dict[str, list[dict]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    assert len(by_type["Patient"]) == len(by_type["ResearchSubject"]) == len(dm)
    patient_usubjid = {p["id"]: next(i["value"] for i in p["identifier"] if i["system"].endswith("usubjid"))
                       for p in by_type["Patient"]}
    assert sorted(patient_usubjid.values()) == sorted(dm["USUBJID"])
    assert len(by_type["MedicationAdministration"]) == len(ex)
    period = "occurencePeriod" if release == "R5" else "effectivePeriod"
    fhir_doses = sorted(
        (patient_usubjid[m["subject"]["reference"].removeprefix("Patient/")], m[period]["start"],
         m[period].get("end", ""), m["dosage"]["dose"]["value"], m["dosage"]["dose"]["unit"])
        for m in by_type["MedicationAdministration"])
    sdtm_doses = sorted(zip(ex["USUBJID"], ex["EXSTDTC"], ex["EXENDTC"], ex["EXDOSE"], ex["EXDOSU"]))
    assert fhir_doses == sdtm_doses
    (study,) = by_type["ResearchStudy"]
    regid = ts.loc[ts["TSPARMCD"] == "REGID", "TSVAL"].tolist()
    assert study["identifier"][0]["value"] == "NCT01421927"
    assert "NCT01421927" in regid  # TS REGID: the registry id of STUDYID
    pr, _ = read_xpt(revallo / "sdtm" / "pr.xpt")  # the transplant and its conditioning: FHIR Procedure
    performed = "occurrenceDateTime" if release == "R5" else "performedDateTime"
    transplants = sorted((patient_usubjid[p["subject"]["reference"].removeprefix("Patient/")], p[performed])
                         for p in by_type["Procedure"] if performed in p)
    assert len(by_type["Procedure"]) == len(pr) and len(transplants) == len(dm)
    assert transplants == sorted((u, d) for u, d in zip(pr["USUBJID"], pr["PRSTDTC"]) if d)  # conditioning: undated
    labels = {f"{r['resourceType']}/{r['id']}" for r in resources}
    references = re.findall(r'"reference":\s*"([A-Za-z]+/[0-9a-f-]+)"', json.dumps(resources))
    assert references and set(references) <= labels, "every reference is a resource of the output"


def test_a_registry_title_over_200_characters_continues_in_tsval1(tmp_path):
    # SDTMIG 3.4 TS assumption 8: TSVAL holds 200 characters at most, the rest continues in TSVAL1, ...
    folder = _copy_example(tmp_path / "native")
    record = json.loads((folder / "registry.json").read_text(encoding="utf-8"))
    title = record["protocolSection"]["identificationModule"]["officialTitle"] + \
        ": a Phase 1 Single-arm Open-label Multicentre Study of Dose Escalation Every Third Month in Adults"
    record["protocolSection"]["identificationModule"]["officialTitle"] = title
    (folder / "registry.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    result = convert(folder, tmp_path / "out", "--fhir", "none")
    assert result.returncode == 0, result.stderr[-3000:]
    ts, meta = read_xpt(tmp_path / "out" / "sdtm" / "ts.xpt")
    names = [c.name for c in meta.columns]
    assert names[names.index("TSVAL") + 1] == "TSVAL1"
    row = ts[ts["TSPARMCD"] == "TITLE"].iloc[0]
    assert len(row["TSVAL"]) <= 200 and (row["TSVAL"] + " " + row["TSVAL1"]) == title
    assert 'Name="TSVAL1"' in (tmp_path / "out" / "sdtm" / "define.xml").read_text(encoding="utf-8")
