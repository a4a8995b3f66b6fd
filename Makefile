# `make run` serves the shop (SQLite, in-process dispatcher); `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
# Set TEST_DATABASE_URL (PostgreSQL) and REDIS_URL to run the service-backed tests too;
# .ci/run sets both and SHOP_REQUIRE_SERVICES=1 so that they fail instead of skipping.
TEST_DATABASE_URL ?=

.PHONY: run test lint bench bench-api openapi schemas worker beat
# The official AsyncAPI parser (tools/asyncapi, pinned by its package-lock.json) that
# the tests validate docs/asyncapi.yaml with; --ignore-scripts: no install hooks run.
ASYNCAPI_STAMP := tools/asyncapi/node_modules/.installed

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(ASYNCAPI_STAMP): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	cd tools/asyncapi && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(ASYNCAPI_STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "serving on http://127.0.0.1:$(PORT)/  (admin: /admin/)"
	$(PY) manage.py runserver --noreload 127.0.0.1:$(PORT)

test: $(STAMP) $(ASYNCAPI_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) manage.py events schemas check
ifneq ($(strip $(TEST_DATABASE_URL)),)
	# Two passes: the embedded default (SQLite), then everything on PostgreSQL and
	# Redis, the browser tests included; what reads only code and files (static) runs
	# once, in the first.
	$(PY) -m pytest -m "not postgres and not redis and not browser" --durations=10
	DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) -m pytest -m "not static" --durations=25
else
	$(PY) -m pytest -m "not postgres and not redis"
	@echo "PostgreSQL/Redis tests not run: set TEST_DATABASE_URL=postgres://... (see README)"
endif

bench: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(PY) -m bench

# Delivery and latency with tracing and metrics off, then on (spans exported over
# OTLP/HTTP to a receiver that drops them, multiprocess counters), as ratios on/off.
.PHONY: bench-telemetry
bench-telemetry: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(PY) -m bench.telemetry $(BENCH_ARGS)

# POST /api/v1/orders against gunicorn (production settings) next to a minimal
# authenticated write (bench-only URL) and /health/live of the same server;
# database shop_bench_api and Redis DB 14 (BENCH_API_DATABASE_URL, BENCH_API_REDIS_URL);
# flags through BENCH_ARGS, e.g. BENCH_ARGS=--quick.
bench-api: $(STAMP)
	$(PY) -m bench.api $(BENCH_ARGS)

# Renew the committed OpenAPI document (docs/openapi.json) from the served schema.
openapi: $(STAMP)
	$(PY) -m tests.contract.snapshot

# Renew the committed event schema registry (docs/events/: index.json, a JSON Schema
# per message type and version, README.md with the diagrams) and docs/asyncapi.yaml.
# Refused while the code breaks the committed registry (manage.py events schemas check).
schemas: $(STAMP)
	$(PY) manage.py events schemas export

# The payment provider at 8 s, then at 200 ms, the mail server down: does the shop keep
# taking orders? Database shop_bench_bf and Redis DB 13 (BLACKFRIDAY_DATABASE_URL,
# BLACKFRIDAY_REDIS_URL); flags through BENCH_ARGS, e.g. BENCH_ARGS=--quick.
.PHONY: bench-blackfriday
bench-blackfriday: $(STAMP)
	$(PY) -m bench.blackfriday $(BENCH_ARGS)

# The production process set under supervisord (deploy/supervisor/): restarts what exits.
.PHONY: supervise
supervise: $(STAMP)
	mkdir -p var/supervisor
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
	  DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-shop.settings.production} \
	  $(VENV)/bin/supervisord -c deploy/supervisor/supervisord.conf

# The fault suite (bench/faults): its own PostgreSQL cluster and Redis, the production
# process set under supervisord, and rounds of faults while a client places orders
# over HTTP; prints one table and exits non-zero when an invariant breaks. Flags
# through BENCH_ARGS, e.g. BENCH_ARGS=--quick (a few minutes).
.PHONY: faults
faults: $(STAMP)
	$(PY) -m bench.faults $(BENCH_ARGS)
# An I/O-bound subscription (5 ms outside call per message) drained by 1..16 Celery
# worker processes on 8 and 32 partitions, then a live raise 8 -> 16 under load.
# Database shop_bench_scale and Redis DB 10 (SCALE_DATABASE_URL, SCALE_REDIS_URL);
# flags through BENCH_ARGS, e.g. BENCH_ARGS=--quick.
# Embedded run: how soon a product added by `manage.py catalog add` (another process)
# can be ordered over HTTP (median and max of 20; its own SQLite database).
.PHONY: bench-orderable
bench-orderable: $(STAMP)
	$(PY) -m bench.orderable $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: $(STAMP)
	$(PY) -m bench.scale $(BENCH_ARGS)

worker: $(STAMP)
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-shop.settings.production} \
	  $(VENV)/bin/celery -A shop worker --loglevel=INFO

beat: $(STAMP)
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-shop.settings.production} \
	  $(VENV)/bin/celery -A shop beat --loglevel=INFO
