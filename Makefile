# The single entry point: make setup | test | demo | bench | lint
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(PYTHON) -m uv
PYTEST_ARGS ?=
# command -> Debian package providing it
SYSTEM_TOOLS := haproxy:haproxy keepalived:keepalived sshd:openssh-server ssh:openssh-client \
	mariadbd:mariadb-server mariadb:mariadb-client mariadb-dump:mariadb-client \
	mydumper:mydumper myloader:mydumper ip:iproute2 socat:socat sudo:sudo
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: setup system-packages broker venv test test-unit test-integration test-e2e \
	demo bench bench-db bench-cutover lint clean lab-up lab-down test-slow

setup: system-packages venv broker

system-packages:
	@missing=""; for pair in $(SYSTEM_TOOLS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  echo "installing system packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	fi

broker:
	@if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then \
	  command -v rabbitmq-server >/dev/null || { apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null; }; \
	  echo "starting RabbitMQ"; rabbitmq-server -detached; \
	  for i in $$(seq 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv
	$(UV) venv -q --allow-existing -p $(PYTHON) $(VENV)
	$(UV) pip install -q -p $(BIN)/python -e '.[dev]'
	@touch $@

# Everything, the long e2e scenarios included (about 40 minutes here, CI allows 90).
# `make test-slow` runs those alone: the three-controller lab and kill-then-rollback.
test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests

test-slow: setup
	$(BIN)/python -m pytest -q -m slow_e2e $(PYTEST_ARGS) tests/e2e

test-unit: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests/unit

test-integration: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests/integration

test-e2e: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests/e2e

lint: venv
	$(BIN)/ruff check sidebyside tests scripts
	$(BIN)/mypy sidebyside

demo: setup
	$(BIN)/python scripts/demo.py

# e.g. make lab-up LAB_ARGS="--topology ha3 --state-dir .lab-ha3"
LAB_ARGS ?=

lab-up: setup
	$(BIN)/sbs lab up $(LAB_ARGS)

lab-down: venv
	$(BIN)/sbs lab down

bench: bench-db bench-cutover

bench-db: setup
	$(BIN)/python scripts/bench_db.py

bench-cutover: setup
	$(BIN)/python scripts/bench_cutover.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
