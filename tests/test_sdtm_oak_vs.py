"""sdtm.oak's vital-signs extract with a spec written in trialbridge's own format (examples/sdtm-oak-vs): one
record per test per raw row (a record_set per test with a condition, then `stack`), compared value by value
with the result of the vignette findings_domain.Rmd (tests/fixtures/sdtm-oak/vs_vignette.csv).

Differences, each pinned in DIFFERENCES or EXTRA:

| records | variable | vignette | trialbridge | why |
|---|---|---|---|---|
| VISIT1 rows (20) | VISITNUM | VISIT1 | 2 | the raw INSTANCE is VISIT1 where the study CT lists "Visit 1", so sdtm.oak's ct_map returns the value upper-cased; VISITNUM is numeric in SDTM and the spec's visit schedule (visits.csv) numbers VISIT1 as 2 |
| all | VSSEQ | (not derived: commented out) | 1, 2, ... per subject | SDTMIG requires --SEQ |
| measured | VSSTRESC, VSSTRESN, VSSTRESU | (not mapped) | VSORRES, its number, VSORRESU | SDTMIG expects the standard result; the collected units are the standard ones |
| VSALL | VSSTAT | (not mapped) | NOT DONE | the study CT lists C66789 NOT DONE; SDTMIG wants VSSTAT on a not-done record |
| measured | VSLOBXFL | (not mapped) | Y on the last result before dm.csv RFXSTDTC | SDTMIG 3.4 expects VSLOBXFL in VS |
"""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from trialbridge.converters.pipeline import convert
from trialbridge.converters.xpt.files import read_xpt

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sdtm-oak-vs"
FIXTURE = Path(__file__).parent / "fixtures" / "sdtm-oak" / "vs_vignette.csv"
NOT_COMPARED = ("oak_id", "raw_source", "patient_number")
EXTRA = {"VSSEQ", "VSSTRESC", "VSSTRESN", "VSSTRESU", "VSSTAT", "VSLOBXFL"}


def _blank(value: object) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()
    return "" if text == "NA" else text


def _same(expected: object, actual: object) -> bool:
    a, b = _blank(expected), _blank(actual)
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def _difference(row: dict[str, str], column: str) -> str | None:
    """What trialbridge gives where it differs from the vignette on purpose (None: the same)."""
    if column == "VISITNUM" and row["VISITNUM"] == "VISIT1":
        return "2"
    return None


@pytest.fixture(scope="module")
def vs(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("oak-vs") / "out"
    run = convert(EXAMPLE, out, fhir_releases=())
    assert run.exit_code == 0, [f.message for f in run.findings if f.severity == "error"]
    table, _ = read_xpt(out / "sdtm" / "vs.xpt")
    return table


def _expected() -> list[dict[str, str]]:
    with FIXTURE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _key(usubjid: object, testcd: object, dtc: object) -> tuple[str, str, str]:
    return _blank(usubjid), _blank(testcd), _blank(dtc)


def test_one_record_per_test_per_raw_row(vs: pd.DataFrame) -> None:
    expected = sorted(_key(r["USUBJID"], r["VSTESTCD"], r["VSDTC"]) for r in _expected())
    assert sorted(map(_key, vs["USUBJID"], vs["VSTESTCD"], vs["VSDTC"])) == expected
    assert len(expected) == 31 and len(set(expected)) == 31


def test_every_value_equals_the_vignette_or_its_difference_is_explained(vs: pd.DataFrame) -> None:
    ours = {_key(u, t, d): row for (u, t, d), row in zip(zip(vs["USUBJID"], vs["VSTESTCD"], vs["VSDTC"]),
                                                           vs.to_dict("records"))}
    mismatches, compared = [], 0
    for row in _expected():
        record = ours[_key(row["USUBJID"], row["VSTESTCD"], row["VSDTC"])]
        for column, expected in row.items():
            if column in NOT_COMPARED:
                continue
            wanted = _difference(row, column) or expected
            compared += 1
            if not _same(wanted, record.get(column, "")):
                mismatches.append((row["oak_id"], row["VSTESTCD"], column, expected, wanted, record.get(column)))
    assert not mismatches, mismatches
    assert compared == 31 * 17


def test_the_variables_beyond_the_vignette_are_the_explained_ones(vs: pd.DataFrame) -> None:
    assert set(vs.columns) - set(_expected()[0]) == EXTRA
    measured = vs[vs["VSTESTCD"] != "VSALL"]
    assert (measured["VSSTRESC"] == measured["VSORRES"]).all()
    assert measured["VSSTRESN"].map(lambda v: f"{v:g}").tolist() == [f"{float(v):g}" for v in measured["VSORRES"]]
    assert vs.loc[vs["VSTESTCD"] == "VSALL", "VSSTAT"].tolist() == ["NOT DONE"]
    flagged = vs[vs["VSLOBXFL"] == "Y"]
    assert sorted(zip(flagged["USUBJID"], flagged["VSDTC"])) == sorted(
        [("test_study-375", "2018-05-06T02:01")] * 6 + [("test_study-376", "2008-10-23T03:19")] * 6)
