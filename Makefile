# The README's two commands: `make demo` and `make test`.
.PHONY: demo test setup lint format bench bench-proxy bench-breakdown bench-configs bench-lanes load

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

# Loopback only, bounded, stops by itself (README, "Performance" and "Load and fault tests").
bench: setup
	.venv/bin/python -m bench.report

bench-proxy: setup
	.venv/bin/python -m bench.proxy_bench

bench-breakdown: setup
	.venv/bin/python -m bench.latency_breakdown

# Is a change worth it? The default worker against GUNICORN_KEEPALIVE_LINGER_MS=0, or
# any other pair: .venv/bin/python -m bench.compare_configs '{"a": {...}, "b": {...}}'
bench-configs: setup
	.venv/bin/python -m bench.compare_configs '{"linger 0 ms": {"GUNICORN_KEEPALIVE_LINGER_MS": "0"}, "linger 5 ms (default)": {}}'

# The API proxy's fast lane (app/api_fast_lane.py, the default) against the view alone.
bench-lanes: setup
	.venv/bin/python -m bench.compare_configs '{"view alone (FAST_LANE=false)": {"PAGERO_PROXY_FAST_LANE": "false"}, "fast lane (the default)": {}}'

load: setup
	.venv/bin/python -m bench.load_logins
