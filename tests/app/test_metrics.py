"""``/metrics`` through its door: who may scrape it, and what the counts say (in-process app;
the multiprocess sums under gunicorn are in ``test_metrics_live.py``).

The in-process counters belong to the test process and grow across tests, so these tests
compare two scrapes: exactly what happened between them must show.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient

from app.cli.main import main as cli
from app.db import Database
from app.tokens import verify_token
from app.web.metrics import exposition
from tests.helpers.audit import events
from tests.helpers.clients import ScimClient
from tests.helpers.factories import create_user
from tests.helpers.factories import make_token
from tests.helpers.metrics import Samples
from tests.helpers.metrics import parse
from tests.helpers.metrics import value

REQUESTS = "frontdesk_http_requests_total"


def scrape(client: FlaskClient, token: str) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.get_data(as_text=True))


def test_metrics_needs_a_token_with_the_metrics_scope(client: FlaskClient, db: Database,
                                                      token: str) -> None:
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.get_json() == {
        "status": 401, "error": "unauthorized",
        "detail": "authentication required: send Authorization: Bearer <token>"}
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="frontdesk"'

    wrong = client.get("/metrics", headers={"Authorization": "Bearer fd_000000000000_" + "x" * 40})
    assert (wrong.status_code, wrong.get_json()["error"]) == (401, "unauthorized")

    scim_only = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert scim_only.status_code == 403
    assert scim_only.get_json() == {"status": 403, "error": "forbidden",
                                    "detail": "the token lacks the 'metrics' scope"}
    for refused in (anonymous, wrong, scim_only):
        assert b"frontdesk_http_requests_total" not in refused.get_data()

    metrics_token = make_token(db, "prometheus", ("metrics",))
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert allowed.status_code == 200
    assert allowed.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE frontdesk_http_requests_total counter" in allowed.get_data()
    # A scraper that asks for OpenMetrics gets it.
    openmetrics = client.get("/metrics", headers={
        "Authorization": f"Bearer {metrics_token}",
        "Accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.status_code == 200
    assert openmetrics.headers["Content-Type"].startswith(
        "application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert openmetrics.get_data(as_text=True).endswith("# EOF\n")


def test_the_cli_creates_a_metrics_token(runner: CliRunner, db: Database,
                                         client: FlaskClient) -> None:
    result = runner.invoke(cli, ["tokens", "create", "prometheus", "--scope", "metrics"])
    assert result.exit_code == 0, result.output
    plaintext = result.output.strip().splitlines()[-1]
    info = verify_token(db, plaintext)
    assert info is not None and info.scopes == frozenset({"metrics"})
    assert client.get("/metrics", headers={"Authorization": f"Bearer {plaintext}"}
                      ).status_code == 200


def test_requests_are_counted_by_route_template_not_path(client: FlaskClient, db: Database,
                                                         scim: ScimClient) -> None:
    metrics_token = make_token(db, "prometheus", ("metrics",))
    before = scrape(client, metrics_token)
    ids = [create_user(scim, f"{name}@example.com") for name in ("Äda", "Strauß", "bob")]
    for user_id in ids:
        assert scim.get(f"/Users/{user_id}").status_code == 200
    assert scim.get("/Users/no-such-id").status_code == 404
    assert client.get("/no/such/page/1").status_code == 404
    assert client.get("/no/such/page/2").status_code == 404
    assert client.open("/healthz", method="BREW").status_code == 405
    after = scrape(client, metrics_token)

    def delta(**labels: str) -> float:
        return value(after, REQUESTS, **labels) - value(before, REQUESTS, **labels)

    user_route = "/scim/v2/Users/<user_id>"
    assert delta(route=user_route, method="GET", status="200") == 3
    assert delta(route=user_route, method="GET", status="404") == 1
    assert delta(route="/scim/v2/Users", method="POST", status="201") == 3
    assert delta(route="<unmatched>", method="GET", status="404") == 2
    # No rule matched the method either: unmatched, and an unknown method is OTHER.
    assert delta(route="<unmatched>", method="OTHER", status="405") == 1
    # the scrape before this one was counted once it had answered
    assert delta(route="/metrics", method="GET", status="200") == 1
    # No raw path ever becomes a label.
    routes = {dict(labels).get("route") for (_, labels) in after}
    assert not any(route and ("no/such" in route or ids[0] in route) for route in routes)
    latency = "frontdesk_http_request_duration_seconds_count"
    assert value(after, latency, route=user_route, method="GET") \
        - value(before, latency, route=user_route, method="GET") == 4


def test_scim_operations_auth_failures_and_audit_head(client: FlaskClient, db: Database,
                                                      scim: ScimClient) -> None:
    metrics_token = make_token(db, "prometheus", ("metrics",))
    before = scrape(client, metrics_token)
    user_id = create_user(scim, "Äda@example.com")
    assert scim.get(f"/Users/{user_id}").status_code == 200
    assert scim.get("/Users", query_string={"filter": 'userName eq "äda@example.com"'}
                    ).get_json()["totalResults"] == 1
    assert scim.patch(f"/Users/{user_id}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}]}).status_code == 200
    group = scim.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                  "displayName": "Strauß"})
    assert group.status_code == 201
    assert scim.delete(f"/Groups/{group.get_json()['id']}").status_code == 204
    assert scim.delete(f"/Users/{user_id}").status_code == 204
    assert scim.get("/ServiceProviderConfig").status_code == 200  # discovery: not counted
    assert client.get("/scim/v2/Users", headers={"Authorization": "Bearer nope"}
                      ).status_code == 401
    assert client.get("/scim/v2/Users", headers={"Authorization": "Basic dTpw"}
                      ).status_code == 401
    assert client.get("/scim/v2/Users").status_code == 401  # no credentials: not a failure
    after = scrape(client, metrics_token)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ops = "frontdesk_scim_operations_total"
    assert delta(ops, resource="users", operation="create", status="201") == 1
    assert delta(ops, resource="users", operation="get", status="200") == 1
    assert delta(ops, resource="users", operation="list", status="200") == 1
    assert delta(ops, resource="users", operation="list", status="401") == 3
    assert delta(ops, resource="users", operation="patch", status="200") == 1
    assert delta(ops, resource="users", operation="delete", status="204") == 1
    assert delta(ops, resource="groups", operation="create", status="201") == 1
    assert delta(ops, resource="groups", operation="delete", status="204") == 1
    assert sum(v for (name, _), v in after.items() if name == ops) \
        - sum(v for (name, _), v in before.items() if name == ops) == 10
    failures = "frontdesk_auth_failures_total"
    assert delta(failures, reason="invalid") == 1
    assert delta(failures, reason="malformed") == 1
    # The audit chain's head, read from the database at scrape time.
    assert value(after, "frontdesk_audit_head_seq") == max(e.seq for e in events(db))
    assert value(after, "frontdesk_audit_head_seq") > value(before, "frontdesk_audit_head_seq")


def test_a_scrape_without_the_database_leaves_the_audit_gauge_out(tmp_path: Path,
                                                                  db: Database) -> None:
    reachable = parse(exposition(db, None)[0].decode())  # the positive control
    assert any(name == "frontdesk_audit_head_seq" for name, _ in reachable)
    unreachable = Database(f"sqlite:///{tmp_path}/no/such/folder/frontdesk.db")
    try:
        body, content_type = exposition(unreachable, None)
    finally:
        unreachable.dispose()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert not any(name == "frontdesk_audit_head_seq" for name, _ in parse(body.decode()))
    assert b"# TYPE frontdesk_http_requests_total counter" in body  # the counts still answer
