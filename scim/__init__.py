"""The SCIM 2.0 door (RFC 7643/7644) at ``/scim/v2``.

Imports the core (``app``) and the web shell (``app.web``), never ``jit`` or the console.
``views`` holds the blueprint; every error under ``/scim/v2`` (ours, the core's, Werkzeug's)
leaves as an RFC 7644 §3.12 body with ``application/scim+json`` (``responses``).
"""
