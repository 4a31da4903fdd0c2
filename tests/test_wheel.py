"""The installed product: built as a wheel, installed in a fresh virtual environment, run from there.

This proves the package data (schemas, metadata) is inside the wheel and that nothing is imported from
the source tree. It needs the package registry (to install pandas and friends into the new environment).
"""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(ROOT)], check=True, capture_output=True)
    (built,) = dist.glob("trialbridge-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("installing the wheel failed:\n" + result.stderr[-3000:])
    return venv


def test_wheel_holds_only_the_trialbridge_namespace_and_its_schema_files(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"trialbridge"}
    assert "trialbridge/schemas/native/registry.schema.json" in names
    for form in ["enrolment", "dosing", "adverse_events", "response", "laboratory", "end_of_study"]:
        assert f"trialbridge/converters/synth/revallo_spec/forms/{form}.schema.json" in names  # the generator's spec
    assert "trialbridge/schemas/catalogue.json" in names


def test_installed_command_runs_outside_the_source_tree(installed, tmp_path):
    exe = installed / "bin" / "trialbridge"
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("trialbridge 0.")
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import trialbridge.schemas.native as m; print(m.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert str(installed) in where.stdout, where.stdout + where.stderr


def test_installed_command_generates_and_reads_a_trial(installed, tmp_path):
    exe = str(installed / "bin" / "trialbridge")
    synth = subprocess.run([exe, "synth", "--subjects", "5", "--seed", "3", "--out", "trial"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert synth.returncode == 0, synth.stderr
    check = subprocess.run([exe, "validate", "trial"], capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "subjects enrolled" in check.stderr
