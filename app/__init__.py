"""Frontdesk's core: users, groups, memberships, tokens, SAML state and the audit chain.

Nothing here imports Flask: the web shell (``app.web``) and the doors (``scim``, ``jit``, the
console, the JSON API, the CLI) call in, never the other way round. ``app/README.md`` maps the
modules; import-linter checks the layering (``make lint``).
"""
