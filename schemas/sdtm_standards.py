"""The packaged standards -> lookups: SDTMIG 3.4 Variables.csv and Datasets.csv as tables, and the CDISC SDTM
controlled terminology release (`standards/ct/SDTM_Terminology_<CT_VERSION>.txt`) as a `Terminology`, each read once.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

CT_VERSION = "2025-03-28"
SDTMIG_VERSION = "3.4"


def schema_text(*parts: str) -> str:
    """A text file packaged under `trialbridge.schemas` (BOM removed)."""
    return resources.files("trialbridge.schemas").joinpath(*parts).read_text(encoding="utf-8-sig")



def read_schema_table(*parts: str, sep: str = ",") -> pd.DataFrame:
    """A CSV/TSV table packaged under `trialbridge.schemas`, every cell a string ("" where empty)."""
    path = resources.files("trialbridge.schemas").joinpath(*parts)
    with resources.as_file(path) as local:
        return pd.read_csv(local, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")


# --------------------------------------------------------------------------------------------- SDTMIG
@lru_cache(maxsize=1)
def sdtmig_variables() -> pd.DataFrame:
    """The SDTMIG 3.4 Variables.csv, every cell a string ("" where empty)."""
    return read_schema_table("standards", "sdtmig-3.4", "Variables.csv")


@lru_cache(maxsize=1)
def sdtmig_datasets() -> pd.DataFrame:
    """The SDTMIG 3.4 Datasets.csv (class, name, label, structure), every cell a string."""
    return read_schema_table("standards", "sdtmig-3.4", "Datasets.csv")


# ---------------------------------------------------------------------------------------- terminology
class Terminology:
    """The CDISC SDTM controlled terminology of one release, looked up by codelist C-code."""

    def __init__(self, table: pd.DataFrame) -> None:
        heads = table[table["Codelist Code"] == ""]
        terms = table[table["Codelist Code"] != ""]
        self._names = dict(zip(heads["Code"], heads["Codelist Name"]))
        self._short = dict(zip(heads["Code"], heads["CDISC Submission Value"]))
        self._extensible = dict(zip(heads["Code"], heads["Codelist Extensible (Yes/No)"] == "Yes"))
        keys = list(zip(terms["Codelist Code"], terms["CDISC Submission Value"]))
        self._codes = dict(zip(keys, terms["Code"]))
        self._preferred = dict(zip(keys, terms["NCI Preferred Term"]))
        self._values = {
            code: frozenset(values)
            for code, values in terms.groupby("Codelist Code", sort=False)["CDISC Submission Value"]
        }
        self._terms = terms
        self._names_by_codelist: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    def _known(self, codelist: str) -> str:
        if codelist not in self._names:
            raise KeyError(f"codelist {codelist!r} is not in CDISC SDTM CT {CT_VERSION}")
        return codelist

    def has_codelist(self, codelist: str) -> bool:
        return codelist in self._names

    def codelist_name(self, codelist: str) -> str:
        """The codelist's name, e.g. C66731 -> "Sex"."""
        return self._names[self._known(codelist)]

    def codelist_short_name(self, codelist: str) -> str:
        """The codelist's CDISC submission value, e.g. C66731 -> "SEX"."""
        return self._short[self._known(codelist)]

    def is_extensible(self, codelist: str) -> bool:
        return self._extensible[self._known(codelist)]

    def submission_values(self, codelist: str) -> set[str]:
        return set(self._values.get(self._known(codelist), frozenset()))

    def term_code(self, codelist: str, value: str) -> str:
        """The NCI C-code of a submission value in a codelist, "" if the value is not in it."""
        return self._codes.get((self._known(codelist), value), "")

    def _term_names(self, codelist: str) -> tuple[dict[str, str], dict[str, str]]:
        """(casefolded submission value -> value, casefolded synonym or NCI preferred term -> value) of a
        codelist; a name that two terms share is left out (it decides nothing)."""
        if codelist not in self._names_by_codelist:
            rows = self._terms[self._terms["Codelist Code"] == codelist]
            values = dict(zip(rows["CDISC Submission Value"].str.casefold(), rows["CDISC Submission Value"]))
            names = pd.concat([
                pd.DataFrame({"name": rows["CDISC Synonym(s)"].str.split(";"), "value": rows["CDISC Submission Value"]})
                .explode("name"),
                pd.DataFrame({"name": rows["NCI Preferred Term"], "value": rows["CDISC Submission Value"]}),
            ], ignore_index=True)
            names["name"] = names["name"].fillna("").str.strip().str.casefold()
            names = names[names["name"] != ""].drop_duplicates()
            unique = names.drop_duplicates("name", keep=False)
            self._names_by_codelist[codelist] = (values, dict(zip(unique["name"], unique["value"])))
        return self._names_by_codelist[codelist]

    def match(self, codelist: str, text: str) -> tuple[str, str]:
        """The submission value a collected text stands for in `codelist`, and how it was known: the value
        in another case ("case"), else the one term whose CDISC synonym or NCI preferred term it is
        ("synonym", "preferred term"); ("", "") when none or several terms fit."""
        values, names = self._term_names(self._known(codelist))
        key = text.strip().casefold()
        if key in values:
            return values[key], "case"
        if key in names:
            value = names[key]
            preferred = self.decode(codelist, value).casefold() == key
            return value, "NCI preferred term" if preferred else "CDISC synonym"
        return "", ""

    def decode(self, codelist: str, value: str) -> str:
        """The NCI preferred term of a submission value, "" if the value is not in the codelist."""
        return self._preferred.get((self._known(codelist), value), "")


@lru_cache(maxsize=1)
def terminology() -> Terminology:
    """The CDISC SDTM CT release `CT_VERSION`, parsed once."""
    return Terminology(read_schema_table("standards", "ct", f"SDTM_Terminology_{CT_VERSION}.txt", sep="\t"))
