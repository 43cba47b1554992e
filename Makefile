# The two commands: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test venv system-deps clean contracts

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/naap demo

# Debian's prometheus package gives the tests a stock `promtool` and `prometheus` for interop checks.
SUDO := $(shell [ "$$(id -u)" = 0 ] || { command -v sudo >/dev/null && echo sudo; })
system-deps:
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "installing Debian package prometheus (promtool, prometheus) for the interop tests"; \
	  $(SUDO) apt-get install -y -q prometheus >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q prometheus >/dev/null; }; }

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

# Rebuilds discovery/localchain/build.json (the committed artifact of the test contracts) with the npm solc compiler.
SOLC_VERSION := 0.8.28
SOLC_DIR     := .cache/solc-$(SOLC_VERSION)
contracts:
	npm install --no-save --silent --prefix $(SOLC_DIR) solc@$(SOLC_VERSION)
	NODE_PATH=$(SOLC_DIR)/node_modules node discovery/localchain/build.cjs

clean:
	rm -rf $(VENV) .pytest_cache
