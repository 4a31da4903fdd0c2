"""ISO 3166 country codes: registry country names -> alpha-3 (mappings/countries.py), and TS FCNTRY of a
registry record without subject data taken from its locations."""
from __future__ import annotations

from pathlib import Path

import pycountry
import pytest

from trialbridge.converters.readers.registry import read_file
from trialbridge.converters.registry.package import map_design
from trialbridge.mappings.countries import REGISTRY_SPELLINGS, country_code
from trialbridge.mappings.registry.model import normalise

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name, code", [
    ("United States", "USA"), ("Korea, Republic of", "KOR"), ("Russian Federation", "RUS"), ("Taiwan", "TWN"),
    ("Czechia", "CZE"), ("Czech Republic", "CZE"), ("Turkey", "TUR"), ("Turkey (Türkiye)", "TUR"),
    ("Macedonia, The Former Yugoslav Republic of", "MKD"), ("North Macedonia", "MKD"),
    ("Iran, Islamic Republic of", "IRN"), ("Côte D'Ivoire", "CIV"), ("Virgin Islands (U.S.)", "VIR"),
    ("Hong Kong", "HKG"), ("Netherlands Antilles", "ANT"), ("Former Serbia and Montenegro", "SCG"),
    ("Congo, The Democratic Republic of the", "COD"), ("  united   kingdom ", "GBR"), ("FRA", "FRA"),
])
def test_registry_country_names_give_their_alpha_3_code(name, code):
    assert country_code(name) == code


def test_a_name_iso_3166_does_not_list_gives_no_code():
    assert country_code("Kosovo") == "" and country_code("") == ""


def test_every_registry_spelling_is_an_iso_3166_code():
    codes = {c.alpha_3 for c in pycountry.countries} | {c.alpha_3 for c in pycountry.historic_countries}
    assert set(REGISTRY_SPELLINGS.values()) <= codes


def _fcntry(path: Path) -> list[tuple[str, str, str]]:
    (record,) = read_file(path).records
    ts = map_design(record).tables["TS"]
    rows = ts[ts["TSPARMCD"] == "FCNTRY"]
    return list(zip(rows["TSVAL"], rows["TSVALCD"], rows["TSVCDREF"]))


def test_fcntry_lists_the_registry_site_countries_as_iso_codes():
    # Morpheus-TNBC (legacy XML): sites in 7 countries, "Korea, Republic of" among them
    assert [v for v, _, _ in _fcntry(FIXTURES / "registry" / "NCT03424005.xml")] == [
        "AUS", "DEU", "ESP", "FRA", "GBR", "KOR", "USA"]
    assert set(_fcntry(FIXTURES / "registry" / "NCT03424005.xml")) >= {("KOR", "KOR", "ISO 3166")}


def test_a_country_without_a_code_is_reported_not_invented(tmp_path):
    (record,) = read_file(FIXTURES / "ctgov" / "NCT06171568.json").records
    data = record.record
    data["protocolSection"]["contactsLocationsModule"]["locations"].append({"facility": "X", "country": "Kosovo"})
    design = map_design(normalise("v2", data, "kosovo.json"))
    rows = design.tables["TS"]
    assert list(rows.loc[rows["TSPARMCD"] == "FCNTRY", "TSVAL"]) == ["FRA"]
    assert [f.values for f in design.findings if f.rule == "TS-COUNTRY-UNKNOWN"] == [("Kosovo",)]
