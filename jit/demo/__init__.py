"""A local DEMO IdP for ``make demo`` and the tests: it signs anything for anyone.

It is left out of the wheel on purpose (``pyproject.toml`` lists only the production packages):
an installed Frontdesk must not carry an IdP that vouches for whoever asks.
"""
