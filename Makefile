# depth_ros — two set-up commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_out
DEMO_ARGS ?=

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $(STAMP)

demo: setup
	$(PY) -m training.demo --out $(DEMO_DIR) $(DEMO_ARGS)

# The ROS 2 runtime that tests the node live (a test fixture, not a dependency): used where it exists, and then the
# ROS tests must run (DEPTH_ROS_REQUIRE_ROS2 turns their skips into failures). Each run gets its own DDS domain.
ROS2_ACTIVATE ?= $(wildcard ../shared/ros2/activate.sh)

test: setup
	@if [ -n "$(ROS2_ACTIVATE)" ]; then \
		eval "$$(bash $(ROS2_ACTIVATE) --print)" || exit 1; \
		export ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( $$$$ % 90 + 10 ))} DEPTH_ROS_REQUIRE_ROS2=1; \
		echo "make test: ROS 2 $$ROS_DISTRO from $(ROS2_ACTIVATE), ROS_DOMAIN_ID $$ROS_DOMAIN_ID"; \
	else \
		echo "make test: no ../shared/ros2/ here, so the ROS 2 tests skip"; \
	fi; \
	PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo 'pytest collected no tests' >&2; exit 1; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(DEMO_DIR) build install log .pytest_cache .ruff_cache
