# Frontdesk: every target installs what it needs into .venv first. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install run serve test lint typecheck fmt bench clean demo

# `make demo`: Frontdesk and the local DEMO IdP (jit/demo/); override on the command line.
DEMO_PORT     ?= 8000
DEMO_IDP_PORT ?= 8001
DEMO_IDP_DIR  ?= instance/demo-idp
# The demo IdP's form is filled in for a member of this group, which the demo makes an admin
# group: signing in as suggested opens /admin/. Groups typed at the IdP are created on first
# use (FRONTDESK_SAML_CREATE_UNKNOWN_GROUPS=true), so the sample groups appear in Frontdesk.
DEMO_ADMIN_GROUP ?= demo-admins
DEMO_SP_URL   := http://127.0.0.1:$(DEMO_PORT)
DEMO_IDP_ARGS := --port $(DEMO_IDP_PORT) --sp-base-url $(DEMO_SP_URL) --workdir $(DEMO_IDP_DIR)

# `make test`: three pytest-xdist workers on the 2-core machines (a third of the suite waits on
# gunicorn, Chromium, xmlsec1 or PostgreSQL: a third worker fills those waits); add e.g. -m "not browser".
PYTEST_ARGS ?= -n 3

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml config/constraints.txt
	@command -v xmlsec1 >/dev/null || { echo "installing xmlsec1 (SAML signatures)"; \
		(apt-get update -qq && apt-get install -y -qq xmlsec1 >/dev/null) || \
		echo "warning: could not install xmlsec1; SAML will not work" >&2; }
	@command -v chromium >/dev/null || { echo "installing chromium (admin console browser tests)"; \
		(apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null) || \
		echo "warning: could not install chromium; the browser tests will fail" >&2; }
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { echo "installing nginx (tests of the proxy example, config/nginx.conf.example)"; \
		(apt-get update -qq && apt-get install -y -qq nginx >/dev/null) || \
		echo "warning: could not install nginx; tests/app/test_nginx.py will fail" >&2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c config/constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install Frontdesk with its dev tools

run: $(STAMP) ## migrate the database and serve on http://127.0.0.1:8000 (gunicorn)
	$(BIN)/frontdesk db upgrade
	$(BIN)/frontdesk serve

demo: $(STAMP) ## Frontdesk on :8000 plus a local DEMO IdP on :8001 (anyone can sign in; never in production)
	$(BIN)/python -m jit.demo $(DEMO_IDP_ARGS) --write-metadata-only
	$(BIN)/frontdesk db upgrade
	@echo "Starting Frontdesk on $(DEMO_SP_URL) and the DEMO IdP; Ctrl-C stops both."
	@$(BIN)/python -m jit.demo $(DEMO_IDP_ARGS) --admin-group "$(DEMO_ADMIN_GROUP)" & idp=$$!; \
	trap 'kill $$idp 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	FRONTDESK_BIND=127.0.0.1:$(DEMO_PORT) FRONTDESK_BASE_URL=$(DEMO_SP_URL) \
	FRONTDESK_SAML_IDP_METADATA=$(DEMO_IDP_DIR)/idp-metadata.xml \
	FRONTDESK_ADMIN_GROUPS="$(DEMO_ADMIN_GROUP)" FRONTDESK_SAML_CREATE_UNKNOWN_GROUPS=true \
	$(BIN)/gunicorn -c config/gunicorn_conf.py

test: $(STAMP) ## lint, type-check and run the tests (adds PostgreSQL when FRONTDESK_TEST_DATABASE_URL is set)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	@# Bytecode caches on, whatever the shell says: the suite starts hundreds of Python processes
	@# (xdist workers, gunicorn, the CLI), and each would compile every module again.
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff, and the import-linter layering contracts (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP) ## mypy --strict on app/, scim/, jit/, config/
	$(BIN)/mypy

fmt: $(STAMP) ## ruff --fix
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## seed 100 000 users and print latency/throughput figures (SQLite, and PostgreSQL when FRONTDESK_BENCH_DATABASE_URL is set)
	$(BIN)/python -m tests.bench.run

clean: ## remove .venv and caches (keeps instance/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
