"""The reviewer's guide skeleton (sdtm/csdrg.md, csdrg.html): PHUSE cSDRG sections filled from what the tool
knows, the rest marked for the sponsor; the HTML read back in headless Chromium."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from lxml import html

from trialbridge.converters.cli import main
from trialbridge.converters.csdrg import GuideFacts, guide_sections, to_html, to_markdown
from trialbridge.schemas.findings import Explanation, finding
from revallo_domains import study_spec

REVALLO = Path(__file__).resolve().parents[1] / "examples" / "revallo"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
PHUSE_SECTIONS = ["1 Introduction", "1.1 Purpose", "1.2 Acronyms", "1.3 Study Data Standards and Dictionary Inventory",
                  "2 Protocol Description", "2.1 Protocol Number and Title", "2.2 Protocol Design",
                  "2.3 Trial Design Datasets", "3 Subject Data Description", "3.1 Overview",
                  "3.2 Traceability Flow Diagram", "3.3 Annotated CRFs", "3.4 SDTM Subject Domains",
                  "4 Data Conformance Summary", "4.1 Conformance Inputs", "4.2 Issues Summary",
                  "4.3 Additional Conformance Details", "Appendix I: Inclusion/Exclusion Criteria"]


@pytest.fixture(scope="module")
def sdtm(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("csdrg") / "out"
    assert main(["convert", str(REVALLO), "--out", str(out), "--fhir", "none", "--format", "json"]) in (0, 1)
    return out / "sdtm"


def test_the_guide_has_the_phuse_sections_filled_from_the_package(sdtm):
    text = (sdtm / "csdrg.md").read_text(encoding="utf-8")
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    assert [h for h in headings if h in PHUSE_SECTIONS] == PHUSE_SECTIONS
    assert "| SDTMIG | 3.4 |" in text and "| MedDRA | 17.0 |" in text and "| CTCAE | 3.0 |" in text
    assert "Protocol Number: CHUBX 2010/01" in text and "Registry identifier: NCT01421927" in text
    assert "Safety of a Maintenance Therapy With Lenalidomide" in text
    assert "| DM - Demographics | Special-Purpose | 13 | X |" in text  # records and its SUPPDM
    assert "represented in the SUPPDM dataset" in text and "| DISSTAT |" in text and "| TXDTC |" not in text
    assert "| PR - Procedures | Interventions | 26 | X |" in text  # conditioning + transplant, SUPPPR
    assert "| DD - Death Details | Findings | 1 |" in text and "represented in the SUPPPR dataset" in text
    assert "| LB | LBTESTCD | CHIMDON |" in text  # a sponsor-defined term the checks found
    assert "| CP - Cell Phenotype Findings | Findings | 270 |" in text and "| LB | LBTESTCD | TLYH |" not in text
    assert "SD-MEDDRA-HIERARCHY" in text and "[Sponsor to complete: explanation]" in text
    assert "Patients aged 18 to 65 years" in text  # Appendix I from the registry's eligibility criteria
    assert "LENGTH" in text and "STOPRULE" in text  # TS values no input gave, named for the sponsor


def test_define_xml_refers_to_the_guide(sdtm):
    define = (sdtm / "define.xml").read_text(encoding="utf-8")
    assert 'xlink:href="csdrg.html"' in define and "def:SupplementalDoc" in define


def test_an_explained_finding_carries_its_justification():
    ts = pd.DataFrame({"TSPARMCD": ["TITLE"], "TSVAL": ["A title"], "TSVALNF": [""]})
    explained = finding("SD-CT-EXT", "lb:LBTESTCD:15", ["TLYH"], dataset="LB", variable="LBTESTCD",
                        codelist="C65047", codelist_name="Laboratory Test Code", ct="2025-03-28")
    from dataclasses import replace

    explained = replace(explained, explanation=Explanation("No CDISC term for T helper lymphocytes yet.", "DM",
                                                           "2015-07-01", "waivers.csv:2"))
    facts = GuideFacts(spec=study_spec(), records={"LB": 10}, ts=ts, findings=(explained,), registry={})
    text = to_markdown("t", guide_sections(facts))
    assert "| LB | SD-CT-EXT | warning | 1 | No CDISC term for T helper lymphocytes yet. |" in text
    assert "| LB | LBTESTCD | TLYH |" in text  # and it is listed among the sponsor-defined terms


def test_markdown_and_html_render_the_same_sections():
    facts = GuideFacts(spec=study_spec(), records={}, ts=pd.DataFrame({"TSPARMCD": [], "TSVAL": [], "TSVALNF": []}),
                       findings=(), registry={})
    sections = guide_sections(facts)
    page = html.fromstring(to_html("t", sections))
    assert [h.text_content() for h in page.xpath("//section/*[self::h2 or self::h3 or self::h4][1]")] == [
        (s.number + " " + s.title).strip() for s in sections]
    assert "<script" not in to_html("t<script>", sections)  # text is escaped


def test_the_html_reads_in_headless_chromium(sdtm, tmp_path):
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (Debian package `chromium`); CI installs it")
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", (sdtm / "csdrg.html").as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and "<html" in run.stdout, run.stderr[-2000:]
    dom = html.fromstring(run.stdout)
    headings = [h.text_content().strip() for h in dom.xpath("//section/*[self::h2 or self::h3 or self::h4][1]")]
    assert [h for h in headings if h in PHUSE_SECTIONS] == PHUSE_SECTIONS
    targets = set(dom.xpath("//@id"))
    assert [a for a in dom.xpath("//nav//a/@href") if a[1:] not in targets] == []  # the contents links resolve
    assert dom.xpath("//table[.//th[text()='Check ID']]//td[text()='SD-MEDDRA-HIERARCHY']")
    assert dom.xpath("//p[@class='todo']")  # what the sponsor must complete stands out
