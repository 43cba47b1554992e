# The two commands: `make demo` and `make test`. Each creates .venv on first use and installs what it needs:
# the demo the prober extra (the collector's, plus what probes its stand-in orchestrators), the tests the whole
# development set.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: demo test venv system-deps clean contracts

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@touch $@

$(VENV)/.installed-%: pyproject.toml $(VENV)/.created
	$(BIN)/python -m pip install -q -e '.[$*]'
	@touch $@

venv: $(VENV)/.installed-dev

# make demo [PORT=8080]
demo: $(VENV)/.installed-prober
	$(BIN)/naap demo --port $(PORT)

# Debian's prometheus package gives the tests a stock `promtool` and `prometheus` for interop checks.
SUDO := $(shell [ "$$(id -u)" = 0 ] || { command -v sudo >/dev/null && echo sudo; })
# Debian's chromium is the headless browser the page tests (tests/test_pages.py) drive through Playwright.
system-deps:
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "installing Debian package prometheus (promtool, prometheus) for the interop tests"; \
	  $(SUDO) apt-get install -y -q prometheus >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q prometheus >/dev/null; }; }
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian package chromium for the browser tests of the pages"; \
	  $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }; }

test: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m pytest -q

# Rebuilds discovery/localchain/build.json (the committed artifact of the test contracts) with the npm solc compiler.
SOLC_VERSION := 0.8.28
SOLC_DIR     := .cache/solc-$(SOLC_VERSION)
contracts:
	npm install --no-save --silent --prefix $(SOLC_DIR) solc@$(SOLC_VERSION)
	NODE_PATH=$(SOLC_DIR)/node_modules node discovery/localchain/build.cjs

clean:
	rm -rf $(VENV) .pytest_cache
