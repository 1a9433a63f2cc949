"""Typed settings, read once: defaults < a TOML file < ``FRONTDESK_*`` environment variables.

This package imports nothing from the project. Every environment variable the service reads is
read here (gunicorn's too: ``config/gunicorn_conf.py`` calls ``load``), so ``Settings`` is the
whole list of knobs.
"""

from __future__ import annotations

import difflib
import os
import secrets
import tempfile
import tomllib
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from dataclasses import replace
from pathlib import Path
from typing import Any

from config.proxies import ProxySettingError
from config.proxies import ProxyTrust
from config.proxies import parse_trusted_proxies

PREFIX = "FRONTDESK_"
# Sections of the TOML file that their owners read from ``Settings.extra`` (and validate).
TOML_SECTIONS = ("saml", "access", "webhooks", "lifecycle")
# FRONTDESK_* variables that are not settings: the file's name, and the test and benchmark
# tools' own knobs (read by tests/, never by the service).
OTHER_VARIABLES = (f"{PREFIX}CONFIG", f"{PREFIX}SCREENSHOT")
TOOL_PREFIXES = (f"{PREFIX}TEST_", f"{PREFIX}BENCH_")
DATABASE_SCHEMES = ("sqlite", "postgresql")


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
    threads: int = 4  # threads per worker running the Flask app (app/web/serving.py)
    # Seconds a client has to send a whole request (headers and body) before it gets a 408
    # and its connection is closed: slow clients cannot hold the server (app/web/serving.py).
    client_timeout_seconds: int = 10
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
    # Signed checkpoints of the audit chain (app/audit/checkpoint.py): the Ed25519 key's file
    # ("": audit-signing.key in the instance folder), the JSON-lines file they are appended to
    # ("": audit-checkpoints.jsonl there; the SIEM sink gets a copy too), and how often the
    # server signs one (seconds; 0: only `frontdesk audit checkpoint`).
    audit_signing_key: str = ""
    audit_checkpoint_file: str = ""
    audit_checkpoint_seconds: int = 60
    # Seconds between two runs of the time-driven work in each server worker (access sweeps,
    # webhook deliveries); 0 turns it off (then run `frontdesk access sweep` from cron).
    jobs_interval_seconds: int = 5
    # Proxies whose X-Forwarded-For/-Proto/-Host are believed: a hop count ("1") or networks
    # ("10.0.0.0/8,127.0.0.1"); empty: none (config/proxies.py).
    trusted_proxies: tuple[str, ...] = ()
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

    @property
    def proxy_trust(self) -> ProxyTrust:
        """Return ``trusted_proxies`` parsed (``load`` has checked it)."""
        return parse_trusted_proxies(self.trusted_proxies)


def _coerce(name: str, raw: Any, current: Any) -> Any:
    """Convert a raw (string or TOML) value to the type of the default it replaces."""
    expected = "text"
    try:
        if isinstance(current, bool):
            expected = "true or false"
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(current, int):
            expected = "a whole number"
            if isinstance(raw, bool | float):
                raise ValueError(raw)
            return int(raw)
        if isinstance(current, tuple):
            if isinstance(raw, list | tuple):
                return tuple(str(v) for v in raw)
            return tuple(part.strip() for part in str(raw).split(",") if part.strip())
        return str(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name.upper()}: cannot read {raw!r}; "
                            f"expected {expected}") from None


def load(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from the TOML file, the environment and explicit overrides.

    The TOML file is ``$FRONTDESK_CONFIG`` when set (it must exist), else
    ``config/frontdesk.toml`` when present. Every mistake raises ``SettingsError`` naming the
    variable, key or file line at fault: an unknown ``FRONTDESK_*`` variable or TOML key too,
    since an operator's typo silently ignored would leave a setting at its default.
    """
    env = os.environ if environ is None else environ
    settings = Settings()
    names = [f.name for f in fields(Settings) if f.name != "extra"]
    _check_variable_names(env, names)
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in _read_toml(env).items():
        if key in names:
            values[key] = _coerce(key, value, getattr(settings, key))
        elif key in TOML_SECTIONS:
            extra[key] = value
        else:
            close = _closest(key, [*names, *TOML_SECTIONS])
            hint = f" (did you mean {close}?)" if close else ""
            raise SettingsError(f"{_toml_path(env)}: unknown key {key!r}{hint}; "
                                f"rename or remove it")
    for name in names:
        raw = env.get(PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw, getattr(settings, name))
    values.update(overrides)
    settings = replace(settings, extra=extra, **values)
    _validate(settings)
    return settings


def _toml_path(env: Mapping[str, str]) -> str:
    return env.get(f"{PREFIX}CONFIG") or str(Path(__file__).with_name("frontdesk.toml"))


def _read_toml(env: Mapping[str, str]) -> dict[str, Any]:
    """Return the TOML file's table; ``{}`` when no file is named and the default is absent."""
    path = _toml_path(env)
    named = bool(env.get(f"{PREFIX}CONFIG"))
    if not named and not Path(path).is_file():
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"{PREFIX}CONFIG: no file {path}; create it or unset "
                            f"{PREFIX}CONFIG") from None
    except OSError as err:
        raise SettingsError(f"{PREFIX}CONFIG: cannot read {path} ({err.strerror}); "
                            f"make it readable by this user") from None
    except tomllib.TOMLDecodeError as err:  # the message ends "(at line 3, column 7)"
        raise SettingsError(f"{path}: not valid TOML: {err}; fix the syntax there") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not valid TOML: not UTF-8 text") from None


def _check_variable_names(env: Mapping[str, str], names: Iterable[str]) -> None:
    """Refuse an unknown ``FRONTDESK_*`` variable, naming the closest known one."""
    known = [PREFIX + name.upper() for name in names]
    for variable in sorted(env):
        if (not variable.startswith(PREFIX) or variable in known
                or variable in OTHER_VARIABLES or variable.startswith(TOOL_PREFIXES)):
            continue
        # Compared without the shared prefix, which would make every name look alike.
        close = _closest(variable.removeprefix(PREFIX),
                         [v.removeprefix(PREFIX) for v in (*known, *OTHER_VARIABLES)])
        hint = f" (did you mean {PREFIX}{close}?)" if close else ""
        raise SettingsError(f"{variable} is not a Frontdesk setting{hint}; rename or unset it "
                            f"(the README lists the settings)")


def _closest(name: str, known: list[str]) -> str | None:
    """The known name ``name`` is most likely a typo of, if any is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def _validate(settings: Settings) -> None:
    """Check what a wrong value would otherwise break later, far from its cause."""
    if not settings.base_url.startswith(("http://", "https://")):
        raise SettingsError(f"{PREFIX}BASE_URL must start with http:// or https://")
    for name in ("threads", "client_timeout_seconds"):
        if getattr(settings, name) < 1:
            raise SettingsError(f"{PREFIX}{name.upper()} must be at least 1")
    url = settings.database_url
    if url:
        scheme = url.partition(":")[0].partition("+")[0].lower()
        if scheme not in DATABASE_SCHEMES or "://" not in url:
            hint = " (did you mean postgresql://?)" if scheme == "postgres" else ""
            raise SettingsError(
                f"{PREFIX}DATABASE_URL: {scheme or url!r} databases are not supported{hint}; "
                f"use postgresql://user@host/name or sqlite:///path (or unset it for SQLite "
                f"in the instance folder)")
    for path in settings.saml_idp_metadata:
        if not Path(path).is_file():
            raise SettingsError(f"{PREFIX}SAML_IDP_METADATA: no file {path}; download the "
                                f"IdP's metadata XML there or fix the path")
    try:
        parse_trusted_proxies(settings.trusted_proxies)
    except ProxySettingError as err:
        raise SettingsError(f"{PREFIX}TRUSTED_PROXIES: {err}") from None


def debug_requested(argv_flag: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """Return whether a failure may show its traceback: ``--debug`` or
    ``FRONTDESK_LOG_LEVEL=debug`` (read raw: the settings may be what failed)."""
    env = os.environ if environ is None else environ
    return argv_flag or env.get(f"{PREFIX}LOG_LEVEL", "").strip().lower() == "debug"


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key: the given one, or one generated once on disk.

    Workers starting at once agree on one key: each that finds no file publishes its own with
    ``publish_new_file``, which only the first succeeds at, and all then read the file, which
    is never seen empty or half-written.
    """
    if settings.secret_key:
        return settings
    folder = Path(settings.instance_path)
    key_file = folder / "secret_key"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not key_file.exists():
            publish_new_file(key_file, secrets.token_urlsafe(48))
        key = key_file.read_text().strip()
    except OSError as err:
        raise SettingsError(
            f"{PREFIX}INSTANCE_PATH: cannot write {folder.resolve()} ({err.strerror}); make it "
            f"writable by this user or point {PREFIX}INSTANCE_PATH elsewhere") from None
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
