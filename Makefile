# Every target creates .venv on first use and installs loopnode into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow test-compat demo demo-cycle bench bench-profile screenshots dist wheelhouse clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

demo: $(STAMP)
	$(BIN)/loopnode demo

# the whole active-learning cycle by itself (issue 14): exit 0 when the detector serves the newly trained model
demo-cycle: $(STAMP)
	rm -rf demo-data/cycle && $(BIN)/loopnode demo --cycle --port 0 --loop-port 0 --data demo-data/cycle

# docs/img/*.png of docs/pages.md: devloop + the colour detector in headless Chromium (needs chromium, chromium-driver)
screenshots: $(STAMP)
	$(BIN)/python tools/screenshots.py

# sdist + wheel in dist/, checked by twine (docs/install.md)
dist: $(STAMP)
	rm -rf build dist/loopnode-*
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/loopnode-*

# An offline install set (docs/install.md): loopnode's wheel and a binary wheel of every dependency in
# dist/wheelhouse/ (plus the systemd units and env templates), for this machine or e.g.
# `make wheelhouse PLATFORM=aarch64 PYTHON_VERSION=3.10` (manylinux2014, glibc >= 2.17: every JetPack).
PLATFORM ?=
PYTHON_VERSION ?=
WHEELHOUSE := dist/wheelhouse
TARGET_FLAGS := $(if $(PLATFORM),--platform manylinux2014_$(PLATFORM)) $(if $(PYTHON_VERSION),--python-version $(PYTHON_VERSION))
wheelhouse: $(STAMP)
	rm -rf $(WHEELHOUSE)
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir $(WHEELHOUSE) .
	$(BIN)/python -m pip download --quiet --only-binary=:all: $(TARGET_FLAGS) --dest $(WHEELHOUSE) $(WHEELHOUSE)/loopnode-*.whl
	cp -r systemd $(WHEELHOUSE)/systemd
	ls $(WHEELHOUSE)

clean:
	rm -rf $(VENV) .venv310 .venv-compat .venv-upstream .venv-autobahn .venv-virtualenv conformance/reports *.egg-info build dist

include compat/Makefile.inc
include bench/Makefile.inc
include conformance/Makefile.inc
