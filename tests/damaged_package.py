"""A small SDTM package made the way third parties make them, with the faults triage must handle:
day-first dates (their study days become knock-ons), a SUPPAE whose AE is missing (the PHUSE case),
Windows-1252 text in TS, an upper-case `.XPT` name, an ADaM dataset with SAS date/time formats, and
input text that must be escaped in HTML (`<script>`), in Excel (`=cmd`) and in JSON."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat

SUBJECTS = [f"STUDY1-{i:03d}" for i in range(1, 7)]
BAD_DATES = 40  # LB records dated 01/02/2012 (day-first), each with an LBDY filled in
SUPP_RECORDS = 500
MARKUP = "<b>Hemoglobin</b><script>alert(1)</script>"  # over 40 characters: SD-TEST shows it
FORMULA = "=1+2"  # not a test code: SD-TESTCD shows it; Excel must get text, not a formula


def _write(table: pd.DataFrame, path: Path, name: str, formats: dict[str, str] | None = None) -> None:
    pyreadstat.write_xport(table, str(path), table_name=name, file_format_version=5,
                           variable_format=formats or {})


def write_damaged_package(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    n = len(SUBJECTS)
    dm = pd.DataFrame({"STUDYID": "STUDY1", "DOMAIN": "DM", "USUBJID": SUBJECTS, "SUBJID": [s[-3:] for s in SUBJECTS],
                       "RFSTDTC": "2012-01-10", "SITEID": "01", "SEX": ["F", "M"] * (n // 2), "COUNTRY": "FRA",
                       "ARMCD": "A", "ARM": "Arm A", "ACTARMCD": "A", "ACTARM": "Arm A"})
    _write(dm, folder / "dm.xpt", "DM")
    good = [f"2012-01-{d:02d}" for d in range(11, 21)]
    dates = [f"{(i % 28) + 1:02d}/02/2012" for i in range(BAD_DATES)] + good
    lb = pd.DataFrame({"STUDYID": "STUDY1", "DOMAIN": "LB", "USUBJID": [SUBJECTS[i % n] for i in range(len(dates))],
                       "LBSEQ": [float(i // n + 1) for i in range(len(dates))], "LBTESTCD": FORMULA,
                       "LBTEST": MARKUP, "LBORRES": "13.2", "LBDTC": dates,
                       "LBDY": [30.0] * BAD_DATES + [float(d - 9) for d in range(11, 21)]})
    _write(lb, folder / "LB.XPT", "LB")  # upper-case name, as some tools write them
    supp = pd.DataFrame({"STUDYID": "STUDY1", "RDOMAIN": "AE", "USUBJID": [SUBJECTS[i % n] for i in range(SUPP_RECORDS)],
                         "IDVAR": "AESEQ", "IDVARVAL": [str(i + 1) for i in range(SUPP_RECORDS)], "QNAM": "AETRTEM",
                         "QLABEL": "Treatment Emergent Flag", "QVAL": "Y", "QORIG": "Derived",
                         "QEVAL": ""})
    _write(supp, folder / "suppae.xpt", "SUPPAE")  # and no ae.xpt
    ts = pd.DataFrame({"STUDYID": "STUDY1", "DOMAIN": "TS", "TSSEQ": [1.0], "TSPARMCD": ["TITLE"],
                       "TSPARM": ["Trial Title"], "TSVAL": ["Etude caf_ au lait"]})
    _write(ts, folder / "ts.xpt", "TS")
    raw = (folder / "ts.xpt").read_bytes()
    at = raw.index(b"caf_ au lait") + 3
    (folder / "ts.xpt").write_bytes(raw[:at] + b"\xe9" + raw[at + 1:])  # Windows-1252 e-acute
    adsl = pd.DataFrame({"STUDYID": "STUDY1", "USUBJID": SUBJECTS, "TRTSDT": [18995.0 + i for i in range(n)],
                         "TRTSTM": [3600.0] * n, "TRTSDTM": [1.64e9] * n, "AGE": [50.0 + i for i in range(n)]})
    _write(adsl, folder / "adsl.xpt", "ADSL", {"TRTSDT": "DATE9.", "TRTSTM": "TIME8.", "TRTSDTM": "DATETIME20."})
    return folder
