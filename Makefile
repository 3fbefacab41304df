# Pocket City Hall. `make run` and `make test` do all their own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
SRC_DIRS := $(wildcard libs/*/src services/*/src tools/*/src)
MYPYPATH := $(subst $() $(),:,$(SRC_DIRS))
KAFKA_LIB := deploy/local/kafka/lib

.PHONY: run test lint format bench setup setup-python setup-kafka setup-browser clean

run: setup-python ## the embedded one-process system
	$(UV) run cityhall run

test: setup-python setup-kafka setup-browser lint ## everything a change can break
	$(UV) run pytest -q -p no:randomly $(PYTEST_ARGS)

lint: setup-python
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	MYPYPATH=$(MYPYPATH) $(UV) run mypy $(SRC_DIRS)

format: setup-python
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

bench: setup-python setup-kafka ## measurements recorded in bench/RESULTS.md
	$(UV) run python -m bench.run_all

setup: setup-python setup-kafka setup-browser

setup-python:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.8"
	@$(UV) sync --all-packages --locked --quiet

setup-kafka: ## an Apache Kafka broker's jars from Maven Central (tests run it with Java 17)
	@if [ -z "$$(ls $(KAFKA_LIB)/*.jar 2>/dev/null)" ]; then \
	  echo "fetching Apache Kafka jars with Maven…"; \
	  mvn -q -B -f deploy/local/kafka/pom.xml package; \
	fi

setup-browser: ## Debian's Chromium and Japanese fonts for the browser tests
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
	  echo "installing chromium and fonts-noto-cjk…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null; \
	fi

clean:
	rm -rf .cityhall .mypy_cache .ruff_cache
