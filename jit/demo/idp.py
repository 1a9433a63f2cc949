"""A local, throw-away SAML identity provider for ``make demo`` and the tests.

DEMO ONLY: whoever can reach it signs in as anyone, with any email. It exists so that a new
user sees a JIT sign-up within a minute of cloning, and so that the tests meet the same signed
XML a real IdP sends: responses are built by pysaml2's IdP (``saml2.server.Server``) and signed
by ``xmlsec1``. Frontdesk trusts it only when its metadata file is configured
(``FRONTDESK_SAML_IDP_METADATA``, which ``make demo`` sets); nothing in the app imports this
module.

Run: ``python -m jit.demo --port 8001 --sp-base-url http://127.0.0.1:8000
--workdir instance/demo-idp`` (``--write-metadata-only`` writes the key, certificate and
metadata, then exits).
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask import Response
from flask import request
from markupsafe import escape
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2 import class_name
from saml2 import saml
from saml2 import samlp
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.server import Server
from saml2.sigver import pre_signature_part
from saml2.sigver import signed_instance_factory
from saml2.xmldsig import DIGEST_SHA256
from saml2.xmldsig import SIG_RSA_SHA256

from jit.keys import ensure_keypair
from jit.sp import XmlSec1Backend

KEY_FILE = "idp-key.pem"
CERT_FILE = "idp-cert.pem"
METADATA_FILE = "idp-metadata.xml"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_FIELD = 256  # characters accepted from the demo form, per field

# Attribute names as the two common IdPs send them: Okta the names an admin types in the app's
# attribute statements (email, firstName, ...), Entra ID the claim URIs below.
OKTA_STYLE = "okta"
ENTRA_STYLE = "entra"
ENTRA_CLAIMS = {
    "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "givenName": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "surname": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "displayName": "http://schemas.microsoft.com/identity/claims/displayname",
    "groups": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
}
# How a sign-in was authenticated, as each IdP says it. Okta: the AuthnContextClassRef is
# PasswordProtectedTransport, or MultiFactor after MFA. Entra: the class ref names the password,
# and the authnmethodsreferences claim lists every method used (multipleauthn after MFA).
PASSWORD = saml.AUTHN_PASSWORD_PROTECTED
MULTI_FACTOR = "urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor"
AMR_CLAIM = "http://schemas.microsoft.com/claims/authnmethodsreferences"
ENTRA_SINGLE_FACTOR = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
ENTRA_MFA = "http://schemas.microsoft.com/claims/multipleauthn"
# The strength of the contexts this IdP knows, for RequestedAuthnContext comparisons other than
# "exact"; a context it does not know counts as stronger than MFA (it cannot do it).
_STRENGTH = {PASSWORD: 1, saml.AUTHN_PASSWORD: 1, ENTRA_SINGLE_FACTOR: 1, MULTI_FACTOR: 2,
             ENTRA_MFA: 2}
NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
MAX_SESSION_AGE = 24 * 60  # minutes the demo form may pretend a sign-in is old
SAMPLE_GROUP = "Engineering"  # the demo user's other group, beside the admin group


class DemoIdPError(ValueError):
    """A request the demo IdP will not answer (unreadable, or from/for an unknown SP)."""


@dataclass(frozen=True)
class AuthnRequestInfo:
    """What the IdP needs from an SP-initiated AuthnRequest to answer it."""

    id: str
    acs_url: str
    issuer: str
    relay_state: str | None
    force_authn: bool = False  # authenticate again: no sign-in from an earlier session
    requested_contexts: tuple[str, ...] = ()  # RequestedAuthnContext's AuthnContextClassRefs
    comparison: str = "exact"  # exact | minimum | better | maximum

    def satisfied_by(self, contexts: Sequence[str]) -> bool:
        """Return whether a sign-in with ``contexts`` answers the RequestedAuthnContext."""
        if not self.requested_contexts:
            return True
        if self.comparison == "exact":
            return any(c in self.requested_contexts for c in contexts)
        have = max((_STRENGTH.get(c, 0) for c in contexts), default=0)
        wanted = [_STRENGTH.get(c, 3) for c in self.requested_contexts]
        if self.comparison == "maximum":
            return 0 < have <= max(wanted)
        if self.comparison == "better":
            return have > min(wanted)
        return have >= min(wanted)  # minimum

    @property
    def wants_mfa(self) -> bool:
        """Return whether a password alone would not answer the request."""
        return not self.satisfied_by([PASSWORD, ENTRA_SINGLE_FACTOR])


@dataclass(frozen=True)
class DemoUser:
    """Who the sign-in form is filled in for; ``make demo`` fills in an admin of the console,
    so that signing in without typing anything opens ``/admin/``."""

    email: str = ""
    display_name: str = ""
    groups: tuple[str, ...] = ()


def demo_user(admin_group: str | None) -> DemoUser:
    """The demo's default person: in ``admin_group`` (if any) and a sample group."""
    groups = (admin_group, SAMPLE_GROUP) if admin_group else ()
    return DemoUser("ada@example.com", "Ada Lovelace", groups)


def sign_in_context(style: str = OKTA_STYLE, mfa: bool = False
                    ) -> tuple[str, dict[str, list[str]]]:
    """Return (AuthnContextClassRef, extra attributes) of a sign-in with or without MFA, as an
    Okta or Entra app says it."""
    if style == ENTRA_STYLE:
        methods = [ENTRA_SINGLE_FACTOR] + ([ENTRA_MFA] if mfa else [])
        return ENTRA_SINGLE_FACTOR, {AMR_CLAIM: methods}
    if style != OKTA_STYLE:
        raise ValueError(f"unknown attribute style {style!r}")
    return (MULTI_FACTOR if mfa else PASSWORD), {}


def encode_response(xml: str | bytes) -> str:
    """Base64 for the ``SAMLResponse`` form field of the HTTP-POST binding."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    return base64.b64encode(data).decode("ascii")


def decode_response(saml_response: str) -> str:
    """The XML text inside a ``SAMLResponse`` form field."""
    return base64.b64decode(saml_response, validate=True).decode("utf-8")


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temporary file so a concurrent reader never sees half a key or metadata."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sp_metadata_xml(sp_entity_id: str, sp_acs_url: str) -> str:
    """Minimal SP metadata, so pysaml2's Server knows the SP without fetching anything."""
    ent = saml2_md_escape(sp_entity_id)
    acs = saml2_md_escape(sp_acs_url)
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
        f' entityID="{ent}">'
        '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"'
        ' AuthnRequestsSigned="false" WantAssertionsSigned="true">'
        f"<md:NameIDFormat>{saml.NAMEID_FORMAT_EMAILADDRESS}</md:NameIDFormat>"
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{acs}"'
        ' index="0" isDefault="true"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    )


def saml2_md_escape(value: str) -> str:
    """Escape text for an XML attribute value."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _attribute(name: str, values: Sequence[str], name_format: str | None) -> saml.Attribute:
    attr = saml.Attribute(name=name, name_format=name_format)
    for value in values:
        ava = saml.AttributeValue()
        ava.set_text(value)  # adds xsi:type="xs:string", as Okta and Entra do
        attr.attribute_value.append(ava)
    return attr


class DemoIdP:
    """A SAML IdP that signs whatever it is told to, for one SP.

    ``response()``/``response_xml()`` build real signed Responses through pysaml2's
    ``create_authn_response`` and ``xmlsec1``; every knob a test needs to make a *wrong* but
    validly signed response (audience, destination, recipient, times, issuer, algorithms) is a
    keyword argument, because editing XML after signing breaks the signature.
    """

    def __init__(
        self,
        workdir: str | Path,
        idp_base_url: str,
        sp_entity_id: str,
        sp_acs_url: str,
        *,
        common_name: str = "Frontdesk demo IdP (NOT FOR PRODUCTION)",
    ) -> None:
        self.workdir = Path(workdir)
        self.base_url = idp_base_url.rstrip("/")
        self.entity_id = f"{self.base_url}/metadata"
        self.sso_url = f"{self.base_url}/sso"
        self.sp_entity_id = sp_entity_id
        self.sp_acs_url = sp_acs_url
        self.key_path = self.workdir / KEY_FILE
        self.cert_path = self.workdir / CERT_FILE
        self.metadata_path = self.workdir / METADATA_FILE
        ensure_keypair(self.key_path, self.cert_path, common_name)
        self.server = Server(config=self._config())
        self.server.sec.crypto = XmlSec1Backend(shutil.which("xmlsec1"))  # no CA store to load
        descriptor = entity_descriptor(self.server.config)
        # pysaml2 advertises every algorithm xmlsec1 knows (MD5 and SHA-1 included); say nothing.
        descriptor.extensions = None
        self.metadata_xml = str(descriptor)
        if not (self.metadata_path.is_file()
                and self.metadata_path.read_text(encoding="utf-8") == self.metadata_xml):
            _write_atomically(self.metadata_path, self.metadata_xml.encode("utf-8"))

    @classmethod
    def for_frontdesk(cls, workdir: str | Path, idp_base_url: str,
                      frontdesk_base_url: str) -> DemoIdP:
        """A demo IdP for the Frontdesk at ``frontdesk_base_url`` (its SAML entity id and ACS)."""
        base = frontdesk_base_url.rstrip("/")
        return cls(workdir, idp_base_url, f"{base}/saml/metadata", f"{base}/saml/acs")

    @property
    def cert_pem(self) -> str:
        return self.cert_path.read_text(encoding="ascii")

    def _config(self) -> IdPConfig:
        xmlsec = shutil.which("xmlsec1")
        if xmlsec is None:
            raise RuntimeError("xmlsec1 not found: install the Debian package xmlsec1 "
                               "(`make install` does)")
        conf = IdPConfig()
        conf.load({
            "entityid": self.entity_id,
            "key_file": str(self.key_path),
            "cert_file": str(self.cert_path),
            "xmlsec_binary": xmlsec,
            "metadata": {"inline": [sp_metadata_xml(self.sp_entity_id, self.sp_acs_url)]},
            "service": {
                "idp": {
                    "name": "Frontdesk demo IdP (NOT FOR PRODUCTION)",
                    "endpoints": {
                        "single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)],
                    },
                    # pysaml2 signs with SHA-1 unless these sit here; a top-level key is ignored.
                    "signing_algorithm": SIG_RSA_SHA256,
                    "digest_algorithm": DIGEST_SHA256,
                    "want_authn_requests_signed": False,
                    "name_id_format": [saml.NAMEID_FORMAT_EMAILADDRESS,
                                       saml.NAMEID_FORMAT_PERSISTENT,
                                       saml.NAMEID_FORMAT_UNSPECIFIED],
                },
            },
        })
        return conf

    # -- responses ---------------------------------------------------------------------------

    def response_xml(
        self,
        name_id: str,
        attributes: Mapping[str, Sequence[str]] | None = None,
        *,
        in_response_to: str | None = None,
        sign_assertion: bool = True,
        sign_response: bool = False,
        audience: str | Sequence[str] | None = None,
        destination: str | None = None,
        recipient: str | None = None,
        issuer: str | None = None,
        name_id_format: str = saml.NAMEID_FORMAT_EMAILADDRESS,
        attribute_name_format: str | None = saml.NAME_FORMAT_UNSPECIFIED,
        clock_shift: timedelta = timedelta(0),
        lifetime: timedelta = timedelta(minutes=5),
        not_before: datetime | None = None,
        not_on_or_after: datetime | None = None,
        sign_alg: str | None = None,
        digest_alg: str | None = None,
        authn_context: str = PASSWORD,
        authn_instant: datetime | None = None,
    ) -> str:
        """A Response for ``name_id`` carrying ``attributes``, as signed XML text.

        Defaults make a response Frontdesk must accept (IdP-initiated unless ``in_response_to``):
        assertion signed with RSA-SHA256, audience = SP entity id, Destination and Recipient =
        SP ACS URL, valid from now for ``lifetime``.

        - ``audience``: None → the SP entity id; a string or list → those; ``[]`` → no
          AudienceRestriction at all.
        - ``destination``/``recipient``: None → the ACS URL; ``""`` → attribute left out.
        - ``clock_shift`` moves every timestamp (IssueInstant, AuthnInstant, NotBefore,
          NotOnOrAfter), as an IdP with a wrong clock would; ``not_before``/``not_on_or_after``
          override the Conditions (and SubjectConfirmationData NotOnOrAfter) outright.
        - ``attribute_name_format``: None leaves NameFormat out (as Entra does).
        - ``sign_alg``/``digest_alg``: e.g. ``saml2.xmldsig.SIG_RSA_SHA1`` for downgrade tests.
        - ``authn_context``: the AuthnContextClassRef (``MULTI_FACTOR`` after MFA);
          ``authn_instant``: when the person authenticated (default: now), e.g. an hour ago for
          an IdP session that signs in without asking. Entra's method claim is an attribute:
          see ``sign_in_context``.
        - Neither signed → an unsigned response (for "unsigned is refused" tests).
        """
        now = datetime.now(UTC) + clock_shift
        issuer_value = issuer or self.entity_id
        built = self.server.create_authn_response(
            identity={},  # attributes are added below, names kept exactly as given
            in_response_to=in_response_to,
            destination=self.sp_acs_url,
            sp_entity_id=self.sp_entity_id,
            name_id=saml.NameID(format=name_id_format, text=name_id),
            authn={"class_ref": authn_context, "authn_auth": self.entity_id},
            issuer=issuer_value,
            sign_assertion=False,
            sign_response=False,
        )
        if not isinstance(built, samlp.Response):
            raise RuntimeError(f"pysaml2 did not build a Response: {built!r}")
        resp = built
        assertion = resp.assertion[0] if isinstance(resp.assertion, list) else resp.assertion

        resp.destination = self.sp_acs_url if destination is None else (destination or None)
        resp.issue_instant = assertion.issue_instant = _instant(now)
        for statement in assertion.authn_statement:
            statement.authn_instant = _instant(authn_instant or now)

        starts = not_before or now
        ends = not_on_or_after or now + lifetime
        conditions = assertion.conditions
        conditions.not_before = _instant(starts)
        conditions.not_on_or_after = _instant(ends)
        audiences = ([self.sp_entity_id] if audience is None
                     else [audience] if isinstance(audience, str) else list(audience))
        conditions.audience_restriction = (
            [saml.AudienceRestriction(audience=[saml.Audience(text=a) for a in audiences])]
            if audiences else []
        )
        for confirmation in assertion.subject.subject_confirmation:
            data = confirmation.subject_confirmation_data
            data.recipient = self.sp_acs_url if recipient is None else (recipient or None)
            data.not_on_or_after = _instant(ends)

        # pysaml2's attribute converters would rename (basic/URI maps) or lower-case (NOOP map)
        # the names; real IdPs send them exactly as configured, so build them ourselves.
        assertion.attribute_statement = (
            [saml.AttributeStatement(attribute=[
                _attribute(name, values, attribute_name_format)
                for name, values in attributes.items()
            ])] if attributes else []
        )

        sign_alg = sign_alg or self.server.signing_algorithm
        digest_alg = digest_alg or self.server.digest_algorithm
        my_cert = self.server.sec.my_cert
        to_sign: list[tuple[str, str]] = []
        # Inner first: the response signature must cover the already signed assertion.
        if sign_assertion:
            assertion.signature = pre_signature_part(
                assertion.id, my_cert, 2, digest_alg=digest_alg, sign_alg=sign_alg)
            to_sign.append((class_name(assertion), assertion.id))
        if sign_response:
            resp.signature = pre_signature_part(
                resp.id, my_cert, 1, digest_alg=digest_alg, sign_alg=sign_alg)
            to_sign.append((class_name(resp), resp.id))
        if not to_sign:
            return str(resp.to_string().decode("utf-8"))
        return str(signed_instance_factory(resp, self.server.sec, to_sign))

    def response(self, name_id: str, attributes: Mapping[str, Sequence[str]] | None = None,
                 **kwargs: Any) -> str:
        """The base64 ``SAMLResponse`` form value; same arguments as ``response_xml``."""
        return encode_response(self.response_xml(name_id, attributes, **kwargs))

    def refusal(self, info: AuthnRequestInfo, status: str = NO_AUTHN_CONTEXT,
                message: str = "the requested authentication context was not used") -> str:
        """The base64 ``SAMLResponse`` of a failed sign-in (unsigned, no assertion), as an IdP
        answers a RequestedAuthnContext it could not satisfy."""
        built = self.server.create_error_response(info.id, info.acs_url, (status, message),
                                                  sign=False)
        return encode_response(built.to_string())

    # -- SP-initiated ------------------------------------------------------------------------

    def parse_authn_request(self, saml_request: str,
                            relay_state: str | None = None) -> AuthnRequestInfo:
        """Decode an HTTP-Redirect AuthnRequest from our SP.

        Refuses requests from another issuer or naming another ACS URL: a signed response
        must only ever be posted to the ACS in the SP's metadata. The request's own signature
        (if the SP signs redirects) is not checked; this IdP signs anything for anyone anyway.
        """
        try:
            parsed = self.server.parse_authn_request(
                saml_request, BINDING_HTTP_REDIRECT, relay_state=relay_state)
        except Exception as exc:  # pysaml2 raises a zoo of types on garbage
            raise DemoIdPError(f"unreadable AuthnRequest: {exc}") from exc
        if parsed is None or parsed.message is None:
            raise DemoIdPError("unreadable AuthnRequest")
        message = parsed.message
        issuer = (message.issuer.text or "").strip() if message.issuer is not None else ""
        if issuer != self.sp_entity_id:
            raise DemoIdPError(f"AuthnRequest from unknown SP {issuer!r}; "
                               f"this demo IdP serves {self.sp_entity_id!r} only")
        acs_url = message.assertion_consumer_service_url or self.sp_acs_url
        if acs_url != self.sp_acs_url:
            raise DemoIdPError(f"AuthnRequest asks for ACS {acs_url!r}; "
                               f"the SP's metadata lists {self.sp_acs_url!r}")
        requested = message.requested_authn_context
        contexts = tuple(str(ref.text).strip() for ref in
                         (requested.authn_context_class_ref if requested is not None else [])
                         if ref.text)
        return AuthnRequestInfo(
            id=message.id, acs_url=acs_url, issuer=issuer, relay_state=relay_state,
            force_authn=str(message.force_authn).lower() in ("true", "1"),
            requested_contexts=contexts,
            comparison=(requested.comparison if requested is not None and requested.comparison
                        else "exact"))


def demo_attributes(email: str, display_name: str = "", groups: Sequence[str] = (),
                    style: str = OKTA_STYLE) -> dict[str, list[str]]:
    """The attributes a typical Okta or Entra app sends for this person (empty ones left out)."""
    first, _, last = display_name.strip().partition(" ")
    names = {
        "email": "email", "givenName": "firstName", "surname": "lastName",
        "displayName": "displayName", "groups": "groups",
    }
    if style == ENTRA_STYLE:
        names = ENTRA_CLAIMS
    elif style != OKTA_STYLE:
        raise ValueError(f"unknown attribute style {style!r}")
    values = {
        "email": [email], "givenName": [first], "surname": [last.strip()],
        "displayName": [display_name.strip()], "groups": [g for g in groups if g],
    }
    return {names[key]: vals for key, vals in values.items() if any(vals)}


# -- the web app -------------------------------------------------------------------------------

_STYLE = """body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
.demo{background:#fde68a;border:2px solid #b45309;padding:.75rem 1rem;border-radius:.4rem}
label{display:block;margin-top:.8rem}input,select{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1.2rem}code{word-break:break-all}"""

_BANNER = (
    '<p class="demo"><strong>DEMO identity provider.</strong> Anyone who can open this page can '
    "sign in as anyone, with any email. It is for trying Frontdesk on your own machine; never "
    "configure it in production.</p>"
)


def _page(title: str, body: str, *, status: int = 200) -> Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{_BANNER}{body}</body></html>"
    )
    return Response(html, status=status, mimetype="text/html")


def _hidden(name: str, value: str | None) -> str:
    if value is None:
        return ""
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def _form_page(idp: DemoIdP, saml_request: str | None, info: AuthnRequestInfo | None,
               prefill: DemoUser) -> Response:
    if info is None:
        what = ("<p>IdP-initiated sign-in: the response goes to "
                f"<code>{escape(idp.sp_acs_url)}</code> without a request from the SP.</p>")
    else:
        what = (f"<p>Answering AuthnRequest <code>{escape(info.id)}</code> from "
                f"<code>{escape(info.issuer)}</code>.</p>")
        if info.force_authn:
            what += "<p>The SP asks for a <strong>fresh sign-in</strong> (ForceAuthn).</p>"
        if info.requested_contexts:
            what += (f"<p>The SP asks for these authentication contexts ({escape(info.comparison)}"
                     "): " + ", ".join(f"<code>{escape(c)}</code>"
                                       for c in info.requested_contexts) + "</p>")
    mfa_checked = " checked" if info is not None and info.wants_mfa else ""
    # With ForceAuthn there is no earlier session to reuse: the sign-in happens now.
    age = "" if info is not None and info.force_authn else (
        f'<label>Pretend you signed in this many minutes ago (an IdP session) <input '
        f'name="session_age" type="number" min="0" max="{MAX_SESSION_AGE}" value="0"></label>')
    body = (
        f"{what}<form method=\"post\" action=\"/sso\">"
        '<label>Email (becomes the NameID) <input name="email" type="email" required '
        f'maxlength="{MAX_FIELD}" autofocus placeholder="ada@example.com" '
        f'value="{escape(prefill.email)}"></label>'
        f'<label>Display name <input name="display_name" maxlength="{MAX_FIELD}" '
        f'placeholder="Ada Lovelace" value="{escape(prefill.display_name)}"></label>'
        f'<label>Groups, comma-separated <input name="groups" maxlength="{MAX_FIELD * 4}" '
        f'placeholder="engineering, admins" value="{escape(", ".join(prefill.groups))}">'
        "</label>"
        '<label>Attribute names <select name="style">'
        f'<option value="{OKTA_STYLE}">Okta style (email, firstName, lastName, groups)</option>'
        f'<option value="{ENTRA_STYLE}">Entra ID claim URIs</option></select></label>'
        f'<label><input name="mfa" type="checkbox" value="on"{mfa_checked} '
        'style="width:auto"> Signed in with MFA (a second factor)</label>'
        f"{age}"
        f"{_hidden('SAMLRequest', saml_request)}"
        f"{_hidden('RelayState', info.relay_state if info else None)}"
        '<button type="submit">Sign in</button></form>'
        f'<p>Metadata: <a href="/metadata"><code>{escape(idp.entity_id)}</code></a></p>'
    )
    return _page("Frontdesk demo IdP", body)


def _post_page(acs_url: str, saml_response: str, relay_state: str | None) -> Response:
    body = (
        f'<form id="saml" method="post" action="{escape(acs_url)}">'
        f"{_hidden('SAMLResponse', saml_response)}{_hidden('RelayState', relay_state)}"
        f"<p>Sending the signed response to <code>{escape(acs_url)}</code>.</p>"
        '<button type="submit">Continue</button></form>'
        '<script>document.getElementById("saml").submit()</script>'
    )
    return _page("Signing you in", body)


def _field(name: str, limit: int = MAX_FIELD) -> str:
    value = request.form.get(name, "").strip()
    if len(value) > limit:
        raise DemoIdPError(f"{name} is longer than {limit} characters")
    return value


def create_idp_app(idp: DemoIdP, prefill: DemoUser | None = None) -> Flask:
    """The demo IdP's pages: ``/metadata``, the sign-in form (``/``, ``GET /sso``, filled in
    for ``prefill``) and ``POST /sso``, which answers with an auto-submitting form to the SP's
    ACS."""
    app = Flask(__name__)
    person = prefill or DemoUser()

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    @app.errorhandler(DemoIdPError)
    def _refused(exc: DemoIdPError) -> Response:
        return _page("Request refused", f"<p>{escape(str(exc))}</p>", status=400)

    @app.get("/metadata")
    def metadata() -> Response:
        return Response(idp.metadata_xml, mimetype="application/samlmetadata+xml")

    @app.get("/")
    def index() -> Response:
        return _form_page(idp, None, None, person)

    @app.get("/sso")
    def sso_form() -> Response:
        saml_request = request.args.get("SAMLRequest")
        if not saml_request:
            return _form_page(idp, None, None, person)
        info = idp.parse_authn_request(saml_request, request.args.get("RelayState"))
        return _form_page(idp, saml_request, info, person)

    @app.post("/sso")
    def sso_submit() -> Response:
        email = _field("email")
        if not email:
            raise DemoIdPError("an email is required")
        display_name = _field("display_name")
        groups = [g.strip() for g in _field("groups", MAX_FIELD * 4).split(",") if g.strip()]
        style = request.form.get("style", OKTA_STYLE)
        if style not in (OKTA_STYLE, ENTRA_STYLE):
            raise DemoIdPError("unknown attribute style")
        mfa = request.form.get("mfa") == "on"
        age = _field("session_age") or "0"
        if not age.isdigit() or int(age) > MAX_SESSION_AGE:
            raise DemoIdPError(f"session_age is a whole number of minutes up to "
                               f"{MAX_SESSION_AGE}")
        saml_request = request.form.get("SAMLRequest")
        relay_state = request.form.get("RelayState") or None
        info = idp.parse_authn_request(saml_request, relay_state) if saml_request else None
        authn_context, claims = sign_in_context(style, mfa)
        if info is not None and not info.satisfied_by([authn_context, *claims.get(AMR_CLAIM, [])]):
            # As a real IdP does: a failed sign-in, not an assertion of something else.
            return _post_page(info.acs_url, idp.refusal(info), relay_state)
        # ForceAuthn: no earlier sign-in may be reused, so the authentication is now.
        minutes = 0 if info is not None and info.force_authn else int(age)
        saml_response = idp.response(
            email,
            {**demo_attributes(email, display_name, groups, style), **claims},
            in_response_to=info.id if info else None,
            attribute_name_format=None if style == ENTRA_STYLE else saml.NAME_FORMAT_UNSPECIFIED,
            authn_context=authn_context,
            authn_instant=datetime.now(UTC) - timedelta(minutes=minutes),
        )
        return _post_page(info.acs_url if info else idp.sp_acs_url, saml_response, relay_state)

    return app


# -- command line -------------------------------------------------------------------------------

def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def instructions(idp_base_url: str, sp_base_url: str, admin_group: str | None) -> str:
    """What ``make demo`` prints once both servers answer: where to sign in, and how to reach
    the admin console (as the prefilled user, whose groups include the demo's admin group)."""
    sp = sp_base_url.rstrip("/")
    lines = [
        "",
        f"  Demo: open {idp_base_url}/ (IdP-initiated sign-in)",
        f"     or {sp}/saml/login (SP-initiated); you land on {sp}/me.",
        "     Groups typed at the IdP are created in Frontdesk on first use (demo setting).",
    ]
    if admin_group:
        lines += [
            f"  Admin console: open {sp}/admin/ and sign in with the form as it is filled in:",
            f"     its groups include {admin_group!r}, the demo's admin group "
            "(FRONTDESK_ADMIN_GROUPS).",
        ]
    lines += [
        f"  Or a one-time console link: FRONTDESK_BASE_URL={sp} .venv/bin/frontdesk admin "
        "login-link",
        "",
    ]
    return "\n".join(lines)


def _announce_when_up(sp_base_url: str, text: str, timeout: float = 120.0) -> None:
    """Print ``text`` once Frontdesk answers ``/healthz`` (after its start-up log lines, where
    it is seen), or after ``timeout`` seconds whatever happens."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{sp_base_url.rstrip('/')}/healthz",  # noqa: S310
                                        timeout=2):
                break
        except OSError:
            time.sleep(0.25)
    print(text, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jit.demo``: write the metadata, then (unless told not to) serve."""
    parser = argparse.ArgumentParser(
        prog="python -m jit.demo",
        description="DEMO SAML IdP for trying Frontdesk locally. Anyone can sign in as anyone: "
                    "never use it in production.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--base-url", help="this IdP's public URL (default http://HOST:PORT)")
    parser.add_argument("--sp-base-url",
                        default=os.environ.get("FRONTDESK_BASE_URL", "http://127.0.0.1:8000"),
                        help="Frontdesk's FRONTDESK_BASE_URL (default: that variable, "
                             "else http://127.0.0.1:8000)")
    parser.add_argument("--workdir", default="instance/demo-idp",
                        help="where the key, certificate and metadata live")
    parser.add_argument("--write-metadata-only", action="store_true",
                        help="create the key, certificate and metadata, print the path, exit")
    parser.add_argument("--admin-group",
                        help="fill the form in for a user of this group (make demo passes its "
                             "FRONTDESK_ADMIN_GROUPS) and say how to open the admin console")
    args = parser.parse_args(argv)

    if not _is_loopback(args.host):
        parser.error("the demo IdP signs anything for anyone; it only listens on loopback")
    base_url = args.base_url or f"http://{args.host}:{args.port}"
    idp = DemoIdP.for_frontdesk(args.workdir, base_url, args.sp_base_url)
    if args.write_metadata_only:
        print(idp.metadata_path)
        return 0

    import threading

    from werkzeug.serving import run_simple

    print(f"DEMO IdP (not for production) on {base_url}/ for SP {idp.sp_entity_id}; "
          f"metadata: {idp.metadata_path}", file=sys.stderr, flush=True)
    text = instructions(base_url, args.sp_base_url, args.admin_group)
    threading.Thread(target=_announce_when_up, args=(args.sp_base_url, text), daemon=True,
                     name="announce").start()
    run_simple(args.host, args.port, create_idp_app(idp, demo_user(args.admin_group)),
               threaded=True)
    return 0

