# `make run` serves the shop (SQLite, in-process dispatcher); `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
# Set TEST_DATABASE_URL (PostgreSQL) and REDIS_URL to run the service-backed tests too;
# .ci/run sets both and SHOP_REQUIRE_SERVICES=1 so that they fail instead of skipping.
TEST_DATABASE_URL ?=

.PHONY: run test lint bench bench-api openapi worker beat

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "serving on http://127.0.0.1:$(PORT)/  (admin: /admin/)"
	$(PY) manage.py runserver --noreload 127.0.0.1:$(PORT)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not postgres and not redis"
ifneq ($(strip $(TEST_DATABASE_URL)),)
	DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) -m pytest
else
	@echo "PostgreSQL/Redis tests not run: set TEST_DATABASE_URL=postgres://... (see README)"
endif

bench: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(PY) -m bench

# POST /api/v1/orders against gunicorn (production settings) next to its /health/live;
# database shop_bench_api and Redis DB 14 (BENCH_API_DATABASE_URL, BENCH_API_REDIS_URL);
# flags through BENCH_ARGS, e.g. BENCH_ARGS=--quick.
bench-api: $(STAMP)
	$(PY) -m bench.api $(BENCH_ARGS)

# Renew the committed OpenAPI document (docs/openapi.json) from the served schema.
openapi: $(STAMP)
	$(PY) -m tests.contract.snapshot

# The payment provider at 8 s, then at 200 ms, the mail server down: does the shop keep
# taking orders? Database shop_bench_bf and Redis DB 13 (BLACKFRIDAY_DATABASE_URL,
# BLACKFRIDAY_REDIS_URL); flags through BENCH_ARGS, e.g. BENCH_ARGS=--quick.
.PHONY: bench-blackfriday
bench-blackfriday: $(STAMP)
	$(PY) -m bench.blackfriday $(BENCH_ARGS)

worker: $(STAMP)
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-shop.settings.production} \
	  $(VENV)/bin/celery -A shop worker --loglevel=INFO

beat: $(STAMP)
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-shop.settings.production} \
	  $(VENV)/bin/celery -A shop beat --loglevel=INFO
