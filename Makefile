# The two quick-start commands: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NPM_DIR := tests/e2e/button
PYTEST_WORKERS ?= 2

.PHONY: demo test lint install chromium pgbouncer npm clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium; Playwright never downloads a browser here.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The PgBouncer tests start Debian's pgbouncer themselves (transaction mode, a free port).
pgbouncer:
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null)

# The official 360dialog-connect-button (and React to render it) for the button test.
$(NPM_DIR)/node_modules/.installed: $(NPM_DIR)/package.json $(NPM_DIR)/package-lock.json
	cd $(NPM_DIR) && npm ci --silent --no-audit --no-fund
	touch $@

npm: $(NPM_DIR)/node_modules/.installed

demo: install
	$(BIN)/onboard360 demo

test: install chromium pgbouncer npm
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) $(NPM_DIR)/node_modules .onboard360
