"""The SAML just-in-time sign-up door (``/saml``); built in the next issue."""
