"""A site country as ClinicalTrials.gov writes it ("United States", "Korea, Republic of", "Turkey (Türkiye)")
-> its ISO 3166-1 alpha-3 code ("USA", "KOR", "TUR"), the code SDTMIG 3.4 puts in DM.COUNTRY and TS FCNTRY.

The ISO 3166-1 table is pycountry's (the Debian iso-codes copy of ISO 3166-1, with each country's short
name, official name and common name; codes are accepted as well). ClinicalTrials.gov keeps some names that
are not, or no longer, ISO 3166 names; `REGISTRY_SPELLINGS` gives their code (each checked against the
ISO 3166-1 table by tests/test_countries.py). A country that left ISO 3166-1 (ISO 3166-3: "Netherlands
Antilles", "Serbia and Montenegro") keeps its former alpha-3 code. A name with no ISO 3166 code at all
(Kosovo has none) gives "": the caller reports it rather than inventing a code.
"""
from __future__ import annotations

import re
from functools import lru_cache

import pycountry

# The edition of ISO 3166-1 whose alpha-3 codes DM.COUNTRY and TS FCNTRY hold (ISO 3166-1:2020, the edition in
# force): TS TSVCDVER and define.xml's ISO 3166 external codelist state this one version.
ISO_3166_EDITION = "2020"

# ClinicalTrials.gov's spellings (legacy XML, v1 and v2 records) that pycountry does not resolve.
REGISTRY_SPELLINGS = {
    "turkey": "TUR",
    "macedonia, the former yugoslav republic of": "MKD",
    "virgin islands (u.s.)": "VIR",
    "libyan arab jamahiriya": "LBY",
    "palestinian territories, occupied": "PSE",
    "palestinian territory, occupied": "PSE",
    "former serbia and montenegro": "SCG",
    "former yugoslavia": "YUG",
    "swaziland": "SWZ",
    "cape verde": "CPV",
    "burma": "MMR",
    "macau": "MAC",
    "saint martin": "MAF",
    "east timor": "TLS",
    "russia": "RUS",
    "zaire": "ZAR",
}


@lru_cache(maxsize=None)
def country_code(name: str) -> str:
    """The ISO 3166-1 alpha-3 code of a country name or code; "" when ISO 3166 has none."""
    cleaned = re.sub(r"\s+", " ", name).strip()
    if not cleaned:
        return ""
    candidates = [cleaned, *re.findall(r"\(([^()]+)\)", cleaned), re.sub(r"\s*\([^()]*\)", "", cleaned)]
    for candidate in candidates:
        code = _lookup(candidate)
        if code:
            return code
    return ""


def _lookup(name: str) -> str:
    spelled = REGISTRY_SPELLINGS.get(name.casefold())
    if spelled:
        return spelled
    for table in (pycountry.countries, pycountry.historic_countries):
        try:
            return str(table.lookup(name).alpha_3)
        except LookupError:
            continue
    return ""
