"""No traceback on any registry record: real records mutated the way broken downloads and hand edits break them
(keys dropped, values emptied, of the wrong type, odd text) are read and converted, each problem a finding.
Deterministic: a fixed seed, a fixed number of mutants."""
import copy
import random
from datetime import datetime
from pathlib import Path

import pytest

from trialbridge.converters.readers.registry import read_registry_files
from trialbridge.converters.registry.package import write_record
from trialbridge.mappings.registry.model import normalise

FIXTURES = Path(__file__).parent / "fixtures"
ODD = [None, "", [], {}, 0, -1, True, "N/A", "ÉTUDE → ≈ 中文", "x" * 500, {"weird": 1}, ["a", None]]
MUTANTS = 24


def _paths(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,)
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield path + (i,)
            yield from _paths(value, path + (i,))


def mutate(record: dict, rng: random.Random) -> dict:
    """The record with 1 to 6 values dropped or replaced by an odd one."""
    out = copy.deepcopy(record)
    paths = list(_paths(out))
    for _ in range(rng.randint(1, 6)):
        path = rng.choice(paths)
        parent = out
        try:
            for key in path[:-1]:
                parent = parent[key]
            if rng.random() < 0.5:
                del parent[path[-1]]
            else:
                parent[path[-1]] = rng.choice(ODD)
        except (KeyError, IndexError, TypeError):
            continue
    return out


def mutants() -> list[tuple[str, dict]]:
    rng = random.Random(20260301)
    records = [r for f in read_registry_files([FIXTURES / "registry", FIXTURES / "ctgov"]) for r in f.records]
    return [(f"{base.nct_id}-{n}", mutate(base.record, rng)) for n, base in
            ((n, rng.choice(records)) for n in range(MUTANTS))]


@pytest.mark.parametrize(("name", "record"), mutants(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_mutated_real_record_converts_without_an_exception(name, record, tmp_path):
    model = normalise("v2", record, f"{name}.json")
    findings, outputs = write_record(model, tmp_path, datetime(2020, 1, 1), ("R4",), prs=True)
    assert "sdtm/ts.xpt" in outputs or any(f.rule == "PACKAGE-STOPPED" for f in findings)
    assert (tmp_path / "findings.json").is_file()
