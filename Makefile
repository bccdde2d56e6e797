# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-unit test-fuzz test-fault test-soak lint bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(INSTALLED)

# The whole platform in one process: SQLite files under var/, the in-memory bus. A trial: the
# notice period is 0 days unless XIESHANG_NOTICE_DAYS says otherwise, so a consultation can be
# announced and held the same day (a deployment keeps the 2015 procedure's 3 days).
run: $(INSTALLED)
	$(BIN)/xieshang db upgrade
	$(BIN)/xieshang divisions load
	@echo ""
	@echo "Xieshang runs on http://127.0.0.1:$${PORT:-8080}/  (residents' web app at /, health: /healthz)"
	@echo "Try it: in another terminal load 池阳街道's demo (accounts, the report's four matters, a year of history):"
	@echo "  $(BIN)/xieshang demo        # prints who can sign in with which password, and where to look"
	@echo "Or create a first administrator yourself (a city operator for 池州市, scope 3417, a password of 10+ characters):"
	@echo "  $(BIN)/xieshang users create --username admin --role city_operator --scope 3417 --password-stdin"
	@echo "API documentation: http://127.0.0.1:$${PORT:-8080}/api/v1/docs"
	@echo ""
	XIESHANG_NOTICE_DAYS=$${XIESHANG_NOTICE_DAYS:-0} exec $(BIN)/xieshang run --target all

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

# The fault suite (tests/fault): every target in its own process under a steady load while the
# broker, workers, PostgreSQL connections and APIs fail and every target is rolled out, then the
# scan of everything it produced for personal data; prints writes accepted/lost/duplicated and
# recovery seconds per fault. `make test` runs it too, with the soak's short profile.
test-fault: $(INSTALLED)
	$(BIN)/pytest tests/fault

# The soak's full profile: 30 minutes at 20 submissions/s (tests/soak; `make test` runs a minute).
test-soak: $(INSTALLED)
	XIESHANG_SOAK_PROFILE=full $(BIN)/pytest tests/soak

bench: $(INSTALLED)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
