# Every target creates .venv on first use and installs loopnode into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow test-compat demo bench bench-profile screenshots clean

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

# docs/img/*.png of docs/pages.md: devloop + the colour detector in headless Chromium (needs chromium, chromium-driver)
screenshots: $(STAMP)
	$(BIN)/python tools/screenshots.py

clean:
	rm -rf $(VENV) .venv310 .venv-compat .venv-upstream *.egg-info

include compat/Makefile.inc
include bench/Makefile.inc
