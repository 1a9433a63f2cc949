"""``/access``: self-service access pages for people signed in with single sign-on."""
