# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-unit test-fuzz lint bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(INSTALLED)

# The whole platform in one process: SQLite files under var/, the in-memory bus.
run: $(INSTALLED)
	$(BIN)/xieshang db upgrade
	$(BIN)/xieshang divisions load
	@echo ""
	@echo "Xieshang runs on http://127.0.0.1:$${PORT:-8080}/  (health: /healthz, readiness: /readyz)"
	@echo "First administrator: create a city operator for 池州市 (scope 3417), typing a password of 10+ characters:"
	@echo "  $(BIN)/xieshang users create --username admin --role city_operator --scope 3417 --password-stdin"
	@echo "then log in: curl -X POST http://127.0.0.1:$${PORT:-8080}/api/v1/auth/token \\"
	@echo "  -H 'Content-Type: application/json' -d '{\"username\":\"admin\",\"password\":\"...\"}'"
	@echo "API documentation: http://127.0.0.1:$${PORT:-8080}/api/v1/docs"
	@echo ""
	exec $(BIN)/xieshang run --target all

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

test-unit: $(INSTALLED)
	$(BIN)/pytest -m "not integration"

# The full fuzz run (tests/fuzz): many more cases per operation than `make test`'s short profile,
# on the embedded default and on PostgreSQL + RabbitMQ; prints a table per run.
test-fuzz: $(INSTALLED)
	XIESHANG_FUZZ_PROFILE=full $(BIN)/pytest tests/fuzz tests/integration/test_fuzz.py

bench: $(INSTALLED)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
