# One command each: `make demo` and `make test` create the virtual environment, install the
# project with its pinned stack, then run. Nothing else is needed on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,serve]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/clonescout demo

# pytest exits 5 when it collects no tests: that is a failure of the suite, said plainly.
test: $(STAMP)
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is missing" >&2; fi; \
	exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) bench/bench_simulate.py --out bench/results/simulate.json
	$(PY) bench/bench_features.py --out bench/results/features.json
	$(PY) bench/bench_load.py --out bench/results/load.json
	$(PY) bench/bench_train.py --out bench/results/train.json
	$(PY) bench/bench_serve.py --out bench/results/serve.json

# Regenerate the committed sample set (tests check it is exactly reproducible).
sample: $(STAMP)
	$(VENV)/bin/clonescout simulate --out data/sample --campaigns 4 \
	    --clones-per-campaign 32 --seed 11 --format csv > /dev/null

clean:
	rm -rf $(VENV) data/generated mlruns mlflow.db .pytest_cache .ruff_cache .mypy_cache
