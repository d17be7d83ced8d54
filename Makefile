# The two commands of the README: `make demo` and `make test`. Both bootstrap what they need.
.PHONY: demo test check bench setup clean

demo:
	@scripts/bootstrap
	@.venv/bin/postroom demo

test:
	@scripts/bootstrap --services
	@scripts/test

check:
	@scripts/bootstrap
	@scripts/check

bench:
	@scripts/bootstrap --services
	@.venv/bin/python bench/inbound.py
	@.venv/bin/python bench/classify.py
	@.venv/bin/python bench/extract.py
	@.venv/bin/python bench/addresses.py
	@.venv/bin/python bench/compose.py
	@.venv/bin/python bench/tokens.py
	@.venv/bin/python bench/send.py

setup:
	@scripts/bootstrap

clean:
	rm -rf .venv demo-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
