# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-unit lint bench clean

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
	@echo "First administrator: mint a city operator token for 池州市 (scope 3417) with"
	@echo "  $(BIN)/xieshang auth token --subject admin --role city_operator --scope 3417"
	@echo "and send it as 'Authorization: Bearer <token>'."
	@echo ""
	exec $(BIN)/xieshang run --target all

lint: $(INSTALLED)
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

test-unit: $(INSTALLED)
	$(BIN)/pytest -m "not integration"

bench: $(INSTALLED)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
