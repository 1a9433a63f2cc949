"""``frontdesk audit``: tail, export, prune and verify the audit log; sign checkpoints."""

from __future__ import annotations

import csv
import json
import sys
import time
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit.chain import verify_chain
from app.audit.checkpoint import Checkpoint
from app.audit.checkpoint import CheckpointError
from app.audit.checkpoint import load_public_key
from app.audit.checkpoint import load_signing_key
from app.audit.checkpoint import public_key_pem
from app.audit.checkpoint import read_checkpoints
from app.audit.checkpoint import take
from app.audit.checkpoint import verify_against
from app.audit.prune import prune_before
from app.audit.query import CSV_FIELDS
from app.audit.query import AuditFilter
from app.audit.query import csv_row
from app.audit.query import event_to_dict
from app.audit.query import filter_from_args
from app.audit.query import list_events
from app.audit.query import parse_time
from app.audit.query import stream_events
from app.cli.common import cli_actor
from app.cli.common import echo
from app.cli.common import fail
from app.cli.common import open_database
from app.errors import DomainError
from app.uow import UnitOfWork


@click.group()
def audit() -> None:
    """The audit log."""


def _line(row: Any) -> str:
    target = row.target_label or row.target_id or ""
    reason = f" ({row.reason})" if row.reason else ""
    kind = row.target_kind or ""
    return (f"{row.occurred_at:%Y-%m-%d %H:%M:%S} #{row.seq:<7} {row.action:24} "
            f"{row.outcome + reason:20} {row.actor_label or '':28} {kind}:{target}")


def _filter_options(func: Any) -> Any:
    for name, help_text in reversed((
        ("--action", "exact action, or a prefix ending in ':' (user:)"),
        ("--actor", "actor id, or KIND:ID"),
        ("--target", "target id or label (userName, displayName)"),
        ("--outcome", "success or denied"),
    )):
        func = click.option(name, default=None, help=help_text)(func)
    return func


def _build_filter(action: str | None, actor: str | None, target: str | None,
                  outcome: str | None, since: str | None = None) -> AuditFilter:
    args = {"action": action, "actor": actor, "target": target, "outcome": outcome,
            "since": since}
    try:
        return filter_from_args({k: v for k, v in args.items() if v})
    except DomainError as err:
        fail(err.detail)
        raise


@audit.command("tail")
@click.option("-n", "--lines", default=20, show_default=True, help="How many events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive.")
@_filter_options
def audit_tail(lines: int, as_json: bool, follow: bool, action: str | None, actor: str | None,
               target: str | None, outcome: str | None) -> None:
    """Print the newest events (oldest of them first); --follow waits for more."""
    filters = _build_filter(action, actor, target, outcome)

    def show(row: Any) -> None:
        echo(json.dumps(event_to_dict(row)) if as_json else _line(row))

    with open_database() as database:
        with database.read_session() as session:
            page = list_events(session, filters, limit=max(1, min(lines, 500)))
            rows = page.events[::-1]
            for row in rows:
                show(row)
            last = rows[-1].seq if rows else _latest_seq(session)
        while follow:
            time.sleep(1.0)
            with database.read_session() as session:
                for row in stream_events(session, filters, after_seq=last):
                    show(row)
                    last = row.seq


def _latest_seq(session: Any) -> int:
    page = list_events(session, AuditFilter(), limit=1)
    return page.events[0].seq if page.events else 0


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--since", default=None, help="Only events at or after this ISO 8601 time.")
@click.option("-o", "--output", type=click.File("w"), default="-", help="File (default stdout).")
@_filter_options
def audit_export(fmt: str, since: str | None, output: Any, action: str | None,
                 actor: str | None, target: str | None, outcome: str | None) -> None:
    """Stream events, oldest first, as JSON lines or CSV (constant memory)."""
    filters = _build_filter(action, actor, target, outcome, since)
    writer = csv.writer(output) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_FIELDS)
    count = 0
    started = time.monotonic()
    progress = sys.stderr.isatty()
    with open_database() as database, database.read_session() as session:
        for row in stream_events(session, filters):
            event = event_to_dict(row)
            if writer is not None:
                writer.writerow(csv_row(event))
            else:
                output.write(json.dumps(event) + "\n")
            count += 1
            if progress and count % 10000 == 0:
                rate = count / max(time.monotonic() - started, 1e-6)
                click.echo(f"\r{count:,} events ({rate:,.0f}/s)", err=True, nl=False)
    if progress:
        click.echo("", err=True)
    echo(f"exported {count:,} events", err=True)


@audit.command("prune")
@click.option("--before", required=True, help="Delete events that occurred before this date.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def audit_prune(before: str, yes: bool) -> None:
    """Delete old events; the chain is re-anchored and still verifies."""
    try:
        cutoff = parse_time("before", before)
    except DomainError as err:
        fail(err.detail)
        return
    assert cutoff is not None
    if not yes:
        click.confirm(f"Delete every audit event before {cutoff.isoformat()}?", abort=True)
    with open_database() as database, UnitOfWork(database) as uow:
        result = prune_before(uow, cutoff, actor=cli_actor())
    if not result.deleted:
        echo("nothing to prune")
        return
    echo(f"pruned {result.deleted:,} events (#{result.first_seq}-#{result.last_seq}); "
               f"the chain now starts after #{result.last_seq}")


@audit.command("verify")
@click.option("--checkpoints", "checkpoint_file", type=click.Path(dir_okay=False),
              default=None, help="A JSON-lines file of signed checkpoints (e.g. the sink file): "
                                 "the chain must still match every one.")
@click.option("--public-key", "public_key_file", type=click.Path(dir_okay=False),
              default=None, help="The verifying key (PEM); default: this instance's own.")
def audit_verify(checkpoint_file: str | None, public_key_file: str | None) -> None:
    """Check the hash chain, and hold it to signed checkpoints; exit 1 naming the first bad
    event or the first checkpoint the database contradicts."""
    try:
        checkpoints, public_key = _checkpoints_to_hold(checkpoint_file, public_key_file)
    except (OSError, CheckpointError) as err:
        fail(str(err))
    with open_database() as database, database.snapshot_session() as session:
        result = verify_chain(session)
        report = (verify_against(session, checkpoints, public_key)
                  if result.ok and public_key is not None else None)
    if not result.ok:
        echo(f"FAILED at event #{result.bad_seq}: {result.problem} "
             f"({result.checked} events verified before it)", err=True)
        sys.exit(1)
    if report is not None and not report.ok:
        echo(f"FAILED at {report.problem} ({report.checked} checkpoints held before it)",
             err=True)
        sys.exit(1)
    held = (f"; {report.checked} signed checkpoints match"
            + (f" ({report.pruned} older than the pruned start)" if report.pruned else "")
            if report is not None else "")
    echo(f"ok: {result.checked} events, chain intact{held}")


def _checkpoints_to_hold(checkpoint_file: str | None, public_key_file: str | None
                         ) -> tuple[list[Checkpoint], Ed25519PublicKey | None]:
    if checkpoint_file is None:
        return [], None
    with open(checkpoint_file, encoding="utf-8") as lines:
        checkpoints = read_checkpoints(lines, checkpoint_file)
    if not checkpoints:
        raise CheckpointError(f"{checkpoint_file}: holds no signed checkpoint")
    if public_key_file is not None:
        with open(public_key_file, "rb") as pem:
            return checkpoints, load_public_key(pem.read())
    return checkpoints, _own_key().public_key()


def _own_key() -> Ed25519PrivateKey:
    with open_database() as database:
        return load_signing_key(database.checkpoints.key_file)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain's head now; print the checkpoint as one JSON line (it is also appended to
    the checkpoint file and the SIEM sink)."""
    with open_database() as database:
        try:
            checkpoint = take(database, database.checkpoints, scheduled=False)
        except CheckpointError as err:
            fail(str(err))
    assert checkpoint is not None  # by hand, never claimed by another
    click.echo(checkpoint.line())


@audit.command("public-key")
def audit_public_key() -> None:
    """Print the key (PEM) that verifies this instance's checkpoints."""
    try:
        click.echo(public_key_pem(_own_key()), nl=False)
    except CheckpointError as err:
        fail(str(err))
