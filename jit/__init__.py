"""The SAML just-in-time sign-up door: ``/saml/metadata``, ``/saml/login``, ``/saml/acs``,
and the signed-in page ``/me``.

Imports the core (``app``) and the web shell (``app.web``), never ``scim`` or the console.
``views`` holds the blueprint; the service provider (pysaml2 configuration, trusted IdPs) is
built once per app into ``app.extensions``. ``demo`` is a test and demo IdP, not shipped.
"""
