# Two commands on a fresh machine: `make demo` and `make test`. Each creates or updates .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := $(VENV)/sam
CHECKOV_VENV := $(VENV)/checkov
# no platform mapping or guidelines download, no update check: checkov runs offline
CHECKOV_ENV := BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE
export SAM_CLI_TELEMETRY := 0
UV_VERSION := $(shell sed -n 's/^uv==//p' requirements/dev.txt)
# PYTHONDONTWRITEBYTECODE is common in CI images; compile at install so imports stay fast.
UV_SYNC := $(BIN)/uv pip sync --quiet --compile-bytecode

.PHONY: help venv sam-venv checkov-venv test lint unit demo bench build validate checkov lock schemas graphs clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/uv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "eksops needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(BIN)/uv requirements/dev.txt pyproject.toml
	$(UV_SYNC) --python $(BIN)/python requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --editable .
	@touch $@

$(SAM_VENV)/.synced: $(BIN)/uv requirements/sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(UV_SYNC) --python $(SAM_VENV)/bin/python requirements/sam.txt
	@touch $@

$(CHECKOV_VENV)/.synced: $(BIN)/uv requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(UV_SYNC) --python $(CHECKOV_VENV)/bin/python requirements/checkov.txt
	@touch $@

venv: $(VENV)/.synced  ## create or update .venv from the lock

sam-venv: $(SAM_VENV)/.synced  ## the SAM CLI, in its own venv (it pins boto3[crt])

checkov-venv: $(CHECKOV_VENV)/.synced  ## checkov, in its own venv (its pins differ from ours)

lint: venv  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: venv sam-venv checkov-venv lint  ## lint, then every test (unit, contract incl. sam validate/build, workflows)
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(BIN)/pytest

demo: venv  ## the main job offline, narrated
	$(BIN)/eksops local demo

bench: venv sam-venv  ## benchmarks: eksops token vs aws eks get-token, handler imports, artifact sizes, cluster creation polling vs CDK
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(BIN)/python benchmarks/run.py

build: sam-venv  ## sam build (no Docker: makefile builds cross-install arm64 wheels)
	$(SAM_VENV)/bin/sam build

validate: sam-venv  ## sam validate --lint
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1

checkov: checkov-venv  ## checkov on template.yaml and member-account.yaml, offline (skips and their reasons: .checkov.yaml)
	$(CHECKOV_ENV) $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml -f member-account.yaml --quiet

schemas: venv  ## regenerate docs/schemas/*.schema.json from the input models
	$(BIN)/python -m eksops.local.schemas

graphs: venv  ## regenerate docs/images/*.svg from statemachines/*.asl.json
	$(BIN)/python -m eksops.local.asl_graph

lock: $(BIN)/uv  ## re-resolve every lock file from its .in
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 requirements/dev.in -o requirements/dev.txt
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 requirements/sam.in -o requirements/sam.txt
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 requirements/checkov.in -o requirements/checkov.txt
	$(BIN)/uv pip compile --quiet --python-version 3.13 --python-platform aarch64-manylinux2014 \
	  -c requirements/dev.txt $(addprefix --no-emit-package ,boto3 botocore s3transfer jmespath urllib3 python-dateutil six) \
	  layers/eksops/requirements.in -o layers/eksops/requirements.txt
	$(BIN)/uv pip compile --quiet --python-version 3.13 --python-platform aarch64-manylinux2014 \
	  -c requirements/dev.txt $(addprefix --no-emit-package ,boto3 botocore s3transfer jmespath urllib3 python-dateutil six) \
	  layers/kubernetes/requirements.in -o layers/kubernetes/requirements.txt

clean:  ## remove the venvs and build output
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache
