# Every verb a newcomer types. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PYTHON    ?= python3
BIN       := $(VENV)/bin
CACHE     ?= $(HOME)/.cache/analytics-platform
# Molecule scenarios: every role that has one, then the top-level cluster scenarios.
ROLE_SCENARIOS := $(patsubst roles/%/molecule/default/molecule.yml,%,$(wildcard roles/*/molecule/default/molecule.yml))
# The slowest (cluster: five hosts, the whole site.yml) runs last.
CLUSTER_SCENARIOS := $(filter-out default cluster,$(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml))) cluster
# Last among the role scenarios: serving, the slowest (three hosts, load tests).
LAST_ROLE_SCENARIOS := serving
# make test's two lanes, run at the same time (scripts/lanes.sh), each about half of the
# whole: pytest then the role scenarios; the cluster scenarios then serving.
LANE_ROLES := $(addprefix role:,$(filter-out $(LAST_ROLE_SCENARIOS),$(ROLE_SCENARIOS)))
LANE_CLUSTER := $(CLUSTER_SCENARIOS) $(addprefix role:,$(LAST_ROLE_SCENARIOS))

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv engine host-images lint docs unit molecule test demo screenshot model backup restore demo-down clean

help: ## List the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt images/*/requirements.txt
	scripts/venv.sh $(VENV)
	@touch $@

venv: $(BIN)/.installed ## The pinned controller venv in .venv

engine: ## A Docker engine that answers (installs and starts one when root on Debian)
	@scripts/engine.sh

host-images: engine ## Build the local Debian base and the "bare host" images (cached)
	@scripts/host-image.sh bookworm trixie

lint: venv ## yamllint, ansible-lint (production profile), ruff
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: venv ## Regenerate each role's README variable table from its meta/argument_specs.yml
	$(BIN)/python scripts/role_docs.py

# pytest-xdist: one worker per core, at most 4 (each starts its own Spark and PostgreSQL).
unit: venv engine ## pytest: preflight, templates, the apps, image shipping (on the Docker engine), one worker per core
	$(BIN)/pytest --numprocesses auto --maxprocesses 4

molecule: venv engine ## Every Molecule scenario, one after the other; ends with each one's wall time (and the failed tasks)
	@scripts/molecule.sh $(addprefix role:,$(filter-out $(LAST_ROLE_SCENARIOS),$(ROLE_SCENARIOS)) $(LAST_ROLE_SCENARIOS)) \
	  $(CLUSTER_SCENARIOS)

test: lint engine ## Everything CI runs: lint, then pytest and every Molecule scenario in two lanes at once
	@scripts/lanes.sh roles '$(MAKE) --no-print-directory unit; u=$$?; scripts/molecule.sh $(LANE_ROLES); exit $$((u | $$?))' \
	  cluster 'scripts/molecule.sh $(LANE_CLUSTER)'

demo: venv engine ## The whole platform on a local lab of container hosts (re-run: no change)
	$(BIN)/ansible-playbook playbooks/lab.yml
	$(BIN)/ansible-playbook site.yml -i inventory/lab
	$(BIN)/ansible-playbook playbooks/train.yml -i inventory/lab -e train_only_if_empty=true
	$(BIN)/ansible-playbook playbooks/status.yml -i inventory/lab
	@echo; echo "Lab is up (inventory/lab/hosts.ini). Re-run 'make demo' any time; 'make demo-down' removes it."

screenshot: venv ## On the lab (make demo): requests to both models, then Prometheus's graph of them (docs/, needs chromium)
	PATH=$(abspath $(BIN)):$$PATH scripts/screenshot.sh

model: venv ## On the lab: a model's versions, aliases and moves: make model MODEL=sales_forecast [ACTION=rollback|promote|pin|unpin VERSION=N ALIAS=NAME]
	$(BIN)/ansible-playbook playbooks/model.yml -i inventory/lab -e model=$(MODEL) \
	  $(if $(ACTION),-e model_action=$(ACTION)) $(if $(VERSION),-e version=$(VERSION)) $(if $(ALIAS),-e alias=$(ALIAS))

backup: venv ## Back up the lab's model store now; a copy goes to .cache/backups (kept: the newest 7)
	$(BIN)/ansible-playbook playbooks/backup.yml -i inventory/lab -e model_store_backup_fetch_dir=$(CURDIR)/.cache/backups

restore: venv ## Restore the lab's model store from a dump: make restore DUMP=latest (or a file name; none lists them)
	$(BIN)/ansible-playbook playbooks/restore.yml -i inventory/lab -e model_store_restore=$(DUMP)

demo-down: venv ## Remove the lab (its hosts, network and volumes) and nothing else
	$(BIN)/ansible-playbook playbooks/lab.yml -e lab_hosts_state=absent

clean: ## Remove the venv and local caches of this checkout
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
