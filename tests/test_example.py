"""The bundled REVALLO example is the generator's output for its documented seed, byte for byte."""
from pathlib import Path

from trialbridge.converters.pipeline import read_study as read_native
from trialbridge.converters.synth.generator import write_synthetic
from trialbridge.schemas.findings import has_errors

EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"
SEED = 20110823  # documented in README.md: the day REVALLO was first posted on ClinicalTrials.gov
SUBJECTS = 13    # the registry's actual enrolment


def test_regenerating_the_example_gives_the_committed_files_byte_for_byte(tmp_path):
    write_synthetic(tmp_path, SUBJECTS, SEED)
    committed = {str(p.relative_to(EXAMPLE)): p.read_bytes() for p in EXAMPLE.rglob("*")
                 if p.is_file() and p.name != "README.md"}
    generated = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert sorted(generated) == sorted(committed)
    for name in generated:
        assert generated[name] == committed[name], f"{name} differs from the committed example"


def test_the_example_reads_without_errors():
    trial, findings = read_native(EXAMPLE)
    assert not has_errors(findings), [f for f in findings if f.severity == "error"][:5]
    assert trial is not None and len(trial.subjects) == 13


def test_the_example_has_a_death_a_partial_date_and_accented_text():
    trial, _ = read_native(EXAMPLE)
    eos = trial.forms["end_of_study"]
    assert (eos["DTHDAT"] != "").any()
    ae = trial.forms["adverse_events"]
    partial = ae["AESTDAT"].str.fullmatch(r"\d{4}-\d{2}") | ae["AEENDAT"].str.fullmatch(r"\d{4}-\d{2}")
    assert partial.any()
    assert (trial.forms["enrolment"]["SITENAME"] == "CHU Bordeaux - Hôpital Haut-Lévêque").all()
    assert ae["AETERM"].str.contains(r"[éèêàçôî]").any()
