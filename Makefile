# drflow: every target bootstraps its own tools (uv in .uv/, the locked environment in .venv/).
UV_VERSION := 0.13.9
PYTHON ?= python3
UV := .uv/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced-$(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MOTO_EC2_LOAD_DEFAULT_AMIS := false
# this environment sets PYTHONDONTWRITEBYTECODE; the venv is compiled once at install instead
export UV_COMPILE_BYTECODE := 1

.PHONY: help venv test test-quick test-integration demo bench clean

help:
	@echo "make demo   sandbox + sample workload, nightly replication, failover with the primary dark, report"
	@echo "make test   the whole test suite (moto sandbox, Prefect test server); prints the 25 slowest tests"
	@echo "make test-quick SERVICE=rds  the inner loop: the handler contract, core's unit tests and one service's tests"
	@echo "make bench  scale and speed figures (synthetic estate; BENCH_RESOURCES=2000 by default; BENCH_OBJECTS=10000 for S3; BENCH_ROLES=300 for IAM;"
	@echo "            BENCH_PLANS=20 plans through 1 then 2 real workers, BENCH_WORKER_LIMIT=1 run at a time each)"
	@echo "make test-integration  only tests/integration: real prefect server + worker, PostgreSQL, Chromium"

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	rm -f $(VENV)/.synced-*
	touch $@

venv: $(STAMP)

# Three test processes on this 2-core machine: a flow test's threads wait on each other and on the sandbox
# often enough that two processes kept only ~1.7 cores busy. Measured pytest wall: 2 workers 25 min 55 s;
# 3 workers 14 min 18 s to 18 min 1 s over four runs (with the test-server and GC settings of tests/conftest.py);
# 4 workers 16 min 1 s. Override: `make test TEST_WORKERS=n`.
TEST_WORKERS ?= 3

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

# SERVICE: a folder of tests/tasks/ (rds, s3, network, servers, ...); without it, the contract and core only
test-quick: $(STAMP)
	$(VENV)/bin/python -m pytest tests/contract tests/core $(if $(SERVICE),tests/tasks/$(SERVICE))

test-integration: $(STAMP)
	$(VENV)/bin/python -m pytest -m integration tests/integration

demo: $(STAMP)
	PREFECT_HOME=$$(mktemp -d) $(VENV)/bin/drflow demo

bench: $(STAMP)
	PREFECT_HOME=$$(mktemp -d) PREFECT_LOGGING_LEVEL=WARNING $(VENV)/bin/python -m benchmarks.replicate_scale
	PREFECT_HOME=$$(mktemp -d) PREFECT_LOGGING_LEVEL=WARNING $(VENV)/bin/python -m benchmarks.servers_scale
	PREFECT_HOME=$$(mktemp -d) PREFECT_LOGGING_LEVEL=WARNING $(VENV)/bin/python -m benchmarks.iam_scale
	PREFECT_HOME=$$(mktemp -d) PREFECT_LOGGING_LEVEL=WARNING $(VENV)/bin/python -m benchmarks.engine_progress
	$(VENV)/bin/python -m benchmarks.s3_sync
	PREFECT_HOME=$$(mktemp -d) PREFECT_LOGGING_LEVEL=WARNING $(VENV)/bin/python -m benchmarks.scale_out

clean:
	rm -rf .uv $(VENV) .pytest_cache
