# The README's two commands: `make demo` and `make test`.
.PHONY: demo test setup lint format bench bench-slow bench-fast bench-proxy bench-breakdown load

demo: setup
	bash scripts/demo.sh

test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# Loopback only, bounded, stops by itself (docs/performance.md, docs/testing.md).
# Two tables: a slow Pagero (wrk, 100 and 400 connections) and the fast local API.
bench: bench-slow bench-fast

bench-slow: setup
	.venv/bin/python -m bench.slow_pagero

bench-fast: setup
	.venv/bin/python -m bench.report

bench-proxy: setup
	.venv/bin/python -m bench.proxy_bench

bench-breakdown: setup
	.venv/bin/python -m bench.latency_breakdown

# Is a change worth it? Any two configurations in alternating rounds:
#   .venv/bin/python -m bench.compare_configs '{"a": {...}, "b": {...}}'

load: setup
	.venv/bin/python -m bench.load_logins
