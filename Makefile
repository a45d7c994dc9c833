# Gonghui: `make run` starts the product with demo data, `make test` runs every test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000
LINT_PATHS = $(wildcard src tests bench conftest.py)

.PHONY: run test lint format bench demo-sichuan clean system-deps messages

$(VENV)/.run-installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.run-installed requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.run-installed
	$(BIN)/gonghui migrate --noinput
	$(BIN)/gonghui demo --if-empty --scale small
	$(BIN)/gonghui demo_accounts
	trap 'kill 0' INT TERM EXIT; $(BIN)/gonghui worker & $(BIN)/gonghui runserver $(HOST)

system-deps:
	scripts/system-deps

test: $(VENV)/.dev-installed system-deps
	scripts/test-all

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy src/gonghui/*/services.py src/gonghui/*/selectors.py

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

messages: $(VENV)/.dev-installed
	cd src/gonghui && ../../$(BIN)/gonghui makemessages -l zh_Hans --no-obsolete --add-location file
	cd src/gonghui && ../../$(BIN)/gonghui compilemessages -l zh_Hans

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var
