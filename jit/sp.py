"""The SAML service provider: pysaml2 plus the checks it does not make itself.

Built once per app. ``validate`` takes the raw ``SAMLResponse`` form value and either returns
a ``ValidAssertion`` or raises ``SamlRejectedError`` with a stable reason code. Order matters:
cheap structural checks (size, strict base64, no DTD, allowed algorithms, one assertion) run
before pysaml2 and xmlsec1 see anything; pysaml2 then checks signatures and the validity window;
finally the SP checks audience, recipient, destination, issuer and the NameID itself.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from pathlib import Path
from tempfile import NamedTemporaryFile
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2 import md
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.extension.algsupport import DigestMethod
from saml2.extension.algsupport import SigningMethod
from saml2.mdstore import MetadataStore
from saml2.metadata import entity_descriptor
from saml2.response import IncorrectlySigned
from saml2.response import StatusError
from saml2.response import UnsolicitedResponse
from saml2.response import VerificationError
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED
from saml2.sigver import CryptoBackendXmlSec1
from saml2.sigver import MissingKey
from saml2.sigver import SigverError
from saml2.sigver import XmlsecError
from saml2.validate import NotValid
from saml2.validate import ResponseLifetimeExceed
from saml2.validate import ToEarly
from saml2.xmldsig import DIGEST_SHA256
from saml2.xmldsig import SIG_RSA_SHA256

import config
from app.text import has_control
from jit.keys import ensure_keypair

log = logging.getLogger("frontdesk.saml")

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
ALLOWED_SIGNATURES = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
}
ALLOWED_DIGESTS = {
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
}
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BASE64_RE = re.compile(rb"^[A-Za-z0-9+/]*={0,2}$")
MAX_NAME_ID = 256
# Entra ID's authentication-method claim: one value per method used in the sign-in (password,
# and multipleauthn once MFA was done). Okta says the same through AuthnContextClassRef.
AMR_CLAIM = "http://schemas.microsoft.com/claims/authnmethodsreferences"
# What the session cookie keeps of an assertion's authentication context, at most.
MAX_CONTEXTS = 16
MAX_CONTEXT_LENGTH = 256
# RequestedAuthnContext of a step-up: the IdP must authenticate with one of the listed classes.
STEP_UP_COMPARISON = "exact"


class SamlRejectedError(Exception):
    """A response we refuse; ``reason`` is a stable code, ``detail`` safe to show."""

    def __init__(self, reason: str, detail: str, *, issuer: str | None = None,
                 name_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.issuer = issuer
        self.name_id = name_id


@dataclass(frozen=True)
class ValidAssertion:
    """What a fully validated response tells us."""

    issuer: str
    name_id: str
    assertion_id: str
    expires_at: dt.datetime
    in_response_to: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    # How the person authenticated, from the signed assertion: every AuthnContextClassRef and
    # authentication-method claim value, and the (earliest) AuthnInstant.
    authn_contexts: tuple[str, ...] = ()
    authn_instant: dt.datetime | None = None


# xmlsec1 loads OpenSSL's default trust store (every system CA, about 0.2 MB of PEM) when it
# starts, though a SAML signature is checked against the one certificate the IdP's metadata
# names and never against a CA: pointing OpenSSL at an empty store takes a verification from
# about 50 ms to about 13 ms. Without a CA store a chain check could only fail, never pass.
_XMLSEC_ENVIRONMENT = {"SSL_CERT_FILE": os.devnull, "SSL_CERT_DIR": os.devnull}


class XmlSec1Backend(CryptoBackendXmlSec1):  # type: ignore[misc]
    """xmlsec1 with its version asked once (pysaml2 forks ``xmlsec1 --version`` per check) and
    without the system's CA store (``_XMLSEC_ENVIRONMENT``)."""

    @cached_property
    def version(self) -> str:
        return str(super().version)

    def _run_xmlsec(self, com_list: list[str], extra_args: list[str]
                    ) -> tuple[str, str, bytes]:
        """pysaml2's own ``_run_xmlsec``, with the child's environment set."""
        with NamedTemporaryFile(suffix=".xml") as output:
            com_list.extend(["--output", output.name])
            if self.version_nums >= (1, 3):
                com_list.append("--lax-key-search")
            com_list += extra_args
            child = subprocess.run(  # noqa: S603 - xmlsec1, found with shutil.which
                com_list, capture_output=True, check=False,
                env={**os.environ, **_XMLSEC_ENVIRONMENT})
            out, err = child.stdout.decode(), child.stderr.decode()
            if child.returncode != 0:
                # Raised, not logged: the callers turn it into a refusal with a reason code.
                raise XmlsecError(f"returncode={child.returncode}\nerror={err}\noutput={out}")
            output.seek(0)
            return out, err, output.read()


def _text(element: Element | None) -> str:
    """Return all the text inside an element (comments split text; join it back)."""
    if element is None:
        return ""
    return "".join(element.itertext())


def _prevalidate(raw: str, max_bytes: int) -> tuple[bytes, Element]:
    """Size, strict base64, XML without DTD, and a structure worth handing to pysaml2."""
    data = raw.encode("ascii", "replace") if isinstance(raw, str) else raw
    if len(data) > max_bytes * 4 // 3 + 4:
        raise SamlRejectedError("too_large", "the sign-in response is too large")
    compact = re.sub(rb"\s+", b"", data)
    if not compact or not BASE64_RE.match(compact) or len(compact) % 4:
        raise SamlRejectedError("malformed", "the sign-in response is not valid base64")
    try:
        xml = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise SamlRejectedError("malformed", "the sign-in response is not valid base64") from None
    if len(xml) > max_bytes:
        raise SamlRejectedError("too_large", "the sign-in response is too large")
    stripped = xml.lstrip()
    if stripped.startswith(b"\xef\xbb\xbf"):
        stripped = stripped[3:]
    if not stripped.startswith(b"<"):
        raise SamlRejectedError("malformed", "the sign-in response is not XML")
    lowered = xml.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise SamlRejectedError("doctype", "DTDs and entities are not allowed")
    try:
        root = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise SamlRejectedError("malformed", "the response is not well-formed XML") from None
    if root.tag != f"{{{NS['samlp']}}}Response":
        raise SamlRejectedError("malformed", "the message is not a SAML Response")
    # A failed sign-in at the IdP (cancelled, no access) comes without an assertion, and
    # usually unsigned: say so, rather than calling it malformed.
    status = root.find("samlp:Status/samlp:StatusCode", NS)
    if status is not None and status.get("Value") != STATUS_SUCCESS:
        raise SamlRejectedError("idp_status", "the identity provider reported a failed sign-in")
    for method in root.iter(f"{{{NS['ds']}}}SignatureMethod"):
        if method.get("Algorithm") not in ALLOWED_SIGNATURES:
            raise SamlRejectedError("algorithm", "the signature algorithm is too weak (SHA-256+)")
    for method in root.iter(f"{{{NS['ds']}}}DigestMethod"):
        if method.get("Algorithm") not in ALLOWED_DIGESTS:
            raise SamlRejectedError("algorithm", "the digest algorithm is too weak (SHA-256+)")
    if list(root.iter(f"{{{NS['saml']}}}EncryptedAssertion")):
        raise SamlRejectedError("unsupported", "encrypted assertions are not supported")
    # Signature wrapping hides a second assertion somewhere; a Response carries exactly one.
    assertions = list(root.iter(f"{{{NS['saml']}}}Assertion"))
    if len(assertions) != 1:
        raise SamlRejectedError("malformed", "the response must contain exactly one assertion")
    if len(list(root.iter(f"{{{NS['samlp']}}}Response"))) != 1:
        raise SamlRejectedError("malformed", "the response must not nest responses")
    return xml, root


_ERRORS: Sequence[tuple[type[BaseException], str, str]] = (
    (ResponseLifetimeExceed, "expired", "the sign-in response has expired"),
    (ToEarly, "not_yet_valid", "the sign-in response is not valid yet"),
    (UnsolicitedResponse, "in_response_to", "the sign-in answers an unknown request"),
    (MissingKey, "untrusted_issuer", "the identity provider is not trusted here"),
    (IncorrectlySigned, "signature", "the signature is missing or invalid"),
    (SigverError, "signature", "the signature is missing or invalid"),
    (StatusError, "idp_status", "the identity provider reported a failed sign-in"),
    (VerificationError, "malformed", "the sign-in response failed verification"),
    (NotValid, "malformed", "the sign-in response is not valid SAML"),
)


def _classify(err: BaseException) -> SamlRejectedError:
    if isinstance(err, VerificationError) and "recipient" in str(err).lower():
        # pysaml2's "No valid recipient": a VerificationError like any malformed message.
        return SamlRejectedError("recipient", "the assertion names another recipient")
    for kind, reason, detail in _ERRORS:
        if isinstance(err, kind):
            return SamlRejectedError(reason, detail)
    text = str(err).lower()
    if "signature" in text or "signed" in text:
        return SamlRejectedError("signature", "the signature is missing or invalid")
    if "audience" in text:
        return SamlRejectedError("audience", "the response is meant for another service")
    if "destination" in text or "recipient" in text:
        return SamlRejectedError("recipient", "the response is addressed elsewhere")
    return SamlRejectedError("malformed", "the sign-in response could not be read")


class ServiceProvider:
    """Frontdesk as a SAML SP: metadata, AuthnRequests, and response validation."""

    def __init__(self, settings: config.Settings) -> None:
        base = settings.base_url.rstrip("/")
        self.entity_id = f"{base}/saml/metadata"
        self.acs_url = f"{base}/saml/acs"
        self.max_bytes = settings.saml_max_body_bytes
        self.skew = settings.saml_clock_skew_seconds
        self.metadata_files = [p for p in settings.saml_idp_metadata if p]
        for path in self.metadata_files:
            if not Path(path).is_file():
                raise FileNotFoundError(f"FRONTDESK_SAML_IDP_METADATA: no file {path}")
        self.xmlsec = shutil.which("xmlsec1")
        key_file = Path(settings.instance_path) / "saml" / "sp-key.pem"
        cert_file = key_file.with_name("sp-cert.pem")
        ensure_keypair(key_file, cert_file, "Frontdesk SAML SP")
        self._base_config: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": self.xmlsec,
            "metadata": {"local": self.metadata_files},
            "key_file": str(key_file),
            "cert_file": str(cert_file),
            "allow_unknown_attributes": True,
            "accepted_time_diff": self.skew,
            "service": {"sp": {
                "name": "Frontdesk",
                "endpoints": {"assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)]},
                # InResponseTo is checked against our own store (shared by all workers).
                "allow_unsolicited": True,
                "authn_requests_signed": settings.saml_sign_requests,
                "want_response_signed": False,
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT,
                                   NAMEID_FORMAT_UNSPECIFIED],
            }},
        }
        self._clients: dict[bool, Saml2Client] = {}

    @property
    def configured(self) -> bool:
        """Return whether any IdP is trusted (metadata configured) and xmlsec1 exists."""
        return bool(self.metadata_files) and self.xmlsec is not None

    def _client(self, response_signature_only: bool) -> Saml2Client:
        """Return the pysaml2 client for one signature policy (built once)."""
        if response_signature_only not in self._clients:
            cfg = {**self._base_config, "service": {"sp": {
                **self._base_config["service"]["sp"],
                "want_assertions_signed": not response_signature_only,
                "want_assertions_or_response_signed": response_signature_only,
            }}}
            sp_config = SPConfig()
            sp_config.load(cfg)
            client = Saml2Client(config=sp_config)
            if self.xmlsec:
                client.sec.crypto = XmlSec1Backend(self.xmlsec)
            self._clients[response_signature_only] = client
        return self._clients[response_signature_only]

    @cached_property
    def idp_entity_ids(self) -> list[str]:
        """Return the entity ids of every configured IdP, in metadata order."""
        if not self.metadata_files:
            return []
        store: MetadataStore = self._client(False).metadata
        return sorted(store.identity_providers())

    def metadata(self) -> str:
        """Return this SP's metadata XML.

        pysaml2 advertises every algorithm xmlsec1 knows (MD5 and SHA-1 included) in an
        ``alg:`` extension; we list only what ``validate`` accepts.
        """
        descriptor = entity_descriptor(self._client(False).config)
        extensions = md.Extensions()
        for digest in sorted(ALLOWED_DIGESTS):
            extensions.add_extension_element(DigestMethod(algorithm=digest))
        for signature in sorted(ALLOWED_SIGNATURES):
            extensions.add_extension_element(SigningMethod(algorithm=signature))
        descriptor.extensions = extensions
        xml: bytes = descriptor.to_string()
        return xml.decode("utf-8")

    def authn_request(self, idp_entity_id: str, relay_state: str, *, force_authn: bool = False,
                      requested_contexts: Sequence[str] = ()) -> tuple[str, str]:
        """Return (request id, redirect URL) for an SP-initiated login.

        A step-up sets ``force_authn`` (the IdP must authenticate the person again, not reuse
        its session) and names the ``requested_contexts`` it wants (RequestedAuthnContext).
        """
        client = self._client(False)
        extra: dict[str, Any] = {}
        if force_authn:
            extra["force_authn"] = "true"
        if requested_contexts:
            extra["requested_authn_context"] = {
                "authn_context_class_ref": list(requested_contexts),
                "comparison": STEP_UP_COMPARISON,
            }
        request_id, info = client.prepare_for_authenticate(
            entityid=idp_entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT,
            **extra,
        )
        location = dict(info["headers"])["Location"]
        return str(request_id), str(location)

    def validate(self, raw: str, response_signature_only_for: set[str]) -> ValidAssertion:
        """Validate a ``SAMLResponse`` form value; raise ``SamlRejectedError``."""
        xml, root = _prevalidate(raw, self.max_bytes)
        issuer_el = root.find("saml:Issuer", NS)
        assertion = next(root.iter(f"{{{NS['saml']}}}Assertion"))
        a_issuer = _text(assertion.find("saml:Issuer", NS)).strip()
        issuer = _text(issuer_el).strip() if issuer_el is not None else a_issuer
        if issuer not in self.idp_entity_ids or (a_issuer and a_issuer != issuer):
            raise SamlRejectedError("untrusted_issuer", "the identity provider is not trusted",
                                    issuer=issuer or None)
        name_id_el = assertion.find("saml:Subject/saml:NameID", NS)
        whole_name_id = _text(name_id_el).strip()
        # pysaml2 answers a foreign Destination with None and a log line, so check it first
        # (and a missing one, which pysaml2 lets through) to refuse with the right reason.
        if root.get("Destination") != self.acs_url:
            raise SamlRejectedError("destination", "the response is addressed elsewhere",
                                    issuer=issuer)
        client = self._client(issuer in response_signature_only_for)
        rejected: SamlRejectedError | None = None
        try:
            # binding=None: the XML is already decoded, so pysaml2 never tries to inflate it.
            response = client.parse_authn_request_response(
                xml.decode("utf-8"), None, conv_info={"entity_id": self.entity_id},
            )
        except SamlRejectedError:
            raise
        except Exception as err:  # noqa: BLE001 - pysaml2 raises a zoo; each maps to a code
            rejected = _classify(err)
            rejected.issuer = issuer
            log.info("saml response rejected", extra={"fields": {
                "reason": rejected.reason, "error": type(err).__name__, "issuer": issuer}})
        if rejected is not None:
            # Raised outside the handler: chained to pysaml2's error, our exception would make
            # a reference cycle through its traceback, and the certificate temp files pysaml2
            # leaves open in those frames would wait for the garbage collector.
            raise rejected
        if response is None or response.assertion is None or not response.name_id:
            raise SamlRejectedError("malformed", "the response carries no usable assertion",
                                    issuer=issuer)
        return self._finish(response, issuer, whole_name_id)

    def _finish(self, response: Any, issuer: str, whole_name_id: str) -> ValidAssertion:
        assertion = response.assertion
        name_id = str(response.name_id.text or "").strip()
        if not name_id or name_id != whole_name_id:
            raise SamlRejectedError("name_id", "the NameID is empty or was tampered with",
                                    issuer=issuer)
        if len(name_id) > MAX_NAME_ID or has_control(name_id):
            raise SamlRejectedError("name_id", "the NameID is not acceptable", issuer=issuer)
        audiences = [
            a.text.strip()
            for cond in [assertion.conditions] if cond is not None
            for restriction in cond.audience_restriction
            for a in restriction.audience if a.text
        ]
        if self.entity_id not in audiences:
            raise SamlRejectedError("audience", "the assertion is meant for another service",
                                    issuer=issuer, name_id=name_id)
        confirmations = assertion.subject.subject_confirmation or []
        recipients = [
            c.subject_confirmation_data.recipient for c in confirmations
            if c.subject_confirmation_data is not None
        ]
        if not recipients or any(r != self.acs_url for r in recipients):
            raise SamlRejectedError("recipient", "the assertion names another recipient",
                                    issuer=issuer, name_id=name_id)
        expires = _expiry(assertion, confirmations)
        in_response_to = _in_response_to(response, confirmations, issuer, name_id)
        attributes = _attributes(assertion)
        contexts, instant = _authn_context(assertion, attributes)
        return ValidAssertion(issuer=issuer, name_id=name_id, assertion_id=str(assertion.id),
                              expires_at=expires, in_response_to=in_response_to,
                              attributes=attributes, authn_contexts=contexts,
                              authn_instant=instant)


def _in_response_to(response: Any, confirmations: list[Any], issuer: str, name_id: str
                    ) -> str | None:
    """Return the request the assertion answers, as the *signed* assertion says.

    The Response's own ``InResponseTo`` is unsigned when only the assertion is signed (Entra's
    default): whoever holds a stolen assertion could drop it (to pass as IdP-initiated) or point
    it at a request of their own browser. ``SubjectConfirmationData@InResponseTo`` is signed;
    the two must agree.
    """
    signed = {c.subject_confirmation_data.in_response_to for c in confirmations
              if c.subject_confirmation_data is not None
              and c.subject_confirmation_data.in_response_to}
    outer = response.in_response_to or None
    if len(signed) > 1 or (signed and outer is not None and outer not in signed):
        raise SamlRejectedError("in_response_to",
                                "the response and its assertion answer different requests",
                                issuer=issuer, name_id=name_id)
    return str(next(iter(signed))) if signed else outer


def _attributes(assertion: Any) -> dict[str, list[str]]:
    """Return the assertion's attributes under the names the IdP sent.

    Not pysaml2's ``ava``: its converters rename what they recognise (Entra's
    ``.../claims/emailaddress`` becomes ``emailAddress``, ``.../surname`` becomes ``surname``,
    ``urn:oid:2.5.4.4`` becomes ``sn``), so the attribute map would miss them.
    """
    attributes: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            if not attribute.name:
                continue
            values = attributes.setdefault(str(attribute.name), [])
            values.extend(str(v.text) for v in attribute.attribute_value or []
                          if v is not None and v.text is not None)
    return attributes


def _authn_context(assertion: Any, attributes: dict[str, list[str]]
                   ) -> tuple[tuple[str, ...], dt.datetime | None]:
    """Return how the person authenticated, as the *signed* assertion says.

    ``assertion`` is the one pysaml2 verified (its own signature, or the Response's that covers
    it), and ``attributes`` were read from it: nothing here comes from the unsigned envelope.
    Every ``AuthnStatement/AuthnContext/AuthnContextClassRef`` counts, then the values of Entra's
    authentication-method claim. The AuthnInstant is the earliest one: a policy asking for a
    recent sign-in must not be satisfied by the freshest of several authentications.
    """
    found: list[str] = []
    instants: list[dt.datetime] = []
    for statement in assertion.authn_statement or []:
        context = statement.authn_context
        class_ref = context.authn_context_class_ref if context is not None else None
        if class_ref is not None and class_ref.text:
            found.append(str(class_ref.text))
        instant = _parse_instant(statement.authn_instant)
        if instant is not None:
            instants.append(instant)
    found.extend(attributes.get(AMR_CLAIM, []))
    contexts: list[str] = []
    for value in (v.strip() for v in found):
        if value and value not in contexts and len(value) <= MAX_CONTEXT_LENGTH \
                and not has_control(value):
            contexts.append(value)
    return tuple(contexts[:MAX_CONTEXTS]), min(instants) if instants else None


def _parse_instant(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _expiry(assertion: Any, confirmations: list[Any]) -> dt.datetime:
    """Return when the assertion stops being acceptable: the replay cache keeps it that long."""
    candidates = [_parse_instant(assertion.conditions.not_on_or_after)
                  if assertion.conditions is not None else None]
    candidates += [_parse_instant(c.subject_confirmation_data.not_on_or_after)
                   for c in confirmations if c.subject_confirmation_data is not None]
    found = [c for c in candidates if c is not None]
    now = dt.datetime.now(dt.UTC)
    latest = max(found) if found else now + dt.timedelta(hours=1)
    return latest + dt.timedelta(minutes=10)
