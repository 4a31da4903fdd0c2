"""The command line: version, help, usage errors (exit 2, our own wording, nothing written)."""
import subprocess
import sys

import pytest

from trialbridge.converters.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trialbridge.converters.cli", *args],
                          capture_output=True, text=True)


def test_version_names_the_tool():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("trialbridge ")


@pytest.mark.parametrize("command", ["convert", "validate", "synth"])
def test_each_command_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "usage: trialbridge " + command in result.stdout


def test_no_command_is_a_usage_error():
    assert main([]) == 2


def test_missing_required_option_is_exit_2_with_a_message(tmp_path):
    result = run("convert", str(tmp_path))
    assert result.returncode == 2
    assert "CLI-USAGE" in result.stderr and "--out" in result.stderr
    assert "Traceback" not in result.stderr


def test_synth_rejects_a_non_number_of_subjects(tmp_path):
    result = run("synth", "--subjects", "many", "--seed", "1", "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "expected a whole number, got 'many'" in result.stderr
    assert not (tmp_path / "x").exists()


def test_convert_of_a_missing_folder_is_exit_2_and_writes_nothing(tmp_path):
    result = run("convert", str(tmp_path / "no-such-trial"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "no-such-trial" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_internal_error_is_exit_3_with_the_traceback_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from trialbridge.converters import pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("simulated defect")

    monkeypatch.setattr(pipeline, "convert", broken)
    assert main(["convert", str(tmp_path), "--out", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "PIPELINE-INTERNAL" in err and "RuntimeError: simulated defect" in err and "Traceback" in err
    assert not (tmp_path / "out").exists()
