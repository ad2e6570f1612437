# Clarion — `make demo` runs the platform, `make test` runs the suite.
# Both create .venv and, when DATABASE_URL / REDIS_URL are unset, start an embedded
# PostgreSQL and Redis under .data/ (git-ignored, reused across runs).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint services stop clean-data bench proto

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Clarion needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m platform_core.dev demo

test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m platform_core.dev test $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

# Regenerate clarion/v1/*_pb2*.py from proto/ (grpcio-tools); the result is committed.
proto: $(STAMP)
	$(PY) proto/generate.py

services: $(STAMP)
	$(PY) -m platform_core.dev services

stop: $(STAMP)
	$(PY) -m platform_core.dev stop

clean-data: $(STAMP)
	$(PY) -m platform_core.dev clean-data

bench: $(STAMP)
	$(PY) bench/fanout_inapp.py
	$(PY) bench/fanout_email.py
	$(PY) bench/trigger_api.py
	$(PY) bench/inbox_streams.py
