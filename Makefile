# Two commands do all the set-up on a fresh machine:
#   make run   - create .venv, install requirements, start the dashboard on a bundled sample
#   make test  - the same set-up, the system packages the tests need, then the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: venv run test bench bench-ui samples clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	ANOMALY_DASHBOARD_SAMPLE=data/sensor.csv $(PY) -m streamlit run dashboard/app.py --server.port $(PORT) --server.headless true

test: venv
	bash scripts/setup_system.sh
	$(PY) -m pytest -q tests

bench: venv
	$(PY) -m tests.bench.ecg5000

bench-ui: venv
	$(PY) -m tests.bench.threshold_latency

samples: venv
	$(PY) scripts/make_samples.py

clean:
	rm -rf $(VENV) .pytest_cache artifacts
