# The README's two commands: `make demo` and `make test`.
# `make demo` installs only what the demo runs; `make test` also the test tools and the
# system packages the tests use (scripts/setup.sh --dev).
.PHONY: demo test setup setup-dev staging-rehearsal lint format bench bench-slow bench-fast bench-proxy bench-breakdown load

demo: setup
	bash scripts/demo.sh

test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

setup-dev:
	bash scripts/setup.sh --dev

# The staging profile against the sandbox over https (docs/staging-qa.md).
staging-rehearsal: setup
	bash scripts/staging-rehearsal.sh

lint: setup-dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup-dev
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# Loopback only, bounded, stops by itself (docs/performance.md, docs/testing.md).
# Two tables: a slow Pagero (wrk, 100 and 400 connections) and the fast local API.
bench: bench-slow bench-fast

bench-slow: setup-dev
	.venv/bin/python -m bench.slow_pagero

bench-fast: setup-dev
	.venv/bin/python -m bench.report

bench-proxy: setup-dev
	.venv/bin/python -m bench.proxy_bench

bench-breakdown: setup-dev
	.venv/bin/python -m bench.latency_breakdown

# Is a change worth it? Any two configurations in alternating rounds:
#   .venv/bin/python -m bench.compare_configs '{"a": {...}, "b": {...}}'

load: setup-dev
	.venv/bin/python -m bench.load_logins
