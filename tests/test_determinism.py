"""Same records -> same package: two runs, and a run on a copy whose CSV rows are shuffled, write identical files.

Every file of sdtm/ and fhir/ must be byte-identical (sequence numbers, record order, define.xml, bundles do
not depend on the order of the input rows); findings.json may differ only in the input line numbers its
findings cite (and the input path it names).
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
import shutil
from pathlib import Path

import pytest

from trialbridge.converters import pipeline

EXAMPLE = Path(__file__).parent.parent / "examples" / "revallo"


def shuffled_copy(source: Path, target: Path, seed: int) -> None:
    """`source` copied with the data rows of each CSV in a random order (header kept)."""
    shutil.copytree(source, target)
    rng = random.Random(seed)
    for path in sorted(target.glob("*.csv")):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        body = rows[1:]
        rng.shuffle(body)
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([rows[0], *body])
        path.write_text(out.getvalue(), encoding="utf-8")


def package_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] in ("sdtm", "fhir")}


def findings_without_lines(out: Path) -> list[dict]:
    """findings.json's findings with the input line numbers they cite masked."""
    text = (out / "findings.json").read_text(encoding="utf-8")
    text = re.sub(r'("line": )\d+', r"\1 0", text)
    text = re.sub(r"(\.csv(?::| line ))\d+", r"\1N", text)
    return json.loads(text)["findings"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("determinism")
    shuffled_copy(EXAMPLE, base / "shuffled-input", seed=20111)
    outs = {}
    for name, source in (("first", EXAMPLE), ("second", EXAMPLE), ("shuffled", base / "shuffled-input")):
        result = pipeline.convert(source, base / name, fhir_releases=("R4",), reports=False)
        assert result.exit_code in (0, 1), [f.message for f in result.findings if f.severity == "error"][:3]
        outs[name] = base / name
    return outs


def test_the_shuffled_copy_really_is_in_another_order(runs):
    shuffled = runs["shuffled"].parent / "shuffled-input"
    assert (shuffled / "laboratory.csv").read_bytes() != (EXAMPLE / "laboratory.csv").read_bytes()
    cited = [re.findall(r'"line": (\d+)', (runs[name] / "findings.json").read_text()) for name in ("first", "shuffled")]
    assert cited[0] and cited[0] != cited[1]          # the findings do cite other input lines


@pytest.mark.parametrize("other", ["second", "shuffled"])
def test_every_sdtm_and_fhir_file_is_byte_identical(runs, other):
    first, second = package_files(runs["first"]), package_files(runs[other])
    assert sorted(first) == sorted(second) and any(n.endswith(".xpt") for n in first)
    assert [name for name in first if first[name] != second[name]] == []


@pytest.mark.parametrize("other", ["second", "shuffled"])
def test_findings_differ_only_in_the_line_numbers_they_cite(runs, other):
    assert findings_without_lines(runs["first"]) == findings_without_lines(runs[other])
