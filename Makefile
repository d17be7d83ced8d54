# The two commands of the README: `make demo` and `make test`. Each bootstraps what it needs:
# the demo only the product's dependencies, the tests the dev group, the benchmarks the bench group.
.PHONY: demo test check bench setup clean

demo:
	@scripts/bootstrap
	@.venv/bin/postroom demo

test:
	@scripts/bootstrap --group dev --services
	@scripts/test

check:
	@scripts/bootstrap --group dev
	@scripts/check

bench:
	@scripts/bootstrap --group dev --group bench --services
	@.venv/bin/python bench/inbound.py
	@.venv/bin/python bench/classify.py
	@.venv/bin/python bench/extract.py
	@.venv/bin/python bench/addresses.py
	@.venv/bin/python bench/compose.py
	@.venv/bin/python bench/tokens.py
	@.venv/bin/python bench/send.py
	@.venv/bin/python bench/api.py
	@.venv/bin/python bench/dashboard.py
	@bench/pipe.sh

setup:
	@scripts/bootstrap

clean:
	rm -rf .venv demo-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
