# c360: `make demo` to try it, `make test` to check it. Needs only Python 3.11 (and network for pip).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SUBJECTS ?= 1500
PYTEST_ARGS ?=

.PHONY: help venv lint fmt test demo bench bench-quick messages screenshots clean

help:
	@echo "make demo   - install, migrate SQLite under var/, load demo data, serve on http://127.0.0.1:8000"
	@echo "make test   - install, lint, run the whole suite (PostgreSQL when available, else SQLite)"
	@echo "make lint   - ruff, ruff format --check, import-linter contracts, makemigrations --check, OpenAPI validation"
	@echo "make bench  - run every benchmark in bench/ (bench-quick: the --quick sizes)"
	@echo "make messages    - refresh the pt-BR and es catalogues from the sources and compile them (needs gettext)"
	@echo "make screenshots - run the browser tests and save the portal's pages to docs/screenshots/"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required (python3.11 or python3 on PATH)." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "$(PYTHON) is not Python 3.11; run: make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DJANGO_SETTINGS_MODULE=c360.settings.test DATABASE_URL=sqlite:///:memory: \
	  $(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=c360.settings.test DATABASE_URL=sqlite:///:memory: \
	  $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

demo: $(STAMP)
	@mkdir -p var && chmod 700 var
	@$(BIN)/python -m c360.lib.keygen var/keys.env
	@set -a && source ./var/keys.env && set +a && \
	  unset DATABASE_URL CELERY_BROKER_URL && export DEBUG=1 C360_DEMO=1 LOG_FORMAT=text && \
	  export C360_DPO_EMAIL=$${C360_DPO_EMAIL:-encarregado@loja-exemplo.com.br} && \
	  $(BIN)/python manage.py migrate --noinput && \
	  $(BIN)/python manage.py generate_demo --subjects $(DEMO_SUBJECTS) --if-empty && \
	  $(BIN)/python manage.py load_demo_workflows && \
	  $(BIN)/python manage.py load_demo_registers && \
	  $(BIN)/python manage.py create_demo_dpo && \
	  $(BIN)/python manage.py demo_portal_person && \
	  echo "Admin:    http://127.0.0.1:8000/admin/" && \
	  echo "API docs: http://127.0.0.1:8000/api/docs/" && \
	  exec $(BIN)/python manage.py runserver --noreload 127.0.0.1:8000

bench: $(STAMP)
	@set -e; for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

bench-quick: $(STAMP)
	@set -e; for script in bench/*.py; do echo "== $$script --quick"; $(BIN)/python $$script --quick; done

# Catalogues live in c360/locale; the compiled .mo files are committed, so `make demo` needs no gettext.
MESSAGES_IGNORE := --ignore=.venv --ignore=var --ignore=tests --ignore=bench --ignore=docs
messages: $(STAMP)
	DJANGO_SETTINGS_MODULE=c360.settings.test $(BIN)/python manage.py makemessages -l pt_BR -l es $(MESSAGES_IGNORE) --no-obsolete
	DJANGO_SETTINGS_MODULE=c360.settings.test $(BIN)/python manage.py compilemessages $(MESSAGES_IGNORE)

screenshots: $(STAMP)
	C360_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q tests/browser

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
