"""Test helpers, imported by the tests (``from tests.helpers.clients import ScimClient``).

The ``conftest.py`` files hold fixtures only; whatever a test calls lives here, by job:

- ``databases``: the test databases (SQLite and PostgreSQL, one per xdist worker), emptying them
- ``clients``: the SCIM test client, the https test client, PatchOp bodies
- ``servers``: Frontdesk under real gunicorn (``LiveServer``), free ports
- ``saml``: the SP key pair shared by a session, IdP attributes and policies, driving the SP
- ``console``: signing in to the admin console and reading its pages
- ``audit``: reading, seeding and verifying the audit log
- ``factories``: tokens, users and groups made through the real service layer or SCIM
- ``reads``: what the database holds (users, links, memberships), read directly
- ``access``: access policies, the cast of users, personal tokens, the access API client
- ``webhooks``: a real HTTP receiver for webhook deliveries
- ``pages``: driving the access pages
"""
