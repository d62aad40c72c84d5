# One command each: `make demo` and `make test` create the virtual environment, install the
# project with its pinned stack, then run. Nothing else is needed on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: install demo test lint format bench sample clean java postgres

# Packages are byte-compiled at install (pip's default), not left to first import: where
# PYTHONDONTWRITEBYTECODE is set (as on our CI machines) nothing compiled on import is kept,
# and every process of the suite compiled mlflow, scikit-learn and pandas again (the
# fresh-clone suite took 2 minutes longer with --no-compile).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,serve,spark,team]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/clonescout demo

# The report's browser test drives Debian's Chromium with Playwright (no browser download).
# Installed only when missing; a machine where apt-get cannot run fails here, saying so.
$(CHROMIUM):
	@echo "installing Debian's chromium for the report's browser test" >&2
	@apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium > /dev/null \
	    || { echo "could not install chromium (needs root and apt-get); install the" \
	         "Debian package 'chromium' so that $(CHROMIUM) exists" >&2; exit 1; }
	@test -x $(CHROMIUM) || { echo "chromium installed but $(CHROMIUM) is missing" >&2; exit 1; }

# Spark (score --engine spark and its tests) runs on Java 17 or newer; Debian's headless JRE
# is installed when no java is found. An older java is not replaced: it is reported.
java:
	@if ! command -v java > /dev/null; then \
	    echo "installing Debian's openjdk-17-jre-headless for Spark" >&2; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless > /dev/null \
	    || { echo "could not install Java 17 (needs root and apt-get); install" \
	         "openjdk-17-jre-headless or point PATH at a Java 17+" >&2; exit 1; }; \
	fi
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then \
	    echo "Spark needs Java 17 or newer; 'java' here is version $${v:-unknown}" >&2; exit 1; fi

# The team-scale test starts a throw-away PostgreSQL cluster (initdb, pg_ctl): Debian's
# server is installed when no initdb is found (Debian's package may start its own cluster;
# the test does not use it).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 && ! command -v initdb > /dev/null; then \
	    echo "installing Debian's postgresql for the team-scale test" >&2; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq --no-install-recommends postgresql > /dev/null \
	    || { echo "could not install PostgreSQL (needs root and apt-get); install the" \
	         "Debian package 'postgresql' so that initdb and pg_ctl exist" >&2; exit 1; }; \
	fi

# pytest exits 5 when it collects no tests: that is a failure of the suite, said plainly.
# CLONESCOUT_REQUIRE_POSTGRES: the PostgreSQL test fails, never skips, once its server is here.
# Two xdist workers, one per core, each with one XGBoost/BLAS thread (two workers with a
# thread pool each would fight for the cores). Each module runs whole on one worker, in the
# order tests/conftest.py gives (the default bundle's modules first: the longest chain), not
# reordered by size; each shared bundle is trained once for both. The 15 slowest are shown.
TEST_WORKERS ?= 2
PROPERTY_TESTS := tests/contract/test_rejects.py tests/unit/test_early_features.py \
	tests/unit/test_ranking.py \
	tests/model/test_whatif.py::test_the_pareto_front_is_exactly_the_undominated_points
test: $(STAMP) $(CHROMIUM) java postgres
	@CLONESCOUT_REQUIRE_POSTGRES=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
	    $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is missing" >&2; fi; \
	exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every benchmark, then one table: bench/results.json and BENCHMARKS.md (about 2.5 hours on
# 2 cores: bench_retraining alone trains 40 models, ~50 min). A missed target is reported
# in the table; only a broken benchmark stops it.
bench: $(STAMP) java $(CHROMIUM)
	$(PY) bench/bench_simulate.py --out bench/results/simulate.json
	$(PY) bench/bench_features.py --out bench/results/features.json
	$(PY) bench/bench_load.py --out bench/results/load.json
	$(PY) bench/bench_train.py --out bench/results/train.json
	$(PY) bench/bench_regimes.py --out bench/results/regimes.json
	$(PY) bench/bench_weak_sets.py --out bench/results/weak_sets.json
	$(PY) bench/bench_serve.py --out bench/results/serve.json
	$(PY) bench/bench_score.py --out bench/results/score.json
	$(PY) bench/bench_report.py --out bench/results/report.json
	$(PY) bench/bench_whatif.py --out bench/results/whatif.json
	$(PY) bench/bench_drift.py --out bench/results/drift.json
	$(PY) bench/bench_monitor.py --out bench/results/monitor.json
	$(PY) bench/bench_lifecycle.py --out bench/results/lifecycle.json
	$(PY) bench/bench_retraining.py --out bench/results/retraining.json
	$(PY) bench/bench_web.py --out bench/results/web.json
	$(PY) bench/bench_fuzz.py --out bench/results/fuzz.json
	@echo "property tests with new random examples (CI replays one fixed draw)"
	CLONESCOUT_HYPOTHESIS=explore $(PY) -m pytest -q -p no:cacheprovider $(PROPERTY_TESTS)
	$(PY) bench/collect.py

# Regenerate the committed sample set (tests check it is exactly reproducible).
sample: $(STAMP)
	$(VENV)/bin/clonescout simulate --out data/sample --campaigns 4 \
	    --clones-per-campaign 32 --seed 11 --format csv > /dev/null

clean:
	rm -rf $(VENV) data/generated mlruns mlflow.db .pytest_cache .ruff_cache .mypy_cache
