"""Typed settings, read once: defaults < a TOML file < ``FRONTDESK_*`` environment variables.

This package imports nothing from the project. Every environment variable the service reads is
read here (gunicorn's too: ``config/gunicorn_conf.py`` calls ``load``), so ``Settings`` is the
whole list of knobs.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from dataclasses import replace
from pathlib import Path
from typing import Any

PREFIX = "FRONTDESK_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told, with working defaults for a laptop."""

    instance_path: str = "instance"
    database_url: str = ""  # empty: SQLite file in the instance folder
    # gunicorn (config/gunicorn_conf.py reads these through load())
    bind: str = "127.0.0.1:8000"
    workers: int = 0  # 0: min(4, 2 x CPU cores)
    threads: int = 1
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""  # empty: generated once into the instance folder
    log_level: str = "INFO"
    # SCIM
    scim_max_page_size: int = 1000
    scim_default_page_size: int = 100
    scim_max_body_bytes: int = 1_048_576
    scim_max_patch_operations: int = 1000
    # SAML (per-IdP overrides live in the TOML file under [saml.idp."<entity id>"])
    saml_idp_metadata: tuple[str, ...] = ()
    saml_allow_idp_initiated: bool = True
    saml_clock_skew_seconds: int = 60
    saml_max_body_bytes: int = 131_072
    saml_request_ttl_seconds: int = 600
    saml_sign_requests: bool = False
    saml_create_users: bool = True
    saml_groups_mode: str = "sync"  # off | add | sync
    saml_create_unknown_groups: bool = False
    saml_default_groups: tuple[str, ...] = ()
    saml_attribute_map: str = "default"  # default | okta | entra | ldap
    saml_allowed_redirect_hosts: tuple[str, ...] = ()
    admin_groups: tuple[str, ...] = ()
    # SIEM sink: every committed audit event is also appended here as one JSON line.
    audit_log_file: str = ""
    # Seconds between two runs of the time-driven work in each server worker (access sweeps,
    # webhook deliveries); 0 turns it off (then run `frontdesk access sweep` from cron).
    jobs_interval_seconds: int = 5
    # Throttling of failed authentication (bad bearer tokens, bad console login links), per
    # source address and shared through the database: at most this many failures per window,
    # then 429 until the window ends. 0 failures turns it off.
    auth_failure_limit: int = 20
    auth_failure_window_seconds: int = 60
    # Extra, free-form sections from the TOML file (per-IdP SAML settings, attribute maps).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to a SQLite file in the instance folder."""
        if self.database_url:
            return self.database_url
        path = Path(self.instance_path).resolve() / "frontdesk.db"
        return f"sqlite:///{path}"


def _coerce(name: str, raw: Any, current: Any) -> Any:
    """Convert a raw (string or TOML) value to the type of the default it replaces."""
    try:
        if isinstance(current, bool):
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, tuple):
            if isinstance(raw, list | tuple):
                return tuple(str(v) for v in raw)
            return tuple(part.strip() for part in str(raw).split(",") if part.strip())
        return str(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name.upper()}: cannot read {raw!r}") from None


def load(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from the TOML file, the environment and explicit overrides.

    The TOML file is ``$FRONTDESK_CONFIG`` when set, else ``config/frontdesk.toml`` when present.
    """
    env = os.environ if environ is None else environ
    settings = Settings()
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    toml_path = env.get(f"{PREFIX}CONFIG") or str(Path(__file__).with_name("frontdesk.toml"))
    if Path(toml_path).is_file():
        with open(toml_path, "rb") as fh:
            data = tomllib.load(fh)
        for key, value in data.items():
            if key in {f.name for f in fields(Settings)} and key != "extra":
                values[key] = _coerce(key, value, getattr(settings, key))
            else:
                extra[key] = value
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = env.get(PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _coerce(f.name, raw, getattr(settings, f.name))
    values.update(overrides)
    settings = replace(settings, extra=extra, **values)
    if not settings.base_url.startswith(("http://", "https://")):
        raise SettingsError(f"{PREFIX}BASE_URL must start with http:// or https://")
    return settings


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key: the given one, or one generated once on disk.

    Workers starting at once agree on one key: each that finds no file publishes its own with
    ``publish_new_file``, which only the first succeeds at, and all then read the file, which
    is never seen empty or half-written.
    """
    if settings.secret_key:
        return settings
    folder = Path(settings.instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "secret_key"
    if not key_file.exists():
        publish_new_file(key_file, secrets.token_urlsafe(48))
    key = key_file.read_text().strip()
    if not key:
        raise SettingsError(f"{key_file} is empty; delete it or set {PREFIX}SECRET_KEY")
    return replace(settings, secret_key=key)


def publish_new_file(path: Path, text: str) -> bool:
    """Create ``path`` (mode 0600) holding ``text`` unless it exists; return whether we did.

    The text is written to a temporary file in the same folder and flushed to disk, then
    hard-linked to ``path``: the link appears with its whole content or not at all, and fails
    when ``path`` exists, so of concurrent callers exactly one wins and the others keep its file.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:  # mkstemp creates it 0600
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        _fsync_folder(path.parent)
        return True
    finally:
        os.unlink(temporary)


def _fsync_folder(folder: Path) -> None:
    """Make a new name in ``folder`` survive a crash (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
