# Two commands set everything up on a fresh machine:  `make book`  and  `make test`.
# Both create .venv when missing, install facelib (editable) with its pinned extras, fetch the
# assets, then do their job.  Versions are pinned in pyproject.toml only.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The project's offline asset mirror, when it sits beside the checkout (DESIGN 4).
ifneq ($(wildcard ../shared/assets),)
export FACELIB_MIRROR ?= $(abspath ../shared/assets)
endif
STAGE  := _build/stage
NOTEBOOKS := $(sort $(wildcard book/*.ipynb))

.PHONY: book html publish stage test test-slow lint assets setup clean bench dry-run mechanisms ablations

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[local,book,test,data,lint]"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
	    $$($(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['tool']['facelib']['no-deps'])")
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (occluded-faces)" >/dev/null
	touch $@

assets: $(STAMP)
	$(BIN)/python -m data_scripts.fetch_assets

# Lint (import layers, ruff), unit tests (fast set), then every chapter in the smoke profile under nbval.
test: assets lint
	$(BIN)/python -m pytest -q -m "not slow and not gpu" tests
	FACELIB_PROFILE=smoke $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env \
	    --nbval-cell-timeout=600 $(NOTEBOOKS)

lint: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check facelib tests data_scripts book
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

test-slow: assets
	$(BIN)/python -m pytest -q -m "slow" tests

# Execute every chapter with papermill (profile: $FACELIB_PROFILE, else gpu if CUDA, else cpu) into
# _build/executed/<profile>/, printing the chapter, the training running and the time left; an
# interrupted run resumes (facelib/bookrun.py). Then build the HTML from the executed copies.
book: assets
	$(MAKE) --no-print-directory stage
	$(BIN)/python -m facelib book --stage $(STAGE)/book
	$(BIN)/jupyter-book build $(STAGE) --path-output . -W -n --keep-going
	@echo "Book: $(abspath _build/html/index.html)"

# Build the HTML from the notebooks as stored (their outputs), executing nothing. The stored
# notebooks carry a PNG twin of each plotly figure for GitHub; the HTML draws the interactive one.
html:
	$(MAKE) --no-print-directory stage
	cp $(NOTEBOOKS) $(STAGE)/book/
	$(BIN)/python -m facelib static-figures --remove $(STAGE)/book/*.ipynb >/dev/null
	$(BIN)/jupyter-book build $(STAGE) --path-output . -W -n --keep-going
	@echo "Book: $(abspath _build/html/index.html)"

# The HTML as GitHub Pages serves it (.github/workflows/book.yml deploys it from main).
publish: html
	touch _build/html/.nojekyll
	@echo "Ready for GitHub Pages: $(abspath _build/html)"

# The staging copy both builds start from (chapters' literalincludes reach facelib through the link).
stage:
	rm -rf $(STAGE) && mkdir -p $(STAGE)/book
	cp _config.yml _toc.yml references.bib $(STAGE)/
	cp book/*.md $(STAGE)/book/
	cp -r book/_ext $(STAGE)/book/
	ln -s ../../facelib $(STAGE)/facelib

# Issue 35's mechanism experiments at the cpu profile (long: not part of `make book`, whose chapters
# read their committed records): each writes results/mechanisms/<experiment>-cpu.json and its runs'
# logs under results/mechanisms/logs/cpu/. Finished runs under runs/ are loaded, not trained again.
mechanisms: assets
	$(BIN)/python -m facelib mechanism focus --profile cpu
	$(BIN)/python -m facelib mechanism focus-departures --profile cpu
	$(BIN)/python -m facelib mechanism orn --profile cpu
	$(BIN)/python -m facelib mechanism orn-departures --profile cpu
	$(BIN)/python -m facelib mechanism rogue --profile cpu
	$(BIN)/python -m facelib mechanism contour --profile cpu
	$(BIN)/python -m facelib mechanism contour-departures --profile cpu

# The chapters' ablation arms, levers and refinement rows at the cpu profile (off `make book`'s
# reference path: the chapters read their committed results/<chapter>/cpu/ablations.json, and refuse
# rows made from another training than their own). Needs the chapters' own runs (`make book`) first.
ablations: assets
	$(BIN)/python -m facelib ablations --profile cpu

# The paper-size dry run: every chapter with the gpu profile's networks and image size (ResNet-50,
# 224 px) for a handful of steps on a tiny set, on whatever device there is (a CPU here); prints each
# chapter's wall time. CI (.ci/run) runs it after `make test`.
dry-run: assets
	$(BIN)/python -m pytest -q -m slow --durations=0 tests/test_dry_run.py

bench: assets
	$(BIN)/python -m facelib.bench render
	$(BIN)/python -m facelib.bench train --profile cpu

clean:
	rm -rf _build .pytest_cache
