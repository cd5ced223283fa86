# Two commands do all the set-up on a fresh machine:
#   make run    creates .venv if missing, installs, runs the whole series (PARAMS="-p epochs 5" forwards papermill parameters)
#   make test   same environment, runs the tests (pytest: helpers, papermill smoke run, nbval on the committed
#               notebooks, ruff, the workflow lint, the HTML pages), two at a time (pytest-xdist)
#   make solutions  runs the exercise solutions against the latest run (ARTIFACTS=folder: another run's artifacts)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PARAMS ?=
RUN_DIR ?=
# Two pytest workers: a training uses about one core, so two run side by side on 2 cores. The
# notebooks under nbval stay together and in order in one worker (conftest.py: work_unit);
# TEST_ARGS=-n0 runs everything in one process.
TEST_ARGS ?= -n 2 --dist loadscope
HTML_DIR ?= site
NPM ?= npm
# onnxruntime-web for the pages' drawing pad, at the versions of web/package-lock.json (npm ci)
WEB_RUNTIME := web/node_modules/onnxruntime-web/dist/ort.wasm.min.js
ARTIFACTS ?=
# The exact versions the committed outputs were made with; LOCK=none installs the newest the ranges allow.
LOCK ?= requirements.lock
PIN := $(if $(filter-out none,$(LOCK)),-c $(LOCK))
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install install-dev run test test-fast lint html solutions bench notebooks clean

# What the series needs (requirements.txt); install-dev adds the tests' (requirements-dev.txt).
# README's "Without make" gives the same commands for a machine without make.
install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
	  "Python 3.11 or newer is needed (TensorFlow 2.21 and the pinned libraries): run make PYTHON=python3.12 ...")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt $(PIN) -e .
	touch $@

install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt $(PIN)
	touch $@

run: install
	$(PY) -m quickdraw_cnn.series $(if $(RUN_DIR),--run-dir $(RUN_DIR)) $(PARAMS)

# Everything: unit tests, ruff and the workflow lint, the HTML pages, the series under papermill and
# nbval on the committed notebooks (tests/test_lint.py runs what make lint runs).
test: install-dev $(WEB_RUNTIME)
	$(PY) -m pytest $(TEST_ARGS)

# For iterating: all but the tests marked slow (notebooks, smoke run, workers, browser): about 25 s.
test-fast: install-dev
	$(PY) -m pytest -m "not slow" tests

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The executed series as static HTML: runs/latest if there is a run, else the committed notebooks;
# chapter 07's page and draw.html get a drawing pad that runs the run's exported networks in the
# browser (onnxruntime-web from npm, copied into $(HTML_DIR)/: the folder works offline).
html: install $(WEB_RUNTIME)
	$(PY) tools/build_html.py --out $(HTML_DIR)

$(WEB_RUNTIME): web/package.json web/package-lock.json
	@command -v $(NPM) >/dev/null || { echo "the pages' drawing pad needs npm (Node.js 20 or newer): \
	  apt-get install nodejs npm, or https://nodejs.org"; exit 1; }
	cd web && $(NPM) ci --ignore-scripts --no-audit --no-fund
	touch $@

# The worked solutions (solutions/) against the artifacts of a run of the series: runs/latest/artifacts
# after make run, or ARTIFACTS=path/to/artifacts; executed copies go to runs/solutions-<date-time>/.
solutions: install
	$(PY) -m quickdraw_cnn.series --solutions $(ARTIFACTS)

bench: install
	$(PY) tools/bench.py

# Re-execute the committed notebooks (the outputs GitHub shows) at their default parameters, then the
# solutions against their artifacts; they are replaced only if every notebook ran. The networks those
# outputs were made with go to web/networks/ (the pages of a fresh clone). Offline, 07 needs Google's
# strokes too: QUICKDRAW_DATA_DIR=.../numpy_bitmap QUICKDRAW_STROKES_DIR=.../simplified make notebooks
notebooks: install
	$(PY) -m quickdraw_cnn.series --in-place
	rm -f web/networks/model_*.onnx*
	cp artifacts/model_*.onnx* web/networks/

# $(HTML_DIR) only if make html made it (tools/build_html.py marks its folders): never HTML_DIR=. or docs
clean:
	rm -rf runs artifacts
	test ! -f "$(HTML_DIR)/.made-by-make-html" || rm -rf "$(HTML_DIR)"
