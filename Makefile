# Two commands on a fresh clone: `make run` (install + run the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SNIPPET_STAMP := web_snippet/node_modules/.installed-stamp
ASSETS_STAMP := dashboard_assets/node_modules/.installed-stamp
export CALLPOOL_TEST_PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: install run serve test test-fast lint lint-containers snippet dashboard-assets browser recording-tools pdf-font pdf-tools wheel-check clean

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

# The PDF export's font (DejaVu Sans, with Cyrillic): Debian's fonts-dejavu-core.
pdf-font:
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq fonts-dejavu-core >/dev/null; \
	  else echo "install Debian's fonts-dejavu-core package (sudo apt-get install fonts-dejavu-core)"; exit 1; fi; }

# pdftotext and pdftoppm (Debian's poppler-utils): the export tests read PDFs back.
pdf-tools: pdf-font
	@command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq poppler-utils >/dev/null; \
	  else echo "install Debian's poppler-utils package (sudo apt-get install poppler-utils)"; exit 1; fi; }

# Debian's sox (converts recordings for the browser) and espeak-ng (the simulator's
# recorded calls speak) for the recordings tests.
recording-tools:
	@{ command -v sox && command -v espeak-ng; } >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends sox espeak-ng >/dev/null; \
	  else echo "install Debian's sox and espeak-ng packages (sudo apt-get install sox espeak-ng)"; exit 1; fi; }

# The demo: callpool with a simulated PBX and simulated visitors and calls (DEMO_ARGS,
# e.g. `make run DEMO_ARGS="--duration 60"`). `make serve` runs callpool for real.
# The snippet is committed built, so neither needs Node.js or the network.
run: install
	$(VENV)/bin/callpool demo $(DEMO_ARGS)

serve: install
	$(VENV)/bin/callpool serve

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# hadolint, shellcheck and the compose schema on the container files (ops/check-containers.sh).
lint-containers: install
	ops/check-containers.sh

test: install snippet dashboard-assets browser recording-tools pdf-tools
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
