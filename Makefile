# Set-up and the two entry points of the README. Everything installs into .venv.
# torch is pinned to the CPU wheel version this project is tested with, installed first so that
# no looser requirement can pull a CUDA build.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH ?= torch==2.13.0
DATA ?= data/emt

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet "$(TORCH)"
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(VENV)/bin/eqv2 data emt --out $(DATA) --n 200 --seed 0
	$(VENV)/bin/eqv2 predict tests/fixtures/reference/tiny_L4M2/eqv2_tiny_L4M2_oc20.pt $(DATA)/test.extxyz -o $(DATA)/test_predicted.extxyz

test: setup
	$(PYTHON) -m pytest

clean:
	rm -rf $(VENV)
