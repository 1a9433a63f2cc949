"""Time-driven access work (expiry, scheduled starts, ends), webhooks through a real receiver,
races between approvers and between sweepers, and deactivation ending grants."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask

from app import services
from app.access import service
from app.access.errors import AccessError
from app.access.principal import Principal
from app.access.sweep import sweep
from app.audit.events import Actor
from app.clock import FrozenClock
from app.db import Database
from app.jobs import run_due
from app.outbox import deliver_due
from app.uow import UnitOfWork
from app.web.context import get_access_config
from tests.access.conftest import WEBHOOK_SECRET
from tests.access.conftest import Cast
from tests.helpers.access import chain_ok
from tests.helpers.access import events
from tests.helpers.access import make_group
from tests.helpers.access import make_user
from tests.helpers.access import outbox_topics
from tests.helpers.webhooks import Receiver

ASK = service.Ask(group="prod-db-readers", duration=timedelta(hours=1), reason="incident",
                  ticket="INC-1")


def person(user_id: str, name: str) -> Principal:
    return Principal(Actor("user", user_id, name), "session", user_id, name)


def ask(app: Flask, db: Database, who: Principal, what: service.Ask = ASK) -> str:
    with UnitOfWork(db) as uow:
        request, _ = service.request_access(uow, get_access_config(app), who, what)
    return request.id


def approve(app: Flask, db: Database, who: Principal, request_id: str) -> None:
    with UnitOfWork(db) as uow:
        service.approve(uow, get_access_config(app), who, request_id, "ok")


def test_a_pending_request_expires_once_at_its_deadline(app: Flask, db: Database, cast: Cast,
                                                       clock: FrozenClock) -> None:
    ada, bob = person(cast.ada, "äda"), person(cast.bob, "bob")
    request_id = ask(app, db, ada)
    clock.advance(timedelta(minutes=59))
    assert sweep(db).expired == 0
    clock.advance(timedelta(minutes=1))  # pending_ttl = 1h
    with pytest.raises(AccessError) as late:  # the deadline holds before any sweep too
        approve(app, db, bob, request_id)
    assert late.value.code == "not_pending"
    assert sweep(db).expired == 1
    assert sweep(db).expired == 0
    assert [e.action for e in events(db, "access:request:expire")] == ["access:request:expire"]
    with db.read_session() as session:
        from app.models import AccessRequest

        row = session.get(AccessRequest, request_id)
        assert row is not None and row.state == "expired"  # kept, not deleted


def test_a_window_starts_later_and_the_sweeper_announces_start_and_end(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock) -> None:
    dee = person(cast.dee, "dee")  # auto-approved
    start = clock.now() + timedelta(hours=3)
    ask(app, db, dee, service.Ask(group="prod-db-readers", duration=timedelta(hours=1),
                                  starts_at=start, reason="maintenance", ticket="INC-2"))
    assert outbox_topics(db)[-2:] == ["access.grant.scheduled", "access.request.approved"]
    clock.set(start)
    assert (sweep(db).started, sweep(db).started) == (1, 0)
    clock.advance(timedelta(minutes=50))
    assert sweep(db).ending_soon == 1
    clock.advance(timedelta(minutes=10))
    result = sweep(db)
    assert (result.ended, sweep(db).ended) == (1, 0)
    assert [e.action for e in events(db, "access:grant")] == [
        "access:grant:create", "access:grant:start", "access:grant:end"]
    assert outbox_topics(db)[-3:] == ["access.grant.started", "access.grant.ending_soon",
                                      "access.grant.ended"]
    assert chain_ok(db)


def test_a_failing_receiver_gets_every_notification_exactly_once(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock, receiver: Receiver) -> None:
    dee = person(cast.dee, "dee")
    ask(app, db, dee)  # auto-approved: two notifications
    assert outbox_topics(db) == ["access.grant.started", "access.request.approved"]
    assert deliver_due(db) == 0  # the receiver fails both first tries
    assert receiver.refused == 2
    assert deliver_due(db) == 0  # a retry waits 10 s: nothing is due until the clock moves
    clock.advance(timedelta(seconds=10))
    assert deliver_due(db) == 2
    clock.advance(timedelta(hours=1))
    assert deliver_due(db) == 0  # delivered rows are never sent again
    ids = [d.headers["X-Frontdesk-Delivery"] for d in receiver.accepted]
    assert len(ids) == len(set(ids)) == 2
    assert [d.json["topic"] for d in receiver.accepted] == [
        "access.grant.started", "access.request.approved"]
    assert receiver.accepted[0].json["data"]["user"] == "dee@example.com"
    assert all(d.signed_by(WEBHOOK_SECRET) for d in receiver.accepted)
    assert not receiver.accepted[0].signed_by("another-secret-0123456789")


def test_fifty_parallel_approvals_make_exactly_one_grant(app: Flask, db: Database, cast: Cast,
                                                         clock: FrozenClock) -> None:
    approvers = [make_user(db, f"lead-{n}@example.com") for n in range(50)]
    with UnitOfWork(db) as uow:
        group = uow.groups.find_by_display_name("sre-leads")
        assert group is not None
        services.update_group(uow, group.id, None, [services.MemberDelta("add", tuple(approvers))],
                              actor=Actor("test"))
    request_id = ask(app, db, person(cast.ada, "äda"))
    outcomes: list[str] = []

    def run(user_id: str) -> None:
        try:
            approve(app, db, person(user_id, user_id), request_id)
            outcomes.append("approved")
        except AccessError as err:
            outcomes.append(err.code)

    threads = [threading.Thread(target=run, args=(a,)) for a in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(outcomes)) == ["approved", "not_pending"]
    assert outcomes.count("approved") == 1
    assert len(events(db, "access:grant:create")) == 1
    assert chain_ok(db)


def test_two_sweepers_at_once_record_each_end_once(app: Flask, db: Database, cast: Cast,
                                                   clock: FrozenClock) -> None:
    users = [make_user(db, f"oncall-{n}@example.com") for n in range(40)]
    make_group(db, "oncall-2", tuple(users))
    with UnitOfWork(db) as uow:
        group = uow.groups.find_by_display_name("engineering")
        assert group is not None
        add = [services.MemberDelta("add", tuple(users))]
        services.update_group(uow, group.id, None, add, actor=Actor("test"))
        oncall = uow.groups.find_by_display_name("oncall")
        assert oncall is not None
        services.update_group(uow, oncall.id, None, add, actor=Actor("test"))
    for user_id in users:
        ask(app, db, person(user_id, user_id))
    clock.advance(timedelta(hours=2))
    other = Database(db.url)  # a second instance on the same database
    other.clock, other.webhooks = clock, db.webhooks
    results = []
    threads = [threading.Thread(target=lambda d=d: results.append(sweep(d)))
               for d in (db, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert sum(r.ended for r in results) == 40
    assert len(events(db, "access:grant:end")) == 40
    assert outbox_topics(db).count("access.grant.ended") == 40
    assert chain_ok(db)


def test_deactivating_a_user_ends_their_grants_at_once(app: Flask, db: Database, cast: Cast,
                                                       clock: FrozenClock) -> None:
    ask(app, db, person(cast.dee, "dee"))
    with UnitOfWork(db) as uow:
        services.set_user_active(uow, cast.dee, False, actor=Actor("test"), reason="left")
    ended = events(db, "access:grant:end")
    assert [(e.reason, e.changes["state"]) for e in ended] == [
        ("user_deactivated", ["active", "ended"])]
    from app.access.queries import effective_memberships

    with db.read_session() as session:
        assert [m.source for m in effective_memberships(session, cast.dee, clock.now())] == [
            "scim", "scim"]
    assert run_due(db).ended == 0  # nothing left for the sweeper


def test_deleting_the_group_ends_its_grants(app: Flask, db: Database, cast: Cast,
                                            clock: FrozenClock) -> None:
    ask(app, db, person(cast.dee, "dee"))
    with UnitOfWork(db) as uow:
        services.delete_group(uow, cast.readers, actor=Actor("test"))
    assert [e.reason for e in events(db, "access:grant:end")] == ["group_deleted"]
    from app.models import Grant

    with db.read_session() as session:
        grant = session.query(Grant).one()
        assert (grant.group_id, grant.group_name, grant.state) == (
            None, "prod-db-readers", "ended")
