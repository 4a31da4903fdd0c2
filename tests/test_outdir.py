"""`--out` never destroys a user's files: new, empty, or an earlier trialbridge output with --force only.

Each case runs the real command (subprocess) and asserts the exit code, the rule and the folder named
in the message, and that every file that was there before is still there, byte for byte.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trialbridge.converters.atomic import atomic_output_dir, publish
from trialbridge.converters.outdir import MANIFEST, OutputRefused, claim_output, out_problems, remove_stale


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trialbridge.converters.cli", *args],
                          capture_output=True, text=True, cwd=cwd)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def outputs(folder: Path) -> dict[str, bytes]:
    """The data outputs (the run reports carry the run time, and the manifest their checksums)."""
    return {name: data for name, data in snapshot(folder).items()
            if not name.startswith("report.") and name != MANIFEST}


@pytest.fixture
def study(native_folder) -> Path:
    return native_folder.path


@pytest.mark.parametrize("where, rule", [
    ("input", "OUT-OVERLAPS-INPUT"),          # --out is the input: would delete the CSVs
    ("parent", "OUT-OVERLAPS-INPUT"),         # --out contains the input
    ("inside", "OUT-OVERLAPS-INPUT"),         # --out inside the input
    ("dot", "OUT-OVERLAPS-INPUT"),            # --out . from inside the input
    ("user-folder", "OUT-NOT-OURS"),          # a folder of the user's files
    ("file", "OUT-NOT-FOLDER"),               # a file
])
def test_convert_refuses_an_out_that_would_touch_other_files(study, tmp_path, where, rule):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    (tmp_path / "afile").write_text("a file")
    out, cwd = {"input": (study, None), "parent": (study.parent, None), "inside": (study / "sub", None),
                "dot": (Path("."), study), "user-folder": (tmp_path / "notes", None),
                "file": (tmp_path / "afile", None)}[where]
    before = snapshot(tmp_path)
    result = run("convert", str(study), "--out", str(out), "--fhir", "none", "--force", cwd=cwd)
    assert result.returncode == 2, result.stderr[-2000:]
    assert rule in result.stderr and str(out) in result.stderr and "Traceback" not in result.stderr
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["native", "notes", "afile"])


def test_synth_into_the_working_folder_of_user_files_is_refused(tmp_path):
    (tmp_path / "thesis.txt").write_text("three years of work")
    result = run("synth", "--subjects", "3", "--seed", "1", "--out", ".", "--force", cwd=tmp_path)
    assert result.returncode == 2 and "OUT-NOT-OURS" in result.stderr
    assert (tmp_path / "thesis.txt").read_text() == "three years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.txt"]


def test_an_earlier_output_is_replaced_only_with_force_and_only_when_unchanged(study, tmp_path):
    out = tmp_path / "out"
    assert run("convert", str(study), "--out", str(out), "--fhir", "none").returncode in (0, 1)
    assert (out / MANIFEST).is_file()
    first = outputs(out)
    again = run("convert", str(study), "--out", str(out), "--fhir", "none")
    assert again.returncode == 2 and "OUT-EXISTS" in again.stderr and "--force" in again.stderr
    forced = run("convert", str(study), "--out", str(out), "--fhir", "none", "--force")
    assert forced.returncode in (0, 1)
    assert outputs(out) == first                                   # byte-identical re-run
    (out / "sdtm" / "my-notes.txt").write_text("added by the user")
    added = run("convert", str(study), "--out", str(out), "--fhir", "none", "--force")
    assert added.returncode == 2 and "OUT-CHANGED" in added.stderr and "sdtm/my-notes.txt" in added.stderr
    assert (out / "sdtm" / "my-notes.txt").exists()
    (out / "sdtm" / "my-notes.txt").unlink()
    (out / "findings.json").write_text("{}")                       # an output edited by hand
    edited = run("convert", str(study), "--out", str(out), "--fhir", "none", "--force")
    assert edited.returncode == 2 and "findings.json" in edited.stderr
    assert (out / "findings.json").read_text() == "{}"


def test_an_empty_folder_is_used(study, tmp_path):
    (tmp_path / "empty").mkdir()
    assert run("convert", str(study), "--out", str(tmp_path / "empty"), "--fhir", "none").returncode in (0, 1)
    assert (tmp_path / "empty" / "sdtm" / "dm.xpt").is_file()


def test_a_second_run_while_one_holds_the_out_folder_is_refused(study, tmp_path):
    out = tmp_path / "out"
    fd = os.open(tmp_path / ".out.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)                                 # what a running convert holds
    os.write(fd, b"4242\n")
    try:
        result = run("convert", str(study), "--out", str(out), "--fhir", "none")
    finally:
        os.close(fd)
    assert result.returncode == 2 and "OUT-BUSY" in result.stderr and "4242" in result.stderr
    assert not out.exists()


def test_an_impossible_out_is_exit_2_not_an_internal_error(study, tmp_path):
    (tmp_path / "afile").write_text("x")
    for out in ("/proc/trialbridge-cannot-be-here", str(tmp_path / "afile" / "below")):
        result = run("convert", str(study), "--out", out, "--fhir", "none")
        assert result.returncode == 2, result.stderr[-2000:]
        assert "OUT-UNWRITABLE" in result.stderr and out in result.stderr and "Traceback" not in result.stderr


def test_missing_parent_folders_made_for_a_refused_run_are_removed_again(native_folder, tmp_path):
    native_folder.set_cell("dosing", 2, "DOSE", "five")            # bad input: exit 2
    out = tmp_path / "a" / "b" / "out"
    result = run("convert", str(native_folder.path), "--out", str(out), "--fhir", "none")
    assert result.returncode == 2 and "dosing.csv:2:DOSE" in result.stderr
    assert not (tmp_path / "a").exists()


def test_partial_folders_of_dead_runs_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    (tmp_path / ".out.partial-999999-abc").mkdir()
    (tmp_path / ".out.partial-999999-abc" / "dm.xpt").write_text("half")
    (tmp_path / ".out.old-999999").mkdir()
    (tmp_path / ".other.partial-1-x").mkdir()                     # another output's: not ours to remove
    with claim_output(out):
        with atomic_output_dir(out) as work:
            (work / "a.txt").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.partial-1-x", "out"]


def test_publishing_over_an_earlier_output_swaps_it_whole(tmp_path):
    target, work = tmp_path / "out", tmp_path / "work"
    for folder, text in ((target, "old"), (work, "new")):
        folder.mkdir()
        (folder / "f.txt").write_text(text)
    publish(work, target)
    assert (target / "f.txt").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_out_rules_as_data(tmp_path):
    assert out_problems(tmp_path / "new") == []
    (tmp_path / "in").mkdir()
    assert [f.rule for f in out_problems(tmp_path / "in" / "x", [tmp_path / "in"])] == ["OUT-OVERLAPS-INPUT"]
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "in")
    assert [f.rule for f in out_problems(link, [tmp_path / "in"])] == ["OUT-OVERLAPS-INPUT"]  # links resolved
    with pytest.raises(OutputRefused):
        with claim_output(tmp_path / "in", [tmp_path / "in"]):
            pass
    assert remove_stale(tmp_path / "nothing") == []


def test_validate_names_each_output_file_damaged_since_it_was_written(study, tmp_path):
    """`validate` on a convert output whose define.xml became an HTML page, whose FHIR bundles were emptied and
    whose dm.xpt is gone used to pass (exit 0): each file is now checked against the manifest."""
    from trialbridge.converters.validate import validate

    out = tmp_path / "out"
    assert run("convert", str(study), "--out", str(out), "--fhir", "R4").returncode in (0, 1)
    assert [f for f in validate(out).findings if f.rule == "OUTPUT-FILE-CHANGED"] == []
    (out / "sdtm" / "define.xml").write_bytes(b"<html><body>502 Bad Gateway</body></html>")
    (out / "fhir" / "R4" / "bundles.ndjson").write_bytes(b"")
    (out / "sdtm" / "dm.xpt").unlink()
    result = validate(out)
    changed = {f.location: f.message for f in result.findings if f.rule == "OUTPUT-FILE-CHANGED"}
    assert sorted(changed) == ["fhir/R4/bundles.ndjson", "sdtm/define.xml", "sdtm/dm.xpt"]
    assert "is missing" in changed["sdtm/dm.xpt"] and "has changed" in changed["sdtm/define.xml"]
    assert result.exit_code == 1


def test_validate_names_an_emptied_manifest(study, tmp_path):
    from trialbridge.converters.validate import validate

    out = tmp_path / "out"
    assert run("convert", str(study), "--out", str(out), "--fhir", "none").returncode in (0, 1)
    (out / MANIFEST).write_bytes(b"")
    changed = [f for f in validate(out).findings if f.rule == "OUTPUT-FILE-CHANGED"]
    assert [f.location for f in changed] == [MANIFEST] and "lists no file" in changed[0].message
