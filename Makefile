# Herald — local development, checks and packaging. `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
PY_VERSION  := 3.13
BUILD_DIR   := build/package
NAME        ?= Ada Lovelace
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help venv run demo token lint fmt test package clean clean-venv faults bench-sending dlq counts

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
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
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

test: venv lint ## lint, then every test (the infra tests package the app and run cfn-lint)
	$(PY) -m pytest

faults: venv ## fault-injection suite, >10,000 messages on moto: make faults [SEED=…]
	PYTHONHASHSEED=0 $(PY) -m tests.faults $(if $(SEED),--seed $(SEED))

bench-sending: venv ## AWS requests and write units per message of a 20,000-message send
	$(PY) -m bench.sending

# The operator tools, against the local stack (make run) on HERALD_MOTO_PORT.
LOCAL_AWS := AWS_ENDPOINT_URL=http://127.0.0.1:$${HERALD_MOTO_PORT:-5555} AWS_ACCESS_KEY_ID=testing \
	AWS_SECRET_ACCESS_KEY=testing

dlq: venv ## dead-letter queues of the local stack: make dlq [CMD="show send" | CMD="redrive send"]
	$(LOCAL_AWS) $(PY) -m chalicelib.ops.dlq $(CMD)

counts: venv ## check a communication's counters against its records: make counts COMM=<id> [REPAIR=1]
	$(LOCAL_AWS) $(PY) -m chalicelib.ops.counts $(COMM) $(if $(REPAIR),--repair)

package: venv ## chalice package merged with infra/template.json into build/package, then cfn-lint it
	rm -rf $(BUILD_DIR)
	$(VENV)/bin/chalice package --merge-template infra/template.json $(BUILD_DIR)
	$(VENV)/bin/cfn-lint $(BUILD_DIR)/sam.json
	@echo "Deploy: aws cloudformation package/deploy with $(BUILD_DIR)/sam.json (parameter Stage, default dev)"

clean: ## remove build output and caches
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

clean-venv: ## remove .venv
	rm -rf $(VENV)
