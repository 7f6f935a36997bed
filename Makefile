# robustperf: `make demo` and `make test` do all set-up on a fresh machine.
# Every pip install goes through constraints.txt (torch 2.13.0 pin: without it `pip install timm` pulls a
# CUDA torch and several GB). DeepSpeed's C++/CUDA ops are not built (DS_BUILD_OPS=0); the flops profiler
# is pure Python.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := DS_BUILD_OPS=0 PIP_DISABLE_PIP_VERSION_CHECK=1 $(PY) -m pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_OUT ?= bench.json

.PHONY: zoo-estimates install test test-all docs demo bench paper gpu-check trends robustbench-archs zoo-table clean help

help:
	@echo "make demo   - set up .venv, install, run the whole pipeline on the embedded default (digits)"
	@echo "make test   - set up .venv, install with test extras, run the fast tests (-m 'not slow', minutes)"
	@echo "make test-all - every test: also the slow ones (real SLURM jobs, the demo, end-to-end chains)"
	@echo "make docs   - build the documentation site offline into $(SITE_DIR)/ (mkdocs build --strict)"
	@echo "make bench  - run the benchmarks, print a table and write $(BENCH_OUT)"
	@echo "make paper  - regenerate the reference study's scaling laws and figures from its published table"
	@echo "make gpu-check - on a GPU (< 8 min): training/inference throughput, MFU, NVML energy, AutoAttack parity;"
	@echo "                 without CUDA a CPU smoke run; writes $(GPU_CHECK_OUT) and a Markdown table"
	@echo "make trends - the compute trend of RobustBench's CIFAR-10 models; prints the fitted doubling times"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) setup.cfg pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt --upgrade pip setuptools wheel
	$(PIP) install -q -c constraints.txt -e '.[test]'
	# robustbench without its dependencies: it pins timm==1.0.9 and gdown; the suite keeps its own timm and
	# installs the rest (the zoo extra, in the test extra too). benchmarks/zoo/compat.py imports it offline.
	$(PIP) install -q -c constraints.txt --no-deps robustbench
	touch $(STAMP)

install: $(STAMP)

# Two tiers (markers in setup.cfg): `make test` leaves out the tests marked slow; `make test-all` runs them all.
# PYTEST_ARGS go last, so `make test PYTEST_ARGS='-m slurm'` replaces the tier's -m.
# The fast tier runs on every core (pytest-xdist; a test file stays on one worker, so its module fixtures are made
# once); TEST_WORKERS=0 runs it in one process. `make test-all` is two passes: the fast tier as `make test` does,
# then the slow tests in one process, so the tests that time real processes (locks, signals, SLURM, kill and
# resume) have the machine to themselves; it fails when either pass fails (exit 5, nothing selected, is no failure).
TEST_WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS); fast=$$?; \
	$(PY) -m pytest -m slow $(PYTEST_ARGS); slow=$$?; \
	echo "make test-all: fast tier exit $$fast, slow tests exit $$slow"; \
	for rc in $$fast $$slow; do [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit 1; done

# The reference pages are generated from the code at build time (docs/hooks.py); --strict turns a broken link,
# a missing anchor or an undocumented record field into a failure. Nothing is fetched from the network.
SITE_DIR ?= site
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(SITE_DIR)

demo: $(STAMP)
	$(VENV)/bin/robustperf demo

bench: $(STAMP)
	BENCH_OUT=$(BENCH_OUT) $(PY) -m tests.bench

GPU_CHECK_OUT ?= gpu-check.json
gpu-check: $(STAMP)
	$(PY) -m benchmarks.gpu_check --out $(GPU_CHECK_OUT)

PAPER_OUT ?= runs/paper
paper: $(STAMP)
	$(VENV)/bin/robustperf analyze tests/data/timm_adv_training_results.csv \
		--mapping scaling/mappings/timm-adv-training.yaml -o $(PAPER_OUT)
	$(VENV)/bin/robustperf analyze tests/data/timm_adv_training_results.csv \
		--mapping scaling/mappings/timm-adv-training.yaml --by synthetic_data -o $(PAPER_OUT)-by-synthetic

# The compute trend of RobustBench's leaderboards: CIFAR-10 Linf into TRENDS_OUT, CIFAR-100 and ImageNet Linf
# beside it; each model counted from the zoo table (built) or its architecture's name (by-name), else listed.
TRENDS_OUT ?= runs/trends
trends: $(STAMP)
	$(VENV)/bin/robustperf analyze tests/data/robustbench_cifar10_linf.csv \
		--mapping scaling/mappings/robustbench.yaml -o $(TRENDS_OUT)
	$(VENV)/bin/robustperf analyze tests/data/robustbench_cifar100_linf.csv \
		--mapping scaling/mappings/robustbench_cifar100.yaml -o $(TRENDS_OUT)-cifar100-linf
	$(VENV)/bin/robustperf analyze tests/data/robustbench_imagenet_linf.csv \
		--mapping scaling/mappings/robustbench_imagenet.yaml -o $(TRENDS_OUT)-imagenet-linf

# Training compute of the models with training cards, read by make trends (estimated-from-card; torch).
zoo-estimates: $(STAMP)
	$(VENV)/bin/robustperf zoo cost -o scaling/mappings/zoo_estimates.json

# Rebuild the architecture lookup of `make trends` by building every model (torch; minutes on a CPU).
robustbench-archs: $(STAMP)
	$(PY) -m benchmarks.robustbench_archs tests/data/robustbench_cifar10_linf.csv -o scaling/mappings/robustbench_archs.csv

# Count parameters and forward FLOPs of every RobustBench zoo model by building it (robustbench's code; tens of
# minutes on a CPU); `robustperf zoo list` reads the table. --resume keeps the counts already there.
zoo-table: $(STAMP)
	$(PY) -m benchmarks.zoo.table --resume -o benchmarks/zoo/zoo_models.csv

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache $(SITE_DIR)
