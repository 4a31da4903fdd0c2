"""define.html: the page the official stylesheet renders, as a browser shows it.

The page is opened in headless Chromium (Debian's `chromium` package) and its DOM is read back: one
section per dataset with its variables and value-level rows, the codelists, and links that resolve,
inside the page and to the XPT files beside it.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree, html

from conftest import write_native_folder
from test_define import NS, write_package
from test_define_xsd import convert_to_sdtm
from trialbridge.converters.define.writer import DEFINE_FILE, HTML_FILE

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module", params=["mini package", "hand-written study"])
def out(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini package of test_define, and a study converted through the real mappings."""
    folder = tmp_path_factory.mktemp("define")
    if request.param == "mini package":
        write_package(folder)
        return folder
    convert_to_sdtm(write_native_folder(folder / "native").path, folder / "sdtm")
    return folder / "sdtm"


@pytest.fixture(scope="module")
def browser_dom(out: Path, tmp_path_factory: pytest.TempPathFactory) -> html.HtmlElement:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (Debian package `chromium`); CI installs it")
    profile = tmp_path_factory.mktemp("chromium-profile")
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--dump-dom", (out / HTML_FILE).as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0 and "<html" in run.stdout, run.stderr[-2000:]
    return html.fromstring(run.stdout)


def define_root(out: Path) -> etree._Element:
    return etree.parse(str(out / DEFINE_FILE)).getroot()


def dataset_table(dom: html.HtmlElement, group_oid: str) -> html.HtmlElement:
    """The stylesheet's variable table of one dataset (anchor id `IG.<OID>`)."""
    tables = dom.xpath(f"//table[@summary='ItemGroup IG.{group_oid}']")
    assert len(tables) == 1, f"{group_oid}: {len(tables)} tables"
    assert dom.xpath(f"//*[@id='IG.{group_oid}']"), f"no anchor for {group_oid}"
    return tables[0]


def rows(table: html.HtmlElement, vlm: bool) -> list[html.HtmlElement]:
    """Data rows of a dataset table (class tablerowodd/even): the variables, or the value-level rows."""
    data = table.xpath(".//tr[contains(@class, 'tablerow')]")
    return [r for r in data if ("vlm" in r.get("class", "").split()) == vlm]


def variable_rows(table: html.HtmlElement) -> list[str]:
    return [r.xpath("string(td[1])").replace("VLM", "").replace("[No Data]", "").strip() for r in rows(table, False)]


def test_the_html_is_rendered_ahead_of_time_with_one_table_per_dataset(out):
    page = html.fromstring((out / HTML_FILE).read_bytes())
    groups = define_root(out).xpath("//odm:ItemGroupDef/@OID", namespaces=NS)
    assert sorted(page.xpath("//table[starts-with(@summary, 'ItemGroup ')]/@summary")) == sorted(
        f"ItemGroup IG.{oid}" for oid in groups)


def test_every_dataset_has_its_section_with_its_variables_in_order(out, browser_dom):
    root = define_root(out)
    names = {i.get("OID"): i.get("Name") for i in root.xpath("//odm:ItemDef", namespaces=NS)}
    for group in root.xpath("//odm:ItemGroupDef", namespaces=NS):
        table = dataset_table(browser_dom, group.get("OID"))
        expected = [names[r.get("ItemOID")] for r in group.xpath("odm:ItemRef", namespaces=NS)]
        assert variable_rows(table) == expected, group.get("Name")


def test_value_level_rows_sit_in_their_dataset_section(out, browser_dom):
    root = define_root(out)
    for value_list in root.xpath("//def:ValueListDef", namespaces=NS):
        parent = value_list.xpath("//odm:ItemDef[def:ValueListRef/@ValueListOID=$oid]", oid=value_list.get("OID"),
                                  namespaces=NS)[0]
        group = root.xpath("//odm:ItemGroupDef[odm:ItemRef/@ItemOID=$oid]", oid=parent.get("OID"), namespaces=NS)[0]
        table = dataset_table(browser_dom, group.get("OID"))
        conditions = [r.text_content() for r in rows(table, vlm=True)]  # SUPP--: the condition is in column 1
        values = value_list.xpath(".//def:WhereClauseRef/@WhereClauseOID", namespaces=NS)
        for clause in values:
            value = root.xpath("//def:WhereClauseDef[@OID=$oid]//odm:CheckValue/text()", oid=clause, namespaces=NS)[0]
            assert any(f'= "{value}"' in c for c in conditions), (group.get("Name"), value)


def test_every_codelist_has_its_section_with_its_terms(out, browser_dom):
    root = define_root(out)
    for codelist in root.xpath("//odm:CodeList", namespaces=NS):
        oid = codelist.get("OID")
        assert browser_dom.xpath(f"//*[@id='CL.{oid}']"), oid
        section = browser_dom.xpath(f"//*[@id='CL.{oid}']/ancestor-or-self::*[.//table][1]//table")
        text = " ".join(t.text_content() for t in section)
        for value in codelist.xpath("*/@CodedValue", namespaces=NS):
            assert value in text, (oid, value)
        for external in codelist.xpath("odm:ExternalCodeList", namespaces=NS):
            summary = "//table[starts-with(@summary, 'External Dictionaries')]"
            dictionaries = browser_dom.xpath(summary)[0].text_content()
            assert external.get("Dictionary") in dictionaries and external.get("Version") in dictionaries


def test_links_inside_the_page_and_to_the_xpt_files_resolve(out, browser_dom):
    targets = set(browser_dom.xpath("//@id")) | set(browser_dom.xpath("//a/@name"))
    hrefs = browser_dom.xpath("//a/@href")
    internal = [h[1:] for h in hrefs if h.startswith("#")]
    assert internal and [h for h in internal if h not in targets] == []
    files = sorted({h for h in hrefs if h.endswith(".xpt")})
    assert files == sorted(define_root(out).xpath("//odm:ItemGroupDef/def:leaf/@xlink:href", namespaces=NS))
    assert [f for f in files if not (out / f).is_file()] == []
