"""``make bench``: seed 100 000 users through the service layer and measure SCIM over HTTP."""
