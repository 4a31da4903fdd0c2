"""Shared fixtures: a small valid native record folder written by hand, and helpers to break it."""
from __future__ import annotations

import copy
import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from trialbridge.converters.synth.generator import write_spec
from trialbridge.converters.synth.registry import REVALLO_SITE, build_registry, registry_json_text
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file
from trialbridge.schemas.native import REGISTRY_FILE

SITE = {"SITEID": "01"}  # REVALLO's one site, CHU Bordeaux

# Three subjects at CHU Bordeaux; every value visible. A cell left out of a row is empty in the CSV.
VALID_ROWS: dict[str, list[dict[str, str]]] = {
    "enrolment": [
        {**SITE, "SITENAME": "CHU Bordeaux - Hôpital Haut-Lévêque", "SITECTRY": "FRA", "SUBJID": "001",
         "CONSDAT": "2011-09-05", "BRTHDAT": "1958-03", "AGE": "53", "SEX": "M", "TXDAT": "2011-06-20",
         "DONOR": "RELATED", "HLAMATCH": "10/10", "CONDIT": "Fludarabine + busulfan + SAT", "DISSTAT": "CR",
         "RESPLINE": "2", "PRLEN": "N", "LENREFR": "N"},
        {**SITE, "SITENAME": "CHU Bordeaux - Hôpital Haut-Lévêque", "SITECTRY": "FRA", "SUBJID": "002",
         "CONSDAT": "2011-10-12", "BRTHDAT": "UNK-UNK-1961", "AGE": "50", "SEX": "F", "TXDAT": "2011-07-01",
         "DONOR": "UNRELATED", "HLAMATCH": "9/10", "CONDIT": "Fludarabine + TBI 2 Gy", "DISSTAT": "PR",
         "RESPLINE": "3", "PRLEN": "Y", "PRLENMO": "6", "LENREFR": "N"},
        {**SITE, "SITENAME": "CHU Bordeaux - Hôpital Haut-Lévêque", "SITECTRY": "FRA", "SUBJID": "003",
         "CONSDAT": "2012-01-16", "BRTHDAT": "1970-11-02", "SEX": "M", "TXDAT": "2011-10-04",
         "DONOR": "UNRELATED", "HLAMATCH": "10/10", "CONDIT": "Fludarabine, busulfan",  # a comma: quoted
         "DISSTAT": "CR", "RESPLINE": "2", "PRLEN": "N", "LENREFR": "N"},
    ],
    "dosing": [
        {**SITE, "SUBJID": "001", "EXLINE": "1", "EXSTDAT": "2011-10-03", "EXENDAT": "2012-01-02", "DOSE": "5",
         "DOSEU": "mg/j", "CHGREAS": "START"},
        {**SITE, "SUBJID": "001", "EXLINE": "2", "EXSTDAT": "2012-01-03", "EXENDAT": "2012-04-02", "DOSE": "10",
         "DOSEU": "mg/j", "CHGREAS": "ESCALATION"},
        {**SITE, "SUBJID": "002", "EXLINE": "1", "EXSTDAT": "2011-10-14", "EXENDAT": "2011-12-16", "DOSE": "5",
         "DOSEU": "mg/j", "CHGREAS": "START"},
        {**SITE, "SUBJID": "003", "EXLINE": "1", "EXSTDAT": "2012-01-20", "DOSE": "5", "DOSEU": "mg/j",
         "CHGREAS": "START"},  # still on treatment: no end date
    ],
    "adverse_events": [
        {**SITE, "SUBJID": "001", "AESPID": "1", "AETERM": "Neutropénie", "MEDDRAV": "17.0",
         "AELLT": "Neutropenia", "AELLTCD": "10029354", "AEDECOD": "Neutropenia", "AEPTCD": "10029354",
         "AEHLT": "Neutropenias", "AEHLTCD": "10029366", "AEHLGT": "White blood cell disorders",
         "AEHLGTCD": "10047954", "AESOC": "Blood and lymphatic system disorders", "AESOCCD": "10005329",
         "AESTDAT": "2011-11-14", "AEENDAT": "2011-11-28", "AEONGO": "N", "AEGRADE": "3", "AESER": "N",
         "AEREL": "POSSIBLY RELATED", "AEACN": "DOSE NOT CHANGED", "AEOUT": "RECOVERED/RESOLVED"},
        {**SITE, "SUBJID": "002", "AESPID": "1", "AETERM": "GVH aiguë digestive", "AESTDAT": "2011-12",
         "AEONGO": "Y", "AEGRADE": "4", "AESER": "Y", "AESHOSP": "Y", "AEREL": "POSSIBLY RELATED",
         "AEACN": "DRUG WITHDRAWN", "AEOUT": "FATAL", "GVHDTYPE": "ACUTE", "GVHDGRADE": "IV", "GVHDSR": "Y"},
    ],
    "response": [
        {**SITE, "SUBJID": "001", "VISIT": "INCLUSION", "RSDAT": "2011-09-28", "RESP": "CR"},
        {**SITE, "SUBJID": "001", "VISIT": "M03", "RSDAT": "2012-01-05", "RESP": "sCR"},
        {**SITE, "SUBJID": "002", "VISIT": "INCLUSION", "RSDAT": "2011-10-13", "RESP": "PR"},
        {**SITE, "SUBJID": "003", "VISIT": "INCLUSION", "RSDAT": "2012-01-18", "RESP": "CR"},
    ],
    "laboratory": [
        {**SITE, "SUBJID": "001", "VISIT": "INCLUSION", "LBDAT": "2011-09-28", "LBCODE": "PLAQ",
         "LBNAME": "Plaquettes", "LBRES": "182000", "LBUNIT": "/mm3", "LBLOW": "150000", "LBHIGH": "400000"},
        {**SITE, "SUBJID": "001", "VISIT": "INCLUSION", "LBDAT": "2011-09-28", "LBCODE": "PNN",
         "LBNAME": "Polynucléaires neutrophiles", "LBRES": "2300", "LBUNIT": "/mm3", "LBLOW": "1500", "LBHIGH": "7000"},
        {**SITE, "SUBJID": "001", "VISIT": "INCLUSION", "LBDAT": "2011-09-28", "LBCODE": "HB",
         "LBNAME": "Hémoglobine", "LBRES": "11.8", "LBUNIT": "g/dL", "LBLOW": "13", "LBHIGH": "17"},
        {**SITE, "SUBJID": "002", "VISIT": "INCLUSION", "LBDAT": "2011-10-13", "LBCODE": "CHIM",
         "LBNAME": "Chimérisme donneur (sang)", "LBRES": ">95", "LBUNIT": "%"},
        {**SITE, "SUBJID": "002", "VISIT": "INCLUSION", "LBDAT": "2011-10-13", "LBCODE": "DC",
         "LBNAME": "Cellules dendritiques", "LBSTAT": "NOT DONE", "LBREASND": "Prélèvement coagulé"},
        {**SITE, "SUBJID": "003", "VISIT": "INCLUSION", "LBDAT": "2012-01-18", "LBCODE": "KAPPA",
         "LBNAME": "Chaînes légères libres kappa", "LBRES": "<3.3", "LBUNIT": "mg/L", "LBLOW": "3.3", "LBHIGH": "19.4"},
    ],
    "end_of_study": [
        {**SITE, "SUBJID": "001", "EOTDAT": "2012-06-20", "EOTREAS": "ONE_YEAR", "EOSDAT": "2012-09-20",
         "EOSSTAT": "COMPLETED"},
        {**SITE, "SUBJID": "002", "EOTDAT": "2011-12-16", "EOTREAS": "GVHD", "EOSDAT": "2012-03-02",
         "EOSSTAT": "DISCONTINUED", "EOSREAS": "DEATH", "DTHDAT": "2012-03-02",
         "DTHCAUSE": "GVH aiguë digestive réfractaire", "DTHTRM": "Y"},
    ],
}


@dataclass
class NativeFolder:
    """A native record folder on disk plus the rows it was written from, with ways to break it.

    Line numbers are the CSV's: the header is line 1, `rows[form][0]` is line 2.
    """

    path: Path
    rows: dict[str, list[dict[str, str]]]

    def file(self, form_or_name: str) -> Path:
        return self.path / (form_file(form_or_name) if form_or_name in FORM_NAMES else form_or_name)

    def write_form(self, form: str, columns: list[str] | None = None) -> None:
        """(Re)write a form CSV from `rows`, with the schema's columns unless `columns` says otherwise."""
        with self.file(form).open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=columns or form_columns(form), restval="",
                                    extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows[form])

    def set_cell(self, form: str, line: int, column: str, value: str) -> None:
        self.rows[form][line - 2][column] = value
        self.write_form(form)

    def add_row(self, form: str, **cells: str) -> int:
        """Append a row; returns its line number."""
        self.rows[form].append(cells)
        self.write_form(form)
        return len(self.rows[form]) + 1

    def drop_column(self, form: str, column: str) -> None:
        self.write_form(form, [c for c in form_columns(form) if c != column])

    def replace_bytes(self, form_or_name: str, old: bytes, new: bytes) -> None:
        path = self.file(form_or_name)
        data = path.read_bytes()
        assert old in data, f"{old!r} not in {path.name}"
        path.write_bytes(data.replace(old, new, 1))

    def write_bytes(self, form_or_name: str, data: bytes) -> None:
        self.file(form_or_name).write_bytes(data)


def write_native_folder(path: Path, rows: dict[str, list[dict[str, str]]] | None = None) -> NativeFolder:
    """Write a valid native folder (the hand-written rows and a 3-subject REVALLO registry record)."""
    path.mkdir(parents=True, exist_ok=True)
    folder = NativeFolder(path, copy.deepcopy(rows or VALID_ROWS))
    for form in FORM_NAMES:
        folder.write_form(form)
    (path / REGISTRY_FILE).write_text(registry_json_text(build_registry(3, (REVALLO_SITE,))), encoding="utf-8")
    write_spec(path / "spec")  # REVALLO's study mapping specification, as the generator writes it
    return folder


@pytest.fixture
def native_folder(tmp_path: Path) -> NativeFolder:
    """A small valid native record folder in tmp_path: 3 subjects, every form, registry.json."""
    return write_native_folder(tmp_path / "native")
