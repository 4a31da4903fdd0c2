"""Write speed of the XPT v5 writer: a generated LB-like table of N rows -> lb.xpt, timed stage by stage.

Run: `.venv/bin/python bench/bench_xpt.py [rows]` (default 1,000,000). Prints rows/s for preparing
(the checking and converting stages) and for writing the bytes, the file size and the peak memory.
"""
from __future__ import annotations

import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from trialbridge.converters.xpt.files import prepare_for_xpt, read_xpt, write_xpt, xpt_columns
from trialbridge.converters.xpt.transport import write_member
from trialbridge.converters.readers.spec_files import read_spec

TESTS = pd.DataFrame({
    "LBTESTCD": ["PLAT", "NEUT", "HGB", "CREAT", "MPROTEIN", "CD19"],
    "LBTEST": ["Platelets", "Neutrophils", "Hemoglobin", "Creatinine", "Monoclonal Protein", "CD19 Cells"],
    "LBCAT": ["HEMATOLOGY", "HEMATOLOGY", "HEMATOLOGY", "CHEMISTRY", "PROTEIN", "IMMUNOPHENOTYPING"],
    "LBORRESU": ["/mm3", "/mm3", "g/dL", "µmol/L", "g/L", "%"],     # one non-ASCII unit: transliterated
    "LBSTRESU": ["10^9/L", "10^9/L", "g/L", "umol/L", "g/L", "%"],
})


def lb_like(rows: int, seed: int = 1) -> pd.DataFrame:
    """A vectorised LB-like table in the SDTM table conventions (Char as str, "" for null; Num float64)."""
    rng = np.random.default_rng(seed)
    test = rng.integers(0, len(TESTS), rows)
    subject = np.arange(rows) // 150
    result = np.round(rng.gamma(4.0, 40.0, rows), 1)
    day = (np.arange(rows) % 150) * 7 - 14
    dates = (np.datetime64("2012-01-01") + subject % 900 + day).astype(str)
    pick = lambda column: TESTS[column].to_numpy(dtype=object)[test]
    text = result.astype(str).astype(object)
    return pd.DataFrame({
        "STUDYID": "REVALLO", "DOMAIN": "LB",
        "USUBJID": np.char.add("REVALLO-01-", np.char.zfill((subject + 1).astype(str), 5)).astype(object),
        "LBSEQ": (np.arange(rows) % 150 + 1).astype(np.float64),
        "LBTESTCD": pick("LBTESTCD"), "LBTEST": pick("LBTEST"), "LBCAT": pick("LBCAT"),
        "LBORRES": text, "LBORRESU": pick("LBORRESU"), "LBORNRLO": "10", "LBORNRHI": "400",
        "LBSTRESC": text, "LBSTRESN": result, "LBSTRESU": pick("LBSTRESU"),
        "LBSTNRLO": 10.0, "LBSTNRHI": 400.0,
        "LBNRIND": np.where(result > 400, "HIGH", "NORMAL").astype(object),
        "LBSTAT": "", "LBREASND": "", "LBSPEC": "BLOOD", "LBLOBXFL": np.where(day == -14, "Y", "").astype(object),
        "LBTOXGR": "", "VISITNUM": (day // 7 + 3).astype(np.float64), "VISIT": "",
        "EPOCH": np.where(day < 0, "SCREENING", "TREATMENT").astype(object),
        "LBDTC": dates.astype(object), "LBDY": np.where(day < 0, day, day + 1).astype(np.float64),
        "_file": "laboratory.csv", "_line": np.arange(rows) + 2,
    })


def main(rows: int) -> None:
    mapping, _ = read_spec(Path(__file__).resolve().parents[1] / "examples" / "revallo" / "spec")
    dataset = mapping.sdtm.dataset("LB")
    table = lb_like(rows)
    blank = {v.name: "" if v.type == "Char" else np.nan for v in dataset.variables if v.name not in table}
    order = [v.name for v in dataset.variables] + ["_file", "_line"]
    table = table.assign(**blank)[order]     # spec variables this generator does not fill: blank
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lb.xpt"
        marks = [(time.perf_counter(), time.process_time())]
        prepared, findings = prepare_for_xpt(table, dataset)
        marks.append((time.perf_counter(), time.process_time()))
        write_member(path, "LB", dataset.label, xpt_columns(prepared, dataset), prepared, datetime(2014, 10, 31))
        marks.append((time.perf_counter(), time.process_time()))
        total = write_xpt(table, dataset, path, datetime(2014, 10, 31))
        marks.append((time.perf_counter(), time.process_time()))
        frame, meta = read_xpt(path)
        marks.append((time.perf_counter(), time.process_time()))
        size = path.stat().st_size
    assert len(frame) == rows and not any(f.severity == "error" for f in total)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {rows:,}  file: {size / 1e6:.1f} MB  findings: {sorted({f.rule for f in findings})}")
    steps = ["prepare (stages)", "encode + write", "write_xpt (total)", "read_xpt"]
    for step, (wall0, cpu0), (wall1, cpu1) in zip(steps, marks, marks[1:]):
        print(f"{step + ':':<19} {wall1 - wall0:6.2f} s wall {rows / (wall1 - wall0):>10,.0f} rows/s"
              f"   {cpu1 - cpu0:6.2f} s CPU {rows / (cpu1 - cpu0):>10,.0f} rows/s")
    print(f"peak memory (table + prepared copy + read-back): {peak:,.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
