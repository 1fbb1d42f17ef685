.PHONY: run test lint stack-check

# Set up and run the app on the embedded default, with demo data.
run:
	@bash scripts/run.sh

# Run the whole test suite (installs what it needs on a fresh machine).
test:
	@bash scripts/test.sh

# Build the production images, run platform/compose.yaml (two web, two workers, nginx),
# drive real turns through it, tear it down.
stack-check:
	@bash scripts/stack_check.sh

lint:
	@bash -c 'source scripts/lib.sh && ensure_venv requirements-dev.lock && ruff check . && ruff format --check . && lint-imports'
