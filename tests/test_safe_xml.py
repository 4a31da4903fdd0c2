"""Safe XML: hostile payloads refused with file/line/reason, real exports parsed, kinds sniffed."""
from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
from lxml import etree

from trialbridge.schemas import safe_xml
from trialbridge.schemas.safe_xml import XmlError, parse_bytes, parse_file, xml_kind

FIXTURES = Path(__file__).parent / "fixtures"
EDC = FIXTURES / "edc"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="S">&lol9;</Study></ODM>
"""


def _xxe(target: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<!-- export -->\n<!DOCTYPE ODM [\n'
            f'  <!ENTITY xxe SYSTEM "{target}">\n]>\n'
            '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="&xxe;"/></ODM>\n').encode()


def _refused(data: bytes, kind: str) -> XmlError:
    with pytest.raises(XmlError) as caught:
        parse_bytes(data, "payload.xml")
    assert caught.value.kind == kind, caught.value
    assert caught.value.file == "payload.xml"
    return caught.value


def test_xxe_file_entity_is_refused_with_its_line(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    error = _refused(_xxe(secret.as_uri()), "unsafe")
    assert error.line == 4  # the <!ENTITY declaration
    assert "xxe" in error.reason and "TOPSECRET" not in str(error)
    found = error.finding()
    assert (found.rule, found.severity, found.location) == ("XML-UNSAFE", "error", "payload.xml:4")


def test_parameter_entity_and_utf16_payloads_are_refused() -> None:
    parameter = b'<!DOCTYPE ODM [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]><ODM/>'
    assert "remote" in _refused(parameter, "unsafe").reason
    assert _refused(_xxe("file:///etc/passwd").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
                    .encode("utf-16"), "unsafe").line == 4


def test_billion_laughs_is_refused_before_expansion() -> None:
    error = _refused(BILLION_LAUGHS, "unsafe")
    assert "'lol'" in error.reason and error.line == 3


def test_second_guard_catches_declared_entities_in_a_parsed_tree() -> None:
    raw = etree.parse(__import__("io").BytesIO(BILLION_LAUGHS), etree.XMLParser(resolve_entities=False))
    with pytest.raises(XmlError) as caught:
        safe_xml._check_tree(raw, "payload.xml")
    assert caught.value.kind == "unsafe"


def test_external_dtd_is_never_loaded(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY injected "INJECTED-FROM-DTD">')
    document = (f'<?xml version="1.0"?>\n<!DOCTYPE ODM SYSTEM "{dtd.as_uri()}">\n'
                '<ODM><Study OID="&injected;"/></ODM>').encode()
    error = _refused(document, "unsafe")  # the entity stays unresolved: the DTD was not read
    assert error.line == 3 and "&injected;" in error.reason and "INJECTED" not in error.reason


def test_external_dtd_over_the_network_is_not_fetched() -> None:
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY x "fetched">')

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/odm.dtd"
        tree = parse_bytes(f'<!DOCTYPE ODM SYSTEM "{url}"><ODM><Study OID="S"/></ODM>'.encode(), "net.xml")
        assert tree.getroot().find("Study").get("OID") == "S"
    finally:
        server.shutdown()
        server.server_close()
    assert requests == []


def test_malformed_xml_names_the_line() -> None:
    error = _refused(b'<ODM>\n<Study OID="S">\n<GlobalVariables>\n</Study>\n</ODM>\n', "syntax")
    assert error.line == 4 and "GlobalVariables" in error.reason
    assert error.finding().location == "payload.xml:4"


def test_wrong_encoding_is_an_encoding_error() -> None:
    latin1 = '<?xml version="1.0" encoding="UTF-8"?>\n<ODM>\n<Study OID="Café"/></ODM>'.encode("latin-1")
    error = _refused(latin1, "encoding")
    assert error.line == 3 and error.finding().rule == "XML-ENCODING"


def test_empty_and_truncated_documents() -> None:
    assert _refused(b"  \n", "syntax").line == 1
    truncated = (EDC / "redcap" / "simple.xml").read_bytes()[:5000]
    assert _refused(truncated, "syntax").line > 1


def test_size_limit_and_unreadable_file(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"<ODM>" + b" " * 2000 + b"</ODM>")
    with pytest.raises(XmlError) as caught:
        parse_file(big, max_bytes=1000)
    assert caught.value.kind == "too-large" and caught.value.file == "big.xml"
    with pytest.raises(XmlError) as caught:
        parse_file(tmp_path / "missing.xml")
    assert caught.value.kind == "unreadable" and caught.value.finding().rule == "XML-UNREADABLE"


def test_huge_text_node_is_refused() -> None:
    error = _refused(b"<ODM><Study OID='S'>" + b"x" * (11 * 1024 * 1024) + b"</Study></ODM>", "syntax")
    assert error.line == 1


@pytest.mark.parametrize("name", ["redcap/simple.xml", "redcap/longitudinal.xml", "redcap/repeating-instruments.xml",
                                  "openclinica/extract-2014-01-31.xml", "odmlib/cdash-odm-test.xml"])
def test_real_exports_parse_with_source_lines(name: str) -> None:
    tree = parse_file(EDC / name)
    root = tree.getroot()
    assert etree.QName(root).localname == "ODM" and root.sourceline >= 1
    assert all(element.sourceline for element in root.iter("{http://www.cdisc.org/ns/odm/v1.3}ItemGroupData"))


@pytest.mark.parametrize(("name", "kind"), [
    ("redcap/simple.xml", safe_xml.KIND_ODM_DATA),
    ("redcap/longitudinal.xml", safe_xml.KIND_ODM_DATA),
    ("openclinica/extract-2014-01-31.xml", safe_xml.KIND_ODM_DATA),
    ("odmlib/cdash-odm-test.xml", safe_xml.KIND_ODM_METADATA),
])
def test_kind_of_real_exports(name: str, kind: str) -> None:
    assert xml_kind(EDC / name) == kind


def test_kind_of_other_documents(tmp_path: Path) -> None:
    cases = {
        "define.xml": ('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:def="http://www.cdisc.org/ns/def/v2.1">'
                       '<Study OID="S"/></ODM>', safe_xml.KIND_DEFINE),
        "define-attr.xml": ('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="S"><MetaDataVersion '
                            'xmlns:d="http://www.cdisc.org/ns/def/v2.0" d:DefineVersion="2.0.0"/></Study></ODM>',
                            safe_xml.KIND_DEFINE),
        "odm2.xml": '<ODM xmlns="http://www.cdisc.org/ns/odm/v2.0" ODMVersion="2.0"/>', "odm2.xml-kind": None,
        "legacy.xml": ('<?xml version="1.0"?>\n<clinical_study rank="1"><id_info/></clinical_study>',
                       safe_xml.KIND_CTGOV_LEGACY),
        "prs.xml": ('<prs:study_collection xmlns:prs="http://clinicaltrials.gov/prs"><clinical_study/>'
                    '</prs:study_collection>', safe_xml.KIND_PRS),
        "fhir.xml": '<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/></Bundle>', "fhir.xml-kind": None,
        "other.xml": ("<catalog><book/></catalog>", safe_xml.KIND_UNKNOWN),
    }
    expected = {"odm2.xml": safe_xml.KIND_ODM_2, "fhir.xml": safe_xml.KIND_FHIR}
    for name, case in cases.items():
        if name.endswith("-kind"):
            continue
        text, kind = case if isinstance(case, tuple) else (case, expected[name])
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert xml_kind(tmp_path / name) == kind, name


def test_kind_refuses_payloads_and_streams_past_metadata(tmp_path: Path) -> None:
    payload = tmp_path / "xxe.xml"
    payload.write_bytes(_xxe("file:///etc/passwd"))
    with pytest.raises(XmlError) as caught:
        xml_kind(payload)
    assert caught.value.kind == "unsafe"
    # ClinicalData after a long metadata section, and a malformed tail never reached
    metadata = "".join(f'<ItemDef OID="I{n}" Name="I{n}" DataType="text"/>' for n in range(20000))
    late = tmp_path / "late.xml"
    late.write_text('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="S"><MetaDataVersion OID="M">'
                    f'{metadata}</MetaDataVersion></Study><ClinicalData StudyOID="S"><broken></ODM>')
    assert xml_kind(late) == safe_xml.KIND_ODM_DATA


def test_define_xml_with_payloads_is_refused_by_validate(tmp_path: Path) -> None:
    from trialbridge.converters.cli import main

    for name, payload in (("xxe", _xxe("file:///etc/passwd")), ("laughs", BILLION_LAUGHS)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "define.xml").write_bytes(payload)
        assert main(["validate", str(folder / "define.xml")]) == 2
        assert sorted(folder.iterdir()) == [folder / "define.xml"]  # nothing written
