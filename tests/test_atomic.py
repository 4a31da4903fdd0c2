"""Outputs appear whole or not at all."""
import pytest

from trialbridge.converters.atomic import atomic_output_dir


def test_a_completed_folder_replaces_the_target(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    with atomic_output_dir(target) as work:
        (work / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt", "trialbridge-manifest.sha256"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left beside it


def test_a_failure_leaves_no_target_and_no_partial_folder(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_output_dir(target) as work:
            (work / "half.txt").write_text("half")
            raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_keeps_the_previous_target_untouched(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "good.txt").write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_output_dir(target):
            raise RuntimeError("writer failed")
    assert (target / "good.txt").read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
