"""Apply and inspect Alembic migrations programmatically (no alembic.ini to keep in sync)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.db import Database
from app.db import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """Return an Alembic config pointing at our migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """Return the newest migration's revision."""
    head: str | None = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    return head


@dataclass(frozen=True)
class UpgradeResult:
    """What an upgrade did: the schema revision before (None: an empty database) and after."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def current_revision(url: str) -> str | None:
    """Return the schema revision of the database at ``url`` (None when it has none yet)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            revision: str | None = MigrationContext.configure(conn).get_current_revision()
            return revision
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> UpgradeResult:
    """Bring the database at ``url`` up to ``revision``; say from which revision to which."""
    before = current_revision(url)
    command.upgrade(alembic_config(url), revision)
    return UpgradeResult(before, current_revision(url))


def is_current(db: Database) -> bool:
    """Return whether the database is at the newest migration."""
    head = head_revision()
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current == head
