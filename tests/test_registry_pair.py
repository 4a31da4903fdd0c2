"""The same trial in two registry forms gives the same registry facts (real pairs, tests/fixtures/registry-pair):
- RTOG L-0117 (NCT00023673) as legacy XML (2016) and as classic v1 JSON (2023): the registry models, TS, TA,
  TE and TI agree on every fact, except the edits the sponsor made between the two downloads (named here);
- REVALLO (NCT01421927) as API v2 JSON (examples/revallo/registry.json) and as the registry's own web page:
  what the page states, the model and TS/TI state too."""
import re
from pathlib import Path

import pytest

from trialbridge.converters.readers.registry import read_file
from trialbridge.converters.registry.package import map_design
from trialbridge.mappings.sdtm.ti import criteria, criterion_parts

PAIR = Path(__file__).parent / "fixtures" / "registry-pair"
REVALLO = Path(__file__).parent.parent / "examples" / "revallo" / "registry.json"

# What the sponsor changed between the 2016 XML and the 2023 v1 record (module paths in the v2 model) and
# what the older form cannot say (legacy XML has no secondary id types, organisation class, standard age
# groups or first-post dates): left out of the comparison, every other value must be equal.
REGISTRY_EDITS = ("outcomesModule.secondaryOutcomes", "sponsorCollaboratorsModule.leadSponsor.class",
                  "statusModule.", "contactsLocationsModule.locations", "outcomesModule.primaryOutcomes[0].description")
FORM_LIMITS = ("identificationModule.secondaryIdInfos", "identificationModule.organization.class",
               "eligibilityModule.stdAges", "derivedSection")
TEXT_BLOCKS = ("descriptionModule.briefSummary", "descriptionModule.detailedDescription",
               "eligibilityModule.eligibilityCriteria")


def flat(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flat(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from flat(item, f"{path}[{n}]")
    else:
        yield path.removeprefix("protocolSection."), value


def facts(record: dict) -> dict:
    """The record's values by path; an intervention's arm labels as a set (v1 sorts them, XML does not)."""
    flat_facts = dict(flat(record))
    labels = {k.rsplit("[", 1)[0] for k in flat_facts if ".armGroupLabels[" in k}
    out = {k: v for k, v in flat_facts.items() if ".armGroupLabels[" not in k}
    return out | {k: sorted(v for key, v in flat_facts.items() if key.rsplit("[", 1)[0] == k) for k in labels}


@pytest.fixture(scope="module")
def pair():
    xml, v1 = (read_file(PAIR / name) for name in ("NCT00023673.xml", "NCT00023673.v1.json"))
    assert xml.findings == [] and v1.findings == []
    return xml.records[0], v1.records[0]


def words(text: str) -> str:
    """A text block without its layout: legacy XML hard-wraps and indents, v1 does not; list markers go."""
    return " ".join(re.sub(r"(?m)^\s*-\s+", "", text).split())


def test_the_two_forms_give_the_same_registry_model(pair):
    xml, v1 = (facts(r.record) for r in pair)
    assert (pair[0].form, pair[1].form) == ("legacy-xml", "v1")
    skip = REGISTRY_EDITS + FORM_LIMITS + TEXT_BLOCKS
    keep = lambda facts: {k: v for k, v in facts.items() if not any(s in k for s in skip)}  # noqa: E731
    assert keep(xml) == keep(v1)
    assert len(keep(xml)) > 60  # identification, design, arms, interventions, eligibility, officials, references
    for block in ("descriptionModule.briefSummary", "descriptionModule.detailedDescription"):
        assert words(xml[block]) == words(v1[block])
    # the sites: the same 41 facilities in the same two countries (the sponsor reordered five and fixed two cities)
    sites = lambda facts: sorted(v for k, v in facts.items() if k.endswith(".facility"))  # noqa: E731
    assert sites(xml) == sites(v1) and len(sites(xml)) == 41
    assert {v for k, v in xml.items() if k.endswith(".country")} == {"United States", "Canada"}


def test_the_two_forms_give_the_same_criteria_once_the_v1_flattening_is_undone(pair):
    texts = [r.record["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] for r in pair]
    unjoined = [[(cat, head, part) for cat, head, parts in criterion_parts(t) for part in parts] for t in texts]
    assert unjoined[0] == unjoined[1] and len(unjoined[0]) == 36
    # PDQ sub-headings head their criteria; none is a criterion itself
    xml_criteria = criteria(texts[0])
    assert ("INCLUSION", "Hepatic: Bilirubin less than 1.5 mg/dL") in xml_criteria
    assert ("INCLUSION", "Age: Not specified") in xml_criteria
    assert not [c for _, c in xml_criteria if c.endswith(":")]
    # the XML keeps the histology list under its criterion; v1 lost the nesting
    assert xml_criteria[0][1].endswith("; Squamous cell carcinoma; Adenocarcinoma; Large cell carcinoma; "
                                       "Non-small cell carcinoma not otherwise specified")


def test_the_two_forms_give_the_same_trial_design_datasets(pair):
    xml, v1 = (map_design(r) for r in pair)
    for name in ("TA", "TE"):
        assert xml.tables[name].drop(columns=["_file", "_line"]).equals(v1.tables[name].drop(columns=["_file", "_line"]))
    ts = [d.tables["TS"].set_index(["TSPARMCD", "TSSEQ"])["TSVAL"] for d in (xml, v1)]
    changed = sorted({code for code, _ in ts[0].index.symmetric_difference(ts[1].index)} |
                     {code for code, _ in ts[0].index.intersection(ts[1].index) if ts[0][code].tolist() != ts[1][code].tolist()})
    assert changed == ["OUTMSSEC"]  # the sponsor's revised secondary outcomes
    assert ts[0][("TITLE", 1)] == ts[1][("TITLE", 1)]
    assert ts[0]["TPHASE"].tolist() == ["PHASE I/II TRIAL"]
    assert xml.tables["TS"]["STUDYID"].iloc[0] == v1.tables["TS"]["STUDYID"].iloc[0] == "RTOG L-0117"
    assert len(xml.tables["TI"]) == 32 and v1.tables["TI"]["IETEST"].str.len().min() > 0


# --- REVALLO: API v2 JSON and the registry's page --------------------------------------------------------
def page_value(page: str, label: str) -> str:
    found = re.search(rf"^{re.escape(label)}\s*:?\s*(.+?)\s*$", page, re.M)
    assert found, label
    return found.group(1)


def bullets(page: str, start: str, end: str) -> list[str]:
    block = page.split(start, 1)[1].split(end, 1)[0]
    return [line.strip()[1:].strip() for line in block.splitlines() if line.strip().startswith("\u2022")]


def test_revallo_v2_json_states_what_the_registry_page_states():
    page = (PAIR / "NCT01421927.page.txt").read_text(encoding="utf-8").replace("\u00a0", " ")
    record = read_file(REVALLO).records[0]
    design = map_design(record)
    ts = design.tables["TS"].groupby("TSPARMCD")["TSVAL"].agg(list).to_dict()
    protocol = record.record["protocolSection"]
    assert page_value(page, "Official Title") == protocol["identificationModule"]["officialTitle"] == ts["TITLE"][0]
    assert page_value(page, "Other Study ID Numbers") == protocol["identificationModule"]["orgStudyIdInfo"]["id"]
    assert page_value(page, "Actual Enrollment").split()[0] == "13" == ts["ACTSUB"][0]
    assert page_value(page, "Intervention Model") == "Single Group Assignment" and ts["INTMODEL"] == ["SINGLE GROUP"]
    assert page_value(page, "Masking") == "None (Open Label)" and ts["TBLIND"] == ["OPEN LABEL"]
    assert page_value(page, "Primary Purpose") == "Treatment" and ts["STYPE"] == ["INTERVENTIONAL"]
    assert "Phase 1" in page and ts["TPHASE"] == ["PHASE I TRIAL"]
    assert page_value(page, "Study Start Date") == "August 2011" and ts["SSTDTC"] == ["2011-08"]
    assert page_value(page, "Actual Study Completion Date") == "October 2014" and ts["SENDTC"] == ["2014-10"]
    assert page_value(page, "Ages Eligible for Study").startswith("18 Years to 65 Years")
    assert ts["AGEMIN"] == ["P18Y"] and ts["AGEMAX"] == ["P65Y"]
    assert page_value(page, "Accepts Healthy Volunteers") == "No" and ts["HLTSUBJI"] == ["N"]
    # every criterion the page lists, in the page's order and category, is one TI record with that text
    ti = design.tables["TI"]
    for category, (start, end) in {"INCLUSION": ("Inclusion Criteria:", "Exclusion Criteria:"),
                                   "EXCLUSION": ("Exclusion Criteria:", "Information from the National")}.items():
        assert ti.loc[ti["IECAT"] == category, "IETEST"].tolist() == bullets(page, start, end)
    # the one site, and the secondary outcomes in order
    assert "CHU Bordeaux - Hôpital Haut-Lévêque\nPessac, France, 33600" in page
    assert protocol["contactsLocationsModule"]["locations"][0]["facility"] == "CHU Bordeaux - Hôpital Haut-Lévêque"
    numbered = re.findall(r"^\s+\d+\.\s+(.+?) \[ Time Frame", page.split("Secondary Outcome Measures", 1)[1], re.M)
    assert ts["OUTMSSEC"] == numbered
