"""The demo IdP signs real responses that a pysaml2 SP accepts, and its pages work.

Each test builds its own IdP in a temporary folder (a 2048-bit key costs ~50 ms); the
SP-side checks use a bare pysaml2 client, so these tests do not depend on Frontdesk's SP.
"""

from __future__ import annotations

import base64
import re
import shutil
import zlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlparse

import pytest
from lxml import etree
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.mdstore import MetadataStore
from saml2.sigver import CryptoBackendXmlSec1
from saml2.sigver import SignatureError
from saml2.xmldsig import DIGEST_SHA1
from saml2.xmldsig import DIGEST_SHA256
from saml2.xmldsig import SIG_RSA_SHA1
from saml2.xmldsig import SIG_RSA_SHA256

from jit.demo.idp import AMR_CLAIM
from jit.demo.idp import ENTRA_CLAIMS
from jit.demo.idp import ENTRA_SINGLE_FACTOR
from jit.demo.idp import DemoIdPError
from jit.demo.idp import create_idp_app
from jit.demo.idp import decode_response
from jit.demo.idp import demo_attributes
from jit.demo.idp import demo_user
from jit.demo.idp import instructions
from jit.demo.idp import main
from tests.helpers.saml import DemoIdP
from tests.jit import saml_attacks

SP_BASE = "http://127.0.0.1:8000"
IDP_BASE = "http://127.0.0.1:8001"
NS = saml_attacks.NS
XMLSEC = shutil.which("xmlsec1")

pytestmark = pytest.mark.skipif(XMLSEC is None, reason="xmlsec1 is not installed")


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> DemoIdP:
    return DemoIdP.for_frontdesk(tmp_path_factory.mktemp("idp"), IDP_BASE, SP_BASE)


@pytest.fixture(scope="module")
def sp(idp: DemoIdP) -> Saml2Client:
    """A plain pysaml2 SP that trusts the demo IdP through its metadata file."""
    conf = SPConfig()
    conf.load({
        "entityid": idp.sp_entity_id,
        "xmlsec_binary": XMLSEC,
        "metadata": {"local": [str(idp.metadata_path)]},
        "allow_unknown_attributes": True,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(idp.sp_acs_url, BINDING_HTTP_POST)]},
            "allow_unsolicited": True,
            "want_assertions_signed": True,
            "want_response_signed": False,
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
        }},
    })
    return Saml2Client(config=conf)


def verify(xml: str, cert: Path, node: str, node_id: str) -> bool:
    """xmlsec1 --verify through pysaml2's backend, with pysaml2's own flags."""
    assert XMLSEC is not None
    try:
        return bool(CryptoBackendXmlSec1(XMLSEC).validate_signature(
            xml, str(cert), "pem", node, node_id))
    except SignatureError:
        return False


def root_of(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode())


def assertion_of(xml: str) -> etree._Element:
    found = root_of(xml).find("saml:Assertion", NS)
    assert found is not None
    return found


def authn_request(sp: Saml2Client, idp: DemoIdP, relay_state: str) -> tuple[str, dict[str, str]]:
    """An SP-initiated HTTP-Redirect AuthnRequest: (request id, query parameters)."""
    request_id, info = sp.prepare_for_authenticate(entityid=idp.entity_id, relay_state=relay_state)
    location = dict(info["headers"])["Location"]
    assert location.startswith(idp.sso_url + "?")
    query = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
    return request_id, query


# -- key, certificate, metadata ------------------------------------------------------------------

def test_metadata_is_idp_metadata_pysaml2_can_load(idp: DemoIdP) -> None:
    mds = MetadataStore(attrc=[], config=SPConfig())
    mds.load("local", str(idp.metadata_path))
    assert idp.entity_id == f"{IDP_BASE}/metadata"
    sso = mds.single_sign_on_service(idp.entity_id, BINDING_HTTP_REDIRECT)
    assert [s["location"] for s in sso] == [f"{IDP_BASE}/sso"]
    cert_b64 = "".join(idp.cert_pem.strip().splitlines()[1:-1])
    certs = [c for _, c in mds.certs(idp.entity_id, "idpsso", "signing")]
    assert ["".join(c.split()) for c in certs] == [cert_b64]
    # No algorithm advertisement (pysaml2 would list MD5 and SHA-1).
    assert "algsupport" not in idp.metadata_path.read_text()


def test_key_is_generated_once_and_reused(tmp_path: Path) -> None:
    first = DemoIdP.for_frontdesk(tmp_path, IDP_BASE, SP_BASE)
    key, cert = first.key_path.read_bytes(), first.cert_path.read_bytes()
    assert first.key_path.stat().st_mode & 0o077 == 0
    assert b"BEGIN PRIVATE KEY" in key and b"BEGIN CERTIFICATE" in cert
    second = DemoIdP.for_frontdesk(tmp_path, IDP_BASE, SP_BASE)
    assert second.key_path.read_bytes() == key
    assert second.cert_path.read_bytes() == cert
    assert second.metadata_path.read_text() == first.metadata_xml
    # and a response from the second verifies with the first one's certificate
    xml = second.response_xml("a@example.com")
    assert verify(xml, first.cert_path, saml_attacks.ASSERTION_NODE, assertion_of(xml).get("ID"))


def test_write_metadata_only_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workdir", str(tmp_path / "d"), "--port", "8101",
                 "--sp-base-url", "http://127.0.0.1:8100", "--write-metadata-only"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == tmp_path / "d" / "idp-metadata.xml"
    text = path.read_text()
    assert 'entityID="http://127.0.0.1:8101/metadata"' in text
    assert 'Location="http://127.0.0.1:8101/sso"' in text


def test_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--workdir", str(tmp_path), "--host", "0.0.0.0",  # noqa: S104
              "--write-metadata-only"])


# -- responses -------------------------------------------------------------------------------------

def test_response_is_signed_with_sha256_and_verifies_with_xmlsec1(idp: DemoIdP) -> None:
    xml = idp.response_xml("ada@example.com", {"email": ["ada@example.com"]})
    assertion = assertion_of(xml)
    assert verify(xml, idp.cert_path, saml_attacks.ASSERTION_NODE, assertion.get("ID"))
    methods = {e.get("Algorithm") for e in assertion.iterfind(".//ds:SignatureMethod", NS)}
    digests = {e.get("Algorithm") for e in assertion.iterfind(".//ds:DigestMethod", NS)}
    assert methods == {SIG_RSA_SHA256}
    assert digests == {DIGEST_SHA256}
    # only the assertion is signed by default (as Entra does)
    assert root_of(xml).find("ds:Signature", NS) is None


def test_response_signature_too_and_sha1_on_request(idp: DemoIdP) -> None:
    xml = idp.response_xml("ada@example.com", sign_response=True,
                           sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)
    root = root_of(xml)
    assert verify(xml, idp.cert_path, saml_attacks.RESPONSE_NODE, root.get("ID"))
    assert verify(xml, idp.cert_path, saml_attacks.ASSERTION_NODE, assertion_of(xml).get("ID"))
    assert {e.get("Algorithm") for e in root.iterfind(".//ds:SignatureMethod", NS)} == {
        SIG_RSA_SHA1}
    assert {e.get("Algorithm") for e in root.iterfind(".//ds:DigestMethod", NS)} == {DIGEST_SHA1}


def test_unsigned_response_on_request(idp: DemoIdP) -> None:
    xml = idp.response_xml("ada@example.com", sign_assertion=False)
    assert root_of(xml).find(".//ds:Signature", NS) is None


def test_fields_end_up_in_the_xml(idp: DemoIdP) -> None:
    attrs = {
        "email": ["ada@example.com"],
        "firstName": ["Ada"],
        "groups": ["engineering", "admins"],
        ENTRA_CLAIMS["email"]: ["ada@example.com"],
    }
    xml = idp.response_xml("ada@example.com", attrs, in_response_to="id-req-1")
    root = root_of(xml)
    assertion = assertion_of(xml)
    assert root.get("InResponseTo") == "id-req-1"
    assert root.get("Destination") == f"{SP_BASE}/saml/acs"
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert name_id is not None and name_id.text == "ada@example.com"
    assert name_id.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    data = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert data is not None
    assert data.get("InResponseTo") == "id-req-1"
    assert data.get("Recipient") == f"{SP_BASE}/saml/acs"
    audiences = [a.text for a in assertion.iterfind(".//saml:Audience", NS)]
    assert audiences == [f"{SP_BASE}/saml/metadata"]
    for issuer in (root.find("saml:Issuer", NS), assertion.find("saml:Issuer", NS)):
        assert issuer is not None and issuer.text == f"{IDP_BASE}/metadata"
    got = {
        a.get("Name"): (a.get("NameFormat"),
                          [v.text for v in a.iterfind("saml:AttributeValue", NS)])
        for a in assertion.iterfind(".//saml:Attribute", NS)
    }
    unspecified = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
    assert got == {name: (unspecified, values) for name, values in attrs.items()}


def test_overrides_for_negative_tests(idp: DemoIdP) -> None:
    xml = idp.response_xml(
        "ada@example.com", {"email": ["ada@example.com"]},
        audience="https://other.example/sp", destination="https://other.example/acs",
        recipient="", issuer="https://evil.example/idp", attribute_name_format=None,
        clock_shift=timedelta(hours=-2), lifetime=timedelta(minutes=1))
    root, assertion = root_of(xml), assertion_of(xml)
    assert verify(xml, idp.cert_path, saml_attacks.ASSERTION_NODE, assertion.get("ID"))
    assert root.get("Destination") == "https://other.example/acs"
    data = assertion.find(".//saml:SubjectConfirmationData", NS)
    assert data is not None and data.get("Recipient") is None
    assert [a.text for a in assertion.iterfind(".//saml:Audience", NS)] == [
        "https://other.example/sp"]
    assert assertion.find("saml:Issuer", NS).text == "https://evil.example/idp"
    assert assertion.find(".//saml:Attribute", NS).get("NameFormat") is None
    conditions = assertion.find("saml:Conditions", NS)
    assert conditions is not None
    assert conditions.get("NotOnOrAfter") < root.get("IssueInstant").replace(
        root.get("IssueInstant")[11:13], f"{int(root.get('IssueInstant')[11:13]) + 1:02d}", 1)

    no_audience = assertion_of(idp.response_xml("ada@example.com", audience=[], destination=""))
    assert no_audience.find(".//saml:AudienceRestriction", NS) is None


def test_pysaml2_sp_accepts_idp_initiated_response(idp: DemoIdP, sp: Saml2Client) -> None:
    attrs = demo_attributes("ada@example.com", "Ada Lovelace", ["engineering"])
    parsed = sp.parse_authn_request_response(idp.response("ada@example.com", attrs),
                                             BINDING_HTTP_POST)
    assert parsed is not None and parsed.assertion is not None
    assert parsed.name_id.text == "ada@example.com"
    assert parsed.ava == {"email": ["ada@example.com"], "firstName": ["Ada"],
                          "lastName": ["Lovelace"], "displayName": ["Ada Lovelace"],
                          "groups": ["engineering"]}


def test_sp_initiated_request_is_parsed_and_answered(idp: DemoIdP, sp: Saml2Client) -> None:
    request_id, query = authn_request(sp, idp, "/after?x=1")
    info = idp.parse_authn_request(query["SAMLRequest"], query["RelayState"])
    assert info.id == request_id
    assert info.acs_url == f"{SP_BASE}/saml/acs"
    assert info.issuer == f"{SP_BASE}/saml/metadata"
    assert info.relay_state == "/after?x=1"
    parsed = sp.parse_authn_request_response(
        idp.response("ada@example.com", in_response_to=info.id), BINDING_HTTP_POST,
        outstanding={request_id: "/after?x=1"})
    assert parsed.in_response_to == request_id and parsed.name_id.text == "ada@example.com"


def test_requests_from_other_sps_or_acs_urls_are_refused(idp: DemoIdP, tmp_path: Path) -> None:
    other = DemoIdP.for_frontdesk(tmp_path / "other", IDP_BASE, "https://other.example")
    other_sp = Saml2Client(config=SPConfig().load({
        "entityid": other.sp_entity_id, "xmlsec_binary": XMLSEC,
        "metadata": {"local": [str(idp.metadata_path)]},
        "service": {"sp": {"endpoints": {
            "assertion_consumer_service": [(other.sp_acs_url, BINDING_HTTP_POST)]}}},
    }))
    _, query = authn_request(other_sp, idp, "/")
    with pytest.raises(DemoIdPError, match="unknown SP"):
        idp.parse_authn_request(query["SAMLRequest"], "/")
    with pytest.raises(DemoIdPError, match="unreadable"):
        idp.parse_authn_request("bm90IGEgcmVxdWVzdA==", None)


def test_entra_style_attributes() -> None:
    attrs = demo_attributes("ada@example.com", "Ada", ["g1", ""], style="entra")
    assert attrs == {ENTRA_CLAIMS["email"]: ["ada@example.com"],
                     ENTRA_CLAIMS["givenName"]: ["Ada"],
                     ENTRA_CLAIMS["displayName"]: ["Ada"],
                     ENTRA_CLAIMS["groups"]: ["g1"]}


# -- the web app -----------------------------------------------------------------------------------

def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page, unescaped the way a browser would."""
    import html as html_lib

    return {html_lib.unescape(n): html_lib.unescape(v) for n, v in re.findall(
        r'<input type="hidden" name="([^"]*)" value="([^"]*)">', html)}


def test_form_page_warns_it_is_a_demo(idp: DemoIdP) -> None:
    client = create_idp_app(idp).test_client()
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "DEMO identity provider" in text and "never" in text and "production" in text
    assert 'name="email"' in text and 'name="groups"' in text and 'action="/sso"' in text
    assert page.headers["X-Frame-Options"] == "DENY"
    metadata = client.get("/metadata")
    assert metadata.mimetype == "application/samlmetadata+xml"
    assert metadata.get_data(as_text=True) == idp.metadata_xml


def test_the_form_is_filled_in_for_the_demo_admin(idp: DemoIdP) -> None:
    text = create_idp_app(idp, demo_user("demo-admins")).test_client().get("/").get_data(
        as_text=True)
    assert 'placeholder="ada@example.com" value="ada@example.com"' in text
    assert 'value="Ada Lovelace"' in text
    assert 'name="groups" maxlength="1024" placeholder="engineering, admins" ' \
           'value="demo-admins, Engineering"' in text
    # Without an admin group, the person is filled in but in no group.
    plain = create_idp_app(idp, demo_user(None)).test_client().get("/").get_data(as_text=True)
    assert 'placeholder="engineering, admins" value=""' in plain
    # Values are escaped like everything else the page shows.
    odd = create_idp_app(idp, demo_user('"><b>Äda')).test_client().get("/").get_data(
        as_text=True)
    assert 'value="&#34;&gt;&lt;b&gt;Äda, Engineering"' in odd


def test_instructions_name_the_console_and_the_admin_group() -> None:
    text = instructions("http://127.0.0.1:9001", "http://127.0.0.1:9000/", "demo-admins")
    assert "  Demo: open http://127.0.0.1:9001/ (IdP-initiated sign-in)" in text
    assert "or http://127.0.0.1:9000/saml/login (SP-initiated)" in text
    assert "Admin console: open http://127.0.0.1:9000/admin/ and sign in" in text
    assert "'demo-admins', the demo's admin group (FRONTDESK_ADMIN_GROUPS)" in text
    assert ("FRONTDESK_BASE_URL=http://127.0.0.1:9000 .venv/bin/frontdesk admin login-link"
            in text)
    without = instructions("http://127.0.0.1:9001", "http://127.0.0.1:9000", None)
    assert "Admin console" not in without and "admin login-link" in without


def test_idp_initiated_post_returns_auto_submit_form(idp: DemoIdP, sp: Saml2Client) -> None:
    client = create_idp_app(idp).test_client()
    page = client.post("/sso", data={"email": "ada@example.com", "display_name": "Ada L",
                                     "groups": "eng, ops,,", "style": "okta"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'<form id="saml" method="post" action="{SP_BASE}/saml/acs">' in text
    assert ".submit()" in text and ">Continue</button>" in text and "DEMO" in text
    fields = hidden_fields(text)
    assert set(fields) == {"SAMLResponse"}  # no RelayState when none was given
    parsed = sp.parse_authn_request_response(fields["SAMLResponse"], BINDING_HTTP_POST)
    assert parsed.name_id.text == "ada@example.com"
    assert parsed.ava["groups"] == ["eng", "ops"]


def test_sp_initiated_round_trip_escapes_relay_state(idp: DemoIdP, sp: Saml2Client) -> None:
    client = create_idp_app(idp).test_client()
    relay = '/x?a=1&b="><script>alert(1)</script>'
    request_id, query = authn_request(sp, idp, relay)
    form = client.get("/sso", query_string=query)
    assert form.status_code == 200
    text = form.get_data(as_text=True)
    assert "<script>alert" not in text
    assert request_id in text
    fields = hidden_fields(text)
    assert fields == {"SAMLRequest": query["SAMLRequest"], "RelayState": relay}

    page = client.post("/sso", data={"email": "ada@example.com", "style": "entra", **fields})
    text = page.get_data(as_text=True)
    assert "<script>alert" not in text
    answer = hidden_fields(text)
    assert answer["RelayState"] == relay
    xml = decode_response(answer["SAMLResponse"])
    assert root_of(xml).get("InResponseTo") == request_id
    parsed = sp.parse_authn_request_response(answer["SAMLResponse"], BINDING_HTTP_POST,
                                             outstanding={request_id: relay})
    # pysaml2's own (ADFS) attribute map renames Entra's claim URI when NameFormat is absent
    assert parsed.ava == {"emailAddress": ["ada@example.com"],  # and, as Entra, how she signed in
                          AMR_CLAIM: [ENTRA_SINGLE_FACTOR]}


def test_bad_requests_get_a_400_page(idp: DemoIdP) -> None:
    client = create_idp_app(idp).test_client()
    assert client.get("/sso", query_string={"SAMLRequest": "%%%"}).status_code == 400
    assert client.post("/sso", data={"email": ""}).status_code == 400
    assert client.post("/sso", data={"email": "a" * 300}).status_code == 400
    refused = client.post("/sso", data={"email": "a@example.com", "style": "<b>x</b>"})
    assert refused.status_code == 400 and "<b>x" not in refused.get_data(as_text=True)


# -- the attack helpers (so attack tests can trust them) -------------------------------------------

def test_strip_and_tamper_break_or_remove_signatures(idp: DemoIdP) -> None:
    xml = idp.response_xml("ada@example.com", {"groups": ["eng"]}, sign_response=True)
    assertion_id = assertion_of(xml).get("ID")
    assert root_of(saml_attacks.strip_signatures(xml)).find(".//ds:Signature", NS) is None
    only_response = root_of(saml_attacks.strip_signatures(xml, "assertion"))
    assert only_response.find("ds:Signature", NS) is not None
    assert only_response.find("saml:Assertion/ds:Signature", NS) is None
    for edited in (saml_attacks.tamper_name_id(xml, "eve@example.com"),
                   saml_attacks.tamper_attribute(xml, "groups", ["eng", "admins"]),
                   saml_attacks.empty_name_id(xml)):
        assert not verify(edited, idp.cert_path, saml_attacks.ASSERTION_NODE, assertion_id)


def test_resign_with_untrusted_and_trusted_keys(idp: DemoIdP, tmp_path: Path) -> None:
    xml = idp.response_xml("ada@example.com", sign_response=True)
    key, cert = saml_attacks.untrusted_keypair(tmp_path)
    forged = saml_attacks.resign(saml_attacks.tamper_name_id(xml, "eve@example.com"), key, cert)
    assertion_id, response_id = assertion_of(xml).get("ID"), root_of(xml).get("ID")
    assert verify(forged, cert, saml_attacks.ASSERTION_NODE, assertion_id)
    assert verify(forged, cert, saml_attacks.RESPONSE_NODE, response_id)
    assert not verify(forged, idp.cert_path, saml_attacks.ASSERTION_NODE, assertion_id)

    # with the IdP's own key: edited content, valid signature (here on an unsigned original)
    unsigned = idp.response_xml("ada@example.com", sign_assertion=False)
    signed = saml_attacks.resign(saml_attacks.empty_name_id(unsigned), idp.key_path, idp.cert_path)
    signed_id = assertion_of(signed).get("ID")
    assert verify(signed, idp.cert_path, saml_attacks.ASSERTION_NODE, signed_id)
    assert assertion_of(signed).find("saml:Subject/saml:NameID", NS).text is None


@pytest.mark.parametrize("variant", saml_attacks.XSW_VARIANTS)
def test_xsw_variants_wrap_a_still_valid_signature(idp: DemoIdP, variant: int) -> None:
    response_level = variant in (1, 2)
    xml = idp.response_xml("ada@example.com", {"email": ["ada@example.com"]},
                           sign_response=response_level, sign_assertion=not response_level)
    original_id = (root_of(xml) if response_level else assertion_of(xml)).get("ID")
    wrapped = saml_attacks.xsw(xml, variant, evil_name_id="root@example.com")
    root = root_of(wrapped)
    # a naive SP reading "the Assertion" sees the evil one: for XSW1/2 the Response's own
    # Assertion child, otherwise the first Assertion in document order ...
    evil = root.find("saml:Assertion" if response_level else ".//saml:Assertion", NS)
    assert evil is not None
    assert evil.find("saml:Subject/saml:NameID", NS).text == "root@example.com"
    assert "root@example.com" in [v.text for v in evil.iterfind(".//saml:AttributeValue", NS)]
    # ... while an unchanged copy of the signed original keeps the original ID
    holders = [h for h in root.xpath("//*[@ID=$id]", id=original_id) if h is not evil]
    assert holders
    for holder in holders:
        assert {n.text for n in holder.iter(f"{{{saml_attacks.SAML}}}NameID")} == {
            "ada@example.com"}
    if variant <= 6:  # unique IDs: xmlsec1 finds the original copy by ID
        [signature] = root.xpath("//ds:Signature[ds:SignedInfo/ds:Reference/@URI=$uri]",
                                 namespaces=NS, uri=f"#{original_id}")
        signed_by = signature.getparent()
        node = saml_attacks.RESPONSE_NODE if response_level else saml_attacks.ASSERTION_NODE
        # It verifies, except where the copy sits inside ds:Signature (XSW1, XSW6): xmlsec1
        # refuses an unexpected child there ("unexpected node").
        assert verify(wrapped, idp.cert_path, node, signed_by.get("ID")) is (variant not in (1, 6))


def test_comment_injection_keeps_the_signature_valid(idp: DemoIdP) -> None:
    signed_name = "victim@example.com.evil.test"
    xml = idp.response_xml(signed_name, {"email": [signed_name]})
    injected = saml_attacks.comment_in_name_id(xml, "victim@example.com")
    assert "victim@example.com<!---->.evil.test" in injected
    assertion = assertion_of(injected)
    assert assertion.find("saml:Subject/saml:NameID", NS).text == "victim@example.com"
    assert verify(injected, idp.cert_path, saml_attacks.ASSERTION_NODE, assertion.get("ID"))
    with pytest.raises(ValueError):
        saml_attacks.comment_in_name_id(xml, "nobody@")


def test_doctype_variants(idp: DemoIdP) -> None:
    xml = idp.response_xml("ada@example.com")
    plain = saml_attacks.add_doctype(xml)
    assert re.search(r"<!DOCTYPE ns0:Response>\s*<ns0:Response", plain)
    assert '<!ENTITY xxe SYSTEM "file:///etc/passwd">' in saml_attacks.xxe(xml)
    assert ">&xxe;</" in saml_attacks.xxe(xml)
    bomb = saml_attacks.billion_laughs(xml, levels=3)
    assert "<!ENTITY lol3 " in bomb and ">&lol3;</" in bomb
    for text in (plain, saml_attacks.xxe(xml), bomb):
        assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE ')
        # well-formed, and entities stay unresolved by a careful parser
        etree.fromstring(text.encode(), etree.XMLParser(resolve_entities=False, no_network=True))


def test_deflate_bomb_and_oversized_body() -> None:
    bomb = saml_attacks.deflate_bomb(8 * 2**20)
    raw = base64.b64decode(bomb)
    assert len(raw) < 16 * 1024 and not raw.startswith(b"<")
    assert len(zlib.decompress(raw, -15)) == 8 * 2**20
    body = saml_attacks.oversized_body(200_000)
    assert len(body) == 200_000 and base64.b64decode(body).startswith(b"<")
