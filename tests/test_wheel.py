"""The wheel as a deployment gets it: built, installed with its dependencies into a fresh
virtualenv, then run from a directory with no checkout in sight (``frontdesk db upgrade``,
``frontdesk serve``, which execs ``gunicorn -c python:config.gunicorn_conf``), and signed into
through SAML end to end.

An installed Frontdesk once answered 500 on every SAML page: the wheel lacked
``jit/templates``. Tests that import the checkout never see that, so this one serves the
installed copy only.

No network: the wheel is built without build isolation (the dev tools include setuptools), and
its dependencies come from a local wheelhouse repacked from this virtualenv's own installed
copies of exactly the distributions the wheel requires, so pip resolves them from the wheel's
metadata with ``--no-index``. About 30 s of CPU; ``-m "not wheel"`` skips it.
"""

from __future__ import annotations

import base64
import email.parser
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.servers import START_TIMEOUT
from tests.helpers.servers import free_port

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "jit", "scim", "config")
LEFT_OUT = ("jit/demo/",)  # signs anything: `make demo` and the tests only
ADA = "ada@example.com"


# -- building and installing ------------------------------------------------------------------

def run(*cmd: str | Path, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                            env=env, check=False)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


def build_wheel(out: Path) -> Path:
    """Build from a clean copy: an old ``build/lib`` in the checkout could carry stale files."""
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "instance",
        ".bench"))
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", out / "dist", src)
    [wheel] = (out / "dist").glob("frontdesk-*.whl")
    return wheel


def requirements_of(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = email.parser.Parser().parsestr(zf.read(name).decode())
    return meta.get_all("Requires-Dist") or []


def installed_closure(requires: list[str]) -> list[metadata.Distribution]:
    """The distributions of this environment that ``requires`` pulls in (extras, markers)."""
    todo = [(Requirement(line), "") for line in requires]
    seen: set[tuple[str, frozenset[str]]] = set()
    found: dict[str, metadata.Distribution] = {}
    while todo:
        req, parent_extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": parent_extra}):
            continue
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = found.setdefault(key[0], metadata.distribution(req.name))
        for extra in ("", *req.extras):
            todo.extend((Requirement(line), extra) for line in dist.requires or [])
    return list(found.values())


def repack(dist: metadata.Distribution, wheelhouse: Path) -> None:
    """Zip an installed distribution back into a wheel (its files under site-packages)."""
    files = [f for f in dist.files or [] if not str(f).startswith("..")
             and "__pycache__" not in f.parts]
    [info] = {f.parts[0] for f in files if f.parts[0].endswith(".dist-info")}
    skip = {f"{info}/{n}" for n in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")}
    tags = [line.split(":", 1)[1].strip().split("-")
            for line in (dist.read_text("WHEEL") or "").splitlines() if line.startswith("Tag:")]
    tag = "-".join(".".join(sorted({t[i] for t in tags})) for i in range(3))
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    record = []
    with zipfile.ZipFile(wheelhouse / f"{name}-{dist.version}-{tag}.whl", "w") as zf:
        for f in files:
            if f.as_posix() in skip:
                continue
            data = Path(str(f.locate())).read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{f.as_posix()},sha256={digest.decode()},{len(data)}")
            zf.writestr(f.as_posix(), data)
        zf.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (not on this one) with the wheel and its dependencies, offline."""
    base = tmp_path_factory.mktemp("venv")
    wheelhouse = base / "wheelhouse"
    wheelhouse.mkdir()
    for dist in installed_closure(requirements_of(wheel)):
        repack(dist, wheelhouse)
    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
        "--no-index", "--find-links", wheelhouse, "--no-compile", wheel)
    return venv


def outside_env(**settings: str) -> dict[str, str]:
    """This environment minus anything that would point the installed copy at the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FRONTDESK_") and k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return {**env, **{f"FRONTDESK_{k.upper()}": v for k, v in settings.items()}}


# -- the wheel --------------------------------------------------------------------------------

def test_wheel_ships_templates_static_and_migrations_but_not_the_demo(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        shipped = set(zf.namelist())
    sources = {p.relative_to(ROOT).as_posix() for package in PACKAGES
               for p in (ROOT / package).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    wanted = {s for s in sources if not s.startswith(LEFT_OUT) and (
        s.endswith(".py") or {"templates", "static", "migrations"} & set(s.split("/")[:-1]))}
    assert all(any(f"/{kind}/" in s for s in wanted) for kind in ("templates", "static",
                                                                   "migrations"))
    assert wanted - shipped == set()
    assert {s.split("/")[0] for s in shipped if ".dist-info/" not in s} == set(PACKAGES)
    assert [s for s in shipped if s.startswith(LEFT_OUT)] == []


# -- the installed service --------------------------------------------------------------------

@pytest.fixture
def served(venv: Path, tmp_path: Path) -> Iterator[tuple[str, DemoIdP]]:
    """The installed Frontdesk under gunicorn, run from a bare directory, trusting a demo IdP
    (signing in the test process, from the checkout); yields its URL and the IdP."""
    work = tmp_path / "srv"
    work.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    idp = DemoIdP.for_frontdesk(tmp_path / "idp", "https://idp.example.com", url)
    env = outside_env(instance_path=str(work / "instance"),
                      database_url=f"sqlite:///{work / 'frontdesk.db'}",
                      base_url=url, saml_idp_metadata=str(idp.metadata_path),
                      log_level="WARNING")
    where = run(venv / "bin" / "python", "-c",
                "import importlib.util, json, app, config, jit, scim; print(json.dumps("
                "[app.__file__, importlib.util.find_spec('jit.demo') is None]))",
                cwd=work, env=env)
    app_file, demo_absent = json.loads(where.stdout)
    assert Path(app_file).is_relative_to(venv) and demo_absent
    run(venv / "bin" / "frontdesk", "db", "upgrade", cwd=work, env=env)

    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as stderr:
        # `frontdesk serve` becomes gunicorn with the packaged settings (the same process);
        # --bind and --workers reach it (they are not in the environment).
        server = subprocess.Popen([venv / "bin" / "frontdesk", "serve", "--bind",
                                   f"127.0.0.1:{port}", "--workers", "1"],
                                  cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + START_TIMEOUT  # a busy machine: as for LiveServer
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.1)
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert b"gunicorn" in cmdline and b"python:config.gunicorn_conf" in cmdline
        yield url, idp
    finally:
        server.send_signal(signal.SIGQUIT)  # gunicorn's quick shutdown
        server.wait(timeout=15)


def test_installed_frontdesk_signs_in_through_saml(served: tuple[str, DemoIdP]) -> None:
    url, idp = served
    health = httpx.get(f"{url}/healthz", timeout=30)
    # The packaged settings' worker (app.web.serving) answers, from a directory with no checkout.
    assert (health.status_code, health.json(), health.headers["server"]) == (
        200, {"status": "ok"}, "gunicorn/asgi")
    with httpx.Client(base_url=url, timeout=30) as browser:
        assert browser.get("/readyz").status_code == 200  # the packaged migrations are current
        metadata_xml = browser.get("/saml/metadata")
        assert metadata_xml.status_code == 200 and f"{url}/saml/acs" in metadata_xml.text

        start = browser.get("/saml/login")
        assert start.status_code == 302, start.text
        location = urlsplit(start.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == idp.sso_url
        info = idp.parse_authn_request(parse_qs(location.query)["SAMLRequest"][0])
        acs = browser.post("/saml/acs", data={"SAMLResponse": idp.response(
            ADA, okta_attributes(ADA), in_response_to=info.id)})
        assert (acs.status_code, acs.headers.get("Location")) == (303, "/me"), acs.text

        me = browser.get("/me")
        assert me.status_code == 200, me.text
        assert "Signed in as Ada Lovelace" in me.text
        stylesheet = browser.get("/static/frontdesk.css")
        assert stylesheet.status_code == 200 and stylesheet.headers["content-type"].startswith(
            "text/css")

        # Signed in, but not in an admin group: the console's own pages, not a 500.
        admin = browser.get("/admin/")
        assert admin.status_code == 403, admin.text
        assert admin.headers["content-type"].startswith("text/html")

    with httpx.Client(base_url=url, timeout=30) as stranger:
        console = stranger.get("/admin/")
        assert console.status_code == 401, console.text
        assert "frontdesk admin login-link" in console.text
