.PHONY: run test lint

# Set up and run the app on the embedded default, with demo data.
run:
	@bash scripts/run.sh

# Run the whole test suite (installs what it needs on a fresh machine).
test:
	@bash scripts/test.sh

lint:
	@bash -c 'source scripts/lib.sh && ensure_venv requirements-dev.lock && ruff check . && ruff format --check . && lint-imports'
