# Two commands on a fresh clone: `make run` (install + run the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SNIPPET_STAMP := web_snippet/node_modules/.installed-stamp
ASSETS_STAMP := dashboard_assets/node_modules/.installed-stamp
export CALLPOOL_TEST_PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: install run test test-fast lint lint-containers snippet dashboard-assets browser wheel-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,ops]'
	@touch $(STAMP)

$(SNIPPET_STAMP): web_snippet/package.json web_snippet/package-lock.json
	cd web_snippet && npm ci --no-audit --no-fund --loglevel=error
	@touch $(SNIPPET_STAMP)

snippet: $(SNIPPET_STAMP)
	cd web_snippet && npm run --silent build

$(ASSETS_STAMP): dashboard_assets/package.json dashboard_assets/package-lock.json
	cd dashboard_assets && npm ci --no-audit --no-fund --loglevel=error
	@touch $(ASSETS_STAMP)

# The dashboard's script (with Chart.js) and styles, built into callpool/reports/dashboard/static/.
dashboard-assets: $(ASSETS_STAMP)
	cd dashboard_assets && npm run --silent build

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium package (sudo apt-get install chromium)"; exit 1; fi; }

run: install snippet
	$(VENV)/bin/callpool serve

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# hadolint, shellcheck and the compose schema on the container files (ops/check-containers.sh).
lint-containers: install
	ops/check-containers.sh

test: install snippet dashboard-assets browser
	cd web_snippet && npm test --silent && npm run --silent check
	cd dashboard_assets && npm run --silent check
	$(VENV)/bin/pytest -q

# The pure tests alone (no database, network or browser): seconds, for the edit loop.
test-fast: install
	$(VENV)/bin/pytest -q -m pure

# Build the wheel, install it into a fresh venv and run it from an empty directory.
wheel-check:
	bash .ci/check-wheel

clean:
	rm -rf $(VENV) web_snippet/node_modules dashboard_assets/node_modules .mypy_cache .ruff_cache .pytest_cache
