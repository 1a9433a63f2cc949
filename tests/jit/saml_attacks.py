"""Edited SAML Responses for attack tests (a helper module, not tests).

Every function takes the XML text of a Response signed by the demo IdP
(``DemoIdP.response_xml``) and returns the text of an edited variant; ``encode_response`` in
``jit.demo_idp`` turns it into a ``SAMLResponse`` form value. Edits are done with lxml so
namespace prefixes, comments and untouched signed bytes survive.

A variant that must carry a *valid* signature over edited content (an empty NameID, a DOCTYPE)
is made by editing and then calling ``resign`` with the trusted IdP's own key.
"""

from __future__ import annotations

import base64
import copy
import re
import shutil
import zlib
from pathlib import Path
from typing import Literal

from lxml import etree
from saml2.sigver import CryptoBackendXmlSec1
from saml2.xmldsig import DIGEST_SHA256
from saml2.xmldsig import SIG_RSA_SHA256

from jit.demo.idp import ensure_keypair

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}
RESPONSE_NODE = f"{SAMLP}:Response"
ASSERTION_NODE = f"{SAML}:Assertion"
EVIL_NAME_ID = "admin@example.com"
XSW_VARIANTS = tuple(range(1, 9))
_PLACEHOLDER = "ZZ-ENTITY-REFERENCE-ZZ"
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>\s*")

Which = Literal["all", "response", "assertion"]


# -- plumbing ----------------------------------------------------------------------------------

def _parse(xml: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False)
    return etree.fromstring(xml.encode("utf-8"), parser)


def _text(root: etree._Element) -> str:
    return etree.tostring(root, encoding="unicode")


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def _response(root: etree._Element) -> etree._Element:
    if root.tag != _q(SAMLP, "Response"):
        raise ValueError(f"not a samlp:Response: {root.tag}")
    return root


def _assertion(root: etree._Element) -> etree._Element:
    found = _response(root).find("saml:Assertion", NS)
    if found is None:
        raise ValueError("the Response carries no (unencrypted) Assertion")
    return found


def _own_signature(element: etree._Element) -> etree._Element | None:
    """The ds:Signature that is a direct child of ``element`` (its enveloped signature)."""
    return element.find("ds:Signature", NS)


def _name_id(assertion: etree._Element) -> etree._Element:
    found = assertion.find("saml:Subject/saml:NameID", NS)
    if found is None:
        raise ValueError("the Assertion has no Subject/NameID")
    return found


def _make_evil(assertion: etree._Element, evil_name_id: str) -> None:
    """Point ``assertion`` (and only it, not nested copies) at ``evil_name_id``: its NameID and
    every attribute value that repeated the old NameID (the email attribute, usually)."""
    name_id = _name_id(assertion)
    old = "".join(name_id.itertext())
    for child in list(name_id):
        name_id.remove(child)
    name_id.text = evil_name_id
    for value in assertion.iterfind("saml:AttributeStatement/saml:Attribute/saml:AttributeValue",
                                    NS):
        if value.text == old:
            value.text = evil_name_id


def _without_signature(element: etree._Element) -> etree._Element:
    clone = copy.deepcopy(element)
    signature = _own_signature(clone)
    if signature is not None:
        clone.remove(signature)
    return clone


def _with_doctype(root: etree._Element, internal_subset: str, name_id_text: str | None) -> str:
    if name_id_text is not None:
        _name_id(_assertion(root)).text = _PLACEHOLDER
    body = _text(root)
    if name_id_text is not None:
        body = body.replace(_PLACEHOLDER, name_id_text)
    qname = root.prefix + ":" + etree.QName(root).localname if root.prefix else root.tag
    subset = f" [\n{internal_subset}\n]" if internal_subset else ""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE {qname}{subset}>\n{body}'


# -- signatures ---------------------------------------------------------------------------------

def strip_signatures(xml: str, which: Which = "all") -> str:
    """Remove the Response's and/or the Assertion's enveloped signature."""
    root = _parse(xml)
    targets = []
    if which in ("all", "response"):
        targets.append(_response(root))
    if which in ("all", "assertion"):
        targets.append(_assertion(root))
    for element in targets:
        signature = _own_signature(element)
        if signature is not None:
            element.remove(signature)
    return _text(root)


def tamper_name_id(xml: str, new_value: str) -> str:
    """Change the NameID after signing (the signature no longer matches)."""
    root = _parse(xml)
    _name_id(_assertion(root)).text = new_value
    return _text(root)


def tamper_attribute(xml: str, name: str, values: list[str]) -> str:
    """Replace an attribute's values after signing (e.g. add ``admins`` to ``groups``)."""
    root = _parse(xml)
    attr = _assertion(root).find(f"saml:AttributeStatement/saml:Attribute[@Name='{name}']", NS)
    if attr is None:
        raise ValueError(f"no attribute named {name!r}")
    template = attr.find("saml:AttributeValue", NS)
    for old in attr.findall("saml:AttributeValue", NS):
        attr.remove(old)
    for value in values:
        new = (copy.deepcopy(template) if template is not None
               else etree.SubElement(attr, _q(SAML, "AttributeValue")))
        new.text = value
        attr.append(new)
    return _text(root)


def untrusted_keypair(folder: Path) -> tuple[Path, Path]:
    """A fresh key and self-signed certificate that no SP trusts: (key path, cert path)."""
    key, cert = folder / "untrusted-key.pem", folder / "untrusted-cert.pem"
    ensure_keypair(key, cert, "Untrusted attacker IdP")
    return key, cert


def resign(xml: str, key_path: Path, cert_path: Path, *, sign_alg: str = SIG_RSA_SHA256,
           digest_alg: str = DIGEST_SHA256) -> str:
    """Sign again every enveloped signature (Assertion first, then Response) with this key.

    With an attacker's key (``untrusted_keypair``) this is the "valid signature, wrong signer"
    attack; with the IdP's own key it makes edited content validly signed, so a test reaches
    the check it aims at instead of stopping at the signature. A message with no signature gets
    one on its Assertion.
    """
    xmlsec = shutil.which("xmlsec1")
    if xmlsec is None:
        raise RuntimeError("xmlsec1 not found")
    cert_b64 = "".join(
        line for line in cert_path.read_text(encoding="ascii").splitlines()
        if line and not line.startswith("-----"))
    root = _parse(xml)
    response, assertion = _response(root), _assertion(root)
    if _own_signature(assertion) is None and _own_signature(response) is None:
        _add_signature_template(assertion)
    to_sign = []
    for element, node in ((assertion, ASSERTION_NODE), (response, RESPONSE_NODE)):
        signature = _own_signature(element)
        if signature is None:
            continue
        signature.find("ds:SignedInfo/ds:SignatureMethod", NS).set("Algorithm", sign_alg)
        for reference in signature.iterfind("ds:SignedInfo/ds:Reference", NS):
            reference.find("ds:DigestMethod", NS).set("Algorithm", digest_alg)
            reference.find("ds:DigestValue", NS).text = ""
        signature.find("ds:SignatureValue", NS).text = ""
        for x509 in signature.iterfind(".//ds:X509Certificate", NS):
            x509.text = cert_b64
        to_sign.append((node, element.get("ID")))
    text = _text(root)
    backend = CryptoBackendXmlSec1(xmlsec)
    for node, node_id in to_sign:
        text = backend.sign_statement(text, node, str(key_path), node_id)
    return str(text)


def _add_signature_template(element: etree._Element) -> None:
    """An empty enveloped-signature template after the element's Issuer (schema order)."""
    ident = element.get("ID")
    sig = etree.Element(_q(DS, "Signature"), nsmap={"ds": DS})
    info = etree.SubElement(sig, _q(DS, "SignedInfo"))
    etree.SubElement(info, _q(DS, "CanonicalizationMethod"),
                     Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    etree.SubElement(info, _q(DS, "SignatureMethod"), Algorithm=SIG_RSA_SHA256)
    ref = etree.SubElement(info, _q(DS, "Reference"), URI=f"#{ident}")
    transforms = etree.SubElement(ref, _q(DS, "Transforms"))
    etree.SubElement(transforms, _q(DS, "Transform"),
                     Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature")
    etree.SubElement(transforms, _q(DS, "Transform"),
                     Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    etree.SubElement(ref, _q(DS, "DigestMethod"), Algorithm=DIGEST_SHA256)
    etree.SubElement(ref, _q(DS, "DigestValue"))
    etree.SubElement(sig, _q(DS, "SignatureValue"))
    key_info = etree.SubElement(sig, _q(DS, "KeyInfo"))
    etree.SubElement(etree.SubElement(key_info, _q(DS, "X509Data")), _q(DS, "X509Certificate"))
    issuer = element.find("saml:Issuer", NS)
    element.insert(element.index(issuer) + 1 if issuer is not None else 0, sig)


# -- XML Signature Wrapping (the eight variants of SAML Raider) ---------------------------------

def xsw(xml: str, variant: int, evil_name_id: str = EVIL_NAME_ID) -> str:
    """XML Signature Wrapping: keep the signed original somewhere the verifier finds it by ID,
    and put an *evil* copy (NameID = ``evil_name_id``) where a naive SP reads.

    The variants follow SAML Raider (Somorovsky et al., "On Breaking SAML", 2012):

    - XSW1 (Response signature): the Response gets a new ID and the evil content; an unsigned
      copy of the original Response goes *inside* its ds:Signature, where ``#originalID`` now
      points.
    - XSW2 (Response signature): as XSW1, but the copy goes just *before* the ds:Signature
      (a detached signature).
    - XSW3: an evil unsigned copy of the Assertion with a new ID is inserted *before* the
      signed original (SPs that read "the first Assertion").
    - XSW4: an evil copy with a new ID *wraps* the signed original as its last child.
    - XSW5: the signed Assertion itself is made evil and gets a new ID (its ds:Signature stays);
      an unsigned copy of the original with the original ID is appended to the Response.
    - XSW6: as XSW5, but the unsigned original copy goes *inside* the evil Assertion's
      ds:Signature.
    - XSW7: an evil unsigned copy with the *same* ID goes in a samlp:Extensions element before
      the signed original (duplicate IDs; schema-loose processors take the first).
    - XSW8: the signed Assertion is made evil, keeping its ID; an unsigned copy of the original
      goes in a ds:Object inside its ds:Signature (duplicate IDs).

    XSW1/2 need a signed Response (``sign_response=True``; most telling with
    ``sign_assertion=False``); XSW3–8 need a signed Assertion.
    """
    if variant not in XSW_VARIANTS:
        raise ValueError(f"XSW variants are 1..8, not {variant}")
    root = _parse(xml)
    response = _response(root)
    if variant in (1, 2):
        signature = _own_signature(response)
        if signature is None:
            raise ValueError("XSW1/2 wrap the Response signature; sign the Response")
        original = _without_signature(response)
        if variant == 1:
            signature.append(original)
        else:
            response.insert(response.index(signature), original)
        response.set("ID", f"_evil_{response.get('ID')}")
        _make_evil(_assertion(root), evil_name_id)
        return _text(root)

    assertion = _assertion(root)
    signature = _own_signature(assertion)
    if signature is None:
        raise ValueError(f"XSW{variant} wraps the Assertion signature; sign the Assertion")
    evil_id = f"_evil_{assertion.get('ID')}"
    if variant == 3:
        evil = _without_signature(assertion)
        evil.set("ID", evil_id)
        response.insert(response.index(assertion), evil)
    elif variant == 4:
        evil = _without_signature(assertion)
        evil.set("ID", evil_id)
        response.replace(assertion, evil)
        evil.append(assertion)
    elif variant in (5, 6):
        original = _without_signature(assertion)
        evil = assertion
        evil.set("ID", evil_id)
        if variant == 5:
            response.append(original)
        else:
            signature.append(original)
    elif variant == 7:
        extensions = etree.SubElement(response, _q(SAMLP, "Extensions"))
        response.insert(response.index(assertion), extensions)
        evil = _without_signature(assertion)
        extensions.append(evil)
    else:  # 8
        holder = etree.SubElement(signature, _q(DS, "Object"))
        holder.append(_without_signature(assertion))
        evil = assertion
    _make_evil(evil, evil_name_id)
    return _text(root)


# -- parser attacks -----------------------------------------------------------------------------

def add_doctype(xml: str) -> str:
    """The same Response behind a harmless ``<!DOCTYPE>`` (no entities): an SP must still
    refuse it, since a DTD is where every entity attack starts."""
    return _with_doctype(_parse(xml), "", None)


def xxe(xml: str, system_id: str = "file:///etc/passwd") -> str:
    """An external entity in the NameID: a resolving parser would read a local file."""
    return _with_doctype(_parse(xml), f'<!ENTITY xxe SYSTEM "{system_id}">', "&xxe;")


def billion_laughs(xml: str, levels: int = 10) -> str:
    """Nested entities in the NameID that expand to 10**levels copies of "lol"."""
    decls = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" for _ in range(10))}">'
        for i in range(1, levels + 1)
    ]
    return _with_doctype(_parse(xml), "\n".join(decls), f"&lol{levels};")


def comment_in_name_id(xml: str, after: str) -> str:
    """Split the NameID with an XML comment after the prefix ``after``.

    Exclusive C14N drops comments, so the signature stays valid; an SP that reads only the
    first text node sees ``after`` (e.g. IdP signed ``victim@example.com.evil.test``, the SP
    reads ``victim@example.com``). Same for attribute values equal to the NameID.
    """
    root = _parse(xml)
    assertion = _assertion(root)
    name_id = _name_id(assertion)
    whole = "".join(name_id.itertext())
    if not whole.startswith(after) or whole == after:
        raise ValueError(f"{after!r} is not a proper prefix of the NameID {whole!r}")
    targets = [name_id] + [
        value for value in assertion.iterfind(
            "saml:AttributeStatement/saml:Attribute/saml:AttributeValue", NS)
        if value.text == whole
    ]
    for element in targets:
        element.text = after
        comment = etree.Comment("")
        comment.tail = whole[len(after):]
        element.append(comment)
    return _text(root)


def empty_name_id(xml: str) -> str:
    """Blank the NameID (signature broken; ``resign`` with the IdP key for a signed one, or
    build it with ``DemoIdP.response_xml("")``)."""
    return tamper_name_id(xml, "")


# -- transport attacks ---------------------------------------------------------------------------

def deflate_bomb(inflated_size: int = 64 * 2**20) -> str:
    """Base64 of raw DEFLATE that inflates to ``inflated_size`` zero bytes.

    pysaml2 tries raw-DEFLATE on HTTP-POST bodies before anything else, with no size limit;
    64 MiB is about 87 KB of base64, under a 128 KiB body cap, so only the SP's own checks
    (decoded bytes must start with ``<``) stop it.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(2**20)
    parts = []
    remaining = inflated_size
    while remaining > 0:
        parts.append(compressor.compress(chunk[:min(remaining, len(chunk))]))
        remaining -= len(chunk)
    parts.append(compressor.flush())
    return base64.b64encode(b"".join(parts)).decode("ascii")


def oversized_body(n: int) -> str:
    """A ``SAMLResponse`` value of exactly ``n`` base64 characters (``n`` a multiple of 4)
    whose decoded bytes start with ``<``, so only the body-size cap can refuse it."""
    if n % 4 or n < 4:
        raise ValueError("n must be a positive multiple of 4")
    raw = b"<" + b" " * (n // 4 * 3 - 1)
    return base64.b64encode(raw).decode("ascii")
