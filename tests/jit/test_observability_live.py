"""SAML sign-ins under real gunicorn: JIT outcomes in ``/metrics`` by reason, and pysaml2's own
log records as JSON lines carrying the request id of the sign-in that caused them."""

from __future__ import annotations

from collections.abc import Callable

import httpx

import config
from app.db import Database
from jit.demo.idp import encode_response
from tests.helpers.factories import make_token
from tests.helpers.metrics import json_lines
from tests.helpers.metrics import parse
from tests.helpers.metrics import value
from tests.helpers.saml import IDP_A_URL
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.servers import LiveServer
from tests.jit import saml_attacks as attacks

LOGINS = "frontdesk_jit_logins_total"
ADA = "äda@example.com"


def test_jit_outcomes_and_pysaml2_lines(app: object, settings: config.Settings, db: Database,
                                        idp: DemoIdP,
                                        start_server: Callable[..., LiveServer]) -> None:
    server = start_server(settings, env={"FRONTDESK_JOBS_INTERVAL_SECONDS": "0",
                                         "FRONTDESK_LOG_LEVEL": "INFO"})
    live_idp = DemoIdP.for_frontdesk(idp.workdir, IDP_A_URL, server.url)
    metrics_token = make_token(db, "prometheus", ("metrics",))

    def acs(saml_response: str) -> httpx.Response:
        return httpx.post(f"{server.url}/saml/acs", data={"SAMLResponse": saml_response},
                          headers={"Connection": "close"}, timeout=30)

    first = acs(live_idp.response(ADA, okta_attributes(ADA)))
    again = acs(live_idp.response(ADA, okta_attributes(ADA)))
    unsigned = acs(encode_response(attacks.strip_signatures(
        live_idp.response_xml(ADA, okta_attributes(ADA)))))
    assert [r.status_code for r in (first, again, unsigned)] == [303, 303, 400]

    scrape = httpx.get(f"{server.url}/metrics", timeout=30,
                       headers={"Authorization": f"Bearer {metrics_token}"})
    samples = parse(scrape.text)
    assert value(samples, LOGINS, outcome="allowed", reason="created") == 1
    assert value(samples, LOGINS, outcome="allowed", reason="existing") == 1
    assert value(samples, LOGINS, outcome="denied", reason="signature") == 1
    assert sum(v for (name, _), v in samples.items() if name == LOGINS) == 3

    lines = json_lines(server.stop_and_read_stderr())
    refused_id = unsigned.headers["X-Request-Id"]
    pysaml2 = [line for line in lines if line["logger"].startswith("saml2")]
    assert pysaml2, "pysaml2 wrote no record"
    assert {line["request_id"] for line in pysaml2} == {refused_id}
    assert any(line["logger"] == "frontdesk.saml" and line["msg"] == "login denied"
               and line["request_id"] == refused_id for line in lines)
