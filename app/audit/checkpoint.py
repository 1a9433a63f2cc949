"""Signed checkpoints: the audit chain anchored outside the database.

The hash chain catches an edited, removed or reordered event, but whoever can write to the
database can also recompute every later hash and the head. A checkpoint says "event #seq of the
chain has hash H", at a time, signed with an Ed25519 key that lives in a file (the instance
folder's ``audit-signing.key``, or the file ``FRONTDESK_AUDIT_SIGNING_KEY`` names) and never in
the database. Checkpoints are appended to a JSON-lines file outside the database (and to the SIEM
sink when there is one); ``verify_against`` holds the database to them, so a rewritten chain is
caught at the first checkpoint it contradicts, however consistent the rewrite.

Signed bytes: the checkpoint's fields without the signature, as JSON with sorted keys and no
spaces (``payload``); an auditor can check a line with any Ed25519 library and the public key
``frontdesk audit public-key`` prints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

import config
from app.audit.sink import append_lines
from app.db import Database
from app.models import AuditAnchor
from app.models import AuditCheckpoint
from app.models import AuditEvent
from app.models import AuditHead
from app.repository.common import chunked

CHECKPOINT_TYPE = "frontdesk.audit.checkpoint"
GENESIS_HASH = "0" * 64


class CheckpointError(ValueError):
    """A key or checkpoint file that cannot be used; the message names it."""


@dataclass(frozen=True)
class CheckpointSettings:
    """Where the key and the checkpoint copies live, and how often the schedule signs."""

    key_file: Path
    checkpoint_file: Path
    sink_file: str  # "" = no SIEM sink
    every_seconds: int  # 0 = only by hand (``frontdesk audit checkpoint``)

    @classmethod
    def from_settings(cls, settings: config.Settings) -> CheckpointSettings:
        instance = Path(settings.instance_path)
        return cls(
            key_file=Path(settings.audit_signing_key or instance / "audit-signing.key"),
            checkpoint_file=Path(settings.audit_checkpoint_file
                                 or instance / "audit-checkpoints.jsonl"),
            sink_file=settings.audit_log_file,
            every_seconds=settings.audit_checkpoint_seconds,
        )


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the Ed25519 key at ``path``, creating it (mode 0600) on first use; workers starting
    at once agree on one key (``config.publish_new_file``)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        config.publish_new_file(path, pem.decode("ascii"))
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: not a readable, unencrypted PEM private key ({err})"
                              ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path}: the audit signing key must be an Ed25519 key")
    return key


def public_key_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as err:
        raise CheckpointError(f"not a PEM public key ({err})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError("the verifying key must be an Ed25519 public key")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of SHA-256 over the raw public key: which key signed a line."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head: str
    time: datetime
    key_id: str
    signature: str = ""

    def payload(self) -> bytes:
        """The bytes the signature covers."""
        return json.dumps({"type": CHECKPOINT_TYPE, "seq": self.seq, "head": self.head,
                           "time": _iso(self.time), "key_id": self.key_id},
                          sort_keys=True, separators=(",", ":")).encode()

    def to_dict(self) -> dict[str, Any]:
        return {"type": CHECKPOINT_TYPE, "seq": self.seq, "head": self.head,
                "time": _iso(self.time), "key_id": self.key_id, "signature": self.signature}

    def line(self) -> str:
        return json.dumps(self.to_dict())

    def label(self) -> str:
        return f"checkpoint #{self.seq} of {_iso(self.time)}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        try:
            seq, head, signature = data["seq"], data["head"], data["signature"]
            if not (isinstance(seq, int) and seq >= 0 and isinstance(head, str)
                    and isinstance(signature, str) and isinstance(data["key_id"], str)):
                raise TypeError
            return cls(seq, head, datetime.fromisoformat(data["time"]), data["key_id"],
                       signature)
        except (KeyError, TypeError, ValueError):
            raise CheckpointError("a checkpoint line lacks seq, head, time, key_id or "
                                  "signature") from None


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def sign(key: Ed25519PrivateKey, seq: int, head: str, moment: datetime) -> Checkpoint:
    unsigned = Checkpoint(seq, head, moment, key_id(key.public_key()))
    signature = base64.b64encode(key.sign(unsigned.payload())).decode("ascii")
    return Checkpoint(seq, head, moment, unsigned.key_id, signature)


def signature_holds(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature, validate=True),
                          checkpoint.payload())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def take(db: Database, cfg: CheckpointSettings, *, scheduled: bool) -> Checkpoint | None:
    """Sign the chain's head now, record it and append it to the checkpoint file and the sink.

    A scheduled checkpoint claims its period (``now // every_seconds``) with an insert that
    only one worker or instance wins; the others return None. By hand, always one.
    """
    now = db.clock.now()
    period = int(now.timestamp()) // cfg.every_seconds if scheduled else None
    if period is not None:
        with db.read_session() as session:  # a read first: most ticks find the period taken
            if session.execute(select(AuditCheckpoint.id)
                               .where(AuditCheckpoint.period == period)).first():
                return None
    key = load_signing_key(cfg.key_file)
    with db.write_session() as session, session.begin():
        head = session.execute(select(AuditHead.seq, AuditHead.hash)
                               .where(AuditHead.id == 1)).one()
        checkpoint = sign(key, head.seq, head.hash, now)
        row = {"period": period, "seq": checkpoint.seq, "head": checkpoint.head,
               "signed_at": now, "key_id": checkpoint.key_id,
               "signature": checkpoint.signature}
        insert_fn = pg_insert if db.dialect == "postgresql" else sqlite_insert
        won = session.execute(
            insert_fn(AuditCheckpoint).values(**row).on_conflict_do_nothing()
            .returning(AuditCheckpoint.id)
        ).scalar_one_or_none()
        if won is None:
            return None
    for path in (str(cfg.checkpoint_file), cfg.sink_file):
        if path:
            append_lines(path, [checkpoint.line()], what="checkpoint")
    return checkpoint


def take_if_due(db: Database, cfg: CheckpointSettings | None) -> int:
    """The time-driven part: one checkpoint per period across all workers; 1 if this one
    signed it."""
    if cfg is None or cfg.every_seconds <= 0:
        return 0
    return 1 if take(db, cfg, scheduled=True) is not None else 0


def read_checkpoints(lines: Iterable[str], source: str) -> list[Checkpoint]:
    """The checkpoints among JSON lines (a sink file also holds events: those are skipped)."""
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            raise CheckpointError(f"{source}:{number}: not a JSON line") from None
        if isinstance(data, dict) and data.get("type") == CHECKPOINT_TYPE:
            try:
                found.append(Checkpoint.from_dict(data))
            except CheckpointError as err:
                raise CheckpointError(f"{source}:{number}: {err}") from None
    return found


@dataclass(frozen=True)
class CheckpointReport:
    ok: bool
    checked: int  # checkpoints the database was held to
    pruned: int  # checkpoints older than the chain's start after a prune (nothing to compare)
    problem: str | None = None


def verify_against(session: Session, checkpoints: list[Checkpoint],
                   public_key: Ed25519PublicKey) -> CheckpointReport:
    """Hold the database's chain to signed checkpoints; report the first one it contradicts.

    Run after ``verify_chain`` (which finds edits that were not re-hashed) in the same snapshot.
    """
    expected_key = key_id(public_key)
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    anchor = session.execute(select(AuditAnchor.seq, AuditAnchor.hash)
                             .where(AuditAnchor.id == 1)).one()
    ordered = sorted(checkpoints, key=lambda c: (c.seq, c.time))
    wanted = sorted({c.seq for c in ordered if anchor.seq < c.seq <= head.seq})
    hashes: dict[int, str] = {}
    for part in chunked(wanted):  # a year of minutely checkpoints is half a million lines
        hashes.update((seq, digest) for seq, digest in session.execute(
            select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seq.in_(part))))
    checked = pruned = 0
    for checkpoint in ordered:
        if checkpoint.key_id != expected_key or not signature_holds(checkpoint, public_key):
            return CheckpointReport(False, checked, pruned,
                                    f"{checkpoint.label()}: its signature does not match the "
                                    f"verifying key {expected_key}")
        if checkpoint.seq > head.seq:
            return CheckpointReport(False, checked, pruned,
                                    f"{checkpoint.label()}: the chain reached #{checkpoint.seq}"
                                    f" then, and now ends at #{head.seq}: events were removed")
        if checkpoint.seq < anchor.seq:
            pruned += 1
            continue
        if checkpoint.seq == anchor.seq:
            actual = anchor.hash if anchor.seq else GENESIS_HASH
        else:
            actual = hashes.get(checkpoint.seq, "")
        if actual != checkpoint.head:
            return CheckpointReport(False, checked, pruned,
                                    f"{checkpoint.label()}: event #{checkpoint.seq} no longer has"
                                    f" the hash it signed: the chain was rewritten")
        checked += 1
    return CheckpointReport(True, checked, pruned)
