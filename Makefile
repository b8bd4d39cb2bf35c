# Herald — local development, checks, packaging and deployment. `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
PY_VERSION  := 3.13
NAME        ?= Ada Lovelace
export AWS_DEFAULT_REGION ?= us-east-1

CHROMIUM    := /usr/bin/chromium
UI_DIST     := build/ui

# Deployment: make deploy STAGE=prod DEPLOY_BUCKET=<S3 bucket for code bundles> [PARAMS="Key=Value ..."]
STAGE         ?= dev
STACK         ?= herald-$(STAGE)
DEPLOY_BUCKET ?=
PARAMS        ?=
BUILD_DIR     := build/$(STAGE)
AWS           ?= $(VENV)/bin/aws

# checkov pins its own boto3, so it lives in a venv of its own (requirements-checkov.txt).
# It runs offline: no policy download from its vendor, no update check.
TOOLS_DIR   := .tools
CHECKOV     := $(TOOLS_DIR)/checkov/bin/checkov
CHECKOV_RUN := BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(CHECKOV) --skip-download

.PHONY: help venv tools run demo token lint fmt test package deploy clean clean-venv browser-deps vendor-ui screenshots ui-dist bench bench-import \
	faults bench-sending dlq counts

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

venv: $(STAMP) ## build .venv (Python 3.13) with requirements-dev.txt

# Python 3.13 from pyenv (newest 3.13.x under `pyenv root`) or python3.13 on PATH.
$(PY):
	@py=""; \
	root="$$(pyenv root 2>/dev/null || echo "$${PYENV_ROOT:-$$HOME/.pyenv}")"; \
	for candidate in $$(ls -d "$$root"/versions/$(PY_VERSION).* 2>/dev/null | sort -V -r); do \
	  if [ -x "$$candidate/bin/python" ]; then py="$$candidate/bin/python"; break; fi; \
	done; \
	if [ -z "$$py" ]; then py="$$(command -v python$(PY_VERSION) || true)"; fi; \
	if [ -z "$$py" ] || ! "$$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
	  echo "error: Python $(PY_VERSION) not found. Install it (pyenv install $(PY_VERSION)) or put python$(PY_VERSION) on PATH." >&2; \
	  exit 1; \
	fi; \
	echo "Creating $(VENV) with $$py"; \
	"$$py" -m venv --clear $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 builds packages with pip < 26.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

tools: $(CHECKOV) ## build .tools/checkov (template security checks)

$(CHECKOV): requirements-checkov.txt | $(PY)
	$(PY) -m venv --clear $(TOOLS_DIR)/checkov
	$(TOOLS_DIR)/checkov/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

run: venv ## run the embedded stack on 127.0.0.1 (API :8000, moto :5555)
	$(PY) -m chalicelib.local

demo: venv ## same, with ~50 demo accounts loaded through the API
	$(PY) -m chalicelib.local --demo

token: venv ## print a dev admin token: make token NAME="Ada Lovelace" [READ_ONLY=1]
	@$(PY) -m chalicelib.local.tokens --name "$(NAME)" $(if $(READ_ONLY),--read-only)

lint: venv ## ruff check, ruff format --check, mypy chalicelib
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: venv ## format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# One hash seed, as `make faults` uses: the fault smoke run then replays exactly with make faults SEED=….
test: venv tools lint browser-deps ## lint, then every test (the infra tests package the app, run cfn-lint and checkov)
	PYTHONHASHSEED=0 $(PY) -m pytest

bench: venv ## run the benchmarks (about 6 min on 2 cores), table + bench/results.json + docs/benchmarks.png
	$(PY) -m bench

bench-import: venv ## the million-row audience import benchmark (about 16 min), table + bench/import-results.json
	$(PY) -m bench --only audience_import --output bench/import-results.json
faults: venv ## fault-injection suite, >10,000 messages on moto: make faults [SEED=…] [CONCURRENCY=8]
	PYTHONHASHSEED=0 $(PY) -m tests.faults $(if $(SEED),--seed $(SEED)) $(if $(CONCURRENCY),--concurrency $(CONCURRENCY))

bench-sending: venv ## AWS requests and write units per message of a 20,000-message send
	$(PY) -m bench.sending

# The operator tools, against the local stack (make run) on HERALD_MOTO_PORT.
LOCAL_AWS := AWS_ENDPOINT_URL=http://127.0.0.1:$${HERALD_MOTO_PORT:-5555} AWS_ACCESS_KEY_ID=testing \
	AWS_SECRET_ACCESS_KEY=testing

dlq: venv ## dead-letter queues of the local stack: make dlq [CMD="show send" | CMD="redrive send"]
	$(LOCAL_AWS) $(PY) -m chalicelib.ops.dlq $(CMD)

counts: venv ## check a communication's counters against its records: make counts COMM=<id> [REPAIR=1]
	$(LOCAL_AWS) $(PY) -m chalicelib.ops.counts $(COMM) $(if $(REPAIR),--repair)

# The browser tests drive Debian's Chromium through Playwright (never Playwright's own download).
browser-deps: ## install Debian's chromium for the browser tests, unless it is there already
	@if [ -x $(CHROMIUM) ]; then echo "chromium: $$($(CHROMIUM) --version 2>/dev/null | head -1)"; \
	else \
	  if [ "$$(id -u)" != 0 ]; then echo "error: $(CHROMIUM) is missing; as root: apt-get install -y chromium" >&2; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi

screenshots: venv browser-deps ## run the browser tests and save each screen under docs/screenshots/
	HERALD_SCREENSHOTS=1 $(PY) -m pytest -q -m browser tests/e2e

vendor-ui: venv ## re-fetch the admin app's pinned JS libraries from the npm registry (needs npm)
	$(PY) tools/vendor_ui.py

ui-dist: venv ## the admin app as static files for S3/CloudFront: make ui-dist API_BASE=https://… [COGNITO_DOMAIN=… COGNITO_CLIENT_ID=…]
	$(PY) tools/ui_dist.py --out $(UI_DIST) --api-base "$(API_BASE)" \
	  --cognito-domain "$(COGNITO_DOMAIN)" --cognito-client-id "$(COGNITO_CLIENT_ID)"

package: venv tools ## write the deployable template for STAGE (default dev) to build/<stage>/sam.json; cfn-lint + checkov it
	rm -rf $(BUILD_DIR)
	@# app.py attaches the Cognito authorizer to admin routes when it is imported in cognito mode.
	HERALD_AUTH_MODE=cognito $(VENV)/bin/chalice package --stage $(STAGE) --merge-template infra/template.json $(BUILD_DIR)
	$(VENV)/bin/cfn-lint $(BUILD_DIR)/sam.json
	$(CHECKOV_RUN) --quiet --compact --framework cloudformation -f $(BUILD_DIR)/sam.json

deploy: package ## deploy STAGE to AWS: make deploy STAGE=prod DEPLOY_BUCKET=my-bucket [PARAMS="AlarmEmail=ops@example.com"]
	@test -n "$(DEPLOY_BUCKET)" || { echo "error: set DEPLOY_BUCKET to an S3 bucket (same region) for the code bundle" >&2; exit 1; }
	$(AWS) cloudformation package --template-file $(BUILD_DIR)/sam.json --s3-bucket $(DEPLOY_BUCKET) \
	  --s3-prefix $(STACK) --use-json --output-template-file $(BUILD_DIR)/packaged.json
	$(AWS) cloudformation deploy --template-file $(BUILD_DIR)/packaged.json --stack-name $(STACK) \
	  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
	  --parameter-overrides Stage=$(STAGE) $(PARAMS)
	$(AWS) cloudformation describe-stacks --stack-name $(STACK) --query 'Stacks[0].Outputs' --output table

clean: ## remove build output and caches
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

clean-venv: ## remove .venv and .tools
	rm -rf $(VENV) $(TOOLS_DIR)
