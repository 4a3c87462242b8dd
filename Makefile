# The README's two commands: `make demo` and `make test`.
.PHONY: demo test setup lint format bench

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

bench: setup
	.venv/bin/python bench/proxy_bench.py
