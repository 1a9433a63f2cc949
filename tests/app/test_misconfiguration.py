"""A misconfiguration ends ``frontdesk ...`` and gunicorn's start with one line, exit status 2.

Real processes: the installed ``frontdesk`` command and gunicorn with the packaged settings,
each in a clean environment (no ``FRONTDESK_*`` from the test run) and a fresh folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlalchemy import make_url

import config
from tests.helpers.databases import DIALECTS
from tests.helpers.databases import PG_URL
from tests.helpers.servers import GUNICORN
from tests.helpers.servers import ROOT
from tests.helpers.servers import free_port

FRONTDESK = str(Path(sys.executable).with_name("frontdesk"))
TIMEOUT = 120


def clean_env(folder: Path, **settings: str) -> dict[str, str]:
    """The process environment without the test run's FRONTDESK_* variables, plus ``settings``;
    the instance folder inside ``folder`` unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env["FRONTDESK_INSTANCE_PATH"] = str(folder / "instance")
    env.update(settings)
    return env


def run(folder: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FRONTDESK, *args], env=clean_env(folder, **settings), cwd=folder,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the process failed with exactly one line on stderr, no traceback; return it."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert lines[0].startswith("error: ")
    return lines[0]


def missing_database_url(dialect: str, folder: Path) -> str:
    if dialect == "postgresql":
        return make_url(PG_URL).set(database="nope_xyz").render_as_string(hide_password=False)
    return f"sqlite:///{folder}/no-such-folder/frontdesk.db"


# -- the command --------------------------------------------------------------------------------

def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout == f"frontdesk {version('frontdesk')}\n"


def test_a_good_configuration_still_works(tmp_path: Path) -> None:
    """Positive control: the same command, settings right, succeeds."""
    assert run(tmp_path, "db", "upgrade").returncode == 0
    result = run(tmp_path, "tokens", "list")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_missing_database(tmp_path: Path, dialect: str) -> None:
    url = missing_database_url(dialect, tmp_path)
    line = one_line(run(tmp_path, "tokens", "list", FRONTDESK_DATABASE_URL=url))
    if dialect == "postgresql":
        assert 'database "nope_xyz" does not exist' in line
        assert "create that database or fix FRONTDESK_DATABASE_URL" in line
        assert "/nope_xyz unreachable" in line
    else:
        assert "unable to open database file" in line
        assert "FRONTDESK_DATABASE_URL" in line


def test_db_upgrade_of_a_missing_database(tmp_path: Path) -> None:
    url = missing_database_url(DIALECTS[-1], tmp_path)
    line = one_line(run(tmp_path, "db", "upgrade", FRONTDESK_DATABASE_URL=url))
    assert "unreachable" in line


def test_a_closed_port(tmp_path: Path) -> None:
    url = f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/frontdesk"
    line = one_line(run(tmp_path, "tokens", "list", FRONTDESK_DATABASE_URL=url))
    assert "Connection refused" in line
    assert "start the database server or fix the host and port in FRONTDESK_DATABASE_URL" in line
    assert "s3cret" not in line  # the password is never printed
    assert "postgresql://postgres:***@127.0.0.1" in line


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://frontdesk@127.0.0.1/frontdesk",
     "error: FRONTDESK_DATABASE_URL: 'mysql' databases are not supported; use "
     "postgresql://user@host/name or sqlite:///path (or unset it for SQLite in the instance "
     "folder)"),
    ("postgres://frontdesk@127.0.0.1/frontdesk",
     "error: FRONTDESK_DATABASE_URL: 'postgres' databases are not supported (did you mean "
     "postgresql://?); use postgresql://user@host/name or sqlite:///path (or unset it for "
     "SQLite in the instance folder)"),
])
def test_an_unsupported_database_url(tmp_path: Path, url: str, message: str) -> None:
    assert one_line(run(tmp_path, "tokens", "list", FRONTDESK_DATABASE_URL=url)) == message


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    toml = tmp_path / "frontdesk.toml"
    toml.write_text('log_level = "INFO"\nbind "127.0.0.1:9000"\n')
    line = one_line(run(tmp_path, "tokens", "list", FRONTDESK_CONFIG=str(toml)))
    assert line == (f"error: {toml}: not valid TOML: Expected '=' after a key in a key/value "
                    f"pair (at line 2, column 6); fix the syntax there")


def test_a_value_that_is_not_a_number(tmp_path: Path) -> None:
    line = one_line(run(tmp_path, "tokens", "list", FRONTDESK_SCIM_MAX_PAGE_SIZE="abc"))
    assert line == "error: FRONTDESK_SCIM_MAX_PAGE_SIZE: cannot read 'abc'; expected a whole number"


def test_an_unwritable_instance_folder(tmp_path: Path) -> None:
    # A folder under a plain file: unwritable even for root, who ignores permission bits.
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_line(run(tmp_path, "tokens", "list",
                        FRONTDESK_INSTANCE_PATH=str(blocker / "instance")))
    assert line == (f"error: FRONTDESK_INSTANCE_PATH: cannot write {blocker / 'instance'} "
                    f"(Not a directory); make it writable by this user or point "
                    f"FRONTDESK_INSTANCE_PATH elsewhere")


def test_a_missing_idp_metadata_file(tmp_path: Path) -> None:
    missing = tmp_path / "okta.xml"
    line = one_line(run(tmp_path, "tokens", "list", FRONTDESK_SAML_IDP_METADATA=str(missing)))
    assert line == (f"error: FRONTDESK_SAML_IDP_METADATA: no file {missing}; download the IdP's "
                    f"metadata XML there or fix the path")


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "frontdesk.toml"
    line = one_line(run(tmp_path, "tokens", "list", FRONTDESK_CONFIG=str(missing)))
    assert line == (f"error: FRONTDESK_CONFIG: no file {missing}; "
                    f"create it or unset FRONTDESK_CONFIG")


def test_an_unknown_variable_names_the_closest_setting(tmp_path: Path) -> None:
    line = one_line(run(tmp_path, "tokens", "list",
                        FRONTDESK_DATABSE_URL="postgresql://postgres@127.0.0.1/x"))
    assert line == ("error: FRONTDESK_DATABSE_URL is not a Frontdesk setting (did you mean "
                    "FRONTDESK_DATABASE_URL?); rename or unset it (the README lists the settings)")


def test_an_unknown_toml_key_names_the_closest_one(tmp_path: Path) -> None:
    toml = tmp_path / "frontdesk.toml"
    toml.write_text('scim_max_page_sise = 50\n')
    line = one_line(run(tmp_path, "tokens", "list", FRONTDESK_CONFIG=str(toml)))
    assert line == (f"error: {toml}: unknown key 'scim_max_page_sise' (did you mean "
                    f"scim_max_page_size?); rename or remove it")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run(tmp_path, "--debug", "tokens", "list", FRONTDESK_SCIM_MAX_PAGE_SIZE="abc")
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "error: FRONTDESK_SCIM_MAX_PAGE_SIZE: cannot read 'abc'; expected a whole number")
    by_level = run(tmp_path, "tokens", "list", FRONTDESK_SCIM_MAX_PAGE_SIZE="abc",
                   FRONTDESK_LOG_LEVEL="debug")
    assert by_level.returncode == 2
    assert "Traceback (most recent call last)" in by_level.stderr


# -- the same rules, in-process ---------------------------------------------------------------

@pytest.mark.parametrize(("environ", "message"), [
    ({"FRONTDESK_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"},
     "FRONTDESK_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network "
     "(e.g. 10.0.0.0/8 or 127.0.0.1)"),
    ({"FRONTDESK_TRUSTED_PROXIES": "1,10.0.0.1"},
     "FRONTDESK_TRUSTED_PROXIES: '1': give either a hop count or networks, not both"),
    ({"FRONTDESK_JOBS_INTERVAL_SECONDS": "1.5"},
     "FRONTDESK_JOBS_INTERVAL_SECONDS: cannot read '1.5'; expected a whole number"),
    ({"FRONTDESK_SAML_SIGN_REQUESTS": "maybe"},
     "FRONTDESK_SAML_SIGN_REQUESTS: cannot read 'maybe'; expected true or false"),
    ({"FRONTDESK_SCIM_MAX_PAGESIZE": "5"},
     "FRONTDESK_SCIM_MAX_PAGESIZE is not a Frontdesk setting (did you mean "
     "FRONTDESK_SCIM_MAX_PAGE_SIZE?); rename or unset it (the README lists the settings)"),
    ({"FRONTDESK_WHATEVER": "5"},
     "FRONTDESK_WHATEVER is not a Frontdesk setting; rename or unset it "
     "(the README lists the settings)"),
])
def test_settings_errors_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(config.SettingsError) as caught:
        config.load(environ)
    assert str(caught.value) == message


def test_tool_variables_and_toml_sections_are_known(tmp_path: Path) -> None:
    toml = tmp_path / "frontdesk.toml"
    toml.write_text('trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]\n'
                    '[saml.idp."http://www.okta.com/exk1"]\ncreate_users = false\n')
    loaded = config.load({"FRONTDESK_CONFIG": str(toml), "FRONTDESK_TEST_DATABASE_URL": "x",
                          "FRONTDESK_BENCH_USERS": "5", "FRONTDESK_TRUSTED_PROXIES": "1"})
    assert loaded.trusted_proxies == ("1",)  # the environment wins over the file
    assert loaded.proxy_trust.hops == 1
    assert loaded.extra == {"saml": {"idp": {"http://www.okta.com/exk1": {"create_users": False}}}}
    from_file = config.load({"FRONTDESK_CONFIG": str(toml)})
    assert [str(n) for n in from_file.proxy_trust.networks] == ["10.0.0.0/8", "127.0.0.1/32"]


# -- gunicorn -----------------------------------------------------------------------------------

def one_json_line(result: subprocess.CompletedProcess[str]) -> str:
    """Assert gunicorn's master refused to start with exactly one JSON log line (critical, from
    ``frontdesk.startup``), no traceback; return ``error: <its message>`` as the CLI says it."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    record = json.loads(lines[0])
    assert (record["level"], record["logger"]) == ("critical", "frontdesk.startup")
    return f"error: {record['msg']}"


def gunicorn(folder: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Start gunicorn as ``make run`` does; a misconfigured start returns by itself."""
    return subprocess.run(
        [GUNICORN, "-c", "python:config.gunicorn_conf", "--bind", f"127.0.0.1:{free_port()}",
         "--workers", "2", "--no-control-socket"],
        env=clean_env(folder, **settings), cwd=ROOT, capture_output=True, text=True,
        timeout=TIMEOUT, check=False)


@pytest.mark.gunicorn
@pytest.mark.parametrize("dialect", DIALECTS)
def test_gunicorn_with_a_missing_database_stops_in_one_line(tmp_path: Path, dialect: str) -> None:
    url = missing_database_url(dialect, tmp_path)
    line = one_json_line(gunicorn(tmp_path, FRONTDESK_DATABASE_URL=url))
    assert "unreachable" in line
    assert "FRONTDESK_DATABASE_URL" in line


@pytest.mark.gunicorn
def test_gunicorn_with_a_bad_setting_stops_in_one_line(tmp_path: Path) -> None:
    line = one_json_line(gunicorn(tmp_path, FRONTDESK_SCIM_MAX_PAGE_SIZE="abc"))
    assert line == "error: FRONTDESK_SCIM_MAX_PAGE_SIZE: cannot read 'abc'; expected a whole number"


@pytest.mark.gunicorn
def test_gunicorn_with_an_unknown_variable_stops_in_one_line(tmp_path: Path) -> None:
    line = one_json_line(gunicorn(tmp_path, FRONTDESK_DATABSE_URL="sqlite:///x.db"))
    assert "(did you mean FRONTDESK_DATABASE_URL?)" in line
